"""Test accuracy against wall-clock time for a preset, on the full dataset (long; not in CI).

Runs the real background job (the same one the Train page starts), from no
checkpoint, and logs every test measurement it makes: the fixed 1,000-image
subset every `eval_every` steps and the full 10,000-image test set at each
checkpoint. The clock starts when start() is called, as when a teacher presses
Start, so building the network, evaluation and checkpointing are all counted. The
dataset is read before (~1 s), as the Train page has read it before it shows Start
(the job uses the same copy); `train` on the command line reads it after.

    .venv/bin/python benchmarks/time_to_accuracy.py --preset quick     # ~1 minute
    .venv/bin/python benchmarks/time_to_accuracy.py --preset default   # ~7 min on a Zen 5 (~30 in float32, Zen 3)
    .venv/bin/python benchmarks/time_to_accuracy.py --preset default --minutes 6   # its first minutes
    .venv/bin/python benchmarks/time_to_accuracy.py --preset quick --precision float32   # as on a CPU
                                                         # without native bfloat16 (most Intel laptops)
    .venv/bin/python benchmarks/time_to_accuracy.py --plot benchmarks/results/default.csv

Writes benchmarks/results/<preset>.csv (seconds, step, test_accuracy, measured_on) and prints, with the
CPU model and the run's images/s (machine-dependent), the best full-test accuracy reached by 2, 5, 8, 10,
20 and 45 minutes, and the steps and minutes to 60, 70, 75, 80 and 82% (steps: the same on every machine).
--checkpoint-dir keeps the run's checkpoints and snapshots (for the dashboard benchmarks) instead of a
temporary folder.
"""
import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from cifar_core import data  # noqa: E402
from cifar_core.config import PRECISIONS, preset  # noqa: E402
from cifar_core.training.job import TrainingJob  # noqa: E402

from recipe_curve import cpu_model  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MARKS_MINUTES = (2, 5, 8, 10, 20, 45)
MARKS_ACCURACY = (0.6, 0.7, 0.75, 0.8, 0.82)


def measure(name, steps, data_dir, minutes=None, precision=None, checkpoint_dir=None):
    overrides = {"steps": steps, "precision": precision}
    config = preset(name, **{key: value for key, value in overrides.items() if value})
    full_steps = set(range(config.checkpoint_every, config.steps + 1, config.checkpoint_every)) | {config.steps}
    rows, seen, trained = [], 0, []
    with tempfile.TemporaryDirectory() as scratch:
        job = TrainingJob(checkpoint_dir or scratch, data_dir)
        data.load_dataset(data_dir)  # the Train page's copy, read before it shows Start; the job reads this one
        start = time.perf_counter()
        job.start(config)
        while True:
            finished = job.wait(timeout=0.5)
            if minutes and time.perf_counter() - start > minutes * 60:
                job.stop()  # the early part of a long run, on its real schedule
            status = job.status()
            if status.images_per_second:
                trained.append(status.images_per_second)
            for step, accuracy in list(zip(status.test_steps, status.test_accuracy))[seen:]:
                seconds = time.perf_counter() - start
                rows.append((round(seconds, 1), step, accuracy, "full" if step in full_steps else "subset"))
                print(f"{seconds / 60:6.2f} min  step {step:6d}  test accuracy {accuracy:.1%} "
                      f"({rows[-1][3]})  {status.images_per_second:.0f} img/s", flush=True)
            seen = len(status.test_steps)
            if finished:
                break
        if status.state not in ("finished", "stopped"):
            sys.exit(f"run ended as {status.state}: {status.message}")
    return rows, float(np.median(trained)) if trained else 0.0


def write_csv(rows, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["seconds", "step", "test_accuracy", "measured_on"])
        writer.writerows(rows)


def summary(rows, images_per_second, batch_size):
    """The best full-test accuracy measured by each mark, and the first full-test measurement at or above
    each accuracy (subset figures are too noisy to quote)."""
    print(f"{cpu_model()}: {images_per_second:.0f} training images/s (median while training)")
    full = [(seconds, step, acc) for seconds, step, acc, on in rows if on == "full"]
    for minutes in MARKS_MINUTES:
        reached = [acc for seconds, _, acc in full if seconds <= minutes * 60]
        print(f"by {minutes:2d} min: " + (f"{max(reached):.1%}" if reached else "no full-test measurement yet"))
    for target in MARKS_ACCURACY:
        first = next(((seconds, step) for seconds, step, acc in full if acc >= target), None)
        print(f"{target:.0%}: " + (f"step {first[1]:,} ({first[1] * batch_size / 50_000:.1f} epochs), "
                                    f"{first[0] / 60:.1f} min" if first else "not reached"))


def plot(csv_path):
    import plotly.express as px
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    fig = px.line(x=[float(r["seconds"]) / 60 for r in rows], y=[float(r["test_accuracy"]) for r in rows],
                  color=[r["measured_on"] for r in rows], markers=True,
                  labels={"x": "minutes since Start", "y": "test accuracy", "color": "measured on"},
                  title=f"Time to accuracy: {Path(csv_path).stem}")
    out = Path(csv_path).with_suffix(".html")
    fig.write_html(out)
    print(f"wrote {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--steps", type=int, help="override the preset's iterations")
    parser.add_argument("--minutes", type=float, help="stop after this many minutes (same schedule)")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="override the preset's (float32: what a CPU without native bfloat16 does)")
    parser.add_argument("--data-dir")
    parser.add_argument("--checkpoint-dir", help="keep the run here (default: a temporary folder)")
    parser.add_argument("--plot", metavar="CSV", help="only draw an existing CSV as HTML")
    args = parser.parse_args()
    if args.plot:
        return plot(args.plot)
    rows, images_per_second = measure(args.preset, args.steps, args.data_dir, args.minutes, args.precision,
                                      args.checkpoint_dir)
    suffix = (f"-{args.precision}" if args.precision else "") + (f"-{args.minutes:g}min" if args.minutes else "")
    path = RESULTS / f"{args.preset}{suffix}.csv"
    write_csv(rows, path)
    print(f"wrote {path}")
    summary(rows, images_per_second, preset(args.preset).batch_size)


if __name__ == "__main__":
    main()
