"""Dataset: browse CIFAR-10's images with their true classes, raw or smoothed."""
import math

import numpy as np
import streamlit as st
from PIL import Image

from dashboard.ui import loaders, navigation, state
from dashboard.ui.words import plural

PER_PAGE = 48  # images per page: 6 rows of 8 on a laptop screen
SIZE = 96      # pixels on screen for a 32x32 image (3x)


def _first_page():
    state.set_choice("dataset_page", 1)


def _turn(by):
    state.set_choice("dataset_page", st.session_state.dataset_page + by)


def browse_controls(class_names):
    """-> (split 'train' | 'test', class name or 'all classes', smooth)"""
    for key, default in (("dataset_split", "train"), ("dataset_class", "all classes"), ("dataset_smooth", False)):
        state.keep_choice(key, default)
    left, middle, right = st.columns([1, 2, 1], vertical_alignment="bottom")
    split = left.radio("Images", ["train", "test"], key="dataset_split", horizontal=True, on_change=_first_page,
                       format_func=lambda s: {"train": "training set", "test": "test set"}[s])
    name = middle.selectbox("Class", ["all classes", *class_names], key="dataset_class", on_change=_first_page)
    smooth = right.toggle("Smooth", key="dataset_smooth",
                          help="Off: the real pixels, each drawn as a 3×3 block. On: blurred between pixels "
                               "(bilinear), as the notebook's plots look.")
    return split, name, smooth


def page_controls(count):
    """Previous / page number / next; -> the 1-based page number, kept within the pages there are."""
    pages = max(1, math.ceil(count / PER_PAGE))
    state.keep_choice("dataset_page", 1)
    state.set_choice("dataset_page", min(max(int(st.session_state.dataset_page), 1), pages))
    page = st.session_state.dataset_page
    back, number, forward, _ = st.columns([1, 2, 1, 4], vertical_alignment="bottom")
    back.button("◀ Previous", key="dataset_previous", on_click=_turn, args=(-1,), disabled=page <= 1)
    number.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key="dataset_page")
    forward.button("Next ▶", key="dataset_next", on_click=_turn, args=(1,), disabled=page >= pages)
    return st.session_state.dataset_page


def select(dataset, split, name):
    """-> (images (N, 32, 32, 3) uint8, labels (N,), indices of the chosen class into them)"""
    images, labels = ((dataset.train_images, dataset.train_labels) if split == "train"
                      else (dataset.test_images, dataset.test_labels))
    if name == "all classes":
        return images, labels, np.arange(len(labels))
    return images, labels, np.flatnonzero(labels == dataset.class_names.index(name))


def draw_grid(images, labels, indices, class_names, smooth):
    resample = Image.Resampling.BILINEAR if smooth else Image.Resampling.NEAREST
    pictures = [Image.fromarray(images[i]).resize((SIZE, SIZE), resample) for i in indices]
    # PNG: JPEG (Streamlit's choice for photos) would blur the raw pixel blocks
    st.image(pictures, caption=[class_names[labels[i]] for i in indices], width=SIZE, output_format="PNG")


navigation.page_header(
    "Dataset",
    "CIFAR-10: 60,000 colour photos of 32×32 pixels in 10 classes, 50,000 to train on and 10,000 to test with. "
    "That is tiny: each real pixel is drawn here as a 3×3 block (switch **Smooth** on for the notebook's blurred "
    "look). Could you tell a cat from a dog at this size?")
dataset = loaders.require_dataset()
split, name, smooth = browse_controls(dataset.class_names)
images, labels, indices = select(dataset, split, name)
page = page_controls(len(indices))
shown = indices[(page - 1) * PER_PAGE: page * PER_PAGE]
what = name if name == "all classes" else plural(name)
st.caption(f"Images {(page - 1) * PER_PAGE + 1:,}–{(page - 1) * PER_PAGE + len(shown):,} of {len(indices):,} "
           f"({what}, {'training' if split == 'train' else 'test'} set); each caption is the true class.")
draw_grid(images, labels, shown, dataset.class_names, smooth)
