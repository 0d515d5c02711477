"""What a training run reports: the immutable TrainingStatus snapshot that callers poll, and the metrics
history it keeps (job.py fills both; no TensorFlow here)."""
from dataclasses import dataclass

from cifar_core.config import TrainConfig

LOG_EVERY = 10  # steps averaged into one point of the batch accuracy / loss history


@dataclass(frozen=True)
class TrainingStatus:
    state: str = "idle"                 # idle, running, paused, stopping, finished, stopped or failed
    message: str = ""                   # what happened, or the error of a failed run
    step: int = 0                       # global step (batches trained since step 0)
    start_step: int = 0                 # the step this session of the run began at (resumed from)
    schedule_start: int = 0             # the step the run's learning-rate schedule began at
    target_step: int = 0                # the step the run stops at
    history_steps: tuple = ()           # steps of the points below
    batch_accuracy: tuple = ()          # mean training-batch accuracy over the last LOG_EVERY steps
    loss: tuple = ()                    # mean training loss over the same steps
    test_steps: tuple = ()
    test_accuracy: tuple = ()           # on the fixed test subset (or the full set at checkpoints)
    test_loss: tuple = ()               # on the same images
    images_per_second: float = 0.0
    eta_seconds: float | None = None
    latest_checkpoint: str | None = None
    config: TrainConfig | None = None
    changed: str = ""                   # the last control used: "started", "paused", "stopped" ...
    changed_by: str = ""                # by whom ("teacher", "command line" ...)
    changed_at: float | None = None     # seconds since the epoch
    warnings: tuple = ()                # for the whole run, e.g. a damaged checkpoint it did not resume from

    @property
    def active(self):
        """True while the thread owns the run (running, paused or stopping)."""
        return self.state in ("running", "paused", "stopping")


def empty_history():
    """test_*: at test checks (steps, accuracy, loss); sessions_*: where each training session began and how
    ("new run (quick)", "resumed", "extended by 500 steps"), for the charts' markers."""
    return {"steps": [], "batch_accuracy": [], "loss": [], "learning_rate": [], "test_steps": [],
            "test_accuracy": [], "test_loss": [], "session_steps": [], "session_kinds": []}
