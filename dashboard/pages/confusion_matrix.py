"""Confusion matrix: which classes the network mixes up; click a cell to see those very images. With "Compare
with another step" on, the matrix shows how each cell changed since another step of the run."""
from functools import partial
from types import SimpleNamespace

import streamlit as st

from cifar_core import snapshots, tables
from cifar_core.insights import confusion, label_issues
from dashboard.figures import confusion as figures
from dashboard.figures.mistakes import badged_html, label_badges
from dashboard.ui import downloads, loaders, navigation, timeline
from dashboard.ui.look_inside import look_inside
from dashboard.ui.page_fragment import page_fragment
from dashboard.ui.words import count_of, describe_cell, describe_empty_cell, describe_point, plural, with_article

GALLERY_SIZE = 24  # images shown per page of a cell (and in its "left this cell" rows)
PER_ROW = 8
SORTS = ("most sure first", "least sure first")  # by the probability the network gave its answer


def set_cell(cell):
    """Choose a cell (true class, predicted class) or None; the keyboard selectboxes follow."""
    st.session_state["cm_cell"] = cell
    st.session_state["cm_true"], st.session_state["cm_pred"] = cell if cell else (None, None)
    st.session_state.pop("cm_chosen", None)
    st.session_state["cm_page_wanted"] = 1


def apply_click(chart):
    """A new click on the chart chooses its cell. No points means no new click: the chart forgets its selection
    whenever the figure changes (a toggle, the highlight, the step), so that must not clear the cell."""
    event = st.session_state.get(chart)
    points = event["selection"]["points"] if event else []
    click = tuple(int(v) for v in points[0]["customdata"][:2]) if points else None
    if click != st.session_state.get("cm_last_click"):
        st.session_state["cm_last_click"] = click
        if click is not None:
            set_cell(click)


def choose(index):
    st.session_state["cm_chosen"] = index
    st.session_state["cm_scroll"] = True  # the next run brings the look-inside view into sight, once


def cell_from_selectboxes():
    true, pred = st.session_state.get("cm_true"), st.session_state.get("cm_pred")
    st.session_state["cm_cell"] = (true, pred) if true is not None and pred is not None else None
    st.session_state.pop("cm_chosen", None)
    st.session_state["cm_page_wanted"] = 1


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


def compare_controls(dataset, predicted):
    """The toggle and the other step -> None (off), or the other step's label, test probabilities and the
    ConfusionChange from it to `predicted`, the chosen step's (N,) answers."""
    several = len(snapshots.timeline(timeline.run_folder())) > 1
    on = st.toggle("Compare with another step", key="cm_compare", disabled=not several,
                   help="Colour each cell by how much it changed since another step of this run." if several
                   else "This run has one snapshot so far: train it further to compare two steps.")
    if not (on and several):
        return None
    other = timeline.other_point("cm_compare_with", "Compare with", 0)
    answers = loaders.test_probabilities(other, dataset)  # (N, 10)
    return SimpleNamespace(label=describe_point(other), probabilities=answers,
                           change=confusion.compare_confusions(dataset.test_labels, answers.argmax(axis=1), predicted))


def draw_tiles(dataset, indices, captions, badges):
    """The images with their captions, a badge where the label is in doubt, and a "Look inside" button each,
    PER_ROW to a row."""
    for start in range(0, len(indices), PER_ROW):
        for column, index, caption in zip(st.columns(PER_ROW), indices[start:start + PER_ROW], captions[start:]):
            column.html(badged_html(dataset.test_images[index], caption, badges.get(int(index))))
            column.button("Look inside", key=f"cm_pick_{index}", width="stretch", on_click=choose, args=(int(index),),
                          type="primary" if index == st.session_state.get("cm_chosen") else "secondary")


# Streamlit forgets a widget's value after a run that does not draw it (an empty cell, a cell of one page, a
# step where the cell is empty): the value wanted is kept beside it, in cm_sort_wanted and cm_page_wanted.
def keep_sort():
    st.session_state["cm_sort_wanted"] = st.session_state["cm_sort"]
    st.session_state["cm_page_wanted"] = 1  # another order starts at its first page


def keep_page():
    st.session_state["cm_page_wanted"] = st.session_state["cm_page"]


def sort_and_page(count):
    """The sort choice and, for more than GALLERY_SIZE images, the page picker -> (least sure first, page >= 1).
    The page wanted is kept while the step changes; a step with fewer pages shows its last."""
    pages = -(-count // GALLERY_SIZE)
    left, middle, right = st.columns([2, 1, 2], vertical_alignment="bottom")
    st.session_state["cm_sort"] = st.session_state.get("cm_sort_wanted", SORTS[0])
    sort = left.radio("Order", SORTS, horizontal=True, key="cm_sort", on_change=keep_sort,
                      disabled=count < 2, help="By the probability the network gave its answer.")
    if pages == 1:
        return sort == SORTS[1], 1
    st.session_state["cm_page"] = min(st.session_state.get("cm_page_wanted", 1), pages)
    page = middle.number_input("Page", 1, pages, key="cm_page", on_change=keep_page)
    first = (page - 1) * GALLERY_SIZE
    right.markdown(f"page {page} of {pages} · images {first + 1:,} to {min(first + GALLERY_SIZE, count):,}")
    return sort == SORTS[1], page


def describe_page(count, page, least_sure, true_name, pred_name):
    """The gallery's sentence: describe_cell's for the first page most sure first, else which images these are:
    '**60 test images** of cats are called **cat** (right); here are numbers 25 to 48, least sure first. ...'."""
    if page == 1 and not least_sure:
        return describe_cell(count, min(count, GALLERY_SIZE), true_name, pred_name)
    verdict = "right" if true_name == pred_name else "wrong"
    what = f"of {with_article(true_name)} is" if count == 1 else f"of {plural(true_name)} are"
    first, last = (page - 1) * GALLERY_SIZE + 1, min(page * GALLERY_SIZE, count)
    which = f"; here are numbers {first:,} to {last:,}, " if count > GALLERY_SIZE else ", " if count > 1 else ""
    order = (SORTS[1] if least_sure else SORTS[0]) if count > 1 else ""
    return (f"**{count_of(count, 'test image')}** {what} called **{pred_name}** ({verdict}){which}{order}. "
            "The caption is the probability it gave its answer.")


def draw_gallery(dataset, probabilities, cell, checkpoint, result, other):
    """The cell's images at the chosen step, a page at a time, most or least sure first; comparing, which are
    new in it and which left it since `other`."""
    true, pred = cell
    names = dataset.class_names
    indices = confusion.cell_indices(dataset.test_labels, probabilities, true, pred)  # most sure first
    moved = other and confusion.cell_changes(dataset.test_labels, other.probabilities, probabilities, true, pred)
    badges = label_badges(*label_issues.doubtful_labels(dataset.test_labels, probabilities, dataset.official), names)
    shown, left = [], (moved.left[:GALLERY_SIZE] if moved else [])
    if len(indices) == 0:
        st.info(describe_empty_cell(int(result.matrix[true].sum()), names[true], names[pred]))
    else:
        sentence = st.container()  # above the order and page pickers, which say what it is about
        least_sure, page = sort_and_page(len(indices))
        ordered = indices[::-1] if least_sure else indices
        shown = ordered[(page - 1) * GALLERY_SIZE:page * GALLERY_SIZE]
        new = f" **{len(moved.entered):,}** of them are new here since {other.label} (marked *new*)." if moved else ""
        sentence.markdown(describe_page(len(indices), page, least_sure, names[true], names[pred]) + new)
        draw_tiles(dataset, shown, [f"{probabilities[i, pred]:.0%} · #{i}"
                                    + (" · new" if moved and i in moved.entered else "") for i in shown], badges)
        downloads.gallery_button(ordered, dataset.test_labels, probabilities, names,
                                 f"{names[true]}-called-{names[pred]}-step-{checkpoint.step}", "cm_cell_csv")
    if len(left):
        st.markdown(f"**{count_of(len(moved.left), 'test image')}** left this cell since {other.label}; "
                    "the caption says what the network calls it now.")
        draw_tiles(dataset, left, [f"now {names[to]} · #{i}" for i, to in zip(left, moved.left_to)], badges)
        downloads.gallery_button(moved.left, dataset.test_labels, probabilities, names,
                                 f"{names[true]}-called-{names[pred]}-left-by-step-{checkpoint.step}",
                                 "cm_left_csv")
    chosen = st.session_state.get("cm_chosen")
    if chosen in shown or chosen in left:  # only now: TensorFlow
        look_inside(checkpoint, dataset.test_images[chosen], names, true, key="cm_view",
                    heading=f"Inside test image {chosen} at {describe_point(checkpoint)}",
                    scroll=st.session_state.pop("cm_scroll", False))


def draw_downloads(result, names, checkpoint):
    """The chosen step's matrix as CSV (counts, and rows as fractions); how to save a chart as a picture."""
    with st.container(horizontal=True, vertical_alignment="center"):
        for normalised, what in ((False, "counts"), (True, "row-fractions")):
            rows = ", each row as fractions of its class." if normalised else ", numbers of test images."
            downloads.csv_button(f"Matrix: {what.replace('-', ' ')} (CSV)",
                                 f"confusion-matrix-step-{checkpoint.step}-{what}.csv",
                                 partial(tables.confusion_csv, result, names, normalised),
                                 key="cm_fractions_csv" if normalised else "cm_counts_csv",
                                 help=f"At {describe_point(checkpoint)}: a row per true class, a column per "
                                      f"predicted class{rows}")
        st.caption(downloads.CHARTS_AS_PICTURES)


@page_fragment
def matrix_and_gallery(dataset, probabilities, result, checkpoint, other):
    """Chart, keyboard route and gallery rerun together on a click, without the rest of the page."""
    names, change = dataset.class_names, other and other.change
    chart = "cm_difference" if change else "cm_chart"
    apply_click(chart)
    normalise, hide = matrix_controls(names)
    cell = st.session_state.get("cm_cell")
    if change:
        st.caption("The diagonal grows as the network learns; the biggest reds off the diagonal are "
                   "confusions that got worse, the blues ones it has grown out of.")
        figure = figures.difference_figure(change, names, normalise, hide, cell, other.label, describe_point(checkpoint))
    else:
        figure = figures.confusion_figure(result, names, normalise, hide, cell)
    st.plotly_chart(figure, on_select="rerun", selection_mode="points", key=chart)
    draw_downloads(result, names, checkpoint)
    if cell is None:
        st.caption("Click a cell (or choose its two classes above) to see its test images.")
    else:
        draw_gallery(dataset, probabilities, cell, checkpoint, result, other)


def draw_accuracy(result, names, count, checkpoint, other):
    left, right = st.columns([1, 3])
    change = other and other.change
    delta = f"{result.accuracy - change.before.accuracy:+.1%} since {other.label}" if change else None
    left.metric("Test accuracy", f"{result.accuracy:.1%}", delta=delta, help=f"Over all {count:,} test images.")
    left.caption("Guessing at random would score 10%.")
    figure = (figures.per_class_compare_figure(change.before.per_class_accuracy, result.per_class_accuracy,
                                               names, other.label, describe_point(checkpoint)) if change
              else figures.per_class_figure(result.per_class_accuracy, names))
    right.plotly_chart(figure, key="cm_per_class")


navigation.page_header(
    "Confusion matrix",
    "Each row is a true class, each column what the network answered: the diagonal is right, "
    "everything else is a mistake. **Click any cell** to see those test images, then look inside "
    "one to see why the network got it wrong.")
dataset = loaders.require_dataset()
checkpoint = timeline.require_point("cm")
probabilities = loaders.test_probabilities(checkpoint, dataset)  # (N, 10); a damaged checkpoint stops the page
result = confusion.confusion_matrix(dataset.test_labels, probabilities.argmax(axis=1))
other = compare_controls(dataset, probabilities.argmax(axis=1))  # None unless comparing
summary = st.container()  # above the matrix on the page, but sent after it: the browser draws the matrix first
matrix_and_gallery(dataset, probabilities, result, checkpoint, other)
with summary:
    draw_accuracy(result, dataset.class_names, len(dataset.test_labels), checkpoint, other)
