"""cifar_core: the UI-free engine of the CIFAR-10 teaching dashboard.

Modules (one concept each): config, architecture, data, download, augment, model,
checkpoints, uploads; `training/` (step, job, hooks) and `insights/` (one module per
view: inference, filters, feature_maps, confusion); `python -m cifar_core` is the
command line. Importing the package is cheap: TensorFlow loads only when a module
that needs it is imported.
"""
import os

# TensorFlow turns on its oneDNN kernels by itself only on CPUs with AVX-512. Elsewhere (AMD Zen 3, most
# laptops) its fallback convolutions made the training step 1.5x slower (benchmarks/train_throughput.py on
# a Zen 3: 600 -> 930 images/s at batch 128). Read once, when TensorFlow loads: so set here, before it can.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
