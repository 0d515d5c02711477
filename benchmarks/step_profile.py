"""Where the training step's time goes, by oneDNN primitive and kernel: run it on each CPU kind.

Runs the project's step (TrainingStep.train_batch, as the background job does) in a child process with
ONEDNN_VERBOSE=1, and adds up the execution time that oneDNN reports for each primitive: which op
(convolution, batch-norm, pooling, matmul ...), which pass (forward, backward data, backward weights), which
shape and which kernel. The kernel's name says what the CPU is asked to do: `avx512_core_amx` kernels use
Intel's AMX tile unit, `avx512_core_bf16` ones AVX512-BF16 dot products (AMD Zen 4/5, Intel without AMX),
`avx2` ones neither. The last lines say whether any AMX kernel ran, and how much of the step's wall time the
listed primitives explain (the rest: TensorFlow's own ops and overhead).

The child runs TensorFlow's ops one at a time (inter-op parallelism 1), so that two ops' times never overlap
in the sum; its step time is printed beside the usual one for comparison.

    .venv/bin/python benchmarks/step_profile.py [--steps 10] [--batch 256] [--precision auto|float32]

Prints a table sorted by milliseconds per step; writes nothing.
"""
import argparse
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

START, END = "=====profiled steps start", "=====profiled steps end"


def child(args):
    """Warm up, then train --steps steps between two markers on stdout; print the wall time per step."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if args.one_op_at_a_time:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    from cifar_core import data
    from cifar_core.config import preset
    from cifar_core.training.step import TrainingStep

    training = TrainingStep(preset("default", batch_size=args.batch, precision=args.precision),
                            data.load_dataset(args.data_dir))
    for _ in range(10):  # tracing, oneDNN's kernel creation
        training.train_batch(0)
    print(START, flush=True)
    start = time.perf_counter()
    for _ in range(args.steps):
        training.train_batch(0)
    seconds = (time.perf_counter() - start) / args.steps
    print(END, flush=True)
    print(f"step_ms {seconds * 1000:.2f} precision {training.precision}", flush=True)


def run_child(args, verbose, one_op_at_a_time):
    """-> (stdout lines, ms per step, precision) of one child run."""
    env = dict(os.environ, ONEDNN_VERBOSE="1" if verbose else "0")
    command = [sys.executable, __file__, "--child", "--steps", str(args.steps), "--batch", str(args.batch),
               "--precision", args.precision] + (["--data-dir", args.data_dir] if args.data_dir else []) \
        + (["--one-op-at-a-time"] if one_op_at_a_time else [])
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode:
        sys.exit(f"the profiled run failed:\n{done.stderr[-3000:]}")
    lines = done.stdout.splitlines()
    _, ms, _, precision = next(line for line in lines if line.startswith("step_ms")).split()
    return lines, float(ms), precision


def primitive_times(lines, steps):
    """{(primitive, pass, shape, kernel): ms per step} from oneDNN's `exec` lines between the markers."""
    inside, times = False, defaultdict(float)
    for line in lines:
        if line in (START, END):
            inside = line == START
        elif inside and line.startswith("onednn_verbose") and ",exec," in line:
            fields = line.split(",")
            at = fields.index("exec")  # onednn_verbose[,v1],primitive,exec,cpu,<primitive>,<kernel>,<pass>,...
            primitive, kernel, direction = fields[at + 2], fields[at + 3], fields[at + 4]
            times[(primitive, direction, fields[-2], kernel)] += float(fields[-1]) / steps
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="profiled steps, after 10 of warm-up")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--precision", default="auto", help="auto (as the job trains here), bfloat16, float32")
    parser.add_argument("--data-dir")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one-op-at-a-time", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from recipe_curve import cpu_model

    _, usual_ms, _ = run_child(args, verbose=False, one_op_at_a_time=False)
    _, serial_ms, _ = run_child(args, verbose=False, one_op_at_a_time=True)
    lines, _, precision = run_child(args, verbose=True, one_op_at_a_time=True)
    times = primitive_times(lines, args.steps)
    if not times:
        sys.exit("oneDNN reported nothing: is TF_ENABLE_ONEDNN_OPTS=0 set, or is this not an x86 CPU?")
    print(f"{cpu_model()}; precision {precision}; batch {args.batch}")
    print(f"step: {usual_ms:.1f} ms as the job runs it ({args.batch / usual_ms * 1000:,.0f} images/s), "
          f"{serial_ms:.1f} ms one op at a time")
    print(f"\n{'ms/step':>8}  {'share':>5}  {'primitive':<20} {'pass':<17} {'shape':<58} kernel")
    total = sum(times.values())
    for (primitive, direction, shape, kernel), ms in sorted(times.items(), key=lambda item: -item[1]):
        if ms >= 0.05:
            print(f"{ms:8.2f}  {ms / serial_ms:5.0%}  {primitive:<20} {direction:<17} {shape[:58]:<58} {kernel}")
    amx = sum(ms for (_, _, _, kernel), ms in times.items() if "amx" in kernel)
    print(f"\noneDNN primitives: {total:.1f} ms of the {serial_ms:.1f} ms step ({total / serial_ms:.0%}); "
          f"in AMX kernels: {amx:.1f} ms" + ("" if amx else " (none ran)"))


if __name__ == "__main__":
    main()
