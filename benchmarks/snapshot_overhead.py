"""What keeping snapshots costs a training run: the same run timed with and without them.

    .venv/bin/python benchmarks/snapshot_overhead.py [--steps 1000] [--rounds 1] [--data-dir D]

The default preset's settings, cut to --steps (1,000: snapshots at 0, 50, 100, 200, 500 and 1,000, six
in a thousand steps, against eleven in the default run's 36,000, so the share measured here is an upper
bound of the default run's), on the full CIFAR-10, in this one process, alternating "without" and "with"
--rounds times. Each run trains from step 0 into a fresh checkpoint folder; its time is from Start to the
run's end (loading the data is cached by the OS after the first run; the first run, a warm-up, is not
counted). Prints each run, the median of each way and the overhead 1 - without/with, and what the default
run's eleven snapshots would add at the per-snapshot cost measured. Compare only numbers from one run on a
quiet machine (`uptime`).
"""
import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from cifar_core import snapshots  # noqa: E402
from cifar_core.config import preset  # noqa: E402
from cifar_core.training.job import TrainingJob  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def timed_run(data_dir, steps, keep_snapshots):
    with tempfile.TemporaryDirectory(prefix="snapshot-overhead-") as folder:
        job = TrainingJob(Path(folder), data_dir, keep_snapshots=keep_snapshots)
        started = time.perf_counter()
        ok, message = job.start(preset("default", steps=steps))
        assert ok, message
        job.wait()
        seconds = time.perf_counter() - started
        status = job.status()
        assert status.state == "finished", status.message
        kept = len(snapshots.list_snapshots(folder))
        size = sum(f.stat().st_size for f in snapshots.folder_of(folder).rglob("*") if f.is_file())
        return seconds, kept, size


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--data-dir", default=str(ROOT / "data" / "CIFAR-10"))
    args = parser.parse_args()
    print(f"uptime: {os.getloadavg()}", flush=True)
    timed_run(args.data_dir, 20, keep_snapshots=False)  # warm-up: TensorFlow, the data in the OS cache
    times = {False: [], True: []}
    for _ in range(args.rounds):
        for keep in (False, True):
            seconds, kept, size = timed_run(args.data_dir, args.steps, keep)
            times[keep].append(seconds)
            print(f"  {'with' if keep else 'without'} snapshots: {seconds:.1f} s ({kept} snapshots, "
                  f"{size / 1e6:.1f} MB)", flush=True)
    without, with_ = statistics.median(times[False]), statistics.median(times[True])
    per_snapshot = (with_ - without) / len(snapshots.scheduled_steps(args.steps))
    default_steps = preset("default").steps
    default_count = len(snapshots.scheduled_steps(default_steps))
    default_run = without * default_steps / args.steps  # the training time scales with the steps
    print(f"\n{args.steps}-step runs: without {without:.1f} s, with {with_:.1f} s: snapshots add "
          f"{100 * (with_ / without - 1):.1f}% ({per_snapshot:.2f} s a snapshot)")
    print(f"default run ({default_steps:,} steps, {default_count} snapshots): about "
          f"{100 * per_snapshot * default_count / default_run:.1f}% (from the per-snapshot cost above); "
          f"{default_count} snapshots take about {size / kept * default_count / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
