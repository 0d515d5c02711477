"""What the training job saves beside each checkpoint: one hook per artifact.

A hook is a function (training_step, test_probabilities) -> {artifact name: array}. The job evaluates
the full test set at every checkpoint (for its test accuracy), then calls each hook in CHECKPOINT_HOOKS
and saves what they return with the checkpoint (`Checkpoint.artifact(name)` reads it back). A new
artifact (embeddings, label-issue scores) is one more hook here, not a change to the job or to
checkpoints.py. Whatever else that one pass over the test set computed is `training_step.test_pass()`
(step.py): read it there, never run a second pass. No TensorFlow at import: the dashboard reads artifact
names from here.
"""
import numpy as np

TEST_PROBABILITIES = "test_probabilities"  # (N, 10) float32: the network's answers on the test set
FC2_ACTIVATIONS = "test_fc2"  # (N, 128) float16: the last hidden layer's ReLU outputs (2.5 MB for 10,000 images)


def save_test_probabilities(training_step, test_probabilities):
    # The Confusion matrix page reads these instead of classifying the test set again.
    return {TEST_PROBABILITIES: np.asarray(test_probabilities, np.float32)}


def save_fc2_activations(training_step, test_probabilities):
    # The Map page places each test image by these (PCA, t-SNE) without TensorFlow. From the same pass as the
    # probabilities; float16 halves the file and moves no image on the map visibly.
    return {FC2_ACTIVATIONS: training_step.test_pass().fc2.astype(np.float16)}


CHECKPOINT_HOOKS = (save_test_probabilities, save_fc2_activations)
