"""Test accuracy against training steps for one recipe: the curve behind each change of a preset (long).

Trains the project's own step (TrainingStep, as the background job does, without its checkpoints) from
scratch with a preset and any settings overridden, and measures the full 10,000-image test set at every
`--every` steps: accuracy, loss, and the accuracy of the answers averaged over each image and its mirror
image (to see what test-time flipping would add). Steps and epochs are the same on every machine; the
seconds and images/s are this machine's.

    .venv/bin/python benchmarks/recipe_curve.py --preset default --every 500
    .venv/bin/python benchmarks/recipe_curve.py --preset default --set steps=4000 batch_size=256 \\
        label_smoothing=0.1 distortions=CROP_FLIP --name ls01

Writes benchmarks/results/recipe-<name>.csv (step, epoch, seconds, test_accuracy, test_loss,
flip_averaged_accuracy, images_per_second, cpu) and prints each row.
"""
import argparse
import csv
import json
import os
import platform
import time
from dataclasses import fields
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from cifar_core import config as config_module  # noqa: E402
from cifar_core import data  # noqa: E402
from cifar_core.config import TrainConfig, preset  # noqa: E402
from cifar_core.insights.inference import accuracy_and_loss, predict_probabilities  # noqa: E402
from cifar_core.training.step import TrainingStep  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TRAIN_IMAGES = 50_000


def cpu_model():
    """The CPU as lscpu names it, with its family and model (a cloud CPU may be named only "AMD EPYC") and
    the instructions that decide the step's speed, e.g. "AMD EPYC (family 25, model 1; AVX2)"."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/cpuinfo").read_text().split("\n\n")[0]
                    .splitlines() if ":" in line)
    except OSError:
        return platform.processor() or "unknown CPU"
    info = {key.strip(): value.strip() for key, value in info.items()}
    flags = info.get("flags", "").split()
    vector = ", ".join(name for flag, name in (("avx2", "AVX2"), ("avx512f", "AVX-512"),
                                               ("avx512_bf16", "AVX512-BF16"), ("amx_bf16", "AMX"))
                       if flag in flags)
    return (f"{info.get('model name', 'unknown CPU')} (family {info.get('cpu family', '?')}, "
            f"model {info.get('model', '?')}; {vector or 'no AVX2'})")


def parse_settings(pairs):
    """["steps=4000", "distortions=NONE"] -> {"steps": 4000, "distortions": Distortions(...)}."""
    kinds = {f.name: f.type for f in fields(TrainConfig)}
    settings = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        if key == "distortions":  # a named set in cifar_core.config (MILD, CROP_FLIP) or NONE (not even a flip)
            from cifar_core.augment import NO_DISTORTIONS
            settings[key] = NO_DISTORTIONS if value == "NONE" else getattr(config_module, value)
        elif key not in kinds:
            raise SystemExit(f"unknown setting {key!r}; settings are: {', '.join(kinds)}")
        else:
            settings[key] = json.loads(value) if kinds[key] in (int, float, "int", "float") else value
    return settings


def flip_averaged_accuracy(model, images, labels):
    probabilities = predict_probabilities(model, images) + predict_probabilities(model, images[:, :, ::-1])
    return float(np.mean(probabilities.argmax(axis=1) == labels))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override preset settings")
    parser.add_argument("--every", type=int, default=500, help="steps between full test-set measurements")
    parser.add_argument("--name", help="the CSV's name (default: the preset's)")
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    config = preset(args.preset, **parse_settings(args.set))
    dataset = data.load_dataset(args.data_dir)
    training = TrainingStep(config, dataset)
    print(f"{cpu_model()}; precision {training.precision}; {config}", flush=True)
    path = RESULTS / f"recipe-{args.name or args.preset}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    trained_seconds = 0.0
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "epoch", "seconds", "test_accuracy", "test_loss", "flip_averaged_accuracy",
                         "images_per_second", "cpu"])
        while training.step < config.steps:
            chunk = min(args.every, config.steps - training.step)
            start = time.perf_counter()
            for _ in range(chunk):
                training.train_batch(0)
            seconds = time.perf_counter() - start
            trained_seconds += seconds
            model = training._evaluation_model()
            accuracy, loss = accuracy_and_loss(predict_probabilities(model, dataset.test_images),
                                               dataset.test_labels)
            flipped = flip_averaged_accuracy(model, dataset.test_images, dataset.test_labels)
            row = [training.step, round(training.step * config.batch_size / TRAIN_IMAGES, 2),
                   round(trained_seconds, 1), round(accuracy, 4), round(loss, 4), round(flipped, 4),
                   round(chunk * config.batch_size / seconds), cpu_model()]
            writer.writerow(row)
            f.flush()
            print("step {} epoch {} {}s acc {} loss {} flip-avg {} {} img/s".format(*row[:7]), flush=True)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
