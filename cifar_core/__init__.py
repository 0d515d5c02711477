"""cifar_core: the UI-free engine of the CIFAR-10 teaching dashboard.

Modules (one concept each): data, augment, model, checkpoints, trainer,
analysis, uploads; `python -m cifar_core` is the command line.
Importing the package is cheap: TensorFlow loads only when a module that
needs it is imported.
"""
