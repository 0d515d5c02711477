"""Mistakes: the pairs of classes the network mixes up most, its worst mistakes, and the test images whose
label (not the network) may be wrong; each image can be looked inside."""
import functools
from dataclasses import dataclass

import numpy as np
import streamlit as st

from cifar_core.insights import label_issues, mistakes
from dashboard.figures.mistakes import badged_html, label_badges
from dashboard.ui import downloads, loaders, navigation, timeline
from dashboard.ui.look_inside import look_inside
from dashboard.ui.page_fragment import page_fragment
from dashboard.ui.words import count_of, describe_point

PER_PAGE = 24  # images per gallery page
PER_ROW = 8
PAIRS = 10     # the most confused pairs offered


@dataclass(frozen=True, eq=False)
class Context:
    """What every gallery on the page draws from, at the chosen step."""
    images: np.ndarray         # (N, 32, 32, 3) uint8 test images
    labels: np.ndarray         # (N,) their labels
    names: tuple               # the 10 class names
    probabilities: np.ndarray  # (N, 10) the network's answers at the step
    checkpoint: object         # the step's Checkpoint
    badges: dict               # {test-image index: badge words}, for the images whose label is in doubt

    @functools.cached_property
    def answers(self):  # (N,) the class each image is called
        return self.probabilities.argmax(axis=1)

    @property
    def accuracy(self):
        return float(np.mean(self.answers == self.labels))

    def probability(self, index, cls):
        return float(self.probabilities[index, cls])

    def badge(self, index):
        return self.badges.get(index)


def choose(section, index):
    st.session_state[f"mi_chosen_{section}"] = index


def draw_tiles(section, indices, captions, context):
    """Tiles with badges and a "Look inside" button each; the chosen one's drill-down below them."""
    for start in range(0, len(indices), PER_ROW):
        for column, index, caption in zip(st.columns(PER_ROW), indices[start:start + PER_ROW], captions[start:]):
            index = int(index)
            column.html(badged_html(context.images[index], caption, context.badge(index)))
            column.button("Look inside", key=f"mi_pick_{section}_{index}", width="stretch", on_click=choose,
                          args=(section, index),
                          type="primary" if index == st.session_state.get(f"mi_chosen_{section}") else "secondary")
    chosen = st.session_state.get(f"mi_chosen_{section}")
    if chosen in [int(i) for i in indices]:
        st.markdown(f"**Inside test image {chosen}** at {describe_point(context.checkpoint)}")
        look_inside(context.checkpoint, context.images[chosen], context.names, int(context.labels[chosen]),
                    key=f"mi_view_{section}")  # only now: the rest of the page needs no TensorFlow


def list_button(section, name, indices, context, extra=None):
    """The whole gallery (every page of it) as CSV, at the chosen step."""
    downloads.gallery_button(indices, context.labels, context.probabilities, context.names,
                             f"{name}-step-{context.checkpoint.step}", f"mi_{section}_csv", extra)


def page_of(section, indices):
    """The slice of `indices` on the chosen page (a page picker when there is more than one)."""
    pages = max(1, -(-len(indices) // PER_PAGE))
    key = f"mi_{section}_page"
    if pages > 1:
        st.session_state[key] = min(st.session_state.get(key, 1), pages)  # fewer pages at another step
        page = st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, key=key)
    else:
        page = 1
    return indices[(page - 1) * PER_PAGE:page * PER_PAGE]


@page_fragment
def draw_pairs(pairs, context):
    names = context.names
    st.markdown("Each pair counts both ways: cats called dogs plus dogs called cats. Notice that most are "
                "classes that look alike (animals with animals, vehicles with vehicles). **Pick a pair.**")
    offered = {f"{p.first}-{p.second}": p for p in pairs[:PAIRS]}
    if not offered:
        st.info("The network gets every test image right at this step: nothing is confused.")
        return
    choice = st.pills("Most confused pairs", list(offered), key="mi_pair", label_visibility="collapsed",
                      format_func=lambda code: f"{names[offered[code].first]} ↔ {names[offered[code].second]}"
                                               f" · {offered[code].count:,}")
    if choice not in offered:
        return
    pair = offered[choice]
    for true, called, indices in ((pair.first, pair.second, pair.first_as_second),
                                  (pair.second, pair.first, pair.second_as_first)):
        st.markdown(f"**{count_of(len(indices), names[true])}** called **{names[called]}**"
                    + (f", the {PER_PAGE} worst first" if len(indices) > PER_PAGE else ", worst first"))
        shown = indices[:PER_PAGE]
        draw_tiles(f"pair{true}", shown, [f"{context.probability(i, called):.0%} {names[called]} · #{i}"
                                          for i in shown], context)
    list_button("pair", f"{names[pair.first]}-and-{names[pair.second]}-confused",
                np.concatenate([pair.first_as_second, pair.second_as_first]), context)


@page_fragment
def draw_worst(worst, context):
    st.markdown("The wrong answers with the highest **loss** (−log of the probability given to the true "
                "class): wrong, and sure of it. Look closely: some are not the network's fault. The label is "
                "wrong, or the photo shows two things; a network can be more right than its labels.")
    shown = page_of("worst", worst)
    draw_tiles("worst", shown, [f"{context.names[context.labels[i]]} → {context.names[context.answers[i]]} "
                                f"{context.probability(i, context.answers[i]):.0%}" for i in shown], context)
    list_button("worst", "worst-mistakes", worst, context)


@page_fragment
def draw_suspects(suspects, published, official, context):
    st.markdown("**Confident learning** finds them: for each class, the network's average confidence on the "
                "images labelled with it is a bar; an image whose probability for *another* class clears that "
                "class's bar is a suspect. Least support for its label first. A suspect is not proven wrong: "
                "judge with your own eyes.")
    if context.accuracy < 0.5:
        st.warning(f"At this step the network is right on only {context.accuracy:.0%} of the test images, so "
                   "most suspicions are its own mistakes: move the timeline towards the end of training.")
    st.caption(f"{count_of(len(suspects), 'suspect')} of {count_of(len(context.labels), 'test image')}.")
    shown = page_of("suspect", suspects.indices)
    draw_tiles("suspect", shown, [f"labelled {context.names[context.labels[i]]} · #{i}" for i in shown], context)
    list_button("suspect", "suspect-labels", suspects.indices, context,
                suspect_columns(suspects, context, "probability of its label"))
    st.markdown("**Checked by people.** Northcutt, Athalye & Mueller (2021) had five people look at each "
                "image confident learning flagged; these are the ones most of them said were labelled wrong.")
    if not official:
        st.caption("Not shown for this dataset: it is not byte-identical to the official CIFAR-10 release, "
                   "and the published list numbers the official release's images.")
    else:
        shown = page_of("published", np.arange(len(published)))  # positions in the list, least support first
        draw_tiles("published", published.indices[shown], [f"labelled {context.names[context.labels[i]]} · "
                                                           f"{published.support[k]:.0%} of people agree"
                                                           for k, i in zip(shown, published.indices[shown])],
                   context)
        list_button("published", "published-label-errors", published.indices, context,
                    suspect_columns(published, context, "people who agree with its label"))


def suspect_columns(issues, context, support):
    """A suspects list's (LabelIssues) extra columns: the support for its label, and its badge's words."""
    return {support: issues.support.tolist(), "badge": [context.badge(int(i)) for i in issues.indices]}


navigation.page_header(
    "Mistakes",
    "Where the network goes wrong on the test images it never trains on, and where the **label** may be "
    "the mistake: when the network is sure of another class, either it has learned something wrong or the person "
    "who labelled the image did. Pick a step, then look inside any image to see why.")
dataset = loaders.require_dataset()
checkpoint = timeline.require_point("mi")
probabilities = loaders.test_probabilities(checkpoint, dataset)  # (N, 10); a damaged checkpoint stops the page
labels, names = dataset.test_labels, dataset.class_names
suspects, published = label_issues.doubtful_labels(labels, probabilities, dataset.official)  # published: official only
context = Context(dataset.test_images, labels, names, probabilities, checkpoint,
                  label_badges(suspects, published, names))
st.subheader("Most confused pairs")
draw_pairs(mistakes.confused_pairs(labels, probabilities), context)
st.subheader("Worst mistakes")
draw_worst(mistakes.worst_mistakes(labels, probabilities), context)
st.subheader("Suspect labels")
draw_suspects(suspects, published, dataset.official, context)
