"""Command line for labs, CI and headless use.

    python -m cifar_core download [--data-dir D] [--from ARCHIVE] [--quiet]
    python -m cifar_core train [--steps N] [--preset NAME] [--fresh] [--data-dir D] [--checkpoint-dir C] [--quiet]
    python -m cifar_core evaluate [--data-dir D] [--checkpoint-dir C] [--quiet]
    python -m cifar_core runs [--checkpoint-dir C]
    python -m cifar_core restore NAME [--checkpoint-dir C]

Bad input (missing data, damaged checkpoint, unknown preset) exits with status 2
and one clear line on stderr, never a traceback. Progress goes to stderr (a live bar on a
terminal, a plain line every 15 s in a log); --quiet leaves only the results and errors.
"""
import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no INFO or WARNING lines of TensorFlow's: start_up_lines_hidden

from cifar_core import archive, checkpoints, data, download, runs  # noqa: E402
from cifar_core.config import PRESETS, preset  # noqa: E402
from cifar_core.progress import ProgressBar  # noqa: E402


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
    export = commands.add_parser(
        "export", help="a checkpoint's network as a file that runs without cifar_core (keras, savedmodel, litert)",
        description="Write a checkpoint's network (default: the latest) in plain Keras layers, taking (N, 32, 32, 3) "
                    "uint8 images and returning the 10 class probabilities (centre crop and scaling inside), and "
                    "its metadata (class names, step, test accuracy) beside it as <out>.json.")
    export.add_argument("--format", required=True, help="keras (a .keras file), savedmodel (a TensorFlow SavedModel "
                        "folder) or litert (a .tflite file)")
    export.add_argument("--out", required=True, help="the file (or SavedModel folder) to write; never overwritten")
    export.add_argument("--checkpoint", help="a checkpoint folder, e.g. checkpoints/ckpt-00001500 or a snapshot "
                        "(default: the latest in --checkpoint-dir)")
    export.add_argument("--checkpoint-dir", default=str(checkpoints.DEFAULT_DIR), help="default: checkpoints/")
    for sub in (train, evaluate, listing, restore):
        sub.add_argument("--checkpoint-dir", default=str(checkpoints.DEFAULT_DIR), help="default: checkpoints/")
    for sub in (train, evaluate):
        sub.add_argument("--data-dir", help="the dataset (default: CIFAR10_DATA_DIR, data/CIFAR-10, Keras cache)")
    for sub in (get, train, evaluate, export):
        sub.add_argument("--quiet", action="store_true", help="no progress: only the results, warnings and errors")
    args = parser.parse_args(argv)
    commands = {"download": run_download, "train": run_train, "evaluate": run_evaluate, "runs": run_list,
                "restore": run_restore, "export": run_export}
    try:
        return commands[args.command](args)
    except (data.DataError, checkpoints.CheckpointError, runs.RunError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def run_download(args):
    bar = ProgressBar("CIFAR-10", quiet=args.quiet)  # download never loads TensorFlow: nothing to hide
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
    # Ctrl+C: stop after the current batch and save, instead of dying mid-write. The handlers only set an
    # event (a handler that took the job's lock could deadlock the main thread, which holds it in status()).
    # Set before TensorFlow loads (seconds), so that a Ctrl+C then stops the run as cleanly.
    stop_asked = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop_asked.set())
    signal.signal(signal.SIGTERM, lambda *_: stop_asked.set())
    with start_up_lines_hidden():  # here, in the main thread: the training thread would otherwise load it
        import tensorflow  # noqa: F401
    job = TrainingJob(args.checkpoint_dir, args.data_dir)
    try:
        started, message = job.start(config, fresh=args.fresh, extra_steps=0 if new_run else args.steps,
                                     by="command line")
    except RunExists as e:
        raise ValueError(f"{e} (`train` without --preset continues it; `train --fresh` starts a new one)") from None
    if not started:
        raise ValueError(message)
    bar, announced = ProgressBar("training", unit="step", quiet=args.quiet), False
    while not job.wait(timeout=0.5):
        if stop_asked.is_set():
            job.stop(by="command line")
        s = job.status()
        if s.target_step and not announced:
            for warning in s.warnings:
                print(f"warning: {warning}", file=sys.stderr)
            if not args.quiet:
                print(f"{s.message} Training with the '{s.config.preset}' preset to step {s.target_step:,}.",
                      file=sys.stderr)
            announced = True
        if s.target_step:
            show_progress(bar, s)
    # The run has stopped and saved: more Ctrl+C's while the process exits (TensorFlow's shutdown takes a
    # moment) are ignored, instead of killing it (Python restores the default handlers as it exits).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    s = job.status()
    if s.target_step:
        show_progress(bar, s)  # where it ended: the loop's last look may have been a few steps before
    bar.close()
    if s.state == "failed":
        print(f"error: {s.message}", file=sys.stderr)
        return 1
    accuracy = f"; test accuracy {s.test_accuracy[-1]:.1%}" if s.test_accuracy else ""
    print(f"{s.message} Now at step {s.step:,}{accuracy}.")
    return 0


def show_progress(bar, s):
    """The bar at a TrainingStatus `s`: steps of this session, the batch accuracy, the speed."""
    extra = f"batch acc {s.batch_accuracy[-1]:.0%}  " if s.batch_accuracy else ""
    extra += f"{s.images_per_second:,.0f} img/s"
    bar(s.step - s.start_step, s.target_step - s.start_step, extra)


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
    with start_up_lines_hidden():  # TensorFlow loads only for a checkpoint without its answers saved
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


def run_export(args):
    if args.checkpoint:
        if not os.path.lexists(args.checkpoint):
            raise ValueError(f"no checkpoint at {args.checkpoint}; give a checkpoint folder such as "
                             f"{args.checkpoint_dir}/ckpt-00001500, or leave out --checkpoint for the latest")
        checkpoint = checkpoints.Checkpoint.open(args.checkpoint)
    else:
        report_damaged(args.checkpoint_dir)
        checkpoint = checkpoints.latest_checkpoint(args.checkpoint_dir)
        if checkpoint is None:
            raise ValueError(f"no checkpoint in {args.checkpoint_dir}; train first: "
                             "python -m cifar_core train --steps 500")
    with start_up_lines_hidden():
        from cifar_core import export
    model, info = export.export(checkpoint, args.format, args.out)
    accuracy = f", test accuracy {checkpoint.test_accuracy:.1%}" if checkpoint.test_accuracy is not None else ""
    print(f"exported {checkpoint.path} (step {checkpoint.step:,}{accuracy}) as {args.format}: {model} "
          f"({export.size_of(model) / 1e6:.1f} MB); its metadata: {info}")
    return 0


# The child process that start_up_lines_hidden sends stderr through: absl's log lines below the level
# (argv[1]: TF_CPP_MIN_LOG_LEVEL; I, W, E, F are 0..3) and absl's notice that it logs before being set
# up are dropped; every other line (errors, fatal messages, anything not absl's) goes on unchanged.
_START_UP_FILTER = r"""
import re, sys
hidden = "IWEF"[:int(sys.argv[1])]
absl_line = re.compile(rb"([IWEF])\d{4} [\d:.]+ +\d+ [^ \]]+:\d+\] ")
for line in sys.stdin.buffer:
    found = absl_line.match(line)
    if (found and found.group(1).decode() in hidden) or line.startswith(b"WARNING: All log messages before absl"):
        continue
    sys.stdout.buffer.write(line)
    sys.stdout.buffer.flush()
"""


@contextlib.contextmanager
def start_up_lines_hidden():
    """Load TensorFlow inside this block and its C++ start-up lines stay off stderr; all else shows.

    TF_CPP_MIN_LOG_LEVEL is set early enough (above, before any import), and TensorFlow 2.21 (which logs
    through absl) honours it, but not yet in the C++ static initializers that run while Python loads its
    libraries: libtensorflow_framework.so.2 and _pywrap_profiler_plugin.so (each with its own copy of absl)
    log "oneDNN custom operations are on" from one (threadpool_device.cc), in the main thread; absl adds
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR". No setting
    reaches them in time (TF_ENABLE_ONEDNN_OPTS=0 hides one line by turning oneDNN, and bfloat16, off),
    and C++ writes them to file descriptor 2, past sys.stderr. So while TensorFlow loads, descriptor 2 goes
    through a filter (_START_UP_FILTER). It is a child process, not a thread: Python keeps the GIL while it
    loads a library, so a thread could not empty the pipe (a verbose TF_CPP_VMODULE would fill it and hang
    the import), and a child still passes on what an import that crashes wrote last. A Python traceback
    comes after the block, once descriptor 2 is back. TF_CPP_MIN_LOG_LEVEL=0 (debugging) filters nothing."""
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")
    level = min(int(level), 3) if level.isdigit() else 0
    if "tensorflow" in sys.modules or level == 0 or os.name != "posix":
        yield
        return
    sys.stderr.flush()
    real_stderr = os.dup(2)
    try:  # a new session: a Ctrl+C meant for the command does not end the filter before the command
        child = subprocess.Popen([sys.executable, "-I", "-S", "-c", _START_UP_FILTER, str(level)],
                                 stdin=subprocess.PIPE, stdout=real_stderr, start_new_session=True)
    except OSError:  # no process to spare: the lines show, nothing else changes
        os.close(real_stderr)
        yield
        return
    os.dup2(child.stdin.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real_stderr, 2)
        os.close(real_stderr)
        child.stdin.close()  # the filter reads to the end, passes it on, and exits
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=10)  # its last lines come before ours


if __name__ == "__main__":
    sys.exit(main())
