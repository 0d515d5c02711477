"""What `python -m cifar_core` writes to a log (CI, nohup) and with --quiet: real processes, tiny data."""
import io
import re
import subprocess
import sys
from pathlib import Path

from cifar_core.progress import ProgressBar
from tiny_cifar import write_cifar_folder

ROOT = Path(__file__).resolve().parent.parent
# What TensorFlow 2.21's libraries print while they load (absl's notice, oneDNN, the CPU instructions),
# and any absl INFO or WARNING line ("I0000 00:00:1796183368.138338     602 port.cc:153] ...").
START_UP = re.compile(r"absl::InitializeLog|oneDNN custom operations|This TensorFlow binary is optimized|"
                      r"^[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\]", re.M)


def cli_logged(log, *args):
    """The command with stderr written to the file `log` (not a terminal), as under nohup or in CI; -> stdout."""
    with open(log, "w") as stderr:
        result = subprocess.run([sys.executable, "-m", "cifar_core", *args], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=stderr, text=True, timeout=300)
    assert result.returncode == 0, Path(log).read_text()
    return result.stdout


def test_a_log_gets_plain_progress_lines_and_none_of_tensorflows_start_up_lines(tiny_data_dir, tmp_path):
    common = ["--checkpoint-dir", str(tmp_path / "ckpt")]
    out = cli_logged(tmp_path / "train.log", "train", "--steps", "20", "--preset", "quick",
                     "--data-dir", str(tiny_data_dir), *common)
    log = (tmp_path / "train.log").read_text()
    assert "Now at step 20" in out
    assert "\r" not in log and not START_UP.search(log), log
    assert "Training with the 'quick' preset to step 20." in log
    assert re.search(r"^training: 100%\|#+\| 20/20 \[", log, re.M), log  # the end, on a line of its own
    # A test set of another size has no saved answers: evaluate loads TensorFlow to classify it.
    other = write_cifar_folder(tmp_path / "other", per_class_train=2, per_class_test=3).parent
    out = cli_logged(tmp_path / "evaluate.log", "evaluate", "--data-dir", str(other), *common)
    log = (tmp_path / "evaluate.log").read_text()
    assert "test accuracy:" in out and log == "", log


def test_quiet_shows_the_result_and_no_progress(tiny_data_dir, tmp_path):
    out = cli_logged(tmp_path / "train.log", "train", "--quiet", "--steps", "10", "--preset", "quick",
                     "--data-dir", str(tiny_data_dir), "--checkpoint-dir", str(tmp_path / "ckpt"))
    assert "Finished at step 10; checkpoint saved. Now at step 10" in out
    assert (tmp_path / "train.log").read_text() == ""


def test_tensorflows_errors_and_python_tracebacks_still_show():
    # What TensorFlow's libraries might write while they load, straight to file descriptor 2 as C++ does.
    script = r"""
import os, sys
from cifar_core.__main__ import start_up_lines_hidden
with start_up_lines_hidden():
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
    os.write(2, b"I0000 00:00:1796183368.138338     602 port.cc:153] oneDNN custom operations are on.\n")
    os.write(2, b"W0000 00:00:1796183368.138338     602 gpu_device.cc:2] Cannot dlopen some GPU libraries.\n")
    os.write(2, b"E0000 00:00:1796183368.138338     602 cuda_dnn.cc:8] Could not create cudnn handle\n")
    print("from Python's sys.stderr", file=sys.stderr)
    raise RuntimeError("the import failed")
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    lines = result.stderr.splitlines()
    assert result.returncode == 1
    assert lines[:2] == ["E0000 00:00:1796183368.138338     602 cuda_dnn.cc:8] Could not create cudnn handle",
                         "from Python's sys.stderr"]
    assert lines[2] == "Traceback (most recent call last):" and lines[-1] == "RuntimeError: the import failed"


def test_a_fatal_error_shows_even_when_the_process_dies_at_once():
    # A C++ CHECK failure: one line, then abort(). The filter is a process of its own: it outlives this one.
    script = r"""
import os
from cifar_core.__main__ import start_up_lines_hidden
with start_up_lines_hidden():
    os.write(2, b"F0000 00:00:1796183368.138338     602 port.cc:9] Check failed: oneDNN\n")
    os.abort()
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "Check failed: oneDNN" in result.stderr


def test_a_log_gets_the_first_state_then_a_line_every_15_seconds_and_the_end():
    log = io.StringIO()  # not a terminal
    bar = ProgressBar("training", unit="step", stream=log)
    for done in range(101):  # a fraction of a second: no 15 s between these
        bar(done, 100, "batch acc 50%")
    bar.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 2
    assert lines[0].startswith("training:   0%|          | 0/100 [")
    assert lines[1].startswith("training: 100%|##########| 100/100 [") and lines[1].endswith(", batch acc 50%]")


def test_a_log_gets_the_last_state_of_a_run_stopped_between_two_lines():
    log = io.StringIO()
    bar = ProgressBar("training", unit="step", stream=log)
    for done in range(41):  # Ctrl+C at step 40 of 100
        bar(done, 100)
    bar.close()
    assert [line.split(" [")[0] for line in log.getvalue().splitlines()] == [
        "training:   0%|          | 0/100", "training:  40%|####      | 40/100"]


def test_a_download_of_unknown_size_counts_megabytes():
    log = io.StringIO()
    bar = ProgressBar("CIFAR-10", stream=log)
    bar(81_500_000, None)  # no Content-Length
    bar.close()
    assert log.getvalue().startswith("CIFAR-10: 81.5MB [")


def test_a_terminal_gets_a_bar_redrawn_in_place():
    class Terminal(io.StringIO):
        def isatty(self):
            return True
    screen = Terminal()
    bar = ProgressBar("training", unit="step", stream=screen)
    for done in range(101):
        bar(done, 100, "batch acc 50%")
    bar.close()
    drawn = screen.getvalue()
    assert drawn.startswith("\r") and drawn.endswith("\n") and drawn.count("\n") == 1
    assert drawn.rsplit("\r", 1)[1].startswith("training: 100%|")


def test_quiet_shows_nothing():
    for stream in (io.StringIO(), type("Terminal", (io.StringIO,), {"isatty": lambda self: True})()):
        bar = ProgressBar("training", unit="step", quiet=True, stream=stream)
        bar(50, 100, "batch acc 50%")
        bar.close()
        assert stream.getvalue() == ""
