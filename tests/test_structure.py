"""The package's shape: one table of the network's layers, configs, portability, the README's example."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cifar_core import architecture
from cifar_core.config import PRESETS, ModelConfig, TrainConfig
from cifar_core.insights.confusion import confusion_matrix

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", list(PRESETS))
def test_the_layer_table_is_the_network_keras_builds(name):
    from cifar_core.model import build_model

    model = build_model(PRESETS[name].model)
    for layer in architecture.LAYERS:
        if not layer.name:
            continue  # the photo itself: the network sees its crop
        keras_layer = model.get_layer(layer.name)
        output = keras_layer.output if hasattr(keras_layer, "output") else keras_layer.batch_shape
        assert tuple(output.shape[1:]) == layer.output_shape, layer.name
    for layer in architecture.CONV_LAYERS:
        kernel = model.get_layer(layer.name).get_weights()[0]  # (5, 5, in_channels, filters)
        assert (kernel.shape[2], kernel.shape[3]) == (len(layer.input_channels), layer.filters), layer.name
        assert tuple(model.get_layer(layer.maps_layer).output.shape[1:]) == layer.output_shape


def test_an_unknown_conv_layer_is_refused_with_the_list_of_conv_layers():
    with pytest.raises(ValueError, match="layer 'layer_conv3' not found; conv layers are: layer_conv1, layer_conv2"):
        architecture.conv("layer_conv3")


def test_the_notebook_network_differs_from_the_default_only_in_its_model_config():
    assert PRESETS["notebook"].model == ModelConfig(batch_norm_conv2=False)
    assert PRESETS["default"].model == PRESETS["quick"].model == ModelConfig()
    config = PRESETS["notebook"]
    assert TrainConfig.from_dict(json.loads(config.to_json())) == config


def test_a_config_saved_before_model_config_existed_still_reads():
    saved = json.loads(PRESETS["notebook"].to_json())
    del saved["model"]
    saved["batch_norm_conv2"] = False  # how checkpoints saved it at the top level
    assert TrainConfig.from_dict(saved).model == ModelConfig(batch_norm_conv2=False)


def test_confusion_matrix_matches_scikit_learns_documented_example():
    # scikit-learn's confusion_matrix docstring: y_true = [2, 0, 2, 2, 0, 1], y_pred = [0, 0, 2, 2, 0, 2]
    result = confusion_matrix(np.array([2, 0, 2, 2, 0, 1]), np.array([0, 0, 2, 2, 0, 2]))
    np.testing.assert_array_equal(result.matrix[:3, :3], [[2, 0, 0], [0, 0, 1], [1, 0, 2]])
    assert result.matrix[3:].sum() == result.matrix[:, 3:].sum() == 0  # the other 7 classes: no images
    np.testing.assert_allclose(result.per_class_accuracy[:3], [1.0, 0.0, 2 / 3])
    assert result.accuracy == pytest.approx(4 / 6)
    np.testing.assert_allclose(result.normalised()[2, :3], [1 / 3, 0, 2 / 3])
    assert result.normalised()[5].sum() == 0  # a class with no images stays at zero, no division by zero


def test_checkpoints_work_where_the_os_has_no_fcntl(tmp_path):
    # Windows has no fcntl; simulate it in a fresh interpreter.
    code = ("import sys\nsys.modules['fcntl'] = None\n"
            "from cifar_core import checkpoints\n"
            "with checkpoints.WriterLock(sys.argv[1]):\n"
            "    try:\n"
            "        checkpoints.WriterLock(sys.argv[1]).__enter__()\n"
            "    except checkpoints.CheckpointError as e:\n"
            "        print('refused:', e)\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "refused:" in result.stdout and "already being written" in result.stdout


def test_the_readmes_library_example_runs_and_prints_a_test_accuracy(tiny_data_dir, tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Using `cifar_core` without the UI"):]
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    result = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "CIFAR10_DATA_DIR": str(tiny_data_dir)})
    assert result.returncode == 0, result.stderr[-3000:]
    accuracy = float(result.stdout.strip().splitlines()[-1])
    assert 0.0 <= accuracy <= 1.0 and (tmp_path / "checkpoints").is_dir()
