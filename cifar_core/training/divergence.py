"""Noticing a training run that has blown up, so that it stops as "failed" with a hint, not as "finished"."""
import math

from cifar_core.config import NUM_CLASSES

CHANCE = 1 / NUM_CLASSES
AT_CHANCE_CHECKS = 5  # test-accuracy checks in a row at chance (after having been above it): diverged


class DivergenceWatch:
    """Notices a run that has blown up: its loss is not a number, or its test accuracy has fallen back to
    chance for AT_CHANCE_CHECKS checks in a row after having been well above it."""

    def __init__(self, config):
        self.config = config
        self.was_learning = False
        self.at_chance = 0
        self.why = ""

    def loss_is_not_a_number(self, loss):
        if math.isfinite(loss):
            return False
        self.why = "the loss is not a number any more"
        return True

    def back_at_chance(self, accuracy):
        if accuracy > 2 * CHANCE:
            self.was_learning, self.at_chance = True, 0
        elif self.was_learning and accuracy <= 1.5 * CHANCE:
            self.at_chance += 1
        if self.at_chance < AT_CHANCE_CHECKS:
            return False
        self.why = f"the test accuracy fell back to chance ({CHANCE:.0%}) for {AT_CHANCE_CHECKS} checks in a row"
        return True

    def message(self, step):
        rate = self.config.learning_rate
        return (f"Training diverged at step {step:,}: {self.why}. The learning rate ({rate:g}) is probably too "
                f"high: start a new run with a lower one (e.g. {rate / 10:g}). Checkpoints saved before "
                "are kept.")
