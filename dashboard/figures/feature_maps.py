"""What the network makes of one image (a cifar_core.insights.feature_maps.NetworkView): the image, its
class probabilities, and every conv layer's maps."""
import numpy as np
import streamlit as st

from cifar_core.architecture import CONV_LAYERS
from dashboard.figures.images import pixels_html, tiled_heatmap
from dashboard.figures.probabilities import probability_figure
from dashboard.ui.words import article


def feature_map_figure(maps, height=440):
    """(H, W, 64) ReLU outputs -> 8x8 grid of greyscale maps on one shared scale (bright = strong response).

    The scale tops out at the 99.5th percentile: a few very strong pixels would otherwise leave every map dark."""
    maps = np.transpose(maps, (2, 0, 1))  # (64, H, W)
    return tiled_heatmap(maps, "gray", 0.0, float(np.percentile(maps, 99.5)) or 1.0, "map", height=height)


def verdict(view, class_names, true_class=None):
    """'The network says **cat** (71%) — right.' (or '; it is an **airplane**.', or '.' without a true class)."""
    text = f"The network says **{class_names[view.predicted]}** ({view.probabilities[view.predicted]:.0%})"
    if true_class is None:
        return text + "."
    if view.predicted == true_class:
        return text + " — right."
    name = class_names[true_class]
    return text + f"; it is {article(name)} **{name}**."


def draw_network_view(view, class_names, true_class=None, key="view"):
    """The image (raw and smoothed), its probabilities, then one grid of maps per conv layer."""
    left, right = st.columns([1, 2])
    with left:
        raw, smooth = st.columns(2)
        raw.html(pixels_html(view.image, "raw pixels (32x32)"))
        smooth.html(pixels_html(view.image, "smoothed", smooth=True))
        st.markdown(verdict(view, class_names, true_class))
    with right:
        st.plotly_chart(probability_figure(view.probabilities, class_names, true_class), key=f"{key}_probs")
    for column, layer in zip(st.columns(len(CONV_LAYERS)), CONV_LAYERS):
        h, w, n = layer.output_shape
        with column:
            st.markdown(f"**{layer.label}**: {n:,} maps of {h}x{w}, after ReLU (one per filter, computed from "
                        f"{layer.reads})")
            st.plotly_chart(feature_map_figure(view.maps[layer.name]), key=f"{key}_{layer.label}")
