"""cifar_core.checkpoints against damaged and hostile checkpoint folders.

Nothing a checkpoint folder holds may crash a listing, a page or the command line, hold a reader for ever,
or lose a checkpoint: a damaged checkpoint is reported with its reason (scan_checkpoints), refused with a
CheckpointError naming it (Checkpoint.open), and left exactly as it was. Real checkpoints come from the
session's tiny training run (`trained_dir`, copied before anything changes); the saves here use a stand-in
network (a few bytes of "weights"), so that pruning and moving aside need no TensorFlow.
"""
import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from tiny_runs import tiny_config

from cifar_core import checkpoint_saving, checkpoints
from cifar_core.checkpoints import Checkpoint, CheckpointError, DamagedCheckpoint

LATEST, EARLIER = "ckpt-00000030", "ckpt-00000015"  # trained_dir's two checkpoints


# --- helpers ---------------------------------------------------------------------------------

@pytest.fixture
def folder(trained_dir, tmp_path):
    """A copy of the tiny run's checkpoint folder that a test may damage."""
    return Path(shutil.copytree(trained_dir, tmp_path / "checkpoints"))


def rewrite_meta(checkpoint, change):
    """Rewrite meta.json of `checkpoint` (a folder) as change(meta) returns it."""
    file = checkpoint / checkpoints.META
    file.write_text(json.dumps(change(json.loads(file.read_text()))))


def everything_in(folder):
    """{relative path: bytes, or the target of a link}: what a test checks is still there afterwards."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root, name)
            key = str(path.relative_to(folder))
            if path.is_symlink():
                found[key] = "-> " + os.readlink(path)
            elif path.is_file():
                found[key] = path.read_bytes()
    return found


def assert_latest_is_reported_damaged(folder, *why):
    """The latest checkpoint is reported as damaged, with a reason saying `why`; the earlier one is what a run
    resumes from; opening the damaged one says what is wrong and offers the earlier one; nothing changes."""
    before = everything_in(folder)
    valid, damaged = checkpoints.scan_checkpoints(folder)
    assert [c.name for c in valid] == [EARLIER]
    assert [d.name for d in damaged] == [LATEST]
    for words in why:
        assert words in damaged[0].reason, damaged[0].reason
    assert [c.name for c in checkpoints.list_checkpoints(folder)] == [EARLIER]
    assert checkpoints.latest_checkpoint(folder).name == EARLIER
    with pytest.raises(CheckpointError) as refused:
        Checkpoint.open(folder / LATEST)
    message = str(refused.value)
    assert str(folder / LATEST) in message and "step 15" in message
    for words in why:
        assert words in message, message
    assert everything_in(folder) == before  # nothing deleted, moved or rewritten


class StandInModel:
    def save_weights(self, path):
        Path(path).write_bytes(b"stand-in weights")


class StandInVariable:
    def numpy(self):
        return np.zeros(3, np.float32)


class StandInOptimizer:
    variables = (StandInVariable(),)


def save(folder, step, accuracy=0.5, keep=5):
    return checkpoint_saving.save_checkpoint(folder, StandInModel(), StandInOptimizer(), step,
                                       tiny_config(keep_checkpoints=keep), {"steps": [step]}, accuracy)


# --- meta.json of the wrong shape -------------------------------------------------------------

def test_a_meta_json_that_is_a_list_is_reported_as_damaged_not_skipped(folder):
    (folder / LATEST / checkpoints.META).write_text("[]")
    assert_latest_is_reported_damaged(folder, "meta.json holds []")


def test_a_meta_json_that_is_null_is_reported_as_damaged(folder):
    (folder / LATEST / checkpoints.META).write_text("null")
    assert_latest_is_reported_damaged(folder, "meta.json holds null")


def test_a_meta_json_that_is_not_json_is_reported_as_damaged(folder):
    (folder / LATEST / checkpoints.META).write_bytes(b'{"step": 30, \xff')
    assert_latest_is_reported_damaged(folder, "meta.json is not valid JSON")


def test_a_config_that_is_null_is_reported_as_damaged(folder):
    rewrite_meta(folder / LATEST, lambda meta: {**meta, "config": None})
    assert_latest_is_reported_damaged(folder, '"config": null')


def test_an_unknown_distortion_setting_is_reported_as_damaged(folder):
    rewrite_meta(folder / LATEST, lambda meta: {**meta, "config": {
        **meta["config"], "distortions": {**meta["config"]["distortions"], "wobble": 3}}})
    assert_latest_is_reported_damaged(folder, "config.distortions.wobble")


def test_a_setting_of_the_wrong_type_is_reported_as_damaged(folder):
    rewrite_meta(folder / LATEST, lambda meta: {**meta, "config": {**meta["config"], "batch_size": "many"}})
    assert_latest_is_reported_damaged(folder, '"config.batch_size": "many"', "a whole number")


def test_a_run_that_is_not_two_steps_is_reported_as_damaged(folder):
    rewrite_meta(folder / LATEST, lambda meta: {**meta, "run": {"schedule_start": 0, "target_step": "x"}})
    assert_latest_is_reported_damaged(folder, '"run"')


def test_a_test_accuracy_outside_0_to_1_is_reported_as_damaged(folder):
    rewrite_meta(folder / LATEST, lambda meta: {**meta, "test_accuracy": 7})
    assert_latest_is_reported_damaged(folder, '"test_accuracy": 7')


def test_a_step_that_differs_from_the_folders_is_reported_as_damaged(folder):
    rewrite_meta(folder / LATEST, lambda meta: {**meta, "step": 31})
    assert_latest_is_reported_damaged(folder, '"step": 31', LATEST)


# --- checksums: mandatory, and only of the checkpoint's own files ------------------------------

def test_a_meta_json_without_checksums_is_reported_as_damaged_not_loaded_unverified(folder):
    rewrite_meta(folder / LATEST, lambda meta: {k: v for k, v in meta.items() if k != "sha256"})
    assert_latest_is_reported_damaged(folder, 'no "sha256"')


def test_checksums_that_leave_out_the_weights_are_reported_as_damaged(folder):
    rewrite_meta(folder / LATEST, lambda meta: {**meta, "sha256": {
        k: v for k, v in meta["sha256"].items() if k != checkpoints.WEIGHTS}})
    assert_latest_is_reported_damaged(folder, f"does not cover {checkpoints.WEIGHTS}")


def test_a_checksum_naming_dev_zero_is_reported_as_damaged_and_never_hashed(folder):
    rewrite_meta(folder / LATEST, lambda meta: {**meta, "sha256": {**meta["sha256"], "/dev/zero": "0" * 64}})
    assert_latest_is_reported_damaged(folder, '"/dev/zero"', "not a file of this checkpoint")


def test_a_checksum_naming_a_file_outside_the_checkpoint_is_reported_as_damaged(folder):
    (folder / "x").write_bytes(b"not the checkpoint's")
    rewrite_meta(folder / LATEST, lambda meta: {**meta, "sha256": {**meta["sha256"], "../x": "0" * 64}})
    assert_latest_is_reported_damaged(folder, '"../x"', "not a file of this checkpoint")


def test_a_checksum_naming_a_missing_file_is_reported_as_damaged(folder):
    (folder / LATEST / checkpoints.WEIGHTS).unlink()
    assert_latest_is_reported_damaged(folder, f"{checkpoints.WEIGHTS}, which is missing")


def test_a_checksum_naming_a_link_is_reported_as_damaged(folder):
    os.symlink("/dev/zero", folder / LATEST / "zeros.npy")
    rewrite_meta(folder / LATEST, lambda meta: {**meta, "sha256": {**meta["sha256"], "zeros.npy": "0" * 64}})
    assert_latest_is_reported_damaged(folder, "zeros.npy, which is a symbolic link")


@pytest.mark.timeout(60)
def test_a_weights_file_swapped_for_a_link_to_dev_zero_after_opening_fails_verify_at_once(folder):
    opened = checkpoints.latest_checkpoint(folder)
    weights = folder / LATEST / checkpoints.WEIGHTS
    weights.unlink()
    os.symlink("/dev/zero", weights)
    answers = []
    reader = threading.Thread(target=lambda: answers.append(pytest.raises(CheckpointError, opened.verify)),
                              daemon=True)
    reader.start()
    reader.join(10)
    assert answers, "verify() is still reading /dev/zero"
    assert str(weights) in str(answers[0].value) and "symbolic link" in str(answers[0].value)


def test_a_history_that_is_not_an_object_is_refused_with_its_name(folder):
    checkpoint = checkpoints.latest_checkpoint(folder)
    (checkpoint.path / checkpoints.HISTORY).write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="history.json is unreadable"):
        checkpoint.history()


# --- saving and pruning never lose a checkpoint -------------------------------------------------

def test_a_save_at_the_step_of_a_damaged_checkpoint_moves_it_aside_and_it_stays_reported(folder):
    rewrite_meta(folder / LATEST, lambda meta: {**meta, "config": None})
    damaged_files = everything_in(folder / LATEST)
    saved = save(folder, 30)
    aside = saved.moved_aside
    assert isinstance(aside, DamagedCheckpoint) and aside.name.startswith(LATEST + ".damaged-")
    assert '"config": null' in aside.reason
    assert everything_in(aside.path) == damaged_files  # byte for byte what it was
    valid, damaged = checkpoints.scan_checkpoints(folder)
    assert [c.name for c in valid] == [EARLIER, LATEST] and valid[-1] == saved
    assert [d.path for d in damaged] == [aside.path] and '"config": null' in damaged[0].reason


def test_a_save_over_a_checkpoint_whose_weights_fail_their_checksum_keeps_the_damaged_one(folder):
    weights = folder / LATEST / checkpoints.WEIGHTS
    truncated = weights.read_bytes()[:1000]  # only hashing finds it
    weights.write_bytes(truncated)
    saved = save(folder, 30)
    assert checkpoints.WEIGHTS in saved.moved_aside.reason
    assert (saved.moved_aside.path / checkpoints.WEIGHTS).read_bytes() == truncated
    _, damaged = checkpoints.scan_checkpoints(folder)
    assert [d.path for d in damaged] == [saved.moved_aside.path] and "checksum" in damaged[0].reason


def test_a_second_save_of_an_intact_step_replaces_it_and_moves_nothing_aside(tmp_path):
    first = save(tmp_path, 10)
    second = save(tmp_path, 10)
    assert first.moved_aside is None and second.moved_aside is None
    assert checkpoints.scan_checkpoints(tmp_path) == ([second], [])


def test_pruning_keeps_the_best_checkpoint_of_a_run_that_went_bad(tmp_path):
    for step, accuracy in [(10, 0.30), (20, 0.80), (30, 0.10), (40, 0.10), (50, 0.10)]:
        save(tmp_path, step, accuracy, keep=2)
    assert [c.step for c in checkpoints.list_checkpoints(tmp_path)] == [20, 40, 50]


def test_pruning_never_deletes_a_damaged_checkpoint(tmp_path):
    damaged = tmp_path / "ckpt-00000005"
    damaged.mkdir(parents=True)
    (damaged / checkpoints.META).write_text("[]")
    for step in (10, 20, 30):
        save(tmp_path, step, keep=1)
    valid, reported = checkpoints.scan_checkpoints(tmp_path)
    assert [c.step for c in valid] == [30]
    assert [d.path for d in reported] == [damaged] and (damaged / checkpoints.META).read_text() == "[]"


# --- the folder itself --------------------------------------------------------------------------

def test_a_file_in_place_of_the_checkpoint_folder_is_named_as_such(tmp_path):
    file = tmp_path / "checkpoints"
    file.write_text("not a folder")
    for use in (lambda: checkpoints.WriterLock(file).__enter__(), lambda: checkpoints.list_checkpoints(file),
                lambda: checkpoints.scan_checkpoints(file), lambda: checkpoints.latest_checkpoint(file)):
        with pytest.raises(CheckpointError, match="is a file, not a folder"):
            use()
    assert file.read_text() == "not a folder"


def test_a_checkpoint_folder_not_made_yet_holds_no_checkpoints(tmp_path):
    assert checkpoints.scan_checkpoints(tmp_path / "not-yet") == ([], [])


def test_stray_entries_named_like_checkpoints_are_reported_not_skipped(tmp_path):
    (tmp_path / "ckpt-notes.txt").write_text("my notes")
    (tmp_path / "ckpt-500").mkdir()
    _, damaged = checkpoints.scan_checkpoints(tmp_path)
    assert {d.name: d.reason for d in damaged} == {"ckpt-500": "its name is not ckpt- followed by an 8-digit step",
                                                   "ckpt-notes.txt": "it is a file, not a checkpoint folder"}


# --- valid checkpoints work as before -----------------------------------------------------------

def test_valid_checkpoints_are_listed_opened_and_verified_as_before(folder):
    valid, damaged = checkpoints.scan_checkpoints(folder)
    assert [c.step for c in valid] == [15, 30] and damaged == []
    latest = Checkpoint.open(folder / LATEST)
    assert latest == valid[-1] and latest.config == tiny_config() and latest.run == (0, 30)
    assert latest.history()["steps"][-1] == 30
    latest.verify()
    assert latest.artifact("no-such-artifact") is None
