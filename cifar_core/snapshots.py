"""Snapshots: the network at log-spaced steps of a run, kept for the run's whole life, to watch it learn.

The rolling checkpoints (checkpoints.py) are for resuming and only the newest few are kept; a snapshot is
for looking: its weights and the artifacts the pages read (the test set's probabilities), no optimizer
state or history, so a whole default run's snapshots are small (about 3.5 MB each). They are saved at
step 0 (the untrained network), at 50, 100, 200, 500, 1,000, 2,000, 5,000 ... (1, 2 and 5 times a power
of ten) and at the run's last step, into the checkpoint folder's snapshots/ (a set-aside run keeps its own):

    checkpoints/snapshots/ckpt-00000000/   weights.npz, test_*.npz (answers, fc2), meta.json ("kind": "snapshot")

`timeline(folder)` is what the pages scrub through: the snapshots, and the latest checkpoint when a stopped
run has gone past the last snapshot. Snapshots are Checkpoints, so everything that reads a checkpoint's
weights or artifacts reads a snapshot's. No TensorFlow here.
"""
from pathlib import Path

from cifar_core import checkpoint_saving, checkpoints
from cifar_core.checkpoint_files import SNAPSHOT, WEIGHTS

FOLDER = "snapshots"
FIRST_AFTER_ZERO = 50  # the network changes fastest early on: 50 steps already look different from 0


def is_scheduled(step):
    """True for the steps that get a snapshot whatever the run: 0, 50, 100, 200, 500, 1,000, 2,000, 5,000 ..."""
    if step == 0:
        return True
    if step < FIRST_AFTER_ZERO:
        return False
    while step % 10 == 0:
        step //= 10
    return step in (1, 2, 5)


def scheduled_steps(last):
    """The steps of a run from 0 to `last` that get a snapshot (`last` itself included)."""
    steps = [step for step in _one_two_five(last) if is_scheduled(step)]
    return [0, *steps, last] if last not in (0, *steps) else [0, *steps]


def _one_two_five(last):
    power = 10
    while power <= last:
        for mantissa in (1, 2, 5):
            if 0 < mantissa * power <= last:
                yield mantissa * power
        power *= 10


def folder_of(checkpoint_folder):
    return Path(checkpoint_folder) / FOLDER


def save_snapshot(checkpoint_folder, model, step, config, test_accuracy, artifacts=None, run=None):
    """Write snapshots/ckpt-<step> (weights and artifacts; never pruned). Returns it as a Checkpoint."""
    def write_files(tmp):
        checkpoint_saving.write_weights(tmp / WEIGHTS, model)
        return [WEIGHTS]

    meta = {"kind": SNAPSHOT, "test_accuracy": test_accuracy, "config": config, "run": run}
    return checkpoint_saving.write_checkpoint(folder_of(checkpoint_folder), step, write_files, meta, artifacts)


def list_snapshots(checkpoint_folder):
    """The run's valid snapshots, oldest first (damaged ones are left out: a timeline skips them)."""
    return [snapshot for snapshot in checkpoints.list_checkpoints(folder_of(checkpoint_folder))
            if snapshot.is_snapshot]


def timeline(checkpoint_folder):
    """What the pages scrub through, oldest first: the run's snapshots, then its latest checkpoint if it is
    further on (a run stopped between snapshots). A run trained before snapshots existed: its checkpoints."""
    snapshots = list_snapshots(checkpoint_folder)
    saved = checkpoints.list_checkpoints(checkpoint_folder)
    if not snapshots:
        return saved
    if saved and saved[-1].step > snapshots[-1].step:
        return [*snapshots, saved[-1]]
    return snapshots
