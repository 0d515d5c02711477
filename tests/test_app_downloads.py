"""Taking the results home: each page's download buttons offer what the page shows, run headless with AppTest
on the tiny trained run (conftest.py).

AppTest keeps a download's file in a media file manager of each run's own, dropped when the run ends; the
`offered` fixture keeps them, so a test reads the file a learner would get: its name and its bytes."""
import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import app_test

from app_pages import open_page
from cifar_core import checkpoints, snapshots
from cifar_core.data import load_dataset
from cifar_core.insights import confusion, inference, label_issues, mistakes
from cifar_core.training import job as training_job
from dashboard.ui import roles
from dashboard.ui.navigation import CONFUSION, MISTAKES, TRAIN
from tiny_cifar import write_cifar_folder


@pytest.fixture
def offered(monkeypatch):
    """-> read(at, key): (file name, bytes) that download button `key` of `at`'s last run gives."""
    managers = []

    class Kept(MediaFileManager):
        def __init__(self, storage):
            super().__init__(storage)
            managers.append(self)

    monkeypatch.setattr(app_test, "MediaFileManager", Kept)

    def read(at, key):
        proto = at.download_button(key=key).proto
        manager = managers[-1]  # the last run's
        deferred = proto.deferred_file_id  # a CSV is made on a press: press it
        url = manager.execute_deferred(deferred) if deferred else proto.url
        file = manager.read_file(Path(url).name)
        return file.filename, file.content

    return read


def table(data):
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


@pytest.fixture
def app(trained_app, monkeypatch):
    """The trained run's dashboard, with a training job of its own (which trains nothing here)."""
    data_dir, checkpoint_dir = trained_app
    job = training_job.TrainingJob(checkpoint_dir, data_dir)
    monkeypatch.setattr(training_job, "_job", job)
    for variable in ("CIFAR10_TEACHER_PASSCODE", "CIFAR10_LOCAL_IS_TEACHER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(roles, "_unlocked", set())
    yield data_dir, checkpoint_dir
    job.stop()
    job.wait(60)


def latest_answers(data_dir, checkpoint_dir):
    """(dataset, the latest point of the run, its (N, 10) test probabilities)."""
    dataset = load_dataset(data_dir)
    point = snapshots.timeline(checkpoint_dir)[-1]
    return dataset, point, inference.test_set_probabilities(point, dataset)


# --- Train -----------------------------------------------------------------------------------

def test_the_train_page_offers_the_history_one_row_per_logged_step(app, offered):
    _, checkpoint_dir = app
    history = checkpoints.latest_checkpoint(checkpoint_dir).history()
    at = open_page(TRAIN)
    name, data = offered(at, "train_history_csv")
    assert name == "training-history-step-30.csv"
    rows = table(data)
    assert rows[0][:5] == ["step", "training loss", "training accuracy", "test loss", "test accuracy"]
    logged = sorted(set(history["steps"]) | set(history["test_steps"]) | set(history["session_steps"]))
    # the tiny run logs every 10 steps, tests at 0 (untrained), 10, 20 and its checkpoints (15, 30)
    assert [int(row[0]) for row in rows[1:]] == logged == [0, 10, 15, 20, 30]
    by_step = {int(row[0]): row for row in rows[1:]}
    for step, accuracy in zip(history["test_steps"], history["test_accuracy"]):
        assert float(by_step[step][4]) == pytest.approx(accuracy, rel=1e-5)
    for step, loss in zip(history["steps"], history["loss"]):
        assert float(by_step[step][1]) == pytest.approx(loss, rel=1e-5)
    assert by_step[15][1] == by_step[15][2] == ""  # step 15: a test (a checkpoint), no training point logged
    assert by_step[0][-1].startswith("new run")
    assert "camera icon" in " ".join(c.value for c in at.caption)


# --- Confusion matrix ------------------------------------------------------------------------

def test_the_confusion_matrix_downloads_are_the_matrix_the_engine_computes(app, offered):
    dataset, point, probabilities = latest_answers(*app)
    expected = confusion.confusion_matrix(dataset.test_labels, probabilities.argmax(axis=1))
    at = open_page(CONFUSION)
    name, data = offered(at, "cm_counts_csv")
    assert name == f"confusion-matrix-step-{point.step}-counts.csv"
    counts = pd.read_csv(io.BytesIO(data), index_col=0)
    assert list(counts.index) == list(counts.columns) == list(dataset.class_names)  # true x called
    assert (counts.to_numpy() == expected.matrix).all()
    assert counts.to_numpy().sum() == len(dataset.test_labels) == 100

    name, data = offered(at, "cm_fractions_csv")
    assert name == f"confusion-matrix-step-{point.step}-row-fractions.csv"
    fractions = pd.read_csv(io.BytesIO(data), index_col=0).to_numpy()
    assert fractions == pytest.approx(expected.normalised(), abs=5e-5)
    assert fractions.sum(axis=1) == pytest.approx(np.ones(10), abs=1e-3)  # every class has test images
    assert "camera icon" in " ".join(c.value for c in at.caption)


@pytest.fixture
def big_test_set(app, tmp_path, monkeypatch):
    """The trained run over a test set of 600 images (60 a class): a cell holds more than one page of 24."""
    write_cifar_folder(tmp_path / "cifar600", per_class_train=20, per_class_test=60)
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(tmp_path / "cifar600"))
    return tmp_path / "cifar600", app[1]


def test_a_cells_list_holds_every_image_of_that_cell_not_only_its_first_page(big_test_set, offered):
    dataset, point, probabilities = latest_answers(*big_test_set)
    matrix = confusion.confusion_matrix(dataset.test_labels, probabilities.argmax(axis=1)).matrix
    true, pred = (int(i) for i in np.unravel_index(np.argmax(matrix), matrix.shape))  # the fullest cell
    expected = confusion.cell_indices(dataset.test_labels, probabilities, true, pred)  # most sure first
    assert len(expected) > 24
    at = open_page(CONFUSION)
    at.selectbox(key="cm_true").set_value(true).run()
    at.selectbox(key="cm_pred").set_value(pred).run()
    assert not at.exception
    names = dataset.class_names
    name, data = offered(at, "cm_cell_csv")
    assert name == f"{names[true]}-called-{names[pred]}-step-{point.step}.csv"
    rows = table(data)
    assert rows[0] == ["test index", "true class", "predicted class", "confidence"]
    assert [int(row[0]) for row in rows[1:]] == list(expected)
    assert {(row[1], row[2]) for row in rows[1:]} == {(names[true], names[pred])}
    assert [float(row[3]) for row in rows[1:]] == pytest.approx(probabilities[expected, pred], abs=5e-5)

    at.radio(key="cm_sort").set_value("least sure first").run()  # the list follows the gallery's order
    assert [int(row[0]) for row in table(offered(at, "cm_cell_csv")[1])[1:]] == list(expected[::-1])


# --- Mistakes --------------------------------------------------------------------------------

def test_the_worst_mistakes_and_a_pairs_lists_hold_all_their_images(app, offered):
    dataset = load_dataset(app[0])
    labels, names = dataset.test_labels, dataset.class_names
    for point in reversed(snapshots.timeline(app[1])):  # the latest step that gets some test images wrong
        probabilities = inference.test_set_probabilities(point, dataset)
        if len(worst := mistakes.worst_mistakes(labels, probabilities)):
            break
    else:
        pytest.fail("every snapshot of the tiny run gets every test image right")
    at = open_page(MISTAKES)
    at.select_slider(key="mi_timeline").set_value(point.step).run()
    name, data = offered(at, "mi_worst_csv")
    assert name == f"worst-mistakes-step-{point.step}.csv"
    rows = table(data)[1:]
    assert [int(row[0]) for row in rows] == list(worst)
    assert [(row[1], row[2]) for row in rows] == [(names[labels[i]], names[probabilities[i].argmax()])
                                                  for i in worst]

    pair = mistakes.confused_pairs(labels, probabilities)[0]
    at.pills(key="mi_pair").set_value(f"{pair.first}-{pair.second}").run()
    name, data = offered(at, "mi_pair_csv")
    assert name == f"{names[pair.first]}-and-{names[pair.second]}-confused-step-{point.step}.csv"
    assert [int(row[0]) for row in table(data)[1:]] == [*pair.first_as_second, *pair.second_as_first]


@pytest.fixture
def official_dir(app, tmp_path, monkeypatch):
    """The tiny folder with 10,000 test images whose labels at the published list's indices are the list's,
    taken as the official release (as in test_app_mistakes.py)."""
    import hashlib
    import shutil

    from cifar_core import data
    from tiny_cifar import make_images, write_batch

    folder = tmp_path / "cifar-10-batches-py"
    shutil.copytree(app[0] / "cifar-10-batches-py", folder)
    labels = np.random.default_rng(3).integers(0, 10, size=10_000)
    labels[label_issues.published_list().indices] = label_issues.published_list().given
    write_batch(folder / "test_batch", make_images(labels, seed=4), labels)
    md5s = {path.name: hashlib.md5(path.read_bytes()).hexdigest() for path in folder.iterdir()}  # noqa: S324
    monkeypatch.setattr(data, "OFFICIAL_FILE_MD5", md5s)
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(tmp_path))
    return tmp_path


def test_the_suspect_lists_say_what_their_badges_say(official_dir, offered):
    dataset = load_dataset(official_dir)
    expected = label_issues.published_issues(dataset.test_labels, official=True)  # 54, least agreed first
    at = open_page(MISTAKES)
    name, data = offered(at, "mi_published_csv")
    assert name.startswith("published-label-errors-step-")
    rows = table(data)
    assert rows[0] == ["test index", "true class", "predicted class", "confidence",
                       "people who agree with its label", "badge"]
    assert [int(row[0]) for row in rows[1:]] == list(expected.indices)  # all 54, not the first page's 24
    by_index = {int(row[0]): row for row in rows[1:]}
    assert by_index[165][1] == "deer" and float(by_index[165][4]) == pytest.approx(0.2)  # 1 of 5 agreed
    assert by_index[165][5] == "label may be wrong: looks like a bird (checked by people)"
    if "mi_suspect_csv" in [b.key for b in at.download_button]:  # confident learning found some
        suspects = table(offered(at, "mi_suspect_csv")[1])
        assert suspects[0][4:] == ["probability of its label", "badge"]
        assert all(row[5].startswith("label may be wrong") for row in suspects[1:])


# --- Take the model home ---------------------------------------------------------------------

def test_a_student_is_not_offered_the_model(app, monkeypatch):
    monkeypatch.setattr(roles, "peer_address", lambda: "192.168.1.23")
    at = open_page(TRAIN)
    for key in ("take_home_format", "take_home_prepare", "take_home_download"):
        with pytest.raises(KeyError):
            at.get_by_key(key)
    assert "Take the model home" not in [h.value for h in at.subheader]


def test_a_students_forged_press_exports_nothing(app, monkeypatch):
    at = open_page(TRAIN)  # drawn for the teacher...
    monkeypatch.setattr(roles, "peer_address", lambda: "192.168.1.23")  # ...the press comes from a student
    at.button(key="take_home_prepare").click().run()
    assert not at.exception and not at.error
    assert "take_home_download" not in [b.key for b in at.download_button]
    assert "Take the model home" not in [h.value for h in at.subheader]


def test_the_teacher_prepares_the_model_on_a_press_and_downloads_a_zip_with_it(app, offered):
    latest = checkpoints.latest_checkpoint(app[1])
    at = open_page(TRAIN)
    assert "Take the model home" in [h.value for h in at.subheader]
    assert at.radio(key="take_home_format").options == ["Keras (.keras)", "TensorFlow SavedModel",
                                                         "LiteRT (.tflite)"]
    assert "keras.models.load_model" in " ".join(c.value for c in at.caption)
    with pytest.raises(KeyError):
        at.get_by_key("take_home_download")  # nothing exported at page load
    at.button(key="take_home_prepare").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with pytest.raises(KeyError):
        at.get_by_key("take_home_prepare")  # prepared: only its download is offered
    name, data = offered(at, "take_home_download")
    assert name == f"cifar10_cnn-step-{latest.step}-keras.zip"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert any(n.endswith(".keras") for n in archive.namelist()), archive.namelist()
    at.run()  # kept for this checkpoint and format: no second export, no second press
    assert offered(at, "take_home_download") == (name, data)
    assert f"step {latest.step}" in " ".join(c.value for c in at.caption)
