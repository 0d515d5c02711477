"""Command line for labs, CI and headless use.

    python -m cifar_core download [--data-dir D] [--from ARCHIVE]
    python -m cifar_core train --steps N [--data-dir D] [--checkpoint-dir C] [--preset NAME]
    python -m cifar_core evaluate [--data-dir D] [--checkpoint-dir C]

Bad input (missing data, damaged checkpoint, unknown preset) exits with status 2
and one clear line on stderr, never a traceback.
"""
import argparse
import os
import signal
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the terminal

from cifar_core import checkpoints, data, download  # noqa: E402
from cifar_core.config import PRESETS, preset  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cifar_core", description="CIFAR-10 CNN: data, training, evaluation")
    commands = parser.add_subparsers(dest="command", required=True)
    get = commands.add_parser("download", help="download (or install from a local archive) the CIFAR-10 dataset")
    get.add_argument("--data-dir", help="where to put it (default: data/CIFAR-10)")
    get.add_argument("--from", dest="archive", help="install from this local cifar-10-python.tar.gz instead")
    train = commands.add_parser("train", help="train N more iterations from the latest checkpoint")
    train.add_argument("--steps", type=int, required=True, help="iterations (batches) to run")
    train.add_argument("--preset", help=f"training settings: {', '.join(PRESETS)} "
                       "(default: the latest checkpoint's, else 'default')")
    evaluate = commands.add_parser("evaluate", help="test accuracy and confusion matrix of the latest checkpoint")
    for sub in (train, evaluate):
        sub.add_argument("--data-dir", help="the dataset (default: CIFAR10_DATA_DIR, data/CIFAR-10, Keras cache)")
        sub.add_argument("--checkpoint-dir", default=str(checkpoints.DEFAULT_DIR), help="default: checkpoints/")
    args = parser.parse_args(argv)
    try:
        return {"download": run_download, "train": run_train, "evaluate": run_evaluate}[args.command](args)
    except (data.DataError, checkpoints.CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def run_download(args):
    bar = TerminalBar("CIFAR-10")
    if args.archive:
        folder = download.install_archive(args.archive, args.data_dir, progress=bar)
    else:
        folder = download.download(args.data_dir, progress=bar)
    bar.close()
    dataset = data.load_dataset(folder)
    print(f"dataset ready in {folder}: {len(dataset.train_labels)} training and {len(dataset.test_labels)} "
          f"test images ({'official release' if dataset.official else 'not byte-identical to the official release'})")
    return 0


def run_train(args):
    from cifar_core.training.job import TrainingJob

    latest = checkpoints.latest_checkpoint(args.checkpoint_dir)
    name = args.preset or (latest.preset if latest else "default")
    config = preset(name, steps=args.steps)
    data.load_dataset(args.data_dir)  # fail here, with data's own message, before any thread starts
    job = TrainingJob(args.checkpoint_dir, args.data_dir)
    started, message = job.start(config)
    if not started:
        raise ValueError(message)
    # Ctrl+C: stop after the current batch and save, instead of dying mid-write.
    signal.signal(signal.SIGINT, lambda *_: job.stop())
    signal.signal(signal.SIGTERM, lambda *_: job.stop())
    bar, announced = TerminalBar("training", unit="steps"), False
    while not job.wait(timeout=0.5):
        s = job.status()
        if s.target_step and not announced:
            print(f"{s.message} Training {config.steps} iterations with the '{name}' preset "
                  f"to step {s.target_step}.", file=sys.stderr)
            announced = True
        if s.target_step:
            extra = f"batch acc {s.batch_accuracy[-1]:.0%}  " if s.batch_accuracy else ""
            extra += f"{s.images_per_second:.0f} img/s"
            bar(s.step - s.start_step, s.target_step - s.start_step, extra)
    bar.close()
    s = job.status()
    if s.state == "failed":
        print(f"error: {s.message}", file=sys.stderr)
        return 1
    accuracy = f"; test accuracy {s.test_accuracy[-1]:.1%}" if s.test_accuracy else ""
    print(f"{s.message} Now at step {s.step}{accuracy}.")
    return 0


def run_evaluate(args):
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
    """A one-line progress bar on stderr: bar(done, total, extra_text). Also a download progress callback."""

    def __init__(self, label, unit="bytes"):
        self.label, self.unit, self._last = label, unit, 0.0

    def __call__(self, done, total, extra=""):
        now = time.monotonic()
        if now - self._last < 0.2 and done != total:
            return
        self._last = now
        if self.unit == "bytes":
            amount = f"{done / 1e6:.1f}/{total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
        else:
            amount = f"{done}/{total} {self.unit}"
        fraction = done / total if total else 0.0
        filled = int(30 * fraction)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%} {amount} {extra}  ")
        sys.stderr.flush()

    def close(self):
        sys.stderr.write("\n")


if __name__ == "__main__":
    sys.exit(main())
