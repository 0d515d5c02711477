"""cifar_core.data: finding, loading, installing and downloading CIFAR-10.

Everything runs on tiny folders and archives built here; downloads go to a real
HTTP server on 127.0.0.1. No TensorFlow, no real data, no network.
"""
import hashlib
import io
import os
import pickle
import tarfile
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from cifar_core import data, download
from cifar_core.archive import install_archive
from cifar_core.data import BATCH_FOLDER, DataError, DatasetNotFound
from tiny_cifar import CLASS_NAMES, rewrite_batch, write_cifar_folder


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No env var, an empty cwd and an empty HOME (no Keras cache), no proxies."""
    for var in ("CIFAR10_DATA_DIR", "KERAS_HOME", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)
    for name in ("cwd", "home"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def folder(tmp_path):
    """A fresh tiny cifar-10-batches-py folder (200 train, 100 test) that a test may damage."""
    return write_cifar_folder(tmp_path / "src", per_class_train=20, per_class_test=10)


def md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def add_bytes(tar, name, payload=b"x", **attrs):
    """Append member `name`: a file holding payload, or what attrs say (type=tarfile.SYMTYPE...)."""
    info = tarfile.TarInfo(name)
    for key, value in attrs.items():
        setattr(info, key, value)
    info.size = len(payload) if info.isfile() else 0
    tar.addfile(info, io.BytesIO(payload) if info.isfile() else None)


def make_archive(path, batches_folder, extra=None):
    """tar.gz of batches_folder as cifar-10-batches-py/; extra(tar) may append members last."""
    with tarfile.open(path, "w:gz") as tar:
        tar.add(batches_folder, arcname=BATCH_FOLDER)
        if extra:
            extra(tar)
    return path


def leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir())


# --- loading -----------------------------------------------------------------

def test_tiny_folder_loads_as_read_only_uint8_images(tiny_data_dir):
    ds = data.load_dataset(tiny_data_dir)
    assert ds.train_images.shape == (200, 32, 32, 3) and ds.train_images.dtype == np.uint8
    assert ds.test_images.shape == (100, 32, 32, 3) and ds.test_images.dtype == np.uint8
    assert ds.train_labels.shape == (200,) and ds.train_labels.dtype == np.int64
    assert ds.test_labels.shape == (100,) and ds.test_labels.dtype == np.int64
    assert np.bincount(ds.train_labels).tolist() == [20] * 10
    assert np.bincount(ds.test_labels).tolist() == [10] * 10
    assert ds.class_names == tuple(CLASS_NAMES)
    assert ds.folder == (tiny_data_dir / BATCH_FOLDER).resolve()
    assert ds.official is False
    assert ds.train_images.flags.c_contiguous
    for array in (ds.train_images, ds.train_labels, ds.test_images, ds.test_labels):
        with pytest.raises(ValueError):
            array[0] = 0


def test_pixel_rows_become_height_width_channel_images(folder):
    # One row by hand: R plane first (1024 values, row-major), then G, then B.
    row = np.zeros(3072, np.uint8)
    row[0 * 1024 + 0 * 32 + 1] = 200   # R at y=0, x=1
    row[1 * 1024 + 2 * 32 + 3] = 100   # G at y=2, x=3
    row[2 * 1024 + 31 * 32 + 31] = 50  # B at y=31, x=31
    batch = {b"batch_label": b"testing batch 1 of 1", b"labels": [7], b"data": row[None, :],
             b"filenames": [b"x.png"]}
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=4))

    ds = data.load_dataset(folder)
    expected = np.zeros((32, 32, 3), np.uint8)
    expected[0, 1, 0], expected[2, 3, 1], expected[31, 31, 2] = 200, 100, 50
    assert ds.test_images.shape == (1, 32, 32, 3)
    np.testing.assert_array_equal(ds.test_images[0], expected)
    assert ds.test_labels.tolist() == [7]


def test_official_is_true_only_when_every_file_matches_the_published_md5(folder, monkeypatch):
    published = {name: md5(folder / name) for name in data.OFFICIAL_FILE_MD5}
    monkeypatch.setattr(data, "OFFICIAL_FILE_MD5", published)
    assert data.load_dataset(folder).official is True


def test_concurrent_loads_share_one_load(tmp_path):
    batches = write_cifar_folder(tmp_path / "big", per_class_train=200, per_class_test=10)
    start, results = threading.Barrier(8), []

    def load():
        start.wait()
        results.append(data.load_dataset(batches))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(ds is results[0] for ds in results)


class Payload:
    """Unpickling this calls open(marker, "w"): a stand-in for arbitrary code."""
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_batch_is_refused_before_its_code_runs(folder, tmp_path):
    # The payload is live: a plain pickle.loads would create the marker.
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(Payload(probe))).close()
    assert probe.exists()

    marker = tmp_path / "pwned"
    evil = {b"data": Payload(marker), b"labels": []}
    (folder / "data_batch_1").write_bytes(pickle.dumps(evil, protocol=4))
    with pytest.raises(DataError, match="data_batch_1.*refused pickle global .*open"):
        data.load_dataset(folder)
    assert not marker.exists()


@pytest.mark.parametrize("name, changes, message", [
    ("data_batch_2", {"labels": [10] + [0] * 39}, r"data_batch_2: field 'labels' must lie in 0\.\.9"),
    ("data_batch_2", {"labels": [0] * 39}, r"data_batch_2: field 'labels' must be 40 integers"),
    ("data_batch_3", {"data": np.zeros((40, 3071), np.uint8)}, r"data_batch_3: field 'data'.*\(40, 3071\)"),
    ("test_batch", {"data": np.zeros((100, 3072), np.float32)}, r"test_batch: field 'data' must be uint8"),
    ("data_batch_1", {"labels": None}, r"data_batch_1: missing field 'labels'"),
    ("batches.meta", {"label_names": [b"cat"] * 9}, r"batches.meta: field 'label_names' must hold 10"),
])
def test_bad_field_error_names_file_and_field(folder, name, changes, message):
    batch = pickle.loads((folder / name).read_bytes())
    for key, value in changes.items():
        if value is None:
            del batch[key.encode()]
        else:
            batch[key.encode()] = value
    (folder / name).write_bytes(pickle.dumps(batch, protocol=4))
    with pytest.raises(DataError, match=message):
        data.load_dataset(folder)


def test_missing_or_unreadable_batch_file_is_named(folder):
    (folder / "data_batch_4").unlink()
    with pytest.raises(DataError, match=r"missing batch file\(s\) data_batch_4;.*cifar_core download"):
        data.load_dataset(folder)
    (folder / "data_batch_4").write_bytes(b"\x80\x04garbage")
    with pytest.raises(DataError, match=r"data_batch_4: not a readable CIFAR-10 pickle"):
        data.load_dataset(folder)


# --- finding -----------------------------------------------------------------

def test_explicit_dir_is_either_the_batches_folder_or_its_parent(folder):
    assert data.find_dataset(folder) == folder.resolve()
    assert data.find_dataset(folder.parent) == folder.resolve()


def test_explicit_dir_and_env_var_look_nowhere_else(tmp_path, monkeypatch):
    write_cifar_folder(Path("data/CIFAR-10"), 1, 1)  # the default location has data...
    empty = tmp_path / "empty"
    empty.mkdir()
    assert data.find_dataset(empty) is None  # ...but an explicit empty dir wins
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(empty))
    assert data.find_dataset() is None


def test_env_var_comes_before_the_default(folder, monkeypatch):
    write_cifar_folder(Path("data/CIFAR-10"), 1, 1)
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(folder.parent))
    assert data.find_dataset() == folder.resolve()


def test_default_is_data_cifar10_under_cwd_and_comes_before_keras_cache(tmp_path):
    keras = write_cifar_folder(tmp_path / "home" / ".keras" / "datasets", 1, 1)
    assert data.find_dataset() == keras.resolve()
    default = write_cifar_folder(Path("data/CIFAR-10"), 1, 1)
    assert data.default_data_dir() == Path("data/CIFAR-10")
    assert data.find_dataset() == default.resolve() == (tmp_path / "cwd/data/CIFAR-10" / BATCH_FOLDER)


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFound) as err:
        data.load_dataset()
    message = str(err.value)
    assert str(tmp_path / "cwd/data/CIFAR-10") in message and ".keras/datasets" in message
    assert "python -m cifar_core download" in message and "--from" in message
    assert "\n" not in message


# --- installing from an archive -----------------------------------------------

def test_good_archive_installs_atomically_and_loads(folder, tmp_path):
    archive = make_archive(tmp_path / "cifar-10-python.tar.gz", folder)
    calls = []
    target = tmp_path / "target"
    installed = install_archive(archive, target, progress=lambda d, t: calls.append((d, t)),
                                     expected_md5=md5(archive))
    assert installed == (target / BATCH_FOLDER).resolve()
    assert leftovers(target) == [BATCH_FOLDER]  # no temporaries
    assert data.load_dataset(target).train_images.shape == (200, 32, 32, 3)
    size = archive.stat().st_size
    assert calls[-1] == (size, size)


def test_reinstall_replaces_the_dataset_and_reload_sees_it(tmp_path):
    target = tmp_path / "target"
    small = make_archive(tmp_path / "a.tar.gz", write_cifar_folder(tmp_path / "a", 1, 1))
    install_archive(small, target, expected_md5=None)
    assert len(data.load_dataset(target).train_labels) == 10
    bigger = make_archive(tmp_path / "b.tar.gz", write_cifar_folder(tmp_path / "b", 3, 1))
    install_archive(bigger, target, expected_md5=None)
    assert len(data.load_dataset(target).train_labels) == 30
    assert leftovers(target) == [BATCH_FOLDER]


ABSOLUTE = "/tmp/cifar-test-absolute-member.txt"


@pytest.mark.parametrize("member, attrs", [
    (f"{BATCH_FOLDER}/../../escaped.txt", {}),
    (ABSOLUTE, {}),
    (f"{BATCH_FOLDER}/link", {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}),
    (f"{BATCH_FOLDER}/hard", {"type": tarfile.LNKTYPE, "linkname": f"{BATCH_FOLDER}/data_batch_1"}),
    (f"{BATCH_FOLDER}/pipe", {"type": tarfile.FIFOTYPE}),
])
def test_unsafe_member_refuses_the_whole_archive_and_leaves_nothing(folder, tmp_path, member, attrs):
    # The unsafe member comes last, after every good file has been extracted.
    archive = make_archive(tmp_path / "evil.tar.gz", folder, lambda tar: add_bytes(tar, member, **attrs))
    target = tmp_path / "target"
    with pytest.raises(DataError, match=f"evil.tar.gz: refused.*{member}"):
        install_archive(archive, target, expected_md5=None)
    assert leftovers(target) == []
    assert not (tmp_path / "escaped.txt").exists() and not Path(ABSOLUTE).exists()


def test_refused_archive_leaves_an_existing_dataset_untouched(folder, tmp_path):
    target = tmp_path / "target"
    install_archive(make_archive(tmp_path / "good.tar.gz", folder), target, expected_md5=None)
    evil = make_archive(tmp_path / "evil.tar.gz", folder, lambda tar: add_bytes(tar, "../x"))
    with pytest.raises(DataError):
        install_archive(evil, target, expected_md5=None)
    assert leftovers(target) == [BATCH_FOLDER]
    assert len(data.load_dataset(target).test_labels) == 100


def test_bad_checksum_names_both_hashes_and_leaves_nothing(folder, tmp_path):
    archive = make_archive(tmp_path / "cifar-10-python.tar.gz", folder)
    target = tmp_path / "target"
    wrong = "0" * 32
    with pytest.raises(DataError, match=f"cifar-10-python.tar.gz: MD5 is {md5(archive)}, expected {wrong}"):
        install_archive(archive, target, expected_md5="0" * 32)
    assert not target.exists() or leftovers(target) == []


def test_truncated_archive_is_refused_and_leaves_nothing(folder, tmp_path):
    archive = make_archive(tmp_path / "cut.tar.gz", folder)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    target = tmp_path / "target"
    with pytest.raises(DataError, match="cut.tar.gz: cannot extract"):
        install_archive(archive, target, expected_md5=None)
    assert leftovers(target) == []


def test_archive_with_malicious_batch_is_refused_and_leaves_nothing(folder, tmp_path):
    marker = tmp_path / "pwned"
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Payload(marker)}, protocol=4))
    archive = make_archive(tmp_path / "evil.tar.gz", folder)
    target = tmp_path / "target"
    with pytest.raises(DataError, match=f"evil.tar.gz/{BATCH_FOLDER}/test_batch: refused pickle global"):
        install_archive(archive, target, expected_md5=None)
    assert leftovers(target) == [] and not marker.exists()


# --- downloading from a local HTTP server -----------------------------------------

DRIP_EVERY_S = 0.05  # the dripping server's pause between bytes


def drip(wfile, data, for_s=30.0):
    """Write data a byte at a time, pausing between bytes, until the client leaves (or for_s)."""
    end = time.monotonic() + for_s
    try:
        for i in range(len(data)):
            wfile.write(data[i:i + 1])
            wfile.flush()
            if time.monotonic() > end:
                return
            time.sleep(DRIP_EVERY_S)
    except OSError:  # the client hung up
        pass


def endless(wfile, limit=1 << 30):
    """Write zeros until the client leaves (or `limit` bytes)."""
    try:
        for _ in range(limit // _CHUNK):
            wfile.write(bytes(_CHUNK))
    except OSError:
        pass


_CHUNK = 1 << 16


@contextmanager
def http_server(body, plan):
    """Serve `body` on 127.0.0.1; plan[i] is how request i is answered (the last repeats):
    "full", "drop" (half the body, then hang up), "hangup" (no response), "503", or a hostile
    one: "drip" (Content-Length, then the body a byte at a time), "drip-headers" (a status
    line, then a header a byte at a time), "endless" (no Content-Length, zeros for ever) or
    "longer" (the body and then more than its Content-Length said).
    Honours "Range: bytes=N-". Yields (url, list of each request's Range header)."""
    ranges = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            mode = plan[min(len(ranges), len(plan) - 1)]
            ranges.append(self.headers.get("Range"))
            if mode == "hangup":
                return
            if mode == "503":
                self.send_error(503)
                return
            if mode == "drip-headers":
                self.wfile.write(b"HTTP/1.0 200 OK\r\n")
                drip(self.wfile, b"X-Slow: " + b"x" * 10_000)
                return
            start = int(ranges[-1][len("bytes="):-1]) if ranges[-1] else 0
            part = body[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            if mode != "endless":
                self.send_header("Content-Length", str(len(part)))
            self.end_headers()
            if mode == "drip":
                drip(self.wfile, part)
            elif mode == "endless":
                endless(self.wfile)
            elif mode == "longer":
                self.wfile.write(part + b"more than announced" * 1000)
            else:
                self.wfile.write(part[: len(part) // 2] if mode == "drop" else part)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/cifar-10-python.tar.gz", ranges
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def archive(folder, tmp_path):
    return make_archive(tmp_path / "served.tar.gz", folder)


def test_download_reports_progress_verifies_and_installs(archive, tmp_path):
    body, calls = archive.read_bytes(), []
    target = tmp_path / "target"
    with http_server(body, ["full"]) as (url, _):
        installed = download.download(target, progress=lambda d, t: calls.append((d, t)), url=url,
                                  expected_md5=md5(archive), backoff=0.001)
    assert installed == (target / BATCH_FOLDER).resolve()
    assert data.load_dataset(target).test_images.shape == (100, 32, 32, 3)
    assert leftovers(target) == [BATCH_FOLDER]
    done = [d for d, _ in calls]
    assert len(calls) > 2 and done == sorted(set(done))  # strictly increasing
    assert {t for _, t in calls} == {len(body)} and calls[-1] == (len(body), len(body))


def test_download_resumes_after_the_connection_drops(archive, tmp_path):
    body, calls = archive.read_bytes(), []
    with http_server(body, ["drop", "full"]) as (url, ranges):
        download.download(tmp_path / "target", progress=lambda d, t: calls.append(d), url=url,
                      expected_md5=md5(archive), backoff=0.001)
    assert ranges == [None, f"bytes={len(body) // 2}-"]  # the second request continued
    assert calls[-1] == len(body)
    assert len(data.load_dataset(tmp_path / "target").train_labels) == 200


@pytest.mark.parametrize("failure", ["hangup", "503"])
def test_download_gives_up_with_the_url_and_the_offline_route(archive, tmp_path, failure):
    target = tmp_path / "target"
    with http_server(archive.read_bytes(), [failure]) as (url, ranges):
        with pytest.raises(DataError, match=f"could not download {url}.*download --from PATH"):
            download.download(target, url=url, expected_md5=md5(archive), retries=2, backoff=0.001)
    assert len(ranges) == 3  # one try and two retries
    assert leftovers(target) == []


def test_download_with_wrong_md5_installs_nothing(archive, tmp_path):
    target = tmp_path / "target"
    with http_server(archive.read_bytes(), ["full"]) as (url, _):
        with pytest.raises(DataError, match=f"{url} but its MD5 is {md5(archive)}, expected {'f' * 32}"):
            download.download(target, url=url, expected_md5="f" * 32, backoff=0.001)
    assert leftovers(target) == []


def test_download_skips_the_network_when_a_valid_dataset_is_present(folder, archive):
    with http_server(archive.read_bytes(), ["full"]) as (url, ranges):
        assert download.download(folder.parent, url=url, expected_md5=md5(archive)) == folder.resolve()
    assert ranges == []


def test_download_goes_to_data_cifar10_under_cwd_by_default(archive, tmp_path):
    with http_server(archive.read_bytes(), ["full"]) as (url, _):
        installed = download.download(url=url, expected_md5=md5(archive), backoff=0.001)
    assert installed == tmp_path / "cwd" / "data" / "CIFAR-10" / BATCH_FOLDER
    assert data.load_dataset().folder == installed
    assert os.listdir(tmp_path / "cwd" / "data" / "CIFAR-10") == [BATCH_FOLDER]


# --- what real tools write -------------------------------------------------------

@pytest.mark.parametrize("make_labels, protocol", [
    (lambda y: [np.int64(v) for v in y], 2),  # a list of numpy.int64, by Python 3 at protocol 2
    (lambda y: [np.int64(v) for v in y], 4),
    (lambda y: np.array(y, ">i4"), 4),         # a big-endian int32 array
    (lambda y: np.array(y, np.int64), 5),      # protocol 5 writes arrays with _frombuffer
])
def test_labels_as_numpy_integers_or_integer_arrays_are_accepted(folder, make_labels, protocol):
    expected = data.load_dataset(folder)
    for name in (*data.TRAIN_FILES, "test_batch"):
        labels = pickle.loads((folder / name).read_bytes())[b"labels"]
        rewrite_batch(folder / name, protocol, labels=make_labels(labels))
    ds = data.read_folder(folder)  # not the cache: rewriting files leaves the folder's stamp
    np.testing.assert_array_equal(ds.train_labels, expected.train_labels)
    np.testing.assert_array_equal(ds.test_labels, expected.test_labels)
    np.testing.assert_array_equal(ds.train_images, expected.train_images)
    assert ds.train_labels.dtype == np.int64


def test_an_empty_dataset_is_refused_saying_so(tmp_path):
    empty = write_cifar_folder(tmp_path / "empty", per_class_train=0, per_class_test=0)
    with pytest.raises(DataError, match=r"field 'data' of data_batch_1.*holds 0 images: the training set is empty"):
        data.load_dataset(empty)


def test_class_names_lose_control_characters_and_are_capped(folder):
    names = [c.encode() for c in CLASS_NAMES]
    names[0] = b"\x1b[2J\x1b[31mairplane\x07"  # clear the screen, turn red, ring the bell
    names[1] = "auto\u202emobile\n".encode()     # a bidi override reverses what follows
    names[2] = b"b" * 10_000
    names[3] = b"\x1b\x00"                       # nothing printable left
    rewrite_batch(folder / "batches.meta", label_names=names)
    shown = data.load_dataset(folder).class_names
    assert shown[:4] == ("[2J[31mairplane", "automobile", "b" * data.MAX_NAME_CHARS, "class 3")
    assert shown[4:] == tuple(CLASS_NAMES[4:])


@pytest.mark.parametrize("keras_home", [None, "custom-keras"])
def test_keras3_cache_is_found_under_keras_home(tmp_path, monkeypatch, keras_home):
    base = tmp_path / "home" / ".keras"
    if keras_home:
        base = tmp_path / keras_home
        monkeypatch.setenv("KERAS_HOME", str(base))
    cache = write_cifar_folder(base / "datasets" / f"{BATCH_FOLDER}-target", 1, 1)
    assert data.find_dataset() == cache.resolve()
    assert len(data.load_dataset().train_labels) == 10
    write_cifar_folder(Path("data/CIFAR-10"), 1, 1)  # the default still comes first
    assert data.find_dataset() == (tmp_path / "cwd/data/CIFAR-10" / BATCH_FOLDER)
