"""Write checkpoints atomically, and prune old ones; the layout and the reading side are checkpoints.py.

Each checkpoint is written into a temporary folder, flushed to disk, and renamed into place, so a kill at any
moment leaves the latest complete checkpoint loadable. Nothing damaged is ever overwritten or pruned: a save
of its step first moves it aside. No TensorFlow at import time.
"""
import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from cifar_core.checkpoint_files import HISTORY, META, OPTIMIZER, PREFIX, TMP_PREFIX, WEIGHTS, Damaged, sha256, write_arrays
from cifar_core.checkpoints import (ARTIFACT_SUFFIX, DAMAGED_MARK, Checkpoint, DamagedCheckpoint, examine,
                                    first_damaged_file, list_checkpoints)



def save_checkpoint(folder, model, optimizer, step, config, history, test_accuracy, artifacts=None, run=None):
    """Write ckpt-<step> atomically, then prune: keep the newest config.keep_checkpoints valid checkpoints
    and the best by test accuracy (damaged ones are never pruned).

    artifacts: {name: array} saved as <name>.npz (e.g. the test set's probabilities).
    run: {"schedule_start": step, "target_step": step}: where this run's learning-rate schedule began and
    the step it trains to, so that a resumed run keeps both. Returns the Checkpoint. A damaged checkpoint of
    the same step is moved aside first, never overwritten: the returned Checkpoint's `moved_aside` says
    where it went and why."""
    def write_files(tmp):
        if hasattr(model, "layers"):
            from cifar_core.model import optimizer_variables_by_name

            write_weights(tmp / WEIGHTS, model)
            write_arrays(tmp / OPTIMIZER, optimizer_variables_by_name(model, optimizer))
        else:  # a stand-in network (tests of saving and pruning, without TensorFlow) writes its own bytes
            model.save_weights(tmp / WEIGHTS)
            np.savez(tmp / OPTIMIZER, *[v.numpy() for v in optimizer.variables])
        (tmp / HISTORY).write_text(json.dumps(history))
        return [WEIGHTS, OPTIMIZER, HISTORY]

    saved = write_checkpoint(folder, step, write_files, {"test_accuracy": test_accuracy, "config": config, "run": run},
                             artifacts)
    _prune(folder, config.keep_checkpoints)
    return saved


def write_checkpoint(folder, step, write_files, meta, artifacts=None):
    """Write folder/ckpt-<step> atomically (no pruning): `write_files(tmp folder)` writes the files and returns
    their names; each artifact {name: array} becomes <name>.npz (compressed); meta.json gets `meta` (its "config" a
    TrainConfig) plus the step, the time and every file's checksum. Returns the Checkpoint."""
    folder = Path(folder)
    final = folder / f"{PREFIX}{step:08d}"
    tmp = folder / f"{TMP_PREFIX}{final.name}-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        files = write_files(tmp)
        for name, array in (artifacts or {}).items():
            np.savez_compressed(tmp / f"{name}{ARTIFACT_SUFFIX}", array=np.asarray(array))
            files.append(f"{name}{ARTIFACT_SUFFIX}")
        meta = {"step": int(step), "saved_at": time.time(), **meta, "config": json.loads(meta["config"].to_json()),
                "sha256": {name: sha256(tmp / name) for name in files}}
        (tmp / META).write_text(json.dumps(meta))
        _fsync_tree(tmp)
        moved = _move_aside_if_damaged(final)
        if os.path.lexists(final):  # an intact save of the same step (a stop right after a periodic save)
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Checkpoint(final, meta, moved)


def _move_aside_if_damaged(final):
    """Move a damaged checkpoint at `final` to <name>.damaged-<time>, where scan_checkpoints still reports
    it; its DamagedCheckpoint there, or None when there is none or it is intact (its files are hashed here:
    saves are rare)."""
    if not os.path.lexists(final):
        return None
    try:
        damaged = first_damaged_file(examine(final))
        if damaged is None:
            return None
        reason = f"{damaged[0]} is missing or damaged ({damaged[1]})"
    except Damaged as e:
        reason = str(e)
    aside = _free_name(final, time.strftime("%Y%m%d-%H%M%S"))
    os.replace(final, aside)
    return DamagedCheckpoint(aside, f"moved aside when its step was saved again, because {reason}")


def _free_name(final, stamp):
    # Never onto an existing name: a rename onto an empty folder would succeed and lose nothing but the name.
    aside, suffix = final.with_name(f"{final.name}{DAMAGED_MARK}{stamp}"), 1
    while os.path.lexists(aside):
        aside, suffix = final.with_name(f"{final.name}{DAMAGED_MARK}{stamp}-{suffix}"), suffix + 1
    return aside


def _prune(folder, keep):
    # The best is kept too: a diverged run checkpointing often pruned every good checkpoint away. Only valid
    # checkpoints are candidates: a damaged one is what the user must see (not verified here: an old
    # checkpoint whose files rotted is as useless pruned as kept).
    valid = list_checkpoints(folder)
    kept = {checkpoint.path for checkpoint in valid[-max(keep, 1):]}
    scored = [checkpoint for checkpoint in valid if checkpoint.test_accuracy is not None]
    if scored:
        kept.add(max(scored, key=lambda checkpoint: (checkpoint.test_accuracy, checkpoint.step)).path)
    for checkpoint in valid:
        if checkpoint.path not in kept:
            shutil.rmtree(checkpoint.path, ignore_errors=True)


def write_weights(file, model):
    """`model`'s weights to `file` (.npz), keyed by the project's names (see the module docstring)."""
    from cifar_core.model import weights_by_name

    write_arrays(file, weights_by_name(model))


def _fsync_tree(folder):
    for path in folder.iterdir():
        with open(path, "rb") as f:
            os.fsync(f.fileno())
