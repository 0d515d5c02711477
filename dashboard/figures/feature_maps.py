"""What the network makes of one image (a cifar_core.insights.feature_maps.NetworkView): the image, its
class probabilities, every conv layer's maps, and why it answered so (cifar_core.insights.explanations)."""
import numpy as np
import streamlit as st

from cifar_core.architecture import CONV_LAYERS
from cifar_core.insights import explanations  # no TensorFlow until an explanation is computed
from dashboard.figures.explanations import CROP_NOTE, LABELS, explanation_html, how_to_read
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


def draw_network_view(view, class_names, true_class=None, key="view", inference=None):
    """The image (raw and smoothed), its probabilities, one grid of maps per conv layer, then, given the
    InferenceModel that made the view, "Why this answer?"."""
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
    if inference is not None:
        draw_explanation(view, class_names, true_class, key, inference)


def draw_explanation(view, class_names, true_class, key, inference):
    """"Why this answer?": one explanation method and one class (the network's answer unless the learner picks
    another); only the chosen map is computed (Grad-CAM, the default, takes ~20 ms)."""
    st.markdown("**Why this answer?** Four ways of asking which parts of the image the network's score for a "
                "class comes from (its score before the softmax, which does not saturate).")
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    method = left.segmented_control("Explain with", explanations.METHODS, default="gradcam",
                                    format_func=LABELS.get, key=f"{key}_explain")
    answer = class_names[view.predicted]
    choice = right.selectbox("For the class", ["answer", *range(len(class_names))], key=f"{key}_explain_class",
                             format_func=lambda c: f"its answer ({answer})" if c == "answer"
                             else class_names[c] + (" (true)" if c == true_class else ""))
    if method is None:
        st.caption("Choose a method above to see its map.")
        return
    class_index = view.predicted if choice == "answer" else choice
    explanation = explanations.explain(inference, view.image, method, class_index)
    st.html(explanation_html(explanation, view.image, class_names[class_index]))
    st.markdown(how_to_read(explanation, class_names[class_index]))
    st.caption(CROP_NOTE)
