"""What a start of the training job will train: a new run, or the latest checkpoint's run continued.

A run trains to a target step on one learning-rate schedule; both are saved with every checkpoint
(`Checkpoint.run`), so a stop, a pause or a restart continues the same schedule to the same target.
"""
from dataclasses import dataclass, replace

from cifar_core import checkpoints
from cifar_core.config import TrainConfig


class RunExists(ValueError):
    """The latest checkpoint's run has other settings than the ones asked for."""


@dataclass(frozen=True)
class RunPlan:
    """What a start will train: the settings, the schedule's first step and the target."""
    config: TrainConfig   # config.steps = target_step - schedule_start: the schedule's length
    schedule_start: int
    target_step: int
    fresh: bool


def plan_run(checkpoint_dir, config, fresh, extra_steps):
    """The RunPlan for starting with `config`: a new run of config.steps when there is no checkpoint (or
    `fresh`); else the latest checkpoint's run, to its target plus extra_steps (a finished run: a schedule
    of its own for them). RunExists when `config` differs from that run's settings (other than steps);
    ValueError for a finished run and no extra steps."""
    latest = None if fresh else checkpoints.latest_checkpoint(checkpoint_dir)
    if latest is None:
        return RunPlan(config, 0, config.steps, fresh)
    saved = latest.config
    if replace(saved, steps=0) != replace(config, steps=0):
        raise RunExists(f"A run exists with other settings ({describe_settings(saved)}; now at step "
                        f"{latest.step:,}): continue it with its own settings, or start a new run with "
                        "these (the old one is set aside, not deleted).")
    schedule_start, target = latest.run
    if latest.step >= target:  # finished: more steps get a schedule of their own
        if extra_steps <= 0:
            raise ValueError(f"The run is complete at step {latest.step:,}: train more steps, or start "
                             "a new run.")
        schedule_start, target = latest.step, latest.step + extra_steps
    else:
        target += extra_steps
    return RunPlan(replace(saved, steps=target - schedule_start), schedule_start, target, False)


def describe_settings(config):
    """'quick preset, 1,500 steps of 128 images, learning rate 0.003 (onecycle)'."""
    return (f"{config.preset} preset, {config.steps:,} steps of {config.batch_size} images, learning rate "
            f"{config.learning_rate:g} ({config.schedule})")
