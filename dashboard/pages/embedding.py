"""Map: every test image placed by what the network's last hidden layer (fc2) makes of it; PCA at once, t-SNE
when the background job has it; click a dot to look inside that image."""
import time

import numpy as np
import streamlit as st

from cifar_core import checkpoints
from cifar_core.insights import embedding, explanations, feature_maps
from dashboard.figures import embedding as figures
from dashboard.ui import downloads, loaders, navigation, timeline
from dashboard.ui.look_inside import look_inside
from dashboard.ui.page_fragment import page_fragment
from dashboard.ui.words import describe_point, format_duration

POLL_SECONDS = 2  # how often the t-SNE line looks whether the background job is done
PROJECTIONS = {"pca": "PCA", "tsne": "t-SNE"}


@st.cache_data(show_spinner="Working out what the last hidden layer makes of each test image…", max_entries=8)
def _fc2(path, saved_at, dataset_folder):  # (N, 128); keyed by the checkpoint, never by an array
    return embedding.test_set_fc2(checkpoints.Checkpoint.open(path), loaders.dataset_or_none(),
                                  load_model=loaders.inference_model)  # only for a checkpoint saved without it


@st.cache_data(max_entries=8)
def _pca(path, saved_at, dataset_folder):
    return embedding.pca_2d(_fc2(path, saved_at, dataset_folder))


def fc2_and_pca(checkpoint, dataset):
    """(fc2 (N, 128), PCA map (N, 2)) of one checkpoint; a damaged checkpoint stops the page."""
    where = (str(checkpoint.path), checkpoint.saved_at, str(dataset.folder))
    try:
        return _fc2(*where), _pca(*where)
    except checkpoints.CheckpointError as e:
        st.error(str(e))
        st.stop()


def tsne_line(jobs, key):
    """Where the checkpoint's t-SNE map stands, and the button to switch maps once it is there."""
    status = jobs.status(key)
    if status.state == "done":
        showing = st.session_state.get("em_projection", "pca")
        other = "pca" if showing == "tsne" else "tsne"
        st.button(f"Show the {PROJECTIONS[other]} map", key="em_switch", on_click=show, args=(other,),
                  help="PCA keeps the broad layout; t-SNE keeps each image's nearest neighbours near, so islands "
                       "stand out (how far apart two islands are means little).")
    elif status.state == "failed":
        st.warning(f"The t-SNE map could not be computed ({status.message}); the PCA map is shown.")
    else:
        st.fragment(_poll, run_every=POLL_SECONDS)(jobs, key)


def show(projection):
    st.session_state["em_projection"] = projection


def _poll(jobs, key):
    status = jobs.status(key)
    if status.state in ("done", "failed"):
        st.rerun(scope="app")  # the page draws the button, and this line stops polling
    started = format_duration(time.time() - (status.started_at or time.time()))
    doing = "computing…" if status.state == "computing" else "waiting for another map to finish…"
    st.caption(f"t-SNE: {doing} (started {started} ago). The PCA map is shown meanwhile.")


def warm_up(checkpoint, image):
    """Load the checkpoint's network and run it once, as look-inside does: the first run of a network takes
    ~3 s (TensorFlow's import, its first kernels), which a first click would otherwise wait for."""
    inference = loaders.inference_model(checkpoint)
    explanations.explain(inference, image, "gradcam", feature_maps.network_view(inference, image).predicted)


def apply_click(chart):
    """A new click on a dot chooses its image. No points is no new click: the chart forgets its selection
    whenever the figure changes (the colouring, the ring around the chosen dot), so that must not clear it."""
    event = st.session_state.get(chart)
    points = event["selection"]["points"] if event else []
    click = points[0].get("customdata") if points else None
    click = int(click[0] if isinstance(click, list) else click) if click is not None else None
    if click != st.session_state.get("em_last_click"):
        st.session_state["em_last_click"] = click
        if click is not None:
            choose(click)


def typed():
    choose(st.session_state["em_index"])


def choose(index):
    st.session_state["em_chosen"] = index
    st.session_state["em_index"] = index
    st.session_state["em_scroll"] = True  # the look-inside view comes into sight once per new choice


@page_fragment
def map_and_look_inside(dataset, probabilities, xy, checkpoint, projection):
    """The map and the chosen image's look-inside view rerun together on a click, not the rest of the page."""
    names, labels = dataset.class_names, dataset.test_labels
    apply_click("em_chart")
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    colour = left.radio("Colour each dot by", ["class", "right"], key="em_colour", horizontal=True,
                        format_func={"class": "its class", "right": "right or wrong"}.get)
    right.number_input("Test image number", 0, len(labels) - 1, value=None, key="em_index",
                       placeholder="click a dot, or type", on_change=typed)
    chosen = st.session_state.get("em_chosen")
    chosen = chosen if chosen is not None and chosen < len(labels) else None
    predicted = probabilities.argmax(axis=1)
    on_the_map, below_it = st.container(), st.container()
    if chosen is not None:  # drawn first, below the map: a click's answer shows before the 10,000 dots (with
        heading = f"Inside test image #{chosen} ({names[labels[chosen]]}) at {describe_point(checkpoint)}"
        with below_it:      # the chosen one ringed) are sent and redrawn again (~1 s on 2 cores)
            look_inside(checkpoint, dataset.test_images[chosen], names, int(labels[chosen]), key="em_view",
                        heading=heading, scroll=st.session_state.pop("em_scroll", False))
    figure = figures.map_figure(xy, labels, predicted, probabilities.max(axis=1), names, colour, chosen)
    with on_the_map:
        st.plotly_chart(figure, on_select="rerun", selection_mode="points", key="em_chart")
        st.caption(f"{PROJECTIONS[projection]} map of {len(labels):,} test images at {describe_point(checkpoint)}. "
                   "Hover over a dot for its class and the network's answer; click it to look inside. "
                   + downloads.CHARTS_AS_PICTURES)


navigation.page_header(
    "Map of what it learned",
    "**What am I looking at?** Each dot is a test image, placed by what the network's last hidden layer (fc2, "
    "128 numbers per image) makes of it: images the network finds alike sit together. "
    "**What should I notice?** As it learns, the classes form islands; at step 0 they are all mixed up. "
    "The cat and dog islands touch: the network mixes those two up most (see the Confusion matrix).")
dataset = loaders.require_dataset()
checkpoint = timeline.require_point("em")
probabilities = loaders.test_probabilities(checkpoint, dataset)  # (N, 10); a damaged checkpoint stops the page
fc2, pca = fc2_and_pca(checkpoint, dataset)
jobs = embedding.tsne_jobs()
key = f"{checkpoint.path}@{checkpoint.saved_at}"  # one t-SNE map per checkpoint, never keyed by an array
tsne = jobs.status(key).result
projection = "tsne" if tsne is not None and st.session_state.get("em_projection") == "tsne" else "pca"
line = st.container()  # above the map on the page, but drawn after it: the map comes first
map_and_look_inside(dataset, probabilities, tsne if projection == "tsne" else pca, checkpoint, projection)
jobs.request(key, np.asarray(fc2))  # in the background, once per checkpoint; never blocks this page
with line:
    tsne_line(jobs, key)
warm_up(checkpoint, dataset.test_images[0])  # with the map on screen, before the first click
