"""The background training job: one per process, shared by every caller.

    job = get_job()                    # created lazily, under a lock
    job.start(preset("quick"))         # -> (True, "...") or (False, "already running")
    job.status()                       # an immutable TrainingStatus snapshot; poll it
    job.pause(); job.resume(); job.stop()

A *run* trains to a target step on one learning-rate schedule. `start` begins a new run when there is
none (or `fresh`: the old one is set aside, runs.py), and otherwise continues the latest checkpoint's run
to its target, with its own settings: a stop, a pause or a restart never moves the target or restarts
the schedule. `extra_steps` extends the target (a finished run then gets a new schedule for them).

The thread loads the data, restores the latest checkpoint, then trains: distort a random batch, one
Adam step, record accuracy and loss; every `eval_every` steps the accuracy on a fixed test subset;
every `checkpoint_every` steps, and on stop, a checkpoint with the full test accuracy; at step 0 and at
log-spaced steps a snapshot to watch it learn (snapshots.py). A run whose loss
is not a number, or whose test accuracy falls back to chance, stops as "failed". It never touches any
UI: callers read snapshots. Any exception becomes state "failed" with its message.
"""
import atexit
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cifar_core import checkpoint_saving, checkpoints, data, foreground, runs, snapshots
from cifar_core.insights.inference import accuracy_and_loss
from cifar_core.training.divergence import DivergenceWatch
from cifar_core.training.hooks import CHECKPOINT_HOOKS
from cifar_core.training.plan import plan_run
from cifar_core.training.status import LOG_EVERY, TrainingStatus, empty_history


@dataclass
class _Progress:
    """Mutable state shared between the thread and status(); guarded by TrainingJob._lock."""
    status: TrainingStatus = field(default_factory=TrainingStatus)
    history: dict = field(default_factory=empty_history)


class TrainingJob:
    def __init__(self, checkpoint_dir=checkpoints.DEFAULT_DIR, data_dir=None, hooks=CHECKPOINT_HOOKS,
                 keep_snapshots=True):
        self.checkpoint_dir = Path(checkpoint_dir)
        self.data_dir = data_dir
        self.hooks = hooks  # each checkpoint's artifacts (training/hooks.py)
        self.keep_snapshots = keep_snapshots  # False only to measure what they cost (benchmarks/snapshot_overhead.py)
        self._lock = threading.Lock()
        self._thread = None
        self._stop = threading.Event()
        self._unpaused = threading.Event()
        self._progress = _Progress()
        # Pages drawn in this process go first, within limits: between two training steps, and between two
        # batches of a checkpoint's pass over the test set (~1 s).
        self._step_aside = foreground.StepAside(share=0.25)

    # --- controls (any thread; never from a signal handler: they take the lock) ---------------

    def start(self, config, fresh=False, extra_steps=0, by=""):
        """Start training. Returns (started, message); (False, ...) when a run is going already.

        No checkpoint yet, or fresh: a new run of config.steps from step 0 (the old run is set aside).
        Otherwise the latest checkpoint's run goes on to its target, extended by extra_steps; RunExists
        when `config` differs from that run's settings (other than steps)."""
        config.validate()
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                state = self._progress.status.state
                if state == "paused":
                    return False, "The run is paused: resume it to go on."
                return False, "Training is already running; pause or stop it first."
            plan = plan_run(self.checkpoint_dir, config, fresh, extra_steps)
            self._stop.clear()
            self._unpaused.set()
            self._progress = _Progress(TrainingStatus(state="running", message="Loading data…", config=plan.config,
                                                      **_change("started", by)))
            self._thread = threading.Thread(target=self._run, args=(plan,), name="cifar-training", daemon=True)
            self._thread.start()
            return True, "Training started."

    def pause(self, by=""):
        with self._lock:
            s = self._progress.status
            if s.state == "running":
                self._unpaused.clear()
                where = f"at step {s.step:,} of {s.target_step:,}" if s.target_step else "before its first step"
                self._set(state="paused", message=f"Paused {where}.", eta_seconds=None, **_change("paused", by))

    def resume(self, by=""):
        with self._lock:
            s = self._progress.status
            if s.state == "paused":
                self._set(state="running", message=f"Training again from step {s.step:,}.",
                          **_change("resumed", by))
                self._unpaused.set()

    def stop(self, by=""):
        """Ask the run to stop after the current batch; it saves a checkpoint first."""
        with self._lock:
            if self._progress.status.active:
                self._set(state="stopping", message="Stopping after this batch, then saving a checkpoint…",
                          eta_seconds=None, **_change("stopped", by))
                self._stop.set()
                self._unpaused.set()

    def restore_run(self, name, by=""):
        """Bring a set-aside run back as the current one (the current run is set aside in turn).
        Returns a message; ValueError while training (or for an unknown run)."""
        with self._lock, self._idle_writer():
            previous = runs.restore(self.checkpoint_dir, name)
            self._progress = _Progress(TrainingStatus(**_change(f"restored {name}", by)))
        kept = f"; the run before it is kept as {previous.name}" if previous else ""
        return f"Restored {name}{kept}."

    def delete_run(self, name, by=""):
        """Delete a set-aside run for good; ValueError while training (or for an unknown run)."""
        with self._lock, self._idle_writer():
            runs.delete(self.checkpoint_dir, name)
            self._progress = _Progress(replace(self._progress.status, **_change(f"deleted {name}", by)))
        return f"Deleted {name}."

    def _idle_writer(self):  # caller holds self._lock
        if self._thread is not None and self._thread.is_alive():
            raise ValueError("Stop the training first: runs cannot move while one is training.")
        return checkpoints.WriterLock(self.checkpoint_dir)

    def wait(self, timeout=None):
        """Block until the run's thread ends; returns True when it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def shutdown(self):
        """Process exit: stop cleanly, with a final checkpoint."""
        self.stop(by="the server shutting down")
        self.wait(timeout=120)

    def status(self):
        """An immutable snapshot of the run (safe to keep and read from any thread)."""
        with self._lock:
            h = self._progress.history
            return replace(self._progress.status,
                           history_steps=tuple(h["steps"]), batch_accuracy=tuple(h["batch_accuracy"]),
                           loss=tuple(h["loss"]), test_steps=tuple(h["test_steps"]),
                           test_accuracy=tuple(h["test_accuracy"]), test_loss=tuple(h["test_loss"]))

    def history(self):
        """A copy of the whole metrics history, learning rates included."""
        with self._lock:
            return {key: list(values) for key, values in self._progress.history.items()}

    # --- the thread ----------------------------------------------------------------

    def _set(self, **changes):  # caller holds self._lock
        self._progress.status = replace(self._progress.status, **changes)

    def _publish(self, **changes):
        with self._lock:
            self._set(**changes)

    def _run(self, plan):
        try:
            with checkpoints.WriterLock(self.checkpoint_dir):
                self._train(plan)
        except Exception as e:  # published, never lost: the UI shows it
            self._publish(state="failed", message=f"Training failed: {e}", eta_seconds=None)

    def _train(self, plan):
        from cifar_core.training.step import TrainingStep  # TensorFlow: only in the thread, never at import

        config = plan.config
        dataset = data.load_dataset(self.data_dir)
        aside = runs.set_aside(self.checkpoint_dir) if plan.fresh else None
        training = TrainingStep(config, dataset)
        valid, damaged = checkpoints.scan_checkpoints(self.checkpoint_dir)
        latest = valid[-1] if valid else None
        newer_damaged = [d for d in damaged if latest is None or d.name > latest.name]
        history = empty_history()
        if latest is not None:
            training.restore(latest)
            saved = latest.history()
            history = {key: list(saved.get(key, [])) for key in empty_history()}
        elif snapshots.list_snapshots(self.checkpoint_dir):  # a run that left snapshots but no checkpoint
            aside = runs.set_aside(self.checkpoint_dir)      # (killed early): kept apart, not mixed in
        start, target = training.step, plan.target_step
        if start == 0:
            begun, session = f"Started a new run of {target:,} steps.", f"new run ({config.preset})"
        elif start > plan.schedule_start:  # within the run's schedule
            begun, session = f"Resumed from step {start:,}, on to step {target:,}.", "resumed"
        else:  # a finished run, extended: a schedule of its own for the extra steps
            begun = f"Training {target - start:,} more steps from step {start:,}."
            session = f"extended by {target - start:,} steps"
        history["session_steps"].append(start)
        history["session_kinds"].append(session)
        with self._lock:
            self._progress.history = history
            if aside is not None:
                begun += f" The previous run is kept as {aside.name}."
            # Said, never skipped silently; kept as it is (checkpoints.py never deletes one).
            warnings = tuple(f"{bad.name} is damaged ({bad.reason}) and kept as it is; "
                             + (f"resuming from {latest.name}." if latest else "starting from step 0.")
                             for bad in newer_damaged)
            if self._progress.status.state == "paused":  # paused while it was loading
                begun = f"Paused at step {start:,} of {target:,}."
            if training.precision == "bfloat16":
                begun += " Computing in bfloat16, which this CPU does natively (the weights stay float32)."
            self._set(step=start, start_step=start, schedule_start=plan.schedule_start, target_step=target,
                      message=begun, warnings=warnings, latest_checkpoint=latest.name if latest else None)

        if start == 0 and self.keep_snapshots:  # the untrained network: where every timeline begins
            self._save(training, history, plan, checkpoint=False, snapshot=True)
        foreground.lower_priority()  # this thread and TensorFlow's (started by now): pages get the cores first
        saved_step = start
        window_acc, window_loss = [], []
        clock = time.perf_counter()
        speed = 0.0
        watch = DivergenceWatch(config)
        while training.step < target and not self._stop.is_set():
            self._unpaused.wait()
            if self._stop.is_set():
                break
            self._step_aside()
            accuracy, loss = training.train_batch(plan.schedule_start)
            step = training.step
            if watch.loss_is_not_a_number(loss):
                return self._publish(state="failed", step=step, eta_seconds=None, message=watch.message(step))
            window_acc.append(accuracy)
            window_loss.append(loss)
            now = time.perf_counter()
            speed = _smooth(speed, config.batch_size / max(now - clock, 1e-6))
            clock = now
            if step % LOG_EVERY == 0 or step == target:
                with self._lock:
                    history["steps"].append(step)
                    history["batch_accuracy"].append(float(np.mean(window_acc)))
                    history["loss"].append(float(np.mean(window_loss)))
                    history["learning_rate"].append(config.learning_rate_at(step - 1 - plan.schedule_start))
                    eta = (target - step) * config.batch_size / speed if speed else None
                    self._set(step=step, images_per_second=speed, eta_seconds=eta)
                window_acc, window_loss = [], []
            due_checkpoint = step % config.checkpoint_every == 0 or step == target
            due_snapshot = self.keep_snapshots and (snapshots.is_scheduled(step) or step == target)
            if due_checkpoint or due_snapshot:
                accuracy = self._save(training, history, plan, due_checkpoint, due_snapshot)
                saved_step = step if due_checkpoint else saved_step
            elif step % config.eval_every == 0:
                accuracy, loss = training.evaluate(config.eval_images)
                self._record_test(history, step, accuracy, loss)
            else:
                accuracy = None
            if accuracy is not None and watch.back_at_chance(accuracy):
                return self._publish(state="failed", step=step, eta_seconds=None, message=watch.message(step))
            clock = time.perf_counter()  # evaluation and saving are not training time

        stopped = self._stop.is_set()
        never_saved = latest is None and saved_step == start  # stopped before its first step: keep the run
        if training.step != saved_step or never_saved:         # (its target and settings) for `train`
            self._save(training, history, plan, checkpoint=True, snapshot=False)
        final = "stopped" if stopped else "finished"
        self._publish(state=final, step=training.step, eta_seconds=None,
                      message=f"{final.capitalize()} at step {training.step:,}; checkpoint saved.")

    def _record_test(self, history, step, accuracy, loss):
        with self._lock:
            history["test_steps"].append(step)
            history["test_accuracy"].append(accuracy)
            history["test_loss"].append(loss)
            self._set(step=step)

    def _save(self, training, history, plan, checkpoint, snapshot):
        """A checkpoint and/or a snapshot of this step, from one pass over the full test set; -> its accuracy."""
        probabilities = training.test_probabilities(between_batches=self._step_aside)  # (10000, 10): the test set
        accuracy, loss = accuracy_and_loss(probabilities, training.dataset.test_labels)
        self._record_test(history, training.step, accuracy, loss)
        artifacts = {}
        for hook in self.hooks:
            artifacts.update(hook(training, probabilities))
        run = {"schedule_start": plan.schedule_start, "target_step": plan.target_step}
        if snapshot:
            snapshots.save_snapshot(self.checkpoint_dir, training.model, training.step, plan.config, accuracy,
                                    artifacts, run)
        if checkpoint:
            with self._lock:
                copy = {key: list(values) for key, values in history.items()}
            saved = checkpoint_saving.save_checkpoint(self.checkpoint_dir, training.model, training.optimizer,
                                                training.step, plan.config, copy, accuracy, artifacts, run)
            self._publish(latest_checkpoint=saved.name)
        return accuracy


def _change(what, by):
    return {"changed": what, "changed_by": by, "changed_at": time.time()}


def _smooth(previous, current, weight=0.9):
    # Exponential moving average of images/second; the first measurement is taken as is.
    return current if previous == 0.0 else weight * previous + (1 - weight) * current


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
