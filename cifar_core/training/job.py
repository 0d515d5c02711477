"""The background training job: one per process, shared by every caller.

    job = get_job()                    # created lazily, under a lock
    job.start(preset("quick"))         # -> (True, "...") or (False, "already running")
    job.status()                       # an immutable TrainingStatus snapshot; poll it
    job.pause(); job.resume(); job.stop()

The thread loads the data, restores the latest checkpoint (or starts from
step 0 when there is none), then runs `config.steps` more iterations:
distort a random batch, one Adam step, record accuracy and loss; every
`eval_every` steps the accuracy on a fixed test subset; every
`checkpoint_every` steps, and on stop, a checkpoint with the full test accuracy.
It never touches any UI: callers read snapshots. Any exception becomes state
"failed" with its message.
"""
import atexit
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cifar_core import checkpoints, data
from cifar_core.config import TrainConfig
from cifar_core.training.hooks import CHECKPOINT_HOOKS

LOG_EVERY = 10  # steps averaged into one point of the batch accuracy / loss history


class NetworkMismatch(ValueError):
    """The latest checkpoint's network is not the one a run's settings ask for."""


@dataclass(frozen=True)
class TrainingStatus:
    state: str = "idle"                 # idle, running, paused, stopping, finished, stopped or failed
    message: str = ""                   # what happened, or the error of a failed run
    step: int = 0                       # global step (batches trained since step 0)
    start_step: int = 0                 # the step this run resumed from
    target_step: int = 0                # the step this run stops at
    history_steps: tuple = ()           # steps of the points below
    batch_accuracy: tuple = ()          # mean training-batch accuracy over the last LOG_EVERY steps
    loss: tuple = ()                    # mean training loss over the same steps
    test_steps: tuple = ()
    test_accuracy: tuple = ()           # on the fixed test subset (or the full set at checkpoints)
    images_per_second: float = 0.0
    eta_seconds: float | None = None
    latest_checkpoint: str | None = None
    config: TrainConfig | None = None

    @property
    def active(self):
        """True while the thread owns the run (running, paused or stopping)."""
        return self.state in ("running", "paused", "stopping")


def empty_history():
    return {"steps": [], "batch_accuracy": [], "loss": [], "test_steps": [], "test_accuracy": []}


@dataclass
class _Progress:
    """Mutable state shared between the thread and status(); guarded by TrainingJob._lock."""
    status: TrainingStatus = field(default_factory=TrainingStatus)
    history: dict = field(default_factory=empty_history)


class TrainingJob:
    def __init__(self, checkpoint_dir=checkpoints.DEFAULT_DIR, data_dir=None, hooks=CHECKPOINT_HOOKS):
        self.checkpoint_dir = Path(checkpoint_dir)
        self.data_dir = data_dir
        self.hooks = hooks  # each checkpoint's artifacts (training/hooks.py)
        self._lock = threading.Lock()
        self._thread = None
        self._stop = threading.Event()
        self._unpaused = threading.Event()
        self._progress = _Progress()

    # --- controls (any thread) ---------------------------------------------------

    def start(self, config, fresh=False):
        """Start a run of config.steps iterations. Returns (started, message): (False, ...) when a run is
        going already. NetworkMismatch when the latest checkpoint's network is another (unless fresh)."""
        config.validate()
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False, "Training is already running; pause or stop it first."
            latest = checkpoints.latest_checkpoint(self.checkpoint_dir)
            if latest is not None and not fresh:
                _check_same_network(latest.config, config)
            self._stop.clear()
            self._unpaused.set()
            self._progress = _Progress(TrainingStatus(state="running", message="Loading data…", config=config))
            self._thread = threading.Thread(target=self._run, args=(config, fresh), name="cifar-training",
                                            daemon=True)
            self._thread.start()
            return True, "Training started."

    def pause(self):
        with self._lock:
            if self._progress.status.state == "running":
                self._unpaused.clear()
                self._set(state="paused", message="Paused.")

    def resume(self):
        with self._lock:
            if self._progress.status.state == "paused":
                self._set(state="running", message="Training.")
                self._unpaused.set()

    def stop(self):
        """Ask the run to stop after the current batch; it saves a checkpoint first."""
        with self._lock:
            if self._progress.status.active:
                self._set(state="stopping", message="Stopping after this batch, then saving a checkpoint…")
                self._stop.set()
                self._unpaused.set()

    def wait(self, timeout=None):
        """Block until the run's thread ends; returns True when it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def shutdown(self):
        """Process exit: stop cleanly, with a final checkpoint."""
        self.stop()
        self.wait(timeout=120)

    def status(self):
        """An immutable snapshot of the run (safe to keep and read from any thread)."""
        with self._lock:
            h = self._progress.history
            return _replace(self._progress.status,
                            history_steps=tuple(h["steps"]), batch_accuracy=tuple(h["batch_accuracy"]),
                            loss=tuple(h["loss"]), test_steps=tuple(h["test_steps"]),
                            test_accuracy=tuple(h["test_accuracy"]))

    # --- the thread ----------------------------------------------------------------

    def _set(self, **changes):  # caller holds self._lock
        self._progress.status = _replace(self._progress.status, **changes)

    def _publish(self, **changes):
        with self._lock:
            self._set(**changes)

    def _run(self, config, fresh):
        try:
            with checkpoints.WriterLock(self.checkpoint_dir):
                self._train(config, fresh)
        except Exception as e:  # published, never lost: the UI shows it
            self._publish(state="failed", message=f"Training failed: {e}")

    def _train(self, config, fresh):
        from cifar_core.training.step import TrainingStep  # TensorFlow: only in the thread, never at import

        dataset = data.load_dataset(self.data_dir)
        if fresh:
            checkpoints.set_aside(self.checkpoint_dir)
        training = TrainingStep(config, dataset)
        latest = checkpoints.latest_checkpoint(self.checkpoint_dir)
        history = empty_history()
        if latest is not None:
            training.restore(latest)
            saved = latest.history()
            history = {key: list(saved.get(key, [])) for key in empty_history()}
        start = training.step
        target = start + config.steps
        with self._lock:
            self._progress.history = history
            resumed = f"Resumed from step {start}." if start else "Started from step 0."
            if training.precision == "bfloat16":
                resumed += " Computing in bfloat16, which this CPU does natively (the weights stay float32)."
            self._set(step=start, start_step=start, target_step=target, message=resumed,
                      latest_checkpoint=latest.name if latest else None)

        saved_step = start
        window_acc, window_loss = [], []
        clock = time.perf_counter()
        speed = 0.0
        while training.step < target and not self._stop.is_set():
            self._unpaused.wait()
            if self._stop.is_set():
                break
            accuracy, loss = training.train_batch(start)
            window_acc.append(accuracy)
            window_loss.append(loss)
            step = training.step
            now = time.perf_counter()
            speed = _smooth(speed, config.batch_size / max(now - clock, 1e-6))
            clock = now
            if step % LOG_EVERY == 0 or step == target:
                with self._lock:
                    history["steps"].append(step)
                    history["batch_accuracy"].append(float(np.mean(window_acc)))
                    history["loss"].append(float(np.mean(window_loss)))
                    eta = (target - step) * config.batch_size / speed if speed else None
                    self._set(step=step, images_per_second=speed, eta_seconds=eta)
                window_acc, window_loss = [], []
            if step % config.checkpoint_every == 0:
                self._checkpoint(training, history, config)
                saved_step = step
            elif step % config.eval_every == 0:
                self._record_test(history, step, training.evaluate(config.eval_images))
            clock = time.perf_counter()  # evaluation and saving are not training time

        stopped = self._stop.is_set()
        if training.step != saved_step:
            self._checkpoint(training, history, config)
        final = "stopped" if stopped else "finished"
        self._publish(state=final, step=training.step, eta_seconds=None,
                      message=f"{final.capitalize()} at step {training.step}; checkpoint saved.")

    def _record_test(self, history, step, accuracy):
        with self._lock:
            history["test_steps"].append(step)
            history["test_accuracy"].append(accuracy)
            self._set(step=step)

    def _checkpoint(self, training, history, config):
        probabilities = training.test_probabilities()  # (10000, 10): the full test set
        accuracy = float(np.mean(probabilities.argmax(axis=1) == training.dataset.test_labels))
        self._record_test(history, training.step, accuracy)
        with self._lock:
            snapshot = {key: list(values) for key, values in history.items()}
        artifacts = {}
        for hook in self.hooks:
            artifacts.update(hook(training, probabilities))
        saved = checkpoints.save_checkpoint(self.checkpoint_dir, training.model, training.optimizer, training.step,
                                            config, snapshot, accuracy, artifacts)
        self._publish(latest_checkpoint=saved.name)


def _check_same_network(saved, wanted):
    """NetworkMismatch when a run with TrainConfig `wanted` cannot continue a checkpoint trained with `saved`."""
    if saved.model != wanted.model:
        raise NetworkMismatch(
            f"The latest checkpoint's network ('{saved.preset}' preset: {saved.model.describe()}) is not the "
            f"'{wanted.preset}' preset's ({wanted.model.describe()}), so this run cannot continue it; a new run "
            "from step 0 can (the old checkpoints are set aside, not deleted).")


def _smooth(previous, current, weight=0.9):
    # Exponential moving average of images/second; the first measurement is taken as is.
    return current if previous == 0.0 else weight * previous + (1 - weight) * current


def _replace(status, **changes):
    from dataclasses import replace
    return replace(status, **changes)


# --- one job per process ---------------------------------------------------------------

_job = None
_job_lock = threading.Lock()


def get_job(checkpoint_dir=checkpoints.DEFAULT_DIR, data_dir=None):
    """The process's one training job, created on first call (later arguments are ignored)."""
    global _job
    with _job_lock:
        if _job is None:
            _job = TrainingJob(checkpoint_dir, data_dir)
            import keras  # noqa: F401  atexit is last-in-first-out: register after TF/Keras did theirs
            atexit.register(_job.shutdown)
        return _job


def existing_job():
    """The process's training job if one was created, else None (never imports TensorFlow)."""
    return _job
