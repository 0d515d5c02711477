"""Train: the network learns in the background while you watch; the teacher pauses, resumes, stops, starts anew.

The run lives in the server's one training job, so every browser sees the same run; this page only sends
it commands (the teacher's, dashboard/ui/run_controls.py) and draws its progress snapshots."""
from functools import partial

import streamlit as st

from cifar_core import checkpoints, data, snapshots, tables
from cifar_core.training import job as job_module
from cifar_core.training.plan import describe_settings
from dashboard.figures.curves import accuracy_figure, loss_figure
from dashboard.ui import downloads, loaders, navigation, roles, run_controls, state, timeline, words

# The status redraws every second while a run goes (less often with many browsers watching:
# state.redraw_seconds); while none does, the page checks every IDLE_SECONDS, so that a run started
# anywhere shows everywhere, and redraws only when something changed. The charts redraw every
# CHART_SECONDS times the status: each chart redraw costs a browser ~0.27 s of CPU, a status one ~0.08
# (Chromium's own count, on a Zen 5; benchmarks/dashboard_budgets.py measures the effect on training).
CHART_SECONDS = 5.0
IDLE_SECONDS = 1.5
CHARTS = ("train_accuracy_chart", "train_loss_chart")
OPEN_ON = (navigation.FILTERS, navigation.FEATURE_MAPS, navigation.CONFUSION)  # pages a snapshot opens on


def chart_history(job):
    """The run's history (before any run in this server, the latest checkpoint's) and its snapshots
    ([(step, test accuracy)]), or the copy held to zoom in.

    A new point redraws a chart as a new element, which resets its zoom: Streamlit 1.67 derives the
    element's identity from the figure, so uirevision cannot help. A held copy keeps the figure still."""
    if job.status().active:
        st.toggle("Hold the charts to zoom in", key="train_hold",
                  help="While a run is going, the charts are redrawn with new points every few seconds, "
                       "which resets the zoom.")
    held = st.session_state.get("train_held")
    if held and st.session_state.get("train_hold"):
        return held
    history = job.history()
    if not history["steps"] and not history["test_steps"]:
        history = {}
        if (latest := checkpoints.latest_checkpoint(loaders.checkpoint_dir())) is not None:
            try:
                history = latest.history()
            except checkpoints.CheckpointError:
                pass  # the checkpoint list below still shows it; the analysis pages report the damage
    kept = [(s.step, s.test_accuracy) for s in snapshots.list_snapshots(loaders.checkpoint_dir())]
    st.session_state.train_held = history, kept
    return history, kept


def draw_charts(history, kept):
    if not history.get("steps") and not history.get("test_steps"):
        st.info("Nothing trained yet: press Start and the curves appear here.")
        return
    if kept:
        note, choice = st.columns([3, 2], vertical_alignment="center")
        note.markdown("Diamonds mark snapshots kept for the timeline: click one to look inside the network "
                      "at that step.")
        choice.segmented_control("Show it on", OPEN_ON, default=navigation.FILTERS, key="train_open_on",
                                 format_func=lambda page: navigation.entry(page).title)
    accuracy, loss = st.columns(2)
    for column, figure, key in ((accuracy, accuracy_figure, CHARTS[0]), (loss, loss_figure, CHARTS[1])):
        column.plotly_chart(figure(history, kept), key=key, on_select=partial(_picked_snapshot, key),
                           selection_mode="points")
    last = max(history.get("steps", []) + history.get("test_steps", []), default=0)
    with st.container(horizontal=True, vertical_alignment="center"):  # the history the charts show, as CSV
        downloads.csv_button("Metrics history (CSV)", f"training-history-step-{last}.csv",
                             partial(tables.history_csv, history), key="train_history_csv",
                             help="Every logged step: training and test loss and accuracy, learning rate.")
        st.caption(downloads.CHARTS_AS_PICTURES)


def _picked_snapshot(key):
    """A click on a chart: keep a diamond's step (its customdata) for the fragment's body to open. Read here,
    in the callback: by the rerun, new points may have made the chart a new element, without the click."""
    for point in (st.session_state.get(key) or {}).get("selection", {}).get("points", []):
        if point.get("customdata"):  # only the diamonds carry one; a double-click clears: no points
            st.session_state.train_open_step = int(point["customdata"][0])


def draw_status(status, latest, teacher=False):
    if status.state == "failed":
        st.error(status.message)
    elif status.state == "idle":
        step, target = (latest.step, latest.run[1]) if latest else (0, 0)
        how = "" if not teacher else (" Start trains a new one from step 0." if latest is None else
                                      f" Start goes on to step {target:,}." if step < target else
                                      " Start trains as many more iterations as set above.")
        if latest is None:
            st.markdown(f"**No run yet.**{how}")
        elif step < target:
            st.markdown(f"**Stopped at step {step:,} of {target:,}.**{how}")
        else:
            st.markdown(f"**Finished at step {step:,}.**{how}")
    else:
        st.markdown(status.message)
    for warning in status.warnings:
        st.warning(warning)
    if status.config is not None and status.state != "idle":
        st.caption(f"This run: {describe_settings(status.config)}.")
    if status.changed:
        st.caption(f"{status.changed.capitalize()} {words.format_age(status.changed_at)}"
                   + (f" by the {status.changed_by}." if status.changed_by else "."))
    if status.target_step > status.start_step:
        done = (status.step - status.start_step) / (status.target_step - status.start_step)
        st.progress(min(max(done, 0.0), 1.0), text=f"step {status.step:,} of {status.target_step:,}")
    c = st.columns(3)
    running = status.state == "running"  # paused or stopping: no speed, no time left
    c[0].metric("Images per second", f"{status.images_per_second:,.0f}" if running else "–")
    c[1].metric("Time left", words.format_duration(status.eta_seconds) if running else "–")
    accuracy = latest.test_accuracy if latest else None
    c[2].metric(f"Test accuracy at step {latest.step:,}" if latest else "Test accuracy",
                f"{accuracy:.1%}" if accuracy is not None else "–",
                help="At the latest checkpoint, on all 10,000 test images; chance is 10%.")


def draw_checkpoints(saved, damaged):
    st.subheader("Checkpoints")
    for bad in damaged:
        st.warning(f"{bad.name} is damaged and is kept as it is (not used, not deleted): {bad.reason}")
    if not saved:
        st.caption("None yet: one is saved every *Checkpoint every* steps and when a run stops.")
        return
    st.dataframe([{"step": c.step, "test accuracy": None if c.test_accuracy is None else f"{c.test_accuracy:.1%}",
                   "preset": c.preset, "saved": words.format_time(c.saved_at)} for c in reversed(saved)],
                 hide_index=True, key="train_checkpoints")
    st.caption(f"Saved in `{loaders.checkpoint_dir().resolve()}`; the newest few are kept.")


def draw_live_status(job, shown, every, local):
    """Every `every` seconds: the whole page again if something it shows has changed (the run's state or its
    last control, the checkpoints, or the audience); else, while a run goes, the status. While none goes,
    it draws nothing: a check that changes nothing costs the browsers nothing. `local`: this browser is on
    the server's computer (it counts among the watchers there)."""
    status = job.status()
    saved = checkpoints.list_checkpoints(loaders.checkpoint_dir())  # oldest first
    watchers, here = state.train_page_watchers(every, local)
    if (status.state, status.changed_at, [c.path for c in saved]) != shown or \
            (status.active and state.redraw_seconds(watchers, here) != every):
        st.rerun()
    if not status.active:
        return
    draw_status(status, saved[-1] if saved else None)
    if status.active and every > 1:
        st.caption(f"{watchers} browsers are watching this run: each one redraws every {every:g} seconds (the "
                   f"charts every {CHART_SECONDS * every:g}), so that the training keeps most of the computer.")


def draw_live_charts(job):
    """The charts, redrawn every CHART_SECONDS (times the status interval) while a run goes: a fragment of
    their own, so the status's redraws neither rebuild nor resend them."""
    # A clicked diamond (_picked_snapshot): the app's run opens its page (a switch from a fragment drew an empty
    # page), asked for before the charts are drawn: until the new page starts, this page's timers still run.
    if "train_open_step" in st.session_state:
        st.rerun(scope="app")
    draw_charts(*chart_history(job))


if (opened_step := st.session_state.pop("train_open_step", None)) is not None:  # a clicked diamond (draw_live_charts)
    timeline.open_at(st.session_state.get("train_open_on") or navigation.FILTERS, opened_step)
navigation.page_header(
    "Train",
    "Each step shows the network a batch of randomly distorted training images and nudges its weights to make "
    "fewer mistakes. Watch the accuracy climb: on the training batches, and on test images it never trains on.")
failed = (existing := job_module.existing_job()) is not None and existing.status().state == "failed"
if failed and data.find_dataset() is None:  # the run failed because the dataset went: say so first
    st.error(existing.status().message)
loaders.require_dataset()
with st.spinner("Starting TensorFlow…"):
    job = loaders.training_job()
status = job.status()
saved, damaged = checkpoints.scan_checkpoints(loaders.checkpoint_dir())  # valid ones oldest first
teacher = roles.role() == roles.TEACHER
if teacher:
    run_controls.settings_form(saved[-1].config if saved else None)
    run_controls.buttons(job, status)
else:
    st.info("The teacher controls this run from the computer that runs the dashboard: you see it live, as it "
            "trains. Every other page is yours to explore.")
run_controls.draw_notices()
local = roles.peer_address() is None  # this browser draws on the training's cores
every = state.redraw_seconds(*state.train_page_watchers(1.0, local)) if status.active else IDLE_SECONDS
if not status.active:
    draw_status(status, saved[-1] if saved else None, teacher)  # drawn once; the fragment below only checks
st.fragment(draw_live_status, run_every=every)(job, (status.state, status.changed_at, [c.path for c in saved]),
                                              every, local)
st.fragment(draw_live_charts, run_every=CHART_SECONDS * every if status.active else None)(job)
draw_checkpoints(saved, damaged)
run_controls.set_aside_runs(loaders.checkpoint_dir(), teacher, busy=status.active)
if teacher:
    downloads.take_model_home(saved[-1] if saved else None)
