"""The Mistakes page, run headless with AppTest on a tiny learnable dataset and a network trained on it."""
import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from cifar_core import snapshots
from cifar_core.data import load_dataset
from cifar_core.insights import inference, mistakes
from dashboard.ui.navigation import MISTAKES

HOME = "../dashboard/Home.py"  # relative to this file


@pytest.fixture
def folders(monkeypatch, tiny_data_dir, trained_dir):
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(tiny_data_dir))
    monkeypatch.setenv("CIFAR10_CHECKPOINT_DIR", str(trained_dir))
    yield tiny_data_dir, trained_dir
    st.cache_data.clear()  # caches are shared between AppTest instances
    st.cache_resource.clear()


def open_page(step=None):
    at = AppTest.from_file(HOME, default_timeout=90).run()
    at.switch_page(MISTAKES).run()
    if step is not None:
        at.select_slider(key="mi_timeline").set_value(step).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def answers_with_mistakes(data_dir, checkpoint_dir):
    """(step, dataset, (N, 10) test probabilities) of the latest snapshot that gets some test images wrong
    (the tiny test set is easy: the trained network may get all 100 right)."""
    dataset = load_dataset(data_dir)
    for point in reversed(snapshots.timeline(checkpoint_dir)):
        probabilities = inference.test_set_probabilities(point, dataset)
        if (probabilities.argmax(axis=1) != dataset.test_labels).any():
            return point.step, dataset, probabilities
    raise AssertionError("every snapshot gets every test image right")


def picks(at, section):
    return [b.key for b in at.button if b.key and b.key.startswith(f"mi_pick_{section}_")]


def test_the_page_shows_its_three_sections_and_keyed_controls(folders):
    step, _, _ = answers_with_mistakes(*folders)
    at = open_page(step)
    assert [h.value for h in at.subheader] == ["Most confused pairs", "Worst mistakes", "Suspect labels"]
    for key in ("mi_timeline", "mi_play", "mi_pair"):
        assert at.get_by_key(key) is not None, key
    assert picks(at, "worst") and not picks(at, "pair")  # no pair chosen yet
    assert "not byte-identical to the official" in " ".join(c.value for c in at.caption)  # a tiny made-up set


def test_picking_a_pair_shows_its_images_worst_first(folders):
    step, dataset, probabilities = answers_with_mistakes(*folders)
    pair = mistakes.confused_pairs(dataset.test_labels, probabilities)[0]
    at = open_page(step)
    at.pills(key="mi_pair").set_value(f"{pair.first}-{pair.second}").run()
    assert not at.exception
    assert picks(at, f"pair{pair.first}") == [f"mi_pick_pair{pair.first}_{i}" for i in pair.first_as_second[:24]]
    assert picks(at, f"pair{pair.second}") == [f"mi_pick_pair{pair.second}_{i}" for i in pair.second_as_first[:24]]
    names = dataset.class_names
    assert f"called **{names[pair.second]}**" in " ".join(m.value for m in at.markdown)


def test_the_worst_mistakes_come_highest_loss_first_and_look_inside_opens_one(folders):
    step, dataset, probabilities = answers_with_mistakes(*folders)
    worst = mistakes.worst_mistakes(dataset.test_labels, probabilities)
    at = open_page(step)
    assert picks(at, "worst") == [f"mi_pick_worst_{i}" for i in worst[:24]]
    at.button(key=f"mi_pick_worst_{worst[0]}").click().run()
    assert not at.exception
    for key in ("mi_view_worst_probs", "mi_view_worst_conv1", "mi_view_worst_conv2"):
        assert at.get_by_key(key) is not None, key


def test_a_network_right_on_every_test_image_says_nothing_is_confused(folders):
    dataset = load_dataset(folders[0])
    latest = snapshots.timeline(folders[1])[-1]
    if (inference.test_set_probabilities(latest, dataset).argmax(axis=1) != dataset.test_labels).any():
        pytest.skip("the tiny network still makes mistakes at its last step")
    at = open_page()
    assert "nothing is confused" in at.info[0].value
    assert not picks(at, "worst")


def test_without_a_checkpoint_the_page_says_to_train_first(folders, monkeypatch, tmp_path):
    monkeypatch.setenv("CIFAR10_CHECKPOINT_DIR", str(tmp_path))
    at = open_page()
    assert "no trained model yet" in at.info[0].value


@pytest.fixture
def official_dir(folders, tmp_path, monkeypatch):
    """The tiny folder with 10,000 test images whose labels at the published list's indices are the list's,
    taken as the official release: its files' MD5s stand in for the official ones."""
    import hashlib
    import shutil

    from cifar_core import data
    from cifar_core.insights.label_issues import published_list
    from tiny_cifar import make_images, write_batch

    folder = tmp_path / "cifar-10-batches-py"
    shutil.copytree(folders[0] / "cifar-10-batches-py", folder)
    labels = np.random.default_rng(3).integers(0, 10, size=10_000)
    labels[published_list().indices] = published_list().given
    write_batch(folder / "test_batch", make_images(labels, seed=4), labels)
    md5s = {path.name: hashlib.md5(path.read_bytes()).hexdigest() for path in folder.iterdir()}  # noqa: S324
    monkeypatch.setattr(data, "OFFICIAL_FILE_MD5", md5s)
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(tmp_path))
    return tmp_path


def test_on_the_official_release_the_published_errors_are_shown_with_badges(official_dir):
    from cifar_core.insights.label_issues import published_issues

    expected = published_issues(load_dataset(official_dir).test_labels, official=True)  # 54, least agreed first
    at = open_page()
    assert "not byte-identical" not in " ".join(c.value for c in at.caption)
    assert picks(at, "published") == [f"mi_pick_published_{i}" for i in expected.indices[:24]]
    assert "mi_pick_published_165" in picks(at, "published")  # 1 of 5 agreed with its label "deer"
    badges = " ".join(h.proto.body for h in at.get("html"))
    assert "label may be wrong: looks like a bird (checked by people)" in badges  # 165: they said bird
    at.number_input(key="mi_published_page").set_value(2).run()
    assert picks(at, "published") == [f"mi_pick_published_{i}" for i in expected.indices[24:48]]


def test_a_confusion_matrix_cell_badges_its_images_whose_label_may_be_wrong(folders, official_dir):
    from cifar_core.insights import confusion
    from cifar_core.insights.label_issues import doubtful_labels
    from dashboard.figures.mistakes import label_badges
    from dashboard.ui.navigation import CONFUSION

    dataset = load_dataset(official_dir)
    labels = dataset.test_labels
    probabilities = inference.test_set_probabilities(snapshots.timeline(folders[1])[-1], dataset)
    cell = int(labels[165]), int(probabilities[165].argmax())  # 165: labelled deer, people said bird
    order = list(confusion.cell_indices(labels, probabilities, *cell))
    page = order.index(165) // 24 + 1
    at = AppTest.from_file(HOME, default_timeout=90).run()
    at.switch_page(CONFUSION).run()
    at.selectbox(key="cm_true").set_value(cell[0]).run()
    at.selectbox(key="cm_pred").set_value(cell[1]).run()
    if page > 1:
        at.number_input(key="cm_page").set_value(page).run()
    assert not at.exception, [e.value for e in at.exception]
    tiles = {int(key.removeprefix("cm_pick_")) for key in (b.key for b in at.button) if key and key.startswith("cm_pick_")}
    bodies = [h.proto.body for h in at.get("html")]
    assert any("#165<" in body and "label may be wrong: looks like a bird (checked by people)" in body
               for body in bodies)
    doubted = tiles & label_badges(*doubtful_labels(labels, probabilities, True), dataset.class_names).keys()
    assert sum("label may be wrong" in body for body in bodies) == len(doubted)  # none on the other tiles
