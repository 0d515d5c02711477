"""Take the model home: a checkpoint's network as a file that runs without this project.

    python -m cifar_core export --format keras --out cifar10_cnn.keras     (and <out>.json beside it)

The exported network takes images as CIFAR-10 stores them, (N, 32, 32, 3) uint8 RGB, and returns the
(N, 10) float32 class probabilities. The test-time input is inside it, exactly as augment.centre_crop makes
it: the centre 24x24 (Cropping2D, 4 pixels off each side), divided by 255 (Normalization with mean 0 and
variance 255^2 divides, as centre_crop does; Rescaling(1/255) multiplies, one rounding off for half the pixel
values). Only Keras' own layers: its BatchNormalization, not this project's FusedBatchNormalization, which
a file would need cifar_core to load (model.build_model(plain_keras=True); checkpoints load into it by name).

Batch-norm must use its saved statistics: a layer whose call defaults to training=True in front
(keras.layers.CenterCrop) hands that on, and an exported `serve` then normalised by each batch's own
statistics (probabilities off by up to 0.37). Cropping2D and Normalization take no `training`; the SavedModel's
endpoint calls the network with training=False, and the .keras file is in inference mode unless called
with training=True.

FORMATS:
    keras       one .keras file                        keras.saving.load_model(path).predict(images)
    savedmodel  a TensorFlow SavedModel folder          loaded = tf.saved_model.load(path); loaded.serve(images)
                (keep `loaded`: its functions need its variables, which go with it)
    litert      one .tflite file (LiteRT, was TF Lite)  tf.lite.Interpreter(model_path=path)

Beside the model, <out>.json: the class names, the step, the test accuracy, the preset and training settings,
what goes in and what comes out.
"""
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

from cifar_core.augment import CROP_SIZE, IMAGE_SIZE

FORMATS = ("keras", "savedmodel", "litert")
FILE_NAMES = {"keras": "cifar10_cnn.keras", "savedmodel": "cifar10_cnn_savedmodel", "litert": "cifar10_cnn.tflite"}
# CIFAR-10's classes in label order (the official batches.meta); the output's columns.
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def portable_model(checkpoint):
    """keras.Model: (N, 32, 32, 3) uint8 -> (N, 10) float32 probabilities, of plain Keras layers only, with
    `checkpoint`'s weights (CheckpointError when it is damaged)."""
    import keras
    from keras import layers

    from cifar_core.model import build_model

    network = build_model(checkpoint.config.model, plain_keras=True)
    checkpoint.restore(network)
    image = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), dtype="uint8", name="image")
    x = layers.Cropping2D((IMAGE_SIZE - CROP_SIZE) // 2, name="centre_crop")(image)   # (N, 24, 24, 3) uint8
    x = layers.Normalization(mean=0.0, variance=255.0 ** 2, name="scale_to_0_1")(x)   # (N, 24, 24, 3) float32
    for layer in network.layers[1:]:  # the network is one chain: its own layers (and names), after the input
        x = layer(x)
    return keras.Model(image, x, name=network.name)


def metadata(checkpoint, fmt, file_name):
    """What <out>.json says about an export of `checkpoint` as `fmt` in `file_name`."""
    import keras
    import tensorflow as tf

    return {
        "model": "the small CIFAR-10 CNN of cifar_core (two 5x5 conv layers, two dense layers, softmax)",
        "format": fmt, "file": file_name, "class_names": list(CLASS_NAMES),
        "step": checkpoint.step, "test_accuracy": checkpoint.test_accuracy, "preset": checkpoint.preset,
        "checkpoint": checkpoint.name, "training": checkpoint.meta["config"],
        "input": {"name": "image", "shape": [None, IMAGE_SIZE, IMAGE_SIZE, 3], "dtype": "uint8",
                  "description": f"RGB images of {IMAGE_SIZE}x{IMAGE_SIZE} pixels, values 0..255; the model crops "
                                 f"the centre {CROP_SIZE}x{CROP_SIZE} and divides by 255 itself"},
        "output": {"shape": [None, len(CLASS_NAMES)], "dtype": "float32",
                   "description": "class probabilities (softmax: each row sums to 1), in the order of class_names"},
        "exported_with": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }


def export(checkpoint, fmt, out):
    """Write `checkpoint`'s network to `out` as `fmt` (one of FORMATS) and its metadata to <out>.json;
    -> (model path, metadata path). Nothing is overwritten: ValueError when either exists, or for an unknown
    format (a Keras file's name must end in .keras). Both appear together, complete, or not at all."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; formats are: {', '.join(FORMATS)}")
    out = Path(out)
    if fmt == "keras" and out.suffix != ".keras":
        raise ValueError(f"a Keras model file's name ends in .keras, not {out.name!r}; e.g. --out {out.stem}.keras")
    info = out.with_name(out.name + ".json")
    for path in (out, info):
        if os.path.lexists(path):
            raise ValueError(f"{path} already exists; move it away or choose another --out")
    model = portable_model(checkpoint)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tmp-export-", dir=out.parent) as tmp:
        _WRITERS[fmt](model, Path(tmp) / out.name)
        (Path(tmp) / info.name).write_text(json.dumps(metadata(checkpoint, fmt, out.name), indent=2) + "\n")
        os.replace(Path(tmp) / out.name, out)
        os.replace(Path(tmp) / info.name, info)
    return out, info


def export_archive(checkpoint, fmt):
    """(file name, bytes) of a zip holding `checkpoint`'s network as `fmt` and its metadata JSON, as `export`
    writes them: e.g. ("cifar10_cnn-step-1500-keras.zip", b"PK..."), for a download button."""
    with tempfile.TemporaryDirectory(prefix="cifar10-export-") as tmp:
        model, info = export(checkpoint, fmt, Path(tmp) / FILE_NAMES.get(fmt, "model"))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            files = sorted(p for p in model.rglob("*") if p.is_file()) if model.is_dir() else [model]
            for path in [*files, info]:
                archive.write(path, path.relative_to(tmp).as_posix())
    return f"cifar10_cnn-step-{checkpoint.step}-{fmt}.zip", buffer.getvalue()


def size_of(path):
    """Bytes of a file, or of every file in a folder (a SavedModel)."""
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- the formats ------------------------------------------------------------------------------

def _write_keras(model, path):
    model.save(path)


def _write_savedmodel(model, path):
    # tf.saved_model.save of a bare tf.Module: Keras' own model.export (ExportArchive) saved every variable
    # twice (5.97 MB for 2.93 MB of weights).
    import tensorflow as tf

    module = tf.Module()
    module.weights = [variable.value for variable in model.weights]  # the tf.Variables behind Keras' variables
    module.serve = tf.function(lambda image: model(image, training=False),  # batch-norm: saved statistics
                               input_signature=[tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, 3), tf.uint8, "image")])
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})  # for TF Serving, LiteRT


def _write_litert(model, path):
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix=".tmp-savedmodel-", dir=path.parent) as saved:
        _write_savedmodel(model, Path(saved))
        path.write_bytes(tf.lite.TFLiteConverter.from_saved_model(saved).convert())  # float32, no quantising


_WRITERS = {"keras": _write_keras, "savedmodel": _write_savedmodel, "litert": _write_litert}
