"""Filters: the 5x5 weights each convolution has learned, one input channel at a time."""
import streamlit as st

import common
import drawing

CHANNEL_NAMES = {"layer_conv1": ("R (red)", "G (green)", "B (blue)")}  # conv1 reads the image's colours


def filter_controls():
    """-> (layer name, input channel, its name)."""
    left, right = st.columns(2)
    layer = left.segmented_control("Layer", list(drawing.LAYER_LABELS), format_func=drawing.LAYER_LABELS.get,
                                   default="layer_conv1", required=True, key="filters_layer")
    if layer == "layer_conv1":
        name = CHANNEL_NAMES[layer].__getitem__
        channel = right.selectbox("Input channel", range(3), format_func=name, key="filters_channel_conv1",
                                  help="conv1 looks at the image: each filter has one 5x5 slice per colour.")
    else:
        name = "conv1 map {}".format
        channel = right.selectbox("Input channel", range(64), format_func=name, key="filters_channel_conv2",
                                  help="conv2 looks at conv1's 64 maps: each filter has one 5x5 slice per map.")
    return layer, channel, name(channel)


def draw_filters(weights, layer, channel_name):
    grid, stats = st.columns([4, 1])
    with grid:
        st.caption(f"All 64 filters of {drawing.LAYER_LABELS[layer]} for input channel {channel_name}, "
                   "8 per row. Red weights add to the filter's response where the input is bright, "
                   "blue weights subtract; white is about zero. Hover for the exact value.")
        st.plotly_chart(drawing.filter_grid_figure(weights.weights), key="filters_grid")
    for label, value in (("min", weights.min), ("max", weights.max), ("mean", weights.mean), ("std", weights.std)):
        stats.metric(label, f"{value:.4f}")


common.page_header(
    "Filters",
    "Each convolution slides 64 small 5x5 filters over its input. Training shapes them into "
    "detectors of edges, colours and blobs: compare an early checkpoint with a late one to see "
    "random noise turn into structure.")
info = common.require_checkpoint("filters_checkpoint")
layer, channel, channel_name = filter_controls()
from cifar_core import analysis  # noqa: E402  (TensorFlow: imported only once there is a checkpoint)

weights = analysis.filter_weights(common.inference_model(info).model, layer, channel)
draw_filters(weights, layer, channel_name)
