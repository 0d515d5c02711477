"""cifar_core.data and .download against hostile input: batch files, archives, servers.

Nothing a file, a download or a browser sends may crash the process, exhaust its memory or
hold it for ever: each case ends in a DataError naming the file and field (or the URL),
and leaves nothing installed or behind. Files are built here; servers listen on 127.0.0.1.
"""
import os
import pickle
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from cifar_core import batch_pickle, data, download
from cifar_core.archive import install_archive
from cifar_core.data import BATCH_FOLDER, DataError
from test_data import add_bytes, http_server, isolated, leftovers, make_archive  # noqa: F401 (autouse)
from tiny_cifar import Reduce, array_by_hand, rewrite_batch, write_cifar_folder

ROOT = Path(__file__).resolve().parent.parent

# A structured dtype whose first field is an object, with flags=0: numpy then believes the
# array holds no references and reads its raw bytes as pointers (0x4141...: a segfault).
OBJECT_FIELD = {"names": ("a", "b"), "fields": {"a": (np.dtype("O"), 0), "b": (np.dtype("u1"), 8)},
                "elsize": 9, "alignment": 1}


@pytest.fixture
def folder(tmp_path):
    """A fresh tiny cifar-10-batches-py folder (200 train, 100 test) that a test may damage."""
    return write_cifar_folder(tmp_path / "src", per_class_train=20, per_class_test=10)


def run_python(code, **env):
    """Run code in a fresh interpreter that imports this checkout; (returncode, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    return proc.returncode, proc.stdout, proc.stderr


# --- batch files ------------------------------------------------------------------

def test_a_structured_dtype_with_an_object_field_is_refused_without_crashing(folder):
    # Class names are turned into text: printing such an array follows its "pointer".
    hostile = array_by_hand((1,), b"\x41" * 9, "V9", flags=0, **OBJECT_FIELD)
    rewrite_batch(folder / "batches.meta", protocol=4, label_names=[hostile] * 10)
    code = f"""if True:
        import pickle
        from cifar_core import data
        path = {str(folder / "batches.meta")!r}
        # The payload is live: numpy's own unpickling builds a dtype that denies its object field.
        arr = pickle.loads(open(path, "rb").read())[b"label_names"][0]
        print("live:", arr.dtype.fields["a"][0] == object and not arr.dtype.hasobject)
        try:
            data.load_dataset({str(folder)!r})
        except data.DataError as e:
            print("DataError:", e)
        """
    returncode, out, err = run_python(code)
    assert returncode == 0, f"exit status {returncode}: {err}"  # not 139 / -11 (SIGSEGV)
    assert "live: True" in out
    assert re.search(r"DataError: \S*batches.meta: field 'label_names': structured numpy dtype refused", out)


@pytest.mark.parametrize("value, message", [
    (array_by_hand((40,), [0] * 40, "O8", flags=63), r"numpy dtype 'O8' refused"),
    (array_by_hand((40, 3072), b"\0" * 40 * 3072, "u1", fields={"a": (np.dtype("u1"), 0)}),
     "structured numpy dtype refused"),
    (array_by_hand((40,), b"\0" * 40, "M8", byteorder="<"), r"numpy dtype 'M8' refused"),
    (array_by_hand((40, 3072), b"\0" * 3072), r"numpy array \(40, 3072\) of uint8 needs 122,880 bytes but holds 3,072"),
    (array_by_hand((40, -3072), b""), "numpy array shape refused"),
    (array_by_hand((40, 3072), "text, not bytes"), "numpy array whose contents are a str, not bytes"),
    (Reduce(np.ndarray, ((40, 3072), np.dtype("u1"), b"x", 0, (0, 0))), r"numpy.ndarray\(buffer, strides\)"),
], ids=["object", "structured", "datetime", "short bytes", "negative size", "text", "strides"])
def test_a_numpy_array_that_is_not_plain_is_refused_naming_the_file_and_field(folder, value, message):
    rewrite_batch(folder / "data_batch_3", data=value)
    with pytest.raises(DataError, match=f"data_batch_3: field 'data': {message}"):
        data.load_dataset(folder)


def test_zero_strides_cannot_turn_a_kilobyte_into_billions_of_rows(folder):
    # numpy.ndarray(shape, dtype, buffer, offset, strides): 5e9 rows of the same 3,072 bytes.
    huge = Reduce(np.ndarray, ((5_000_000_000, 3072), np.dtype("u1"), bytes(3072), 0, (0, 1)))
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": huge, b"labels": []}, protocol=2))
    assert (folder / "data_batch_1").stat().st_size < 4096
    with pytest.raises(DataError, match=r"data_batch_1: field 'data': numpy.ndarray\(buffer, strides\)"):
        data.load_dataset(folder)


def test_a_thousand_bytes_of_batches_cannot_claim_500000_images(folder):
    # 100,000 rows of nothing each: the bytes match (0 x 100,000 = 0), the row count cannot.
    for name in data.TRAIN_FILES:
        rewrite_batch(folder / name, data=array_by_hand((100_000, 0), b""), labels=[])
    with pytest.raises(DataError, match=r"data_batch_1: field 'data': numpy array of 100,000 rows refused"):
        data.load_dataset(folder)


def test_rows_past_what_a_batch_file_or_the_dataset_can_hold_are_refused(folder, monkeypatch):
    monkeypatch.setattr(batch_pickle, "MAX_ROWS", 39)  # the tiny batches have 40 rows
    with pytest.raises(DataError, match=r"data_batch_1: field 'data': numpy array of 40 rows refused"):
        data.load_dataset(folder)
    monkeypatch.setattr(batch_pickle, "MAX_ROWS", 60_000)
    monkeypatch.setattr(data, "MAX_IMAGES", 150)  # 5 x 40 train, then 100 test
    with pytest.raises(DataError, match=r"data_batch_4: field 'data' brings the images to 160"):
        data.load_dataset(folder)


def test_a_batch_file_too_big_for_cifar10_is_refused_before_it_is_read(folder):
    with open(folder / "data_batch_2", "r+b") as f:
        f.truncate(data.MAX_BATCH_BYTES + 1)  # sparse: no disk, and reading it would take 200 MB
    with pytest.raises(DataError, match=r"data_batch_2: 200,000,001 bytes, more than a CIFAR-10 file can be"):
        data.load_dataset(folder)


def nested(depth, leaf=b"cat"):
    """Pickle opcodes for `depth` lists, each inside the next (pickle.dumps itself would recurse)."""
    return b"]" * depth + b"U" + bytes([len(leaf)]) + leaf + b"a" * depth


@pytest.mark.parametrize("label_names, what", [
    (nested(100_000), "a list 100,000 deep"),
    (b"]q\x00h\x00a", "a list that contains itself"),
])
def test_deeply_nested_fields_are_refused_not_a_recursion_error(folder, label_names, what):
    meta = b"\x80\x02}U\x0blabel_names" + label_names + b"s."
    (folder / "batches.meta").write_bytes(meta)
    with pytest.raises(DataError, match=r"batches.meta: field 'label_names': nested more than 3 levels"):
        data.load_dataset(folder)


def test_ragged_labels_are_refused_naming_the_file_and_field(folder):
    rewrite_batch(folder / "data_batch_5", labels=[[0, 1], [2]] + [0] * 38)
    with pytest.raises(DataError, match=r"data_batch_5: field 'labels' must be 40 integers .*found a list at index 0"):
        data.load_dataset(folder)


def test_hostile_text_in_a_refusal_is_not_echoed_to_the_terminal(folder):
    (folder / "test_batch").write_bytes(b"\x80\x02c\x1b[2Jos\nsystem\n.")
    with pytest.raises(DataError, match=r"test_batch: refused pickle global \[2Jos.system") as err:
        data.load_dataset(folder)
    assert "\x1b" not in str(err.value)


# --- archives ---------------------------------------------------------------------

def oversized(name, size, type=tarfile.REGTYPE):
    """Append a member header claiming `size` bytes, with no data (we must not get that far)."""
    def extra(tar):
        info = tarfile.TarInfo(name)
        info.size, info.type = size, type
        tar.fileobj.write(info.tobuf(tarfile.USTAR_FORMAT, tar.encoding, tar.errors))
    return extra


def test_an_archive_installs_only_the_dataset_files(folder, tmp_path):
    def extra(tar):
        add_bytes(tar, "EXTRA.sh", b"#!/bin/sh\nrm -rf ~\n")
        add_bytes(tar, f"{BATCH_FOLDER}/EXTRA.sh", b"#!/bin/sh\n")
        add_bytes(tar, f"{BATCH_FOLDER}/readme.html", b"<html>")
        add_bytes(tar, f"{BATCH_FOLDER}/sub/", type=tarfile.DIRTYPE)
        add_bytes(tar, f"{BATCH_FOLDER}/sub/data_batch_1", b"x")
    archive = make_archive(tmp_path / "repacked.tar.gz", folder, extra)
    target = tmp_path / "target"
    installed = install_archive(archive, target, expected_md5=None)
    assert leftovers(target) == [BATCH_FOLDER]
    assert leftovers(installed) == sorted(data.OFFICIAL_FILE_MD5)
    assert len(data.load_dataset(target).train_labels) == 200


@pytest.mark.parametrize("member, size", [
    (f"{BATCH_FOLDER}/data_batch_1", 2_000_000_000),
    (f"{BATCH_FOLDER}/batches.meta", 50_000_000),
    ("bomb.bin", 5_000_000_000),
    (f"{BATCH_FOLDER}/notes.txt", 2_000_000),
])
def test_an_oversized_member_is_refused_from_its_header_before_it_is_read(folder, tmp_path, member, size):
    archive = make_archive(tmp_path / "bomb.tar.gz", folder, oversized(member, size))
    target = tmp_path / "target"
    with pytest.raises(DataError, match=f"bomb.tar.gz: member '{member}' is {size:,} bytes, more than any "
                                        "CIFAR-10 file can be.*nothing was installed"):
        install_archive(archive, target, expected_md5=None)
    assert leftovers(target) == []


def test_sparse_members_and_oversized_headers_are_refused(folder, tmp_path):
    target = tmp_path / "target"
    sparse = make_archive(tmp_path / "sparse.tar.gz", folder,
                          lambda tar: add_bytes(tar, "bomb.bin", type=tarfile.GNUTYPE_SPARSE))
    with pytest.raises(DataError, match=r"sparse.tar.gz: refused sparse member 'bomb.bin'"):
        install_archive(sparse, target, expected_md5=None)
    # tarfile reads a pax header whole, before the member it describes is seen.
    pax = make_archive(tmp_path / "pax.tar.gz", folder, oversized("././@PaxHeader", 50_000_000, tarfile.XHDTYPE))
    with pytest.raises(DataError, match=r"pax.tar.gz: refused an extended header of 50,000,000 bytes"):
        install_archive(pax, target, expected_md5=None)
    assert leftovers(target) == []


def test_an_archive_of_too_many_members_or_bytes_is_refused(folder, tmp_path, monkeypatch):
    def extra(tar):
        for i in range(300):
            add_bytes(tar, f"junk/{i}")
    archive = make_archive(tmp_path / "many.tar.gz", folder, extra)
    target = tmp_path / "target"
    with pytest.raises(DataError, match=r"many.tar.gz: refused more than 256 entries"):
        install_archive(archive, target, expected_md5=None)

    # Each member under its cap, together over what CIFAR-10 can be (here: the tiny one, less 1).
    monkeypatch.setattr("cifar_core.archive._MAX_MEMBERS_BYTES", sum(p.stat().st_size for p in folder.iterdir()) - 1)
    archive = make_archive(tmp_path / "again.tar.gz", folder)
    with pytest.raises(DataError, match=r"again.tar.gz: its members add up to more than"):
        install_archive(archive, target, expected_md5=None)
    assert leftovers(target) == []


def test_running_out_of_memory_while_installing_is_a_data_error(folder, tmp_path, monkeypatch):
    def exhausted(folder):
        raise MemoryError
    monkeypatch.setattr("cifar_core.archive.read_folder", exhausted)
    archive = make_archive(tmp_path / "cifar.tar.gz", folder)
    target = tmp_path / "target"
    with pytest.raises(DataError, match=r"cifar.tar.gz: ran out of memory extracting it; nothing was installed"):
        install_archive(archive, target, expected_md5=None)
    assert leftovers(target) == []


# --- downloads ----------------------------------------------------------------------

@pytest.fixture
def archive(folder, tmp_path):
    return make_archive(tmp_path / "served.tar.gz", folder)


def refused_download(target, url, match, **kwargs):
    """Run download, expecting a DataError that names the URL and never our temp file."""
    with pytest.raises(DataError, match=match) as err:
        download.download(target, url=url, expected_md5=None, backoff=0.001, **kwargs)
    assert url in str(err.value) and ".cifar-tmp" not in str(err.value)
    assert leftovers(target) == []


@pytest.mark.parametrize("mode", ["drip", "drip-headers"])
def test_a_dripping_server_is_given_up_at_the_deadline(archive, tmp_path, mode):
    # A byte every 50 ms: well within the per-read timeout, so only the deadline can end it.
    with http_server(archive.read_bytes(), [mode]) as (url, _):
        refused_download(tmp_path / "target", url, r"could not download .* within the 1 s allowed",
                         deadline_s=1.0, timeout=10.0, min_rate=0)


def test_a_server_under_the_minimum_rate_is_dropped_and_retried(archive, tmp_path):
    with http_server(archive.read_bytes(), ["drip"]) as (url, ranges):
        refused_download(tmp_path / "target", url, r"_TooSlow: .* under the minimum of 100,000 bytes/s",
                         retries=1, min_rate=100_000, rate_window_s=0.2, deadline_s=60.0)
    assert len(ranges) == 2 and ranges[1] is not None  # the retry resumed where the first stopped


def test_an_endless_body_without_content_length_is_cut_at_the_size_cap(archive, tmp_path):
    with http_server(archive.read_bytes(), ["endless"]) as (url, ranges):
        refused_download(tmp_path / "target", url, r"refused the download of .*: it sent more than 300,000 bytes",
                         max_bytes=300_000)
    assert len(ranges) == 1  # not retried: it would send the same


def test_a_content_length_over_the_size_cap_is_refused_before_the_body(archive, tmp_path):
    body = archive.read_bytes()
    with http_server(body, ["full"]) as (url, _):
        refused_download(tmp_path / "target", url, f"its Content-Length says {len(body):,} bytes, more than "
                         f"the {len(body) - 1:,} expected", max_bytes=len(body) - 1)


def test_a_body_longer_than_its_content_length_is_refused(archive, tmp_path):
    with http_server(archive.read_bytes(), ["longer"]) as (url, ranges):
        refused_download(tmp_path / "target", url, "its body is longer than its Content-Length")
    assert len(ranges) == 1


def test_an_archive_download_that_fails_validation_names_the_url(folder, tmp_path):
    (folder / "test_batch").write_bytes(b"\x80\x02cos\nsystem\n.")
    body = make_archive(tmp_path / "evil.tar.gz", folder).read_bytes()
    with http_server(body, ["full"]) as (url, _):
        refused_download(tmp_path / "target", url, f"{re.escape(url)}/{BATCH_FOLDER}/test_batch: refused "
                         "pickle global os.system")


def test_temporaries_of_a_killed_download_are_removed_at_the_next_start(archive, tmp_path):
    target = tmp_path / "target"
    with http_server(archive.read_bytes(), ["drip"]) as (url, _):
        child = subprocess.Popen(
            [sys.executable, "-c", (f"from cifar_core import download; download.download({str(target)!r}, "
                                    f"url={url!r}, expected_md5=None, min_rate=0)")],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.DEVNULL)
        try:
            end = time.monotonic() + 60
            while not list(target.glob(".cifar-tmp-*download*")) and time.monotonic() < end:
                time.sleep(0.05)
            [part] = target.glob(".cifar-tmp-*download*")
            two_hours_ago = time.time() - 7200
            os.utime(part, (two_hours_ago, two_hours_ago))  # old, but its owner is alive
            install_archive(archive, target, expected_md5=None)
            assert part.exists()  # a live download's file is kept, however old
            [lock] = [name for name in leftovers(target) if name.endswith(".lock")]
            assert sorted(leftovers(target)) == sorted([part.name, lock, BATCH_FOLDER])
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        install_archive(archive, target, expected_md5=None)
    assert leftovers(target) == [BATCH_FOLDER]  # the killed one's file and lock are gone
