"""Take the model home: a checkpoint's network exported as keras, savedmodel and litert, then loaded where
cifar_core is not (a fresh interpreter that refuses to import it), answers as the project does.

One export of each format, from the session's tiny run (`trained_dir`), and one child loading them all,
are shared by the module's tests."""
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cifar_core import checkpoints, export
from cifar_core.__main__ import main
from cifar_core.data import load_dataset
from cifar_core.insights import inference

ROOT = Path(__file__).resolve().parent.parent

# Loads each export with keras, tensorflow and tf.lite only; any import of cifar_core fails.
OUTSIDE = r"""
import sys
class NoCifarCore:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "cifar_core":
            raise ImportError("cifar_core must not be needed to load an export")
sys.meta_path.insert(0, NoCifarCore())

import keras, numpy as np, tensorflow as tf
folder = sys.argv[1]
images = np.load(f"{folder}/images.npy")                       # (N, 32, 32, 3) uint8
answers = {}
answers["keras"] = keras.saving.load_model(f"{folder}/cifar10_cnn.keras").predict(images, verbose=0)
saved = tf.saved_model.load(f"{folder}/cifar10_cnn_savedmodel")  # kept: its functions need its variables
answers["savedmodel"] = saved.serve(images).numpy()
interpreter = tf.lite.Interpreter(model_path=f"{folder}/cifar10_cnn.tflite")
given, wanted = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
interpreter.resize_tensor_input(given["index"], images.shape)
interpreter.allocate_tensors()
interpreter.set_tensor(given["index"], images)
interpreter.invoke()
answers["litert"] = interpreter.get_tensor(wanted["index"])
assert "cifar_core" not in sys.modules
np.savez(f"{folder}/answers.npz", **answers)
"""


@pytest.fixture(scope="module")
def exported(trained_dir, tiny_data_dir, tmp_path_factory):
    """(folder, checkpoint, the project's own probabilities (N, 10), what the child answered per format)."""
    folder = tmp_path_factory.mktemp("exported")
    checkpoint = checkpoints.latest_checkpoint(trained_dir)
    for fmt in export.FORMATS:
        export.export(checkpoint, fmt, folder / export.FILE_NAMES[fmt])
    images = load_dataset(tiny_data_dir).test_images
    np.save(folder / "images.npy", images)
    child = subprocess.run([sys.executable, "-c", OUTSIDE, str(folder)], cwd=folder, capture_output=True,
                           text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    with np.load(folder / "answers.npz") as answers:
        outside = {fmt: answers[fmt] for fmt in answers.files}
    own = inference.predict_probabilities(inference.load_inference_model(checkpoint).model, images)
    return folder, checkpoint, own, outside


@pytest.mark.parametrize("fmt, tolerance", [("keras", 1e-5), ("savedmodel", 1e-5), ("litert", 1e-4)])
def test_an_export_loaded_without_cifar_core_answers_as_the_project_does(exported, fmt, tolerance):
    _, _, own, outside = exported
    assert outside[fmt].shape == own.shape == (100, 10)
    # Batch-norm on a batch's own statistics instead of the saved ones was off by up to 0.37.
    assert np.abs(outside[fmt] - own).max() <= tolerance
    np.testing.assert_allclose(outside[fmt].sum(axis=1), 1.0, atol=1e-5)


def test_each_export_has_its_metadata_beside_it(exported):
    folder, checkpoint, _, _ = exported
    for fmt in export.FORMATS:
        meta = json.loads((folder / f"{export.FILE_NAMES[fmt]}.json").read_text())
        assert meta["format"] == fmt and meta["file"] == export.FILE_NAMES[fmt]
        assert meta["class_names"][:3] == ["airplane", "automobile", "bird"] and len(meta["class_names"]) == 10
        assert (meta["step"], meta["test_accuracy"], meta["preset"]) == (30, checkpoint.test_accuracy, "quick")
        assert meta["input"]["shape"] == [None, 32, 32, 3] and meta["input"]["dtype"] == "uint8"
        assert meta["output"]["shape"] == [None, 10]


def test_the_exported_network_is_plain_keras_layers_with_the_crop_and_scaling_inside(exported):
    import keras

    folder = exported[0]
    model = keras.saving.load_model(folder / "cifar10_cnn.keras")
    kinds = {type(layer).__name__ for layer in model.layers}
    assert "FusedBatchNormalization" not in kinds and {"Cropping2D", "BatchNormalization"} <= kinds
    assert model.input.dtype == "uint8" and tuple(model.input.shape) == (None, 32, 32, 3)
    assert model.get_layer("layer_conv1").get_weights()[0].shape == (5, 5, 3, 64)  # the project's names


def test_the_archive_for_the_dashboard_holds_the_model_and_its_metadata(exported):
    _, checkpoint, _, _ = exported
    name, data = export.export_archive(checkpoint, "savedmodel")
    assert name == "cifar10_cnn-step-30-savedmodel.zip"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        assert {"cifar10_cnn_savedmodel/saved_model.pb", "cifar10_cnn_savedmodel.json"} <= names
        assert json.loads(archive.read("cifar10_cnn_savedmodel.json"))["step"] == 30


def test_the_export_command_writes_the_latest_checkpoint(trained_dir, tmp_path):
    out = tmp_path / "home" / "cnn.keras"
    result = subprocess.run([sys.executable, "-m", "cifar_core", "export", "--checkpoint-dir", str(trained_dir),
                             "--format", "keras", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"exported {trained_dir / 'ckpt-00000030'} (step 30" in result.stdout and str(out) in result.stdout
    assert out.is_file() and json.loads(Path(f"{out}.json").read_text())["step"] == 30
    assert not list(out.parent.glob(".tmp-*"))  # nothing left half-written


@pytest.mark.parametrize("args, expected", [
    (["--format", "onnx"], "error: unknown format 'onnx'; formats are: keras, savedmodel, litert"),
    (["--format", "keras", "--checkpoint", "no-such-folder"], "error: no checkpoint at no-such-folder"),
    (["--format", "keras", "--checkpoint-dir", "empty"], "error: no checkpoint in"),
    (["--format", "keras", "--out", "taken.keras"], "error: taken.keras already exists"),
])
def test_bad_export_input_exits_2_with_one_line(trained_dir, tmp_path, monkeypatch, capsys, args, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken.keras").write_text("someone's file")
    code = main(["export", "--checkpoint-dir", str(trained_dir), "--out", "model.keras", *args])
    error = capsys.readouterr().err
    assert code == 2 and error.startswith(expected) and error.count("\n") == 1, error
    assert (tmp_path / "taken.keras").read_text() == "someone's file" and not (tmp_path / "model.keras").exists()
