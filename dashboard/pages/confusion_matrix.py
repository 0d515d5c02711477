"""Confusion matrix: which classes the network mixes up; click a cell to see those very images."""
import streamlit as st

from cifar_core.insights import confusion, feature_maps
from dashboard.figures.confusion import confusion_figure, per_class_figure
from dashboard.figures.feature_maps import draw_network_view
from dashboard.figures.images import pixels_html
from dashboard.ui import loaders, navigation
from dashboard.ui.words import describe_cell, describe_empty_cell

GALLERY_SIZE = 24  # images shown per cell, most confident first
PER_ROW = 8


def set_cell(cell):
    """Choose a cell (true class, predicted class) or None; the keyboard selectboxes follow."""
    st.session_state["cm_cell"] = cell
    st.session_state["cm_true"], st.session_state["cm_pred"] = cell if cell else (None, None)
    st.session_state.pop("cm_chosen", None)


def apply_click():
    """A new click on the chart chooses its cell. No points means no new click: the chart forgets its
    selection whenever the figure changes (a toggle, the highlight), so that must not clear the cell."""
    event = st.session_state.get("cm_chart")
    points = event["selection"]["points"] if event else []
    click = tuple(int(v) for v in points[0]["customdata"][:2]) if points else None
    if click != st.session_state.get("cm_last_click"):
        st.session_state["cm_last_click"] = click
        if click is not None:
            set_cell(click)


def choose(index):
    st.session_state["cm_chosen"] = index


def cell_from_selectboxes():
    true, pred = st.session_state.get("cm_true"), st.session_state.get("cm_pred")
    st.session_state["cm_cell"] = (true, pred) if true is not None and pred is not None else None
    st.session_state.pop("cm_chosen", None)


def matrix_controls(names):
    """-> (normalise rows, hide diagonal); draws the keyboard route to a cell too."""
    a, b, c, d = st.columns(4, vertical_alignment="bottom")
    normalise = a.toggle("Normalise rows", key="cm_normalise", help="Each row shows fractions of its true class.")
    hide = b.toggle("Hide the diagonal", key="cm_hide_diagonal", help="Colour only the mistakes.")
    if st.session_state.get("cm_cell") is not None:  # the selectboxes show the chosen cell
        st.session_state["cm_true"], st.session_state["cm_pred"] = st.session_state["cm_cell"]
    for column, label, key in ((c, "True class", "cm_true"), (d, "Predicted class", "cm_pred")):
        column.selectbox(label, range(len(names)), index=None, format_func=names.__getitem__, key=key,
                         placeholder="click a cell, or choose", on_change=cell_from_selectboxes)
    return normalise, hide


def draw_gallery(dataset, probabilities, cell, checkpoint, result):
    true, pred = cell
    names = dataset.class_names
    indices = confusion.cell_indices(dataset.test_labels, probabilities, true, pred)
    if len(indices) == 0:
        st.info(describe_empty_cell(int(result.matrix[true].sum()), names[true], names[pred]))
        return
    shown = indices[:GALLERY_SIZE]
    st.markdown(describe_cell(len(indices), len(shown), names[true], names[pred]))
    for start in range(0, len(shown), PER_ROW):
        for column, index in zip(st.columns(PER_ROW), shown[start:start + PER_ROW]):
            column.html(pixels_html(dataset.test_images[index], f"{probabilities[index, pred]:.0%} · #{index}"))
            column.button("Look inside", key=f"cm_pick_{index}", width="stretch", on_click=choose, args=(int(index),),
                          type="primary" if index == st.session_state.get("cm_chosen") else "secondary")
    chosen = st.session_state.get("cm_chosen")
    if chosen in shown:
        st.subheader(f"Inside test image {chosen}")
        with st.spinner("Loading the trained network…"):
            inference = loaders.inference_model(checkpoint)  # only now: the matrix itself needs no TensorFlow
        view = feature_maps.network_view(inference, dataset.test_images[chosen])
        draw_network_view(view, names, true, key="cm_view")


@st.fragment
def matrix_and_gallery(dataset, probabilities, result, checkpoint):
    """Chart, keyboard route and gallery rerun together on a click, without the rest of the page."""
    names = dataset.class_names
    apply_click()
    normalise, hide = matrix_controls(names)
    cell = st.session_state.get("cm_cell")
    st.plotly_chart(confusion_figure(result, names, normalise, hide, cell), on_select="rerun",
                    selection_mode="points", key="cm_chart")
    if cell is None:
        st.caption("Click a cell (or choose its two classes above) to see its test images.")
    else:
        draw_gallery(dataset, probabilities, cell, checkpoint, result)


def draw_accuracy(result, names, count):
    left, right = st.columns([1, 3])
    left.metric("Test accuracy", f"{result.accuracy:.1%}", help=f"Over all {count:,} test images.")
    left.caption("Guessing at random would score 10%.")
    right.plotly_chart(per_class_figure(result.per_class_accuracy, names), key="cm_per_class")


navigation.page_header(
    "Confusion matrix",
    "Each row is a true class, each column what the network answered: the diagonal is right, "
    "everything else is a mistake. **Click any cell** to see those test images, then look inside "
    "one to see why the network got it wrong.")
dataset = loaders.require_dataset()
checkpoint = loaders.require_checkpoint("cm_checkpoint")
probabilities = loaders.test_probabilities(checkpoint, dataset)  # (N, 10); a damaged checkpoint stops the page
result = confusion.confusion_matrix(dataset.test_labels, probabilities.argmax(axis=1))
summary = st.container()  # above the matrix on the page, but sent after it: the browser draws the matrix first
matrix_and_gallery(dataset, probabilities, result, checkpoint)
with summary:
    draw_accuracy(result, dataset.class_names, len(dataset.test_labels))
