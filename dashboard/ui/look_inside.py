"""Look inside one image: what each layer of a checkpoint's network computes for it, its answer, and why.

The same view wherever a learner picks an image (Feature maps, a Confusion matrix cell, Mistakes ...):
`look_inside(checkpoint, image, class_names, true_class, key)` loads the checkpoint's network (cached),
computes the maps (cifar_core.insights.feature_maps) and the chosen explanation
(cifar_core.insights.explanations), and draws them with dashboard/figures/.
Under a gallery, `heading=...` with `scroll=True` (on the run after a "Look inside" click) brings the view into
sight: the gallery above it is taller than a projector's screen.
"""
import json

import streamlit as st

from cifar_core.architecture import CONV_LAYERS
from cifar_core.insights import explanations, feature_maps  # no TensorFlow until a network runs
from cifar_core import foreground
from dashboard.figures.explanations import CROP_NOTE, LABELS, explanation_html, how_to_read
from dashboard.figures.feature_maps import feature_map_figure, verdict
from dashboard.figures.images import pixels_html
from dashboard.figures.probabilities import NONE_OF_THESE, probability_figure
from dashboard.ui import loaders

NONE_RIGHT = ("You say this is none of the ten classes, so none of its ten answers can be right: it had to "
              "pick one. All bars are grey; the tallest is only the class this photo looks most like to it.")
# Scrolls the main page to the heading with this id, below Streamlit's fixed top bar. The view below the heading
# arrives over a few seconds, and until it has, the page is too short to bring the heading to the top: so it
# tries again every 200 ms, until the heading has stayed there for a second (or 15 s have passed), and gives up
# at once when the learner scrolls, clicks or types.
# st.html runs the script again whenever its text changes: a click counter in it makes each click one scroll.
SCROLL_SCRIPT = """<script>/* click {count} */ (() => {{
  const until = Date.now() + 15000, events = ["wheel", "touchmove", "keydown", "pointerdown"];
  let stopped = false, settled = 0;
  const stop = () => {{ stopped = true; events.forEach(e => removeEventListener(e, stop, true)); }};
  events.forEach(e => addEventListener(e, stop, {{capture: true, passive: true}}));
  const go = () => {{
    const heading = document.getElementById({anchor});
    if (stopped) return;
    if (heading) {{
      heading.style.scrollMarginTop = "4.5rem";
      const margin = parseFloat(getComputedStyle(heading).scrollMarginTop);
      const there = Math.abs(heading.getBoundingClientRect().top - margin) <= 4;
      settled = there ? settled + 1 : 0;
      if (!there) heading.scrollIntoView({{block: "start", behavior: "smooth"}});
    }}
    if (settled < 5 && Date.now() < until) setTimeout(go, 200); else stop();
  }};
  go();
}})();</script>"""


def look_inside(checkpoint, image, class_names, true_class=None, key="view", true_tag="true", heading=None,
                scroll=False):
    """The whole view of one (32, 32, 3) uint8 image through `checkpoint`'s network. true_class: the class the
    image is, None when not known (a photo), or NONE_OF_THESE (a photo of something else); true_tag: how the
    bars name it ("true", or "you say" when the learner said it). heading: a subheader above the view;
    scroll=True brings it into sight (pass True once per new choice, from the click's callback)."""
    if heading is not None:
        anchor = f"{key}-look-inside"
        st.subheader(heading, anchor=anchor)
        if scroll:
            bring_into_view(anchor, key)
    with foreground.drawing():  # also when a fragment redraws it (the Map's dots): training waits meanwhile
        with st.spinner("Loading the trained network…"):
            inference = loaders.inference_model(checkpoint)
        view = feature_maps.network_view(inference, image)
        draw_network_view(view, class_names, true_class, key, inference, true_tag)


def bring_into_view(anchor, key):
    """Scroll the page to the element with id `anchor` (an st.subheader's anchor), smoothly, once."""
    count = st.session_state.get(f"{key}_scrolls", 0) + 1
    st.session_state[f"{key}_scrolls"] = count
    st.html(SCROLL_SCRIPT.format(count=count, anchor=json.dumps(anchor)), unsafe_allow_javascript=True)


def draw_network_view(view, class_names, true_class, key, inference, true_tag="true"):
    """The image (raw and smoothed), its probabilities, one grid of maps per conv layer, then "Why this answer?"
    from the InferenceModel that made the view."""
    none_right = true_class == NONE_OF_THESE
    known = None if none_right else true_class  # a class index or None
    left, right = st.columns([1, 2])
    with left:
        raw, smooth = st.columns(2)
        raw.html(pixels_html(view.image, "raw pixels (32x32)"))
        smooth.html(pixels_html(view.image, "smoothed", smooth=True))
        st.markdown(verdict(view, class_names, known))
        if none_right:
            st.markdown(NONE_RIGHT)
    with right:
        st.plotly_chart(probability_figure(view.probabilities, class_names, true_class, true_tag),
                        key=f"{key}_probs")
    for column, layer in zip(st.columns(len(CONV_LAYERS)), CONV_LAYERS):
        h, w, n = layer.output_shape
        with column:
            st.markdown(f"**{layer.label}**: {n:,} maps of {h}x{w}, after ReLU (one per filter, computed from "
                        f"{layer.reads})")
            st.plotly_chart(feature_map_figure(view.maps[layer.name]), key=f"{key}_{layer.label}")
    draw_explanation(view, class_names, known, key, inference, true_tag)


def draw_explanation(view, class_names, true_class, key, inference, true_tag="true"):
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
                             else class_names[c] + (f" ({true_tag})" if c == true_class else ""))
    if method is None:
        st.caption("Choose a method above to see its map.")
        return
    class_index = view.predicted if choice == "answer" else choice
    explanation = explanations.explain(inference, view.image, method, class_index)
    st.html(explanation_html(explanation, view.image, class_names[class_index]))
    st.markdown(how_to_read(explanation, class_names[class_index]))
    st.caption(CROP_NOTE)
