"""Filters: the 5x5 weights each convolution has learned; conv1's as colour patches or one input channel at a
time, conv2's one input map at a time, with a line on what to notice at the chosen training step."""
import streamlit as st

from cifar_core import architecture
from cifar_core.insights import filter_patterns, filters
from dashboard.figures import filter_patterns as draw
from dashboard.figures.filters import colour_patches_figure, filter_grid_figure
from dashboard.ui import downloads, loaders, navigation, state, timeline

PATCHES, CHANNEL = "patches", "channel"  # conv1's two views
VIEW_LABELS = {PATCHES: "Colour patches", CHANNEL: "One channel at a time"}


def filter_controls():
    """-> (conv layer (architecture.Layer), view (PATCHES or CHANNEL), input channel or None)."""
    layer_column, view_column, channel_column = st.columns([1, 2, 1])
    layers = {layer.name: layer for layer in architecture.CONV_LAYERS}
    name = layer_column.segmented_control(
        "Layer", list(layers), format_func=lambda n: layers[n].label,
        default=architecture.CONV_LAYERS[0].name, required=True, key="filters_layer")
    layer = layers[name]
    view = CHANNEL
    if len(layer.input_channels) == 3:  # conv1 reads the image's colours: they can be drawn as colours
        state.keep_choice("filters_view", PATCHES)  # kept while conv2 (which has no such choice) is shown
        view = view_column.segmented_control(
            "View", list(VIEW_LABELS), format_func=VIEW_LABELS.get, required=True,
            key="filters_view", help="Colour patches: each filter as the small colour picture it looks for. "
                                     "One channel at a time: its red, green or blue weights as numbers.")
    if view == PATCHES:
        return layer, view, None
    channel = channel_column.selectbox(
        "Input channel", range(len(layer.input_channels)), key=f"filters_channel_{layer.label}",
        format_func=layer.input_channels.__getitem__,
        help=f"{layer.label} looks at {layer.reads}: each filter has one 5x5 slice per input channel.")
    return layer, view, channel


def what_to_notice(structure, checkpoint, layer):
    """One line from the filters' measured smoothness (and the step): noise, first structure, edges/blobs."""
    smooth = f"smoothness {structure.mean_smoothness:.2f}: 0 for random weights, near 1 when neighbours agree"
    scores = (f"the network already gets {checkpoint.test_accuracy:.0%} of the test images right"
              if checkpoint.test_accuracy is not None else "the network is learning")
    if checkpoint.step == 0:
        return ("**What to notice:** random noise: nothing learned yet. This is the untrained network; "
                "drag the timeline to a later step and watch the noise turn into patterns.")
    if structure.stage == "noise":
        return (f"**What to notice:** the filters still look like random noise ({smooth}), yet {scores}: "
                "every weight has moved a little, not enough to show a pattern yet.")
    if structure.stage == "emerging":
        return (f"**What to notice:** the first structure: neighbouring weights start to agree ({smooth}), "
                "so soft blobs and stripes show through the noise. Longer training sharpens them.")
    if layer.name != "layer_conv1":
        return (f"**What to notice:** smooth patterns: each filter weighs neighbouring places of a conv1 map "
                f"alike ({smooth}); conv2 combines conv1's edges and colours into larger shapes.")
    return ("**What to notice:** smooth edges and colour blobs: light/dark stripes at several angles "
            f"(edge detectors) and {structure.colourful_filters} filters that are a patch of one colour "
            f"against another ({smooth}).")


def draw_patches(patches, structure):
    grid, stats = st.columns([4, 1])
    with grid:
        st.caption("Each square is one of conv1's 64 filters, 5x5 pixels, drawn as the colour picture it "
                   "responds to most. Grey is a weight of zero. A red patch responds to red in the image, a "
                   "cyan one to a lack of red; light parts want a bright pattern there, dark parts a dark "
                   "one. One scale for all 64, so a faint patch is a weak filter. Hover for its number.")
        st.plotly_chart(colour_patches_figure(patches), key="filters_patches")
    stats.metric("smoothness", f"{structure.mean_smoothness:.2f}",
                 help="Mean correlation of neighbouring weights within a filter: about 0 for random noise.")
    stats.metric("colour filters", structure.colourful_filters,
                 help="Smooth filters whose three colour channels differ, e.g. green against red.")


def draw_filters(weights, layer, channel_name):
    grid, stats = st.columns([4, 1])
    with grid:
        st.caption(f"All {layer.filters} filters of {layer.label} for input channel {channel_name}, "
                   "8 per row. Red weights add to the filter's response where the input is bright, "
                   "blue weights subtract; white is about zero. Hover for the exact value.")
        st.plotly_chart(filter_grid_figure(weights.weights), key="filters_grid")
    for label in ("min", "max", "mean", "std"):
        stats.metric(label, f"{getattr(weights, label):.4f}")


def ready_or_wait(function, *args):
    """function(*args) (a `*_in_background` call) or, while it computes, None and a line that polls every
    second and redraws the page once the result is there."""
    result = function(*args)
    if result is None:
        st.fragment(_wait, run_every=1)(function, *args)
    return result


def _wait(function, *args):
    if function(*args) is not None:
        st.rerun()
    st.caption("Computing… (in the background: the rest of the page works meanwhile)")


def draw_top_patches(top, class_names):
    """The patches in rows of 3, each with a button that opens its image on the Feature maps page."""
    for start in range(0, len(top.indices), 3):
        for cell, number in zip(st.columns(3), range(start, min(start + 3, len(top.indices)))):
            index = int(top.indices[number])
            cell.html(draw.patch_html(top, number, class_names))
            if cell.button("Open image", key=f"filters_open_{index}", width="stretch",
                           help=f"Test image {index} on the Feature maps page: what every layer sees in it."):
                st.session_state["fm_source"], st.session_state["fm_index"] = "Test image number", index
                navigation.switch_to(navigation.FEATURE_MAPS)


def what_one_filter_looks_for(checkpoint, layer):
    st.subheader("What does one filter look for?")
    if st.session_state.get(timeline.PLAYING):  # a pass over 2,000 images per snapshot would slow Play down
        st.caption("Shown when Play stops (or pause it): the patches are searched for at one step at a time.")
        return
    state.keep_choice("filters_pick", 0)  # kept for the way back from Feature maps
    pick = st.number_input(f"Filter number (0 to {layer.filters - 1})", 0, layer.filters - 1,
                           key="filters_pick", help="One of this layer's filters, numbered as above.")
    dataset, inference = loaders.require_dataset(), loaders.inference_model(checkpoint)
    patches, optimised = st.columns([3, 1])
    with patches:
        side = filter_patterns.RECEPTIVE_FIELDS[layer.name][0]
        st.caption(f"Of the first {filter_patterns.SUBSET:,} test images, the 9 that excite filter {pick} "
                   f"most, each cut to the {side}x{side} pixels it sees where it responds most.")
        top = ready_or_wait(filter_patterns.top_patches_in_background, inference, dataset.test_images,
                            layer.name, pick, dataset.test_labels, 0.0)  # never waited for: the filters above
                                                                         # are drawn at once as the step moves
        if top is not None:
            st.markdown(draw.tally_sentence(top, dataset.class_names))
            draw_top_patches(top, dataset.class_names)
    with optimised:
        image = ready_or_wait(filter_patterns.activation_maximisation_in_background, inference, layer.name,
                              pick)
        if image is not None:
            st.html(draw.optimised_html(image))
        st.caption(draw.how_to_read_optimised(checkpoint.step))


navigation.page_header(
    "Filters",
    "Each convolution slides 64 small 5x5 filters over its input. Training shapes them into "
    "detectors of edges, colours and blobs: drag the timeline from step 0 (the untrained network) to the "
    "end, or press Play, to see random noise turn into structure.")
checkpoint = timeline.require_point("filters")
layer, view, channel = filter_controls()
model = loaders.inference_model(checkpoint).model
structure = filters.layer_structure(model, layer.name)
st.markdown(what_to_notice(structure, checkpoint, layer))
if view == PATCHES:
    draw_patches(filters.layer_colour_patches(model, layer.name), structure)
else:
    draw_filters(filters.filter_weights(model, layer.name, channel), layer, layer.input_channels[channel])
what_one_filter_looks_for(checkpoint, layer)
st.caption(downloads.CHARTS_AS_PICTURES)
