"""Filters: the 5x5 weights each convolution has learned, one input channel at a time."""
import streamlit as st

from cifar_core import architecture
from cifar_core.insights import filters
from dashboard.figures.filters import filter_grid_figure
from dashboard.ui import loaders, navigation


def filter_controls():
    """-> (conv layer (architecture.Layer), input channel, its name)."""
    left, right = st.columns(2)
    layers = {layer.name: layer for layer in architecture.CONV_LAYERS}
    name = left.segmented_control("Layer", list(layers), format_func=lambda n: layers[n].label,
                                  default=architecture.CONV_LAYERS[0].name, required=True, key="filters_layer")
    layer = layers[name]
    channel = right.selectbox("Input channel", range(len(layer.input_channels)), key=f"filters_channel_{layer.label}",
                              format_func=layer.input_channels.__getitem__,
                              help=f"{layer.label} looks at {layer.reads}: each filter has one 5x5 slice per "
                                   "input channel.")
    return layer, channel, layer.input_channels[channel]


def draw_filters(weights, layer, channel_name):
    grid, stats = st.columns([4, 1])
    with grid:
        st.caption(f"All {layer.filters} filters of {layer.label} for input channel {channel_name}, "
                   "8 per row. Red weights add to the filter's response where the input is bright, "
                   "blue weights subtract; white is about zero. Hover for the exact value.")
        st.plotly_chart(filter_grid_figure(weights.weights), key="filters_grid")
    for label, value in (("min", weights.min), ("max", weights.max), ("mean", weights.mean), ("std", weights.std)):
        stats.metric(label, f"{value:.4f}")


navigation.page_header(
    "Filters",
    "Each convolution slides 64 small 5x5 filters over its input. Training shapes them into "
    "detectors of edges, colours and blobs: compare an early checkpoint with a late one to see "
    "random noise turn into structure.")
checkpoint = loaders.require_checkpoint("filters_checkpoint")
layer, channel, channel_name = filter_controls()
weights = filters.filter_weights(loaders.inference_model(checkpoint).model, layer.name, channel)
draw_filters(weights, layer, channel_name)
