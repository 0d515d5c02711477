"""Train: the network learns in the background while you watch; pause, resume, stop, start fresh.

The run lives in the server's one training job, so every browser sees the same run; this page
only sends it commands and draws its progress snapshots."""
import streamlit as st

from cifar_core import checkpoints
from cifar_core.config import PRESETS, preset
from cifar_core.training.job import NetworkMismatch
from dashboard.figures.curves import accuracy_figure, loss_figure
from dashboard.ui import loaders, navigation, state, words

PRESET_NOTES = {
    "notebook": "Exactly the notebook: Adam at a constant learning rate of 0.0001, batch 64, its strong colour "
                "distortions, batch-norm after conv1 only. About 80% after 100,000 steps: 12 hours on a 2-core CPU.",
    "default": "The same network plus batch-norm after conv2, a one-cycle learning rate (warm-up, then down to 0 "
               "at the end of the run) and milder colour distortions: far fewer steps to the same accuracy.",
    "quick": "The default recipe in a short run: from nothing to a useful network within minutes, for a lesson.",
}
SETTINGS = ("steps", "batch_size", "learning_rate", "eval_every", "checkpoint_every")
# The status redraws every second (less often with many browsers watching: redraw_seconds); the charts every
# CHART_SECONDS times that: each chart redraw costs every watching browser ~0.12 s of CPU, a status one ~0.06
# (benchmarks/dashboard_budgets.py measures the effect on training).
CHART_SECONDS = 3.0


def _apply_preset():
    for name in SETTINGS:
        state.set_choice(f"train_{name}", getattr(PRESETS[st.session_state.train_preset], name))


def _confirm_fresh(asking):
    st.session_state.train_confirm_fresh = asking


def _start(fresh=False):
    _confirm_fresh(False)
    try:
        config = preset(st.session_state.train_preset, **{n: st.session_state[f"train_{n}"] for n in SETTINGS})
        started, message = loaders.training_job().start(config, fresh=fresh)
    except NetworkMismatch as e:
        started, message = False, f"{e} Start fresh to train it."
    except ValueError as e:
        started, message = False, str(e)
    st.session_state.train_notice = ("success" if started else "warning", message)


def train_controls():
    state.keep_choice("train_preset", "default")
    for name in SETTINGS:
        state.keep_choice(f"train_{name}", getattr(PRESETS[st.session_state.train_preset], name))
    name = st.radio("Preset", list(PRESETS), key="train_preset", on_change=_apply_preset, horizontal=True,
                    help="Fills in the settings below; change any of them before pressing Start.")
    st.caption(PRESET_NOTES.get(name, ""))
    c = st.columns(5)
    c[0].number_input("Iterations (steps)", 1, 1_000_000, step=100, key="train_steps",
                      help="Batches to train in this run, counted from where the last checkpoint stopped.")
    c[1].number_input("Batch size", 1, 1024, step=16, key="train_batch_size", help="Images per step.")
    c[2].number_input("Learning rate", 1e-6, 0.5, step=1e-4, format="%.5f", key="train_learning_rate",
                      help="Adam's step size (the peak of the one-cycle schedule for default and quick).")
    c[3].number_input("Evaluate every", 1, 100_000, step=50, key="train_eval_every",
                      help="Steps between test-accuracy points on 1,000 test images.")
    c[4].number_input("Checkpoint every", 1, 100_000, step=100, key="train_checkpoint_every",
                      help="Steps between checkpoints (measured on all 10,000 test images). One is saved on stop.")


def control_buttons(job, status):
    with st.container(horizontal=True):
        st.button("Start", key="train_start", type="primary", on_click=_start,
                  help="Continues from the latest checkpoint (step 0 when there is none).")
        st.button("Pause", key="train_pause", on_click=job.pause, disabled=status.state != "running")
        st.button("Resume", key="train_resume", on_click=job.resume, disabled=status.state != "paused")
        st.button("Stop", key="train_stop", on_click=job.stop, disabled=not status.active,
                  help="Stops after this batch and saves a checkpoint.")
        st.button("Start fresh…", key="train_fresh", on_click=_confirm_fresh, args=(True,))
    if st.session_state.get("train_confirm_fresh"):
        st.warning("Start again from step 0 with new random weights? The old checkpoints are kept: they are set "
                   f"aside in a `previous-<time>` folder inside `{job.checkpoint_dir}` and no longer listed here.")
        with st.container(horizontal=True):
            st.button("Yes, start fresh", key="train_fresh_yes", on_click=_start, args=(True,))
            st.button("Cancel", key="train_fresh_cancel", on_click=_confirm_fresh, args=(False,))
    kind, message = st.session_state.pop("train_notice", (None, None))
    if kind:
        getattr(st, kind)(message)


def chart_history(status):
    """The run's history (before any run in this server, the latest checkpoint's), or the copy held to zoom in.

    A new point redraws a chart as a new element, which resets its zoom: Streamlit 1.67 derives the
    element's identity from the figure, so uirevision cannot help. A held copy keeps the figure still."""
    if status.active:
        st.toggle("Hold the charts to zoom in", key="train_hold",
                  help="While a run is going, the charts are redrawn with new points every few seconds, "
                       "which resets the zoom.")
    held = st.session_state.get("train_held")
    if held and st.session_state.get("train_hold"):
        return held
    history = {}
    if status.history_steps or status.test_steps:
        history = dict(steps=status.history_steps, batch_accuracy=status.batch_accuracy, loss=status.loss,
                       test_steps=status.test_steps, test_accuracy=status.test_accuracy)
    elif (latest := checkpoints.latest_checkpoint(loaders.checkpoint_dir())) is not None:
        try:
            history = latest.history()
        except checkpoints.CheckpointError:
            pass  # the checkpoint list below still shows it; the analysis pages report the damage
    st.session_state.train_held = history
    return history


def draw_charts(history):
    if not history.get("steps") and not history.get("test_steps"):
        st.info("Nothing trained yet: press Start and the curves appear here.")
        return
    accuracy, loss = st.columns(2)
    accuracy.plotly_chart(accuracy_figure(history), key="train_accuracy_chart")
    loss.plotly_chart(loss_figure(history), key="train_loss_chart")


def draw_status(status, latest):
    if status.state == "failed":
        st.error(status.message)
    elif status.state == "idle":
        st.markdown(f"**Idle.** Start trains from step {latest.step if latest else 0:,}.")
    else:
        c = status.config
        st.markdown(f"**{status.state.capitalize()}.** {status.message}")
        st.caption(f"This run: {c.preset} preset, {c.steps:,} steps of {c.batch_size} images, "
                   f"learning rate {c.learning_rate:g} ({c.schedule}).")
    if status.target_step > status.start_step:
        done = (status.step - status.start_step) / (status.target_step - status.start_step)
        st.progress(min(max(done, 0.0), 1.0), text=f"step {status.step:,} of {status.target_step:,}")
    c = st.columns(3)
    c[0].metric("Images per second", f"{status.images_per_second:,.0f}" if status.active else "–")
    c[1].metric("Time left", words.format_duration(status.eta_seconds) if status.active else "–")
    accuracy = latest.test_accuracy if latest else None
    c[2].metric(f"Test accuracy at step {latest.step:,}" if latest else "Test accuracy",
                f"{accuracy:.1%}" if accuracy is not None else "–",
                help="At the latest checkpoint, on all 10,000 test images; chance is 10%.")


def draw_checkpoints(saved):
    st.subheader("Checkpoints")
    if not saved:
        st.caption("None yet: one is saved every *Checkpoint every* steps and when a run stops.")
        return
    st.dataframe([{"step": c.step, "test accuracy": None if c.test_accuracy is None else f"{c.test_accuracy:.1%}",
                   "preset": c.preset, "saved": words.format_time(c.saved_at)} for c in reversed(saved)],
                 hide_index=True, key="train_checkpoints")
    st.caption(f"Saved in `{loaders.checkpoint_dir().resolve()}`; the newest few are kept.")


def redraw_seconds(watchers):
    """How often each browser redraws the running status: every second for one or two browsers, less often
    for more, so that a classroom's browsers together cost the server (and the training) about two redraws
    a second whatever their number."""
    return max(1.0, watchers / 2)


def draw_live_status(job, shown_state, shown_checkpoints, every):
    """The status, redrawn every `every` seconds while a run goes (None: not running). The rest of the page is
    redrawn only when something it shows changes."""
    status = job.status()
    saved = checkpoints.list_checkpoints(loaders.checkpoint_dir())  # oldest first
    watchers = state.train_page_watchers(every) if every else 1
    if (status.state != shown_state or [c.path for c in saved] != shown_checkpoints
            or (every and redraw_seconds(watchers) != every)):
        st.rerun()  # the run changed state, saved a checkpoint, or the audience changed: redraw the page
    draw_status(status, saved[-1] if saved else None)
    if every and every > 1:
        st.caption(f"{watchers} browsers are watching this run: each one redraws every {every:g} seconds (the "
                   f"charts every {CHART_SECONDS * every:g}), so that the training keeps most of the computer.")


def draw_live_charts(job):
    """The charts, redrawn every CHART_SECONDS (times the status interval) while a run goes: a fragment of
    their own, so the status's redraws neither rebuild nor resend them."""
    draw_charts(chart_history(job.status()))


navigation.page_header(
    "Train",
    "Each step shows the network a batch of randomly distorted training images and nudges its weights to make "
    "fewer mistakes. Watch the accuracy climb: on the training batches, and on test images it never trains on.")
loaders.require_dataset()
with st.spinner("Starting TensorFlow…"):
    job = loaders.training_job()
train_controls()
status = job.status()
control_buttons(job, status)
saved = checkpoints.list_checkpoints(loaders.checkpoint_dir())
every = redraw_seconds(state.train_page_watchers(1.0)) if status.active else None
st.fragment(draw_live_status, run_every=every)(job, status.state, [c.path for c in saved], every)
st.fragment(draw_live_charts, run_every=every and CHART_SECONDS * every)(job)
draw_checkpoints(saved)
