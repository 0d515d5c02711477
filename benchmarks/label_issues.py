"""Suspect labels: cifar_core's confident learning against cleanlab's, on one checkpoint's real test answers.

    .venv/bin/python benchmarks/label_issues.py [--checkpoint-dir checkpoints] [--data-dir D] [--flip 0.05]

Needs cleanlab, which the project does not depend on: `pip install cleanlab` into a scratch environment
(or the venv, then uninstall it). On the full CIFAR-10 test set (10,000 images) and the latest checkpoint of
--checkpoint-dir (e.g. `python -m cifar_core train --preset quick`, about 5 minutes on 2 cores).

The network never trains on the test set, so its answers there are out-of-sample, and flipping test labels
after the fact is a fair experiment: --flip of the labels (5%) are moved to a random other class, per seed,
and each method is scored on how many flipped images it flags (recall) and how many of its flags are flipped
ones (precision). Flags on never-flipped images are not all wrong: some are the dataset's own label errors,
and many are the network's mistakes. Also timed (median of --repeats): each method, and the Mistakes
page's other computations (worst mistakes, confused pairs, published list), against the page's 1 s budget.
Not run in CI. The machine is shared: compare only numbers from one run.
"""
import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from cifar_core import checkpoints, data
from cifar_core.insights import inference, label_issues, mistakes


def timed(function, repeats):
    """(result, median seconds) of `function()` run `repeats` times."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return result, statistics.median(seconds)


def flip(labels, fraction, seed, classes=10):
    """(labels with `fraction` of them moved to a random other class, the flipped indices)."""
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(labels), size=int(round(fraction * len(labels))), replace=False)
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, classes, size=len(flipped))) % classes
    return noisy, flipped


def score(flagged, flipped):
    hits = len(np.intersect1d(flagged, flipped))
    return hits / max(1, len(flagged)), hits / max(1, len(flipped))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint-dir", type=Path, default=Path(checkpoints.DEFAULT_DIR))
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--flip", type=float, default=0.05, help="fraction of test labels flipped per seed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    from cleanlab.filter import find_label_issues

    dataset = data.load_dataset(args.data_dir)
    checkpoint = checkpoints.latest_checkpoint(args.checkpoint_dir)
    probabilities = inference.test_set_probabilities(checkpoint, dataset)  # (N, 10) float32
    labels = dataset.test_labels
    print(f"checkpoint step {checkpoint.step:,}, test accuracy {np.mean(probabilities.argmax(1) == labels):.1%}, "
          f"{len(labels):,} test images\n")
    methods = {
        "cifar_core confident_learning": lambda y: label_issues.confident_learning(y, probabilities).indices,
        "cleanlab filter_by=confident_learning": lambda y: find_label_issues(
            y, probabilities, filter_by="confident_learning", n_jobs=1),
        "cleanlab default (prune_by_noise_rate)": lambda y: find_label_issues(y, probabilities, n_jobs=1),
    }
    flags_on_clean = {}
    print(f"{'method':40} {'flags':>6} {'precision':>9} {'recall':>7} {'median ms':>9}   (flipped {args.flip:.0%})")
    for name, method in methods.items():
        flags_on_clean[name] = np.flatnonzero(method(labels)) if name.startswith("cleanlab") else method(labels)
        rows = []
        for seed in range(args.seeds):
            noisy, flipped = flip(labels, args.flip, seed)
            flagged, seconds = timed(lambda: method(noisy), args.repeats)
            flagged = np.flatnonzero(flagged) if flagged.dtype == bool else flagged
            rows.append((len(flagged), *score(flagged, flipped), seconds))
        flags, precision, recall, seconds = (statistics.mean(column) for column in zip(*rows))
        print(f"{name:40} {flags:6.0f} {precision:9.1%} {recall:7.1%} {seconds * 1000:9.1f}")
    ours, theirs = (set(flags_on_clean[n].tolist()) for n in list(methods)[:2])
    print(f"\nunflipped labels: cifar_core flags {len(ours):,}, cleanlab's confident_learning {len(theirs):,}, "
          f"both {len(ours & theirs):,} (Jaccard {len(ours & theirs) / max(1, len(ours | theirs)):.3f}); "
          f"cleanlab default flags {len(flags_on_clean[list(methods)[2]]):,}")

    page = {"confident_learning": lambda: label_issues.confident_learning(labels, probabilities),
            "published_issues": lambda: label_issues.published_issues(labels, dataset.official),
            "worst_mistakes": lambda: mistakes.worst_mistakes(labels, probabilities),
            "confused_pairs": lambda: mistakes.confused_pairs(labels, probabilities)}
    total = 0.0
    print("\nthe Mistakes page's computations for a new checkpoint (median ms):")
    for name, function in page.items():
        _, seconds = timed(function, args.repeats)
        total += seconds
        print(f"  {name:20} {seconds * 1000:7.2f}")
    print(f"  {'total':20} {total * 1000:7.2f}   budget 1,000: {'PASS' if total <= 1.0 else 'FAIL'}")


if __name__ == "__main__":
    main()
