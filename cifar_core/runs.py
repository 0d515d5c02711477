"""Runs set aside by "start a new run": kept, listed, restored, and deleted only on purpose.

    checkpoints/
        ckpt-*/                          the current run's checkpoints
        snapshots/ckpt-*/                its snapshots (snapshots.py)
        previous-20261201-142233/        a run set aside: its checkpoints and snapshots, moved as they were
            ckpt-*/
            snapshots/ckpt-*/

Setting aside and restoring only rename folders (nothing is copied or rewritten), so a restored run
is byte for byte what was set aside. Callers hold the folder's checkpoints.WriterLock (the training
job does), so no run writes while checkpoints move.
"""
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from cifar_core import checkpoints, snapshots

ASIDE_PREFIX = "previous-"


class RunError(Exception):
    """A set-aside run that cannot be restored or deleted; the message says why."""


@dataclass(frozen=True)
class SetAsideRun:
    path: Path            # checkpoints/previous-<time>/
    checkpoints: tuple    # its Checkpoints, oldest first

    @property
    def name(self):
        return self.path.name

    @property
    def set_aside_at(self):
        """Seconds since the epoch, from the folder's name."""
        try:
            return time.mktime(time.strptime(self.name[len(ASIDE_PREFIX):][:15], "%Y%m%d-%H%M%S"))
        except ValueError:
            return self.path.stat().st_mtime

    @property
    def step(self):
        return self.checkpoints[-1].step if self.checkpoints else 0

    @property
    def preset(self):
        return self.checkpoints[-1].preset if self.checkpoints else "?"

    @property
    def best_accuracy(self):
        accuracies = [c.test_accuracy for c in self.checkpoints if c.test_accuracy is not None]
        return max(accuracies) if accuracies else None


def set_aside(folder):
    """Move the current run's checkpoints into previous-<time>/. Returns that SetAsideRun, or None when
    there is no current run. Damaged checkpoints move with it: nothing is left behind or deleted."""
    folder = Path(folder)
    current = _run_entries(folder)
    if not current:
        return None
    aside = folder / time.strftime(f"{ASIDE_PREFIX}%Y%m%d-%H%M%S")
    suffix = 1
    while aside.exists():  # two in one second
        aside = aside.with_name(time.strftime(f"{ASIDE_PREFIX}%Y%m%d-%H%M%S") + f"-{suffix}")
        suffix += 1
    aside.mkdir()
    for path in current:
        os.replace(path, aside / path.name)
    return _read(aside)


def set_aside_runs(folder):
    """Every run set aside in `folder`, newest first."""
    runs = [_read(path) for path in Path(folder).glob(ASIDE_PREFIX + "*") if path.is_dir()]
    return sorted(runs, key=lambda run: run.name, reverse=True)


def restore(folder, name):
    """Bring set-aside run `name` back as the current run; the current run (if any) is set aside in turn.
    Returns the run that was set aside, or None."""
    folder = Path(folder)
    source = _existing(folder, name)
    previous = set_aside(folder)
    for path in _run_entries(source):
        os.replace(path, folder / path.name)
    source.rmdir()
    return previous


def delete(folder, name):
    """Delete set-aside run `name` for good (the caller has asked twice)."""
    shutil.rmtree(_existing(Path(folder), name))


def _existing(folder, name):
    # Only a set-aside run's own folder, never a path given from outside ("../", "/").
    path = folder / name
    if Path(name).name != name or not name.startswith(ASIDE_PREFIX) or not path.is_dir():
        raise RunError(f"there is no set-aside run called {name!r} in {folder}")
    return path


def _run_entries(folder):
    """What belongs to the run in `folder`: its checkpoints (damaged ones too) and its snapshots' folder."""
    return [*sorted(folder.glob(checkpoints.PREFIX + "*")), *folder.glob(snapshots.FOLDER)]


def _read(path):
    return SetAsideRun(path, tuple(checkpoints.list_checkpoints(path)))
