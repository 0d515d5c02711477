"""Tiny real training runs for tests: the quick preset cut down to seconds on the tiny dataset."""
from cifar_core.config import preset

# 30 steps of 32 images, test accuracy every 10 steps on 50 images, checkpoints at steps 15 and 30.
TINY_RUN = dict(steps=30, batch_size=32, eval_every=10, checkpoint_every=15, eval_images=50)


def tiny_config(**overrides):
    """The quick preset with TINY_RUN's settings, and any of them overridden."""
    return preset("quick", **{**TINY_RUN, **overrides})


def run_to_end(job, config, **kwargs):
    """Start a run on a TrainingJob, wait for it to end, and return its final status."""
    started, message = job.start(config, **kwargs)
    assert started, message
    assert job.wait(120), "the run did not end within 2 minutes"
    return job.status()
