"""`python -m cifar_core` as a lab uses it: real processes, tiny data."""
import json
import random
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from cifar_core.config import preset

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, cwd=ROOT, **kwargs):
    return subprocess.run([sys.executable, "-m", "cifar_core", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, **kwargs)


def test_train_resumes_from_the_latest_checkpoint_and_evaluate_reports_accuracy(tiny_data_dir, tmp_path):
    common = ["--data-dir", str(tiny_data_dir), "--checkpoint-dir", str(tmp_path / "ckpt")]
    first = cli("train", "--steps", "20", "--preset", "quick", *common)
    assert first.returncode == 0, first.stderr
    assert "Started a new run of 20 steps" in first.stderr and "Now at step 20" in first.stdout
    done = cli("train", *common)  # nothing left to do: the run reached its target
    assert done.returncode == 2 and "The run is complete at step 20" in done.stderr
    second = cli("train", "--steps", "20", *common)  # 20 more, with the run's own settings
    assert second.returncode == 0, second.stderr
    assert "Training 20 more steps from step 20" in second.stderr and "'quick' preset to step 40" in second.stderr
    assert "Now at step 40" in second.stdout
    evaluated = cli("evaluate", *common)
    assert evaluated.returncode == 0, evaluated.stderr
    assert re.search(r"^test accuracy: \d+\.\d%$", evaluated.stdout, re.M)
    rows = [line for line in evaluated.stdout.splitlines() if line.strip().startswith(("airplane", "truck"))]
    assert len(rows) == 2 and sum(int(v) for v in rows[0].split()[1:11]) == 10  # 10 test airplanes


def test_ctrl_c_stops_cleanly_with_a_checkpoint(tiny_data_dir, tmp_path):
    process = start_training(tiny_data_dir, tmp_path, "--steps", "100000", "--preset", "quick")
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "Stopped at step" in out and "Traceback" not in err
    assert list(tmp_path.glob("ckpt-*"))


def test_bad_input_exits_non_zero_with_one_clear_line(tmp_path):
    cases = [
        (["train", "--steps", "5", "--data-dir", str(tmp_path / "nothing")], "error: "),
        (["train", "--steps", "5", "--preset", "turbo", "--checkpoint-dir", str(tmp_path)], "unknown preset 'turbo'"),
        (["evaluate", "--checkpoint-dir", str(tmp_path / "empty")], "no checkpoint in"),
        (["download", "--from", str(tmp_path / "missing.tar.gz"), "--data-dir", str(tmp_path)], "error: "),
    ]
    for args, expected in cases:
        result = cli(*args)
        assert result.returncode != 0, args
        assert expected in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)


def test_a_damaged_checkpoint_is_reported_not_replaced(tiny_data_dir, tmp_path):
    common = ["--data-dir", str(tiny_data_dir), "--checkpoint-dir", str(tmp_path)]
    assert cli("train", "--steps", "10", "--preset", "quick", *common).returncode == 0
    weights = next(tmp_path.glob("ckpt-*")) / "model.weights.h5"
    weights.write_bytes(b"not really weights")
    result = cli("evaluate", *common)
    assert result.returncode == 2 and "damaged" in result.stderr and "Traceback" not in result.stderr
    assert weights.read_bytes() == b"not really weights"


def test_download_from_a_local_archive(tiny_data_dir, tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tiny_data_dir / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    target = tmp_path / "lab"
    # A repackaged archive is not the official file: its checksum differs, and the lab is told so.
    result = cli("download", "--from", str(archive), "--data-dir", str(target))
    assert result.returncode == 2 and "MD5" in result.stderr and "Traceback" not in result.stderr
    assert not (target / "cifar-10-batches-py").exists()


def test_process_exit_stops_training_cleanly_with_a_final_checkpoint(tiny_data_dir, tmp_path):
    # A script (like the dashboard's server) that leaves the shared job training and exits.
    script = f"""
import time
from cifar_core.config import preset
from cifar_core.training.job import get_job
job = get_job({str(tmp_path)!r}, {str(tiny_data_dir)!r})
job.start(preset("quick", steps=100_000, batch_size=32, checkpoint_every=100_000, eval_images=50))
while job.status().step < 5:
    time.sleep(0.05)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    saved = list(tmp_path.glob("ckpt-*"))
    assert len(saved) == 1 and int(saved[0].name.split("-")[1]) >= 5


def start_training(tiny_data_dir, folder, *args):
    """`train` in the background; returns the process once its run has begun (its announcement printed)."""
    process = subprocess.Popen([sys.executable, "-m", "cifar_core", "train", *args, "--data-dir", str(tiny_data_dir),
                                "--checkpoint-dir", str(folder)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    line = ""
    while "preset to step" not in line and time.time() < deadline:
        line = process.stderr.readline()
    return process


def test_ctrl_c_at_any_moment_stops_cleanly(tiny_data_dir, tmp_path):
    # Signals land wherever the main thread happens to be (inside status(), holding the job's lock, too):
    # several in a row, at random moments, must still end in one clean stop with a checkpoint.
    rng = random.Random(0)
    for attempt in range(2):
        folder = tmp_path / f"run{attempt}"
        process = start_training(tiny_data_dir, folder, "--steps", "100000", "--preset", "quick")
        for _ in range(6):
            time.sleep(rng.uniform(0.0, 0.3))
            process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert "Stopped at step" in out and "Traceback" not in err
        assert list(folder.glob("ckpt-*"))


def wait_for_steps(process):
    """Read stderr until a progress line shows at least one step trained (a log gets one every 15 s)."""
    while True:
        line = process.stderr.readline()
        assert line, "the process ended before training a step"
        if (found := re.search(r"\d+%\|[^|]*\| ([\d,]+)/", line)) and int(found.group(1).replace(",", "")) > 0:
            return


def test_a_process_restart_in_the_middle_of_a_run_keeps_its_schedule_and_target(tiny_data_dir, tmp_path):
    first = start_training(tiny_data_dir, tmp_path, "--steps", "100000", "--preset", "quick")
    wait_for_steps(first)
    first.send_signal(signal.SIGINT)
    out, _ = first.communicate(timeout=120)
    stopped = int(re.search(r"Stopped at step ([\d,]+)", out).group(1).replace(",", ""))
    second = start_training(tiny_data_dir, tmp_path)  # a new process, no new settings: the same run goes on
    wait_for_steps(second)
    second.send_signal(signal.SIGINT)
    second.communicate(timeout=120)
    saved = sorted(tmp_path.glob("ckpt-*"))[-1]
    meta = json.loads((saved / "meta.json").read_text())
    assert meta["run"] == {"schedule_start": 0, "target_step": 100_000} and meta["step"] > stopped
    history = json.loads((saved / "history.json").read_text())
    schedule = preset("quick", steps=100_000)  # one schedule across both processes: no second warm-up
    expected = [schedule.learning_rate_at(step - 1) for step in history["steps"]]
    assert history["learning_rate"] == pytest.approx(expected)


def test_runs_lists_set_aside_runs_and_restore_brings_one_back(tiny_data_dir, tmp_path):
    common = ["--data-dir", str(tiny_data_dir), "--checkpoint-dir", str(tmp_path)]
    assert cli("train", "--steps", "20", "--preset", "quick", *common).returncode == 0
    fresh = cli("train", "--steps", "10", "--fresh", *common)
    assert fresh.returncode == 0 and "The previous run is kept as previous-" in fresh.stderr
    listing = cli("runs", "--checkpoint-dir", str(tmp_path))
    assert "current run: step 10 of 10, default preset" in listing.stdout
    name = re.search(r"(previous-\S+): step 20, quick preset, best test accuracy \d+\.\d%", listing.stdout).group(1)
    restored = cli("restore", name, "--checkpoint-dir", str(tmp_path))
    assert restored.returncode == 0 and f"Restored {name}" in restored.stdout
    assert "current run: step 20 of 20, quick preset" in cli("runs", "--checkpoint-dir", str(tmp_path)).stdout
    wrong = cli("restore", "../elsewhere", "--checkpoint-dir", str(tmp_path))
    assert wrong.returncode == 2 and "no set-aside run called" in wrong.stderr


def test_evaluate_reports_a_damaged_checkpoint_and_uses_the_newest_valid_one(tiny_data_dir, tmp_path):
    common = ["--data-dir", str(tiny_data_dir), "--checkpoint-dir", str(tmp_path)]
    assert cli("train", "--steps", "20", "--preset", "quick", *common).returncode == 0
    assert cli("train", "--steps", "20", *common).returncode == 0  # checkpoints at 20 and 40
    (tmp_path / "ckpt-00000040" / "meta.json").write_text('{"config": null}')
    result = cli("evaluate", *common)
    assert result.returncode == 0, result.stderr
    assert "ckpt-00000040 is damaged" in result.stderr and "ckpt-00000020 (step 20)" in result.stdout
    assert (tmp_path / "ckpt-00000040" / "meta.json").read_text() == '{"config": null}'  # left as it is
