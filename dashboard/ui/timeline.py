"""The timeline: scrub one run from the untrained network (step 0) to the trained one, on every page that
looks inside; Play steps through its snapshots.

The chosen run and step are one browser's, shared by the pages (Filters, Feature maps, Confusion matrix),
so a step picked on one is the step on the next; the Train page opens a page at a step (`open_at`). Each
page's other choices (layer, channel, image, cell) have keys of their own and stay as the step changes.
"""
import time

import streamlit as st

from cifar_core import runs, snapshots
from dashboard.ui import loaders, navigation
from dashboard.ui.words import describe_point

RUN = "timeline_run"          # "" for the current run, else a set-aside run's folder name
STEP = "timeline_step"        # the chosen step; absent: the newest (and so it follows a run that goes on)
PLAYING = "timeline_playing"  # True while Play steps through the snapshots
PLAY_SECONDS = 0.5            # pause between two snapshots while playing, on top of the page's own redraw
_TICKED = "timeline_ticked"   # time.monotonic() of Play's last step
_NEIGHBOURS = "timeline_neighbours"  # the snapshots beside the one shown, to load once the page is drawn


def run_folder():
    """The folder of the chosen run: the current one, or a set-aside one while it still exists."""
    folder = loaders.checkpoint_dir()
    name = st.session_state.get(RUN, "")
    return folder / name if name and (folder / name).is_dir() else folder


def open_at(page, step, run=""):
    """Show `page` (a navigation constant) at `step` of a run ("" for the current one)."""
    st.session_state[RUN], st.session_state[STEP] = run, int(step)
    st.session_state[PLAYING] = False
    navigation.switch_to(page)


def require_point(key):
    """Draws the run picker (when runs are set aside), the timeline slider and Play; returns the chosen
    Checkpoint (a snapshot, or the latest checkpoint). With nothing trained, says so and stops the page."""
    _run_picker(key)
    points = require_trained()
    steps = [point.step for point in points]
    index = _chosen_index(steps)
    st.session_state[_NEIGHBOURS] = [points[i] for i in (index + 1, index - 1) if 0 <= i < len(points)]
    slider, play = st.columns([6, 1], vertical_alignment="bottom")
    if len(points) == 1:
        slider.markdown(f"**{describe_point(points[0])}**: the only snapshot of this run so far.")
    else:
        widget = f"{key}_timeline"
        st.session_state[widget] = steps[index]  # seeded from the shared step: every page shows the same one
        slider.select_slider("Training step: drag from the untrained network to the trained one", steps,
                             key=widget, format_func=lambda step: describe_point(points[steps.index(step)]),
                             on_change=_picked, args=(widget,),
                             help="Snapshots are kept at step 0, 50, 100, 200, 500, 1,000 … and at the end of the run.")
        playing = st.session_state.get(PLAYING, False)
        play.button("Pause" if playing else "Play", key=f"{key}_play", on_click=_toggle_play, args=(steps, index),
                    icon=":material/pause:" if playing else ":material/play_arrow:", width="stretch",
                    help="Step through the snapshots, about one a second.")
        if playing:
            st.fragment(_advance, run_every=PLAY_SECONDS)(steps, index)
    return points[index]


def require_trained():
    """The chosen run's snapshots, oldest first; with none yet, says so and stops the page."""
    points = snapshots.timeline(run_folder())
    if not points:
        st.info("There is no trained model yet: train one for a few minutes on the Train page.")
        navigation.link(navigation.TRAIN, "Go to Train")
        st.stop()
    return points


def load_neighbours():
    """After a page is drawn: load the networks of the snapshots beside the one it showed, in the background,
    so that the next move of the slider (or Play's next step) finds its network ready."""
    neighbours = st.session_state.pop(_NEIGHBOURS, None)
    if neighbours:
        loaders.prefetch_networks(neighbours)


def other_point(key, label, default):
    """A second step of the same run (to compare with), -> its Checkpoint; `default`: an index into the timeline."""
    points = snapshots.timeline(run_folder())
    steps = [point.step for point in points]
    if st.session_state.get(key) not in steps:
        st.session_state[key] = steps[default]
    step = st.select_slider(label, steps, key=key, format_func=lambda s: describe_point(points[steps.index(s)]))
    return points[steps.index(step)]


def _run_picker(key):
    aside = [run.name for run in runs.set_aside_runs(loaders.checkpoint_dir())]
    if not aside:
        st.session_state[RUN] = ""
        return
    if st.session_state.get(RUN, "") not in ["", *aside]:
        st.session_state[RUN] = ""  # that run was restored or deleted
    widget = f"{key}_run"
    st.session_state[widget] = st.session_state.get(RUN, "")
    st.selectbox("Run", ["", *aside], key=widget, on_change=_picked_run, args=(widget,),
                 format_func=lambda name: f"set-aside run {name}" if name else "the current run",
                 help="Runs set aside on the Train page keep their own snapshots.")


def _chosen_index(steps):
    """The index of the shared step in `steps`: the newest when none is chosen; the nearest earlier one when
    the chosen step is not in this run."""
    chosen = st.session_state.get(STEP)
    if chosen is None:
        return len(steps) - 1
    return max([i for i, step in enumerate(steps) if step <= chosen], default=0)


def _picked(widget):
    st.session_state[STEP] = st.session_state[widget]
    st.session_state[PLAYING] = False  # a hand on the slider stops Play


def _picked_run(widget):
    st.session_state[RUN] = st.session_state[widget]
    st.session_state.pop(STEP, None)
    st.session_state[PLAYING] = False


def _toggle_play(steps, index):
    playing = not st.session_state.get(PLAYING, False)
    st.session_state[PLAYING] = playing
    st.session_state[_TICKED] = time.monotonic()
    if playing and index == len(steps) - 1:  # at the end: play from the untrained network
        st.session_state[STEP] = steps[0]


def _advance(steps, index):
    """Play's tick: the next snapshot (the whole page redraws at it); at the last one, Play stops.

    A fragment also runs once as part of the page's own run: only its timer's runs, PLAY_SECONDS after the
    last step, step on (else each redraw would start the next at once)."""
    now = time.monotonic()
    if not st.session_state.get(PLAYING) or now - st.session_state.get(_TICKED, 0.0) < PLAY_SECONDS * 0.9:
        return
    st.session_state[_TICKED] = now
    if index + 1 >= len(steps):
        st.session_state[PLAYING] = False
    else:
        st.session_state[STEP] = steps[index + 1]
        st.session_state[PLAYING] = index + 2 < len(steps)
    st.rerun(scope="app")
