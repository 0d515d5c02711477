"""cifar_core: the UI-free engine of the CIFAR-10 teaching dashboard.

Modules (one concept each): config, architecture, data, download, augment, model,
checkpoints, uploads; `training/` (step, job, hooks) and `insights/` (one module per
view: inference, filters, feature_maps, confusion); `python -m cifar_core` is the
command line. Importing the package is cheap: TensorFlow loads only when a module
that needs it is imported.
"""
