"""Command line for labs, CI and headless use.

    python -m cifar_core download [--data-dir D] [--from ARCHIVE]
    python -m cifar_core train [--steps N] [--preset NAME] [--fresh] [--data-dir D] [--checkpoint-dir C]
    python -m cifar_core evaluate [--data-dir D] [--checkpoint-dir C]
    python -m cifar_core runs [--checkpoint-dir C]
    python -m cifar_core restore NAME [--checkpoint-dir C]

Bad input (missing data, damaged checkpoint, unknown preset) exits with status 2
and one clear line on stderr, never a traceback.
"""
import argparse
import os
import signal
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the terminal

from cifar_core import archive, checkpoints, data, download, runs  # noqa: E402
from cifar_core.config import PRESETS, preset  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cifar_core", description="CIFAR-10 CNN: data, training, evaluation")
    commands = parser.add_subparsers(dest="command", required=True)
    get = commands.add_parser("download", help="download (or install from a local archive) the CIFAR-10 dataset")
    get.add_argument("--data-dir", help="where to put it (default: data/CIFAR-10)")
    get.add_argument("--from", dest="archive", help="install from this local cifar-10-python.tar.gz instead")
    train = commands.add_parser(
        "train", help="continue the latest run to its target step, or start a run",
        description="Without --steps: continue the latest checkpoint's run to its target step, with its own "
                    "settings and learning-rate schedule (a stop or Ctrl+C never moves the target). --steps N "
                    "extends that target by N steps (a finished run gets a schedule of its own for them); with "
                    "no run yet, it starts one of N steps. --fresh starts a new run; the old one is set aside, "
                    "not deleted (`runs` lists them, `restore` brings one back).")
    train.add_argument("--steps", type=int, default=0, help="extend the run's target by N steps (a new run: N steps; "
                       "default: the preset's)")
    train.add_argument("--preset", help=f"settings of a new run: {', '.join(PRESETS)} (default: 'default'; "
                       "an existing run keeps its own)")
    train.add_argument("--fresh", action="store_true", help="start a new run from step 0 (the old run is set aside)")
    listing = commands.add_parser("runs", help="the current run and the runs set aside (step, preset, best accuracy)")
    restore = commands.add_parser("restore", help="bring a set-aside run back (the current run is set aside in turn)")
    restore.add_argument("name", help="the set-aside run's name, e.g. previous-20261201-142233 (see `runs`)")
    evaluate = commands.add_parser("evaluate", help="test accuracy and confusion matrix of the latest checkpoint")
    for sub in (train, evaluate, listing, restore):
        sub.add_argument("--checkpoint-dir", default=str(checkpoints.DEFAULT_DIR), help="default: checkpoints/")
    for sub in (train, evaluate):
        sub.add_argument("--data-dir", help="the dataset (default: CIFAR10_DATA_DIR, data/CIFAR-10, Keras cache)")
    args = parser.parse_args(argv)
    commands = {"download": run_download, "train": run_train, "evaluate": run_evaluate, "runs": run_list,
                "restore": run_restore}
    try:
        return commands[args.command](args)
    except (data.DataError, checkpoints.CheckpointError, runs.RunError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def run_download(args):
    bar = TerminalBar("CIFAR-10")
    if args.archive:
        folder = archive.install_archive(args.archive, args.data_dir, progress=bar)
    else:
        folder = download.download(args.data_dir, progress=bar)
    bar.close()
    dataset = data.load_dataset(folder)
    print(f"dataset ready in {folder}: {len(dataset.train_labels)} training and {len(dataset.test_labels)} "
          f"test images ({'official release' if dataset.official else 'not byte-identical to the official release'})")
    return 0


def run_train(args):
    from cifar_core.training.job import TrainingJob
    from cifar_core.training.plan import RunExists

    latest = checkpoints.latest_checkpoint(args.checkpoint_dir)
    new_run = args.fresh or latest is None
    if new_run:
        config = preset(args.preset or "default", **({"steps": args.steps} if args.steps > 0 else {}))
    else:
        config = preset(args.preset) if args.preset else latest.config
    data.load_dataset(args.data_dir)  # fail here, with data's own message, before any thread starts
    job = TrainingJob(args.checkpoint_dir, args.data_dir)
    try:
        started, message = job.start(config, fresh=args.fresh, extra_steps=0 if new_run else args.steps,
                                     by="command line")
    except RunExists as e:
        raise ValueError(f"{e} (`train` without --preset continues it; `train --fresh` starts a new one)") from None
    if not started:
        raise ValueError(message)
    # Ctrl+C: stop after the current batch and save, instead of dying mid-write. The handlers only set an
    # event (a handler that took the job's lock could deadlock the main thread, which holds it in status()).
    stop_asked = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop_asked.set())
    signal.signal(signal.SIGTERM, lambda *_: stop_asked.set())
    bar, announced = TerminalBar("training", unit="steps"), False
    while not job.wait(timeout=0.5):
        if stop_asked.is_set():
            job.stop(by="command line")
        s = job.status()
        if s.target_step and not announced:
            for warning in s.warnings:
                print(f"warning: {warning}", file=sys.stderr)
            print(f"{s.message} Training with the '{s.config.preset}' preset to step {s.target_step:,}.",
                  file=sys.stderr)
            announced = True
        if s.target_step:
            extra = f"batch acc {s.batch_accuracy[-1]:.0%}  " if s.batch_accuracy else ""
            extra += f"{s.images_per_second:,.0f} img/s"
            bar(s.step - s.start_step, s.target_step - s.start_step, extra)
    # The run has stopped and saved: more Ctrl+C's while the process exits (TensorFlow's shutdown takes a
    # moment) are ignored, instead of killing it (Python restores the default handlers as it exits).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    bar.close()
    s = job.status()
    if s.state == "failed":
        print(f"error: {s.message}", file=sys.stderr)
        return 1
    accuracy = f"; test accuracy {s.test_accuracy[-1]:.1%}" if s.test_accuracy else ""
    print(f"{s.message} Now at step {s.step:,}{accuracy}.")
    return 0


def report_damaged(folder):
    """One line per damaged checkpoint in `folder`, on stderr: reported, never skipped silently."""
    for bad in checkpoints.scan_checkpoints(folder)[1]:
        print(f"warning: {bad.path} is damaged and was left as it is: {bad.reason}", file=sys.stderr)


def run_list(args):
    report_damaged(args.checkpoint_dir)
    latest = checkpoints.latest_checkpoint(args.checkpoint_dir)
    if latest is None:
        print(f"current run: none in {args.checkpoint_dir}")
    else:
        _, target = latest.run
        print(f"current run: step {latest.step:,} of {target:,}, {latest.preset} preset"
              + (f", test accuracy {latest.test_accuracy:.1%}" if latest.test_accuracy is not None else ""))
    aside = runs.set_aside_runs(args.checkpoint_dir)
    print(f"set aside ({len(aside)}):" if aside else "set aside: none")
    for run in aside:
        best = f", best test accuracy {run.best_accuracy:.1%}" if run.best_accuracy is not None else ""
        print(f"  {run.name}: step {run.step:,}, {run.preset} preset{best}")
    return 0


def run_restore(args):
    from cifar_core.training.job import TrainingJob
    print(TrainingJob(args.checkpoint_dir).restore_run(args.name, by="command line"))
    return 0


def run_evaluate(args):
    report_damaged(args.checkpoint_dir)
    latest = checkpoints.latest_checkpoint(args.checkpoint_dir)
    if latest is None:
        raise ValueError(f"no checkpoint in {args.checkpoint_dir}; train first: python -m cifar_core train --steps 500")
    from cifar_core.insights import confusion, inference

    dataset = data.load_dataset(args.data_dir)
    probabilities = inference.test_set_probabilities(latest, dataset)  # saved with it, or classified now
    result = confusion.confusion_matrix(dataset.test_labels, probabilities.argmax(axis=1))
    print(f"checkpoint: {latest.path} (step {latest.step})")
    print(f"test accuracy: {result.accuracy:.1%}")
    width = max(len(n) for n in dataset.class_names)
    print("confusion matrix (rows: true class, columns: predicted class)")
    print(" " * (width + 1) + " ".join(f"{n[:5]:>5}" for n in dataset.class_names) + "  accuracy")
    for name, row, acc in zip(dataset.class_names, result.matrix, result.per_class_accuracy):
        print(f"{name:>{width}} " + " ".join(f"{v:5d}" for v in row) + f"  {acc:7.1%}")
    return 0


class TerminalBar:
    """Progress on stderr: bar(done, total, extra_text); also a download progress callback. On a terminal,
    one line redrawn in place; in a log file (CI, nohup), a plain line every LOG_SECONDS instead."""
    LOG_SECONDS = 15

    def __init__(self, label, unit="bytes"):
        self.label, self.unit, self._last, self._shown = label, unit, 0.0, None
        self.live = sys.stderr.isatty()

    def __call__(self, done, total, extra=""):
        now = time.monotonic()
        if (now - self._last < (0.2 if self.live else self.LOG_SECONDS) and done != total) or \
                (done, total) == self._shown:
            return
        self._last, self._shown = now, (done, total)
        if self.unit == "bytes":
            amount = f"{done / 1e6:.1f}/{total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
        else:
            amount = f"{done:,}/{total:,} {self.unit}"
        fraction = done / total if total else 0.0
        filled = int(30 * fraction)
        line = f"{self.label} [{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%} {amount} {extra}"
        sys.stderr.write(f"\r{line}  " if self.live else f"{line}\n")
        sys.stderr.flush()

    def close(self):
        if self.live:
            sys.stderr.write("\n")


if __name__ == "__main__":
    sys.exit(main())
