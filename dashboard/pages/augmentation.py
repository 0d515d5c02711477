"""Augmentation: what the training distortions do to one image."""
from dataclasses import replace

import numpy as np
import streamlit as st

from cifar_core import checkpoints
from cifar_core.config import CROP_FLIP, PRESETS, Distortions
from dashboard.figures.images import image_grid, upscale
from dashboard.ui import loaders, navigation

NOTEBOOK = Distortions()  # the notebook's distortion strengths (stronger than the presets')
SLIDERS = ("aug_hue", "aug_contrast", "aug_brightness", "aug_saturation", "aug_flip")


def run_distortions():
    """-> (the distortions the latest checkpoint's run trains with, else the default preset's; whose they are)."""
    latest = checkpoints.latest_checkpoint(loaders.checkpoint_dir())
    if latest is not None:
        try:
            return latest.config.distortions, f"the latest run ({latest.preset} preset, step {latest.step:,})"
        except (TypeError, ValueError, KeyError, AttributeError):
            pass  # a config this version cannot read: the default preset's, as before any run
    return PRESETS["default"].distortions, "the default preset (there is no trained run yet)"


def describe(d):
    """'hue ±0.02, contrast 0.8–1.2, brightness ±0.1, saturation 0.7–1.3, flips' ('no colour changes, flips')."""
    flips = "flips" if d.flip else "no flips"
    if replace(d, flip=CROP_FLIP.flip) == CROP_FLIP:  # no colour change at all
        return f"no colour changes, {flips}"
    return (f"hue ±{d.hue:g}, contrast {d.contrast[0]:g}–{d.contrast[1]:g}, brightness ±{d.brightness:g}, "
            f"saturation {d.saturation[0]:g}–{d.saturation[1]:g}, {flips}")


def set_strengths(distortions):
    st.session_state.update(aug_hue=distortions.hue, aug_contrast=distortions.contrast,
                            aug_brightness=distortions.brightness, aug_saturation=distortions.saturation,
                            aug_flip=distortions.flip)


def pick_random(labels):
    rng = np.random.default_rng()
    label = int(rng.choice(np.unique(labels)))
    st.session_state["aug_class"] = label
    st.session_state["aug_index"] = int(rng.integers(np.count_nonzero(labels == label)))


def reroll():
    st.session_state["aug_seed"] = st.session_state.get("aug_seed", 0) + 1


def reset_strengths():
    set_strengths(NOTEBOOK)


def image_controls(dataset):
    """-> (training-set index, class) of the chosen image."""
    labels = dataset.train_labels
    left, middle, right, far = st.columns([3, 3, 2, 2], vertical_alignment="bottom")
    label = left.selectbox("Class", range(len(dataset.class_names)), format_func=dataset.class_names.__getitem__,
                           key="aug_class")
    members = np.flatnonzero(labels == label)  # training-set indices of this class
    if st.session_state.get("aug_index", 0) >= len(members):
        st.session_state["aug_index"] = 0
    nth = middle.number_input(f"Which {dataset.class_names[label]} (0 to {len(members) - 1:,})", 0,
                              max(0, len(members) - 1), key="aug_index")
    right.button("Random image", key="aug_random", on_click=pick_random, args=(labels,), icon=":material/shuffle:")
    far.button("Re-roll", key="aug_reroll", on_click=reroll, icon=":material/casino:",
               help="New random draws of the distortions for the same image.")
    return int(members[nth]), label


def distortion_controls():
    """-> (Distortions, seed) from the sliders and the re-roll button. The sliders start at the strengths the
    latest run trains with (the default preset's before any run), not at the notebook's stronger ones."""
    run, whose = run_distortions()
    if any(key not in st.session_state for key in SLIDERS):  # first visit, or back from another page
        set_strengths(run)
        st.session_state["aug_started_from"] = f"the strengths of {whose}: {describe(run)}"
    with st.sidebar:
        st.subheader("Distortion strengths")
        hue = st.slider("Hue: max shift (fraction of the colour wheel)", 0.0, 0.5, step=0.01, key="aug_hue")
        contrast = st.slider("Contrast: factor range", 0.0, 2.0, step=0.05, key="aug_contrast")
        brightness = st.slider("Brightness: max shift", 0.0, 0.5, step=0.01, key="aug_brightness")
        saturation = st.slider("Saturation: factor range (0 = grey)", 0.0, 3.0, step=0.05, key="aug_saturation")
        flip = st.toggle("Random left-right flip", key="aug_flip")
        distortions = Distortions(flip, hue, tuple(contrast), brightness, tuple(saturation))
        st.button("Back to the run's values", key="aug_run_values", on_click=set_strengths, args=(run,),
                  help=f"The strengths of {whose}: {describe(run)}.")
        st.button("Back to the notebook's values", key="aug_reset", on_click=reset_strengths,
                  help=f"The notebook's, stronger than the presets': {describe(NOTEBOOK)}.")
        now = ("the run's values" if distortions == run else "the notebook's values" if distortions == NOTEBOOK
               else "moved since")
        st.caption(f"The sliders started at {st.session_state['aug_started_from']}. Now: {now}.")
    return distortions, st.session_state.get("aug_seed", 0)


def draw_augmentations(original, distorted, class_name):
    left, right, _ = st.columns([2, 5, 2], gap="large")  # small enough for the whole grid to fit on a laptop screen
    with left:
        st.image(upscale(original, 8), caption=f"Original {class_name} (32x32)", width="stretch")
    with right:
        st.markdown("**Nine random distortions (24x24 crops), as a training batch would see it**")
        image_grid(list(distorted), columns=3, factor=8)


navigation.page_header(
    "Augmentation",
    "Training never shows the network the same picture twice: every image is randomly cropped to "
    "24x24, maybe flipped, and its colours shaken. The network must learn what a *cat* is, not "
    "memorise pixels. Move the sliders (the sidebar) to see each distortion; these are the very "
    "functions training uses, and the sliders start at the strengths your latest run trains with.")
dataset = loaders.require_dataset()
index, label = image_controls(dataset)
distortions, seed = distortion_controls()
from cifar_core import augment  # noqa: E402  (TensorFlow: imported only once there is data)

distorted = augment.preview(dataset.train_images[index], count=9, seed=seed, distortions=distortions)
draw_augmentations(dataset.train_images[index], distorted, dataset.class_names[label])
