"""The tables a teacher takes home (cifar_core/tables.py): CSV a spreadsheet opens, checked against values
worked out by hand."""
import csv
import io

import numpy as np

from cifar_core import tables
from cifar_core.insights.confusion import confusion_matrix

NAMES = ("cat", "dog", "frog")


def rows(text):
    return list(csv.reader(io.StringIO(text)))


def test_history_has_one_row_per_logged_step_and_blanks_where_nothing_was_measured():
    history = {"steps": [10, 20, 30], "batch_accuracy": [0.25, 0.5, 0.75], "loss": [2.0, 1.5, 1.25],
               "learning_rate": [1e-3, 2e-3, 2.5e-5], "test_steps": [15, 30], "test_accuracy": [0.4, 0.6],
               "test_loss": [1.75, 1.125], "session_steps": [0], "session_kinds": ["new run (quick)"]}
    assert rows(tables.history_csv(history)) == [
        ["step", "training loss", "training accuracy", "test loss", "test accuracy", "learning rate",
         "training session began"],
        ["0", "", "", "", "", "", "new run (quick)"],
        ["10", "2", "0.25", "", "", "0.001", ""],
        ["15", "", "", "1.75", "0.4", "", ""],
        ["20", "1.5", "0.5", "", "", "0.002", ""],
        ["30", "1.25", "0.75", "1.125", "0.6", "2.5e-05", ""]]


def test_a_metric_an_older_checkpoint_did_not_keep_fills_only_the_steps_logged_since():
    # saved before test loss was kept, then resumed: job.py appended test losses from then on
    history = {"steps": [10], "batch_accuracy": [0.5], "loss": [1.0], "test_steps": [10, 20, 30],
               "test_accuracy": [0.3, 0.4, 0.5], "test_loss": [1.5, 1.25]}
    table = rows(tables.history_csv(history))
    assert [row[0] for row in table[1:]] == ["10", "20", "30"]
    assert [row[3] for row in table[1:]] == ["", "1.5", "1.25"]   # test loss
    assert [row[5] for row in table[1:]] == ["", "", ""]          # no learning rate kept at all


def test_an_empty_history_is_a_header_only():
    assert rows(tables.history_csv({})) == [["step", *(h for h, _, _ in tables.HISTORY_COLUMNS)]]


def test_confusion_counts_have_class_names_for_rows_and_columns():
    labels, predicted = np.array([0, 0, 0, 1, 1, 2]), np.array([0, 0, 1, 1, 2, 2])
    result = confusion_matrix(labels, predicted)
    names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    table = rows(tables.confusion_csv(result, names))
    assert table[0] == [tables.CORNER, *names]
    assert [row[0] for row in table[1:]] == list(names)
    assert [row[1:4] for row in table[1:4]] == [["2", "1", "0"], ["0", "1", "1"], ["0", "0", "1"]]
    assert sum(int(v) for row in table[1:] for v in row[1:]) == 6


def test_confusion_row_fractions_sum_to_one_and_an_empty_row_stays_zero():
    result = confusion_matrix(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1]))
    names = tuple(f"class {i}" for i in range(10))
    table = rows(tables.confusion_csv(result, names, normalised=True))
    assert table[1][1:3] == ["0.6667", "0.3333"] and table[2][1:3] == ["0.0000", "1.0000"]
    assert table[3][1:] == ["0.0000"] * 10  # no images of class 2


def test_a_gallery_lists_its_images_in_its_order_with_the_answer_and_its_confidence():
    labels = np.array([0, 1, 2, 1])
    probabilities = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.05, 0.15, 0.8]])
    text = tables.gallery_csv([3, 1], labels, probabilities, NAMES,
                              extra={"badge": ["label may be wrong: looks like a frog", None]})
    assert rows(text) == [["test index", "true class", "predicted class", "confidence", "badge"],
                          ["3", "dog", "frog", "0.8000", "label may be wrong: looks like a frog"],
                          ["1", "dog", "cat", "0.6000", ""]]


def test_an_empty_gallery_is_a_header_only():
    assert rows(tables.gallery_csv(np.zeros(0, int), np.zeros(0, int), np.zeros((0, 3)), NAMES)) == [
        ["test index", "true class", "predicted class", "confidence"]]
