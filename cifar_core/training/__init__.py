"""Training: `step` (the model, Adam and one compiled step: TensorFlow), `job` (the background run,
no TensorFlow at import), `hooks` (what is saved beside each checkpoint)."""
