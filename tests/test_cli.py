"""`python -m cifar_core` as a lab uses it: real processes, tiny data."""
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

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
    process = subprocess.Popen([sys.executable, "-m", "cifar_core", "train", "--steps", "100000", "--preset", "quick",
                                "--data-dir", str(tiny_data_dir), "--checkpoint-dir", str(tmp_path)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    line = ""
    while "Training 100000 iterations" not in line and time.time() < deadline:
        line = process.stderr.readline()
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
