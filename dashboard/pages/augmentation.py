"""Augmentation: what the training distortions do to one image."""
import numpy as np
import streamlit as st

from cifar_core.config import Distortions
from dashboard.figures.images import image_grid, upscale
from dashboard.ui import loaders, navigation

NOTEBOOK = Distortions()  # the notebook's distortion strengths: the sliders' defaults


def pick_random(labels):
    rng = np.random.default_rng()
    label = int(rng.choice(np.unique(labels)))
    st.session_state["aug_class"] = label
    st.session_state["aug_index"] = int(rng.integers(np.count_nonzero(labels == label)))


def reroll():
    st.session_state["aug_seed"] = st.session_state.get("aug_seed", 0) + 1


def reset_strengths():
    st.session_state.update(aug_hue=NOTEBOOK.hue, aug_contrast=NOTEBOOK.contrast, aug_brightness=NOTEBOOK.brightness,
                            aug_saturation=NOTEBOOK.saturation, aug_flip=NOTEBOOK.flip)


def image_controls(dataset):
    """-> (training-set index, class) of the chosen image."""
    labels = dataset.train_labels
    left, middle, right, far = st.columns([3, 3, 2, 2], vertical_alignment="bottom")
    label = left.selectbox("Class", range(len(dataset.class_names)), format_func=dataset.class_names.__getitem__,
                           key="aug_class")
    members = np.flatnonzero(labels == label)  # training-set indices of this class
    if st.session_state.get("aug_index", 0) >= len(members):
        st.session_state["aug_index"] = 0
    nth = middle.number_input(f"Image number within {dataset.class_names[label]}", 0, max(0, len(members) - 1),
                              key="aug_index")
    right.button("Random image", key="aug_random", on_click=pick_random, args=(labels,), icon=":material/shuffle:")
    far.button("Re-roll", key="aug_reroll", on_click=reroll, icon=":material/casino:",
               help="New random draws of the distortions for the same image.")
    return int(members[nth]), label


def distortion_controls():
    """-> (Distortions, seed) from the sliders and the re-roll button."""
    with st.sidebar:
        st.subheader("Distortion strengths")
        hue = st.slider("Hue: max shift (fraction of the colour wheel)", 0.0, 0.5, NOTEBOOK.hue, 0.01, key="aug_hue")
        contrast = st.slider("Contrast: factor range", 0.0, 2.0, NOTEBOOK.contrast, 0.05, key="aug_contrast")
        brightness = st.slider("Brightness: max shift", 0.0, 0.5, NOTEBOOK.brightness, 0.01, key="aug_brightness")
        saturation = st.slider("Saturation: factor range (0 = grey)", 0.0, 3.0, NOTEBOOK.saturation, 0.05,
                               key="aug_saturation")
        flip = st.toggle("Random left-right flip", NOTEBOOK.flip, key="aug_flip")
        st.button("Back to the notebook's values", key="aug_reset", on_click=reset_strengths)
    return Distortions(flip, hue, tuple(contrast), brightness, tuple(saturation)), st.session_state.get("aug_seed", 0)


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
    "functions training uses.")
dataset = loaders.require_dataset()
index, label = image_controls(dataset)
distortions, seed = distortion_controls()
from cifar_core import augment  # noqa: E402  (TensorFlow: imported only once there is data)

distorted = augment.preview(dataset.train_images[index], count=9, seed=seed, distortions=distortions)
draw_augmentations(dataset.train_images[index], distorted, dataset.class_names[label])
