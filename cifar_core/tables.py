"""Tables to take home, as CSV text a spreadsheet opens: one header row, one row per step or image, class
names as headers, a blank cell where nothing was measured.

- `history_csv(history)`: a run's metrics history (training/status.py), one row per logged step.
- `confusion_csv(confusion, class_names, normalised)`: a confusion matrix (insights/confusion.py), rows = true
  class, columns = predicted class; counts, or each row as fractions of its true class.
- `gallery_csv(indices, labels, probabilities, class_names, extra)`: a gallery's test images, in its order.

No Streamlit, no TensorFlow: the pages offer these as downloads, and anyone can call them.
"""
import csv
import io

import numpy as np

# (header, the history's list of steps, its list of values at those steps), in the spreadsheet's order
HISTORY_COLUMNS = (
    ("training loss", "steps", "loss"),                # mean over the LOG_EVERY training batches to the step
    ("training accuracy", "steps", "batch_accuracy"),  # the same batches, 0..1
    ("test loss", "test_steps", "test_loss"),          # on the test images measured at that step
    ("test accuracy", "test_steps", "test_accuracy"),  # 0..1
    ("learning rate", "steps", "learning_rate"),
    ("training session began", "session_steps", "session_kinds"),  # "new run (quick)", "resumed" ...
)
CORNER = "true class \\ predicted class"  # the confusion table's top-left cell


def _csv(header, rows):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _number(value, digits=6):
    """A float in few characters ('0.4321', '2.5e-05'); text as it is; None (not measured) as a blank."""
    if value is None:
        return ""
    return f"{value:.{digits}g}" if isinstance(value, (float, np.floating)) else value


def _at_steps(steps, values):
    """{step: value}. A list shorter than its steps (a run begun before the metric was kept: job.py appends to
    the saved lists) belongs to the latest steps, so both are paired from the end; a step logged twice keeps
    its last value."""
    n = min(len(steps), len(values))
    return dict(zip(steps[len(steps) - n:], values[len(values) - n:])) if n else {}


def history_rows(history):
    """-> (header, rows): "step", then HISTORY_COLUMNS' headers; one row per step at which anything was logged
    (training batches, a test, a session's start), in step order; None where that metric was not measured."""
    columns = [_at_steps(history.get(steps, []), history.get(values, []))
               for _, steps, values in HISTORY_COLUMNS]
    steps = sorted(set().union(*columns))
    return ["step", *(header for header, _, _ in HISTORY_COLUMNS)], [
        [step, *(column.get(step) for column in columns)] for step in steps]


def history_csv(history):
    """The metrics history (a dict of lists: {"steps", "loss", ..., "test_steps", ...}) as CSV text."""
    header, rows = history_rows(history)
    return _csv(header, [[_number(value) for value in row] for row in rows])


def confusion_csv(confusion, class_names, normalised=False):
    """A Confusion as CSV text: a row per true class, a column per predicted class, the class names heading
    both; counts (they sum to the number of test images), or each row's fractions of its class (summing
    to 1)."""
    matrix = confusion.normalised() if normalised else confusion.matrix  # (10, 10)
    cells = [[f"{v:.4f}" for v in row] if normalised else [int(v) for v in row] for row in matrix]
    return _csv([CORNER, *class_names], [[name, *row] for name, row in zip(class_names, cells)])


def gallery_csv(indices, labels, probabilities, class_names, extra=None):
    """A gallery's images, in its order, as CSV text: test index, true class, predicted class (the network's
    answer) and confidence (the probability it gave that answer, 0..1). indices: (M,) test-image indices;
    labels: (N,) the test labels; probabilities: (N, 10). extra: {header: M values} columns to add (a badge's
    words, a support ...); None values are left blank."""
    indices = np.asarray(indices, np.int64).reshape(-1)
    extra = extra or {}
    predicted = np.asarray(probabilities)[indices].argmax(axis=1) if len(indices) else indices
    rows = [[int(i), class_names[int(labels[i])], class_names[int(p)], f"{float(probabilities[i, p]):.4f}",
             *(_number(values[k], 4) for values in extra.values())]
            for k, (i, p) in enumerate(zip(indices, predicted))]
    return _csv(["test index", "true class", "predicted class", "confidence", *extra], rows)
