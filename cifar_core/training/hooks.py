"""What the training job saves beside each checkpoint: one hook per artifact.

A hook is a function (training_step, test_probabilities) -> {artifact name: array}. The job evaluates
the full test set at every checkpoint (for its test accuracy), then calls each hook in CHECKPOINT_HOOKS
and saves what they return with the checkpoint (`Checkpoint.artifact(name)` reads it back). A new
artifact (embeddings, label-issue scores) is one more hook here, not a change to the job or to
checkpoints.py. No TensorFlow at import: the dashboard reads artifact names from here.
"""
import numpy as np

TEST_PROBABILITIES = "test_probabilities"  # (N, 10) float32: the network's answers on the test set


def save_test_probabilities(training_step, test_probabilities):
    # The Confusion matrix page reads these instead of classifying the test set again.
    return {TEST_PROBABILITIES: np.asarray(test_probabilities, np.float32)}


CHECKPOINT_HOOKS = (save_test_probabilities,)
