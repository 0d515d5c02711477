"""Look inside one image: what each layer of a checkpoint's network computes for it, its answer, and why.

The same view wherever a learner picks an image (Feature maps, a Confusion matrix cell, Mistakes ...):
`look_inside(checkpoint, image, class_names, true_class, key)` loads the checkpoint's network (cached),
computes the maps (cifar_core.insights.feature_maps) and the chosen explanation
(cifar_core.insights.explanations), and draws them with dashboard/figures/.
"""
import streamlit as st

from cifar_core.architecture import CONV_LAYERS
from cifar_core.insights import explanations, feature_maps  # no TensorFlow until a network runs
from dashboard.figures.explanations import CROP_NOTE, LABELS, explanation_html, how_to_read
from dashboard.figures.feature_maps import feature_map_figure, verdict
from dashboard.figures.images import pixels_html
from dashboard.figures.probabilities import probability_figure
from dashboard.ui import loaders


def look_inside(checkpoint, image, class_names, true_class=None, key="view"):
    """The whole view of one (32, 32, 3) uint8 image through `checkpoint`'s network; true_class None for a photo."""
    with st.spinner("Loading the trained network…"):
        inference = loaders.inference_model(checkpoint)
    view = feature_maps.network_view(inference, image)
    draw_network_view(view, class_names, true_class, key, inference)


def draw_network_view(view, class_names, true_class, key, inference):
    """The image (raw and smoothed), its probabilities, one grid of maps per conv layer, then "Why this answer?"
    from the InferenceModel that made the view."""
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
