"""A part of a page that reruns alone on a click, and still goes before the training run.

A click inside an `st.fragment` (a confusion-matrix cell, the Feature maps timeline, a Map dot) reruns only
that function: not Home.py, whose `foreground.drawing()` marks a whole page's run. Unmarked, such a rerun
shares the 2 cores with the training step (measured while training on Zen 5: cell click -> gallery 0.41 s
median, against 0.22 s idle). Fragments that only poll on a timer (a background job's progress) are not page
runs for a learner and stay plain `st.fragment`s, as do the Train page's live ones.
"""
import functools

import streamlit as st

from cifar_core import foreground


def page_fragment(function):
    """`st.fragment(function)`, each of whose runs counts as a page being drawn (background work steps aside)."""
    @functools.wraps(function)
    def drawn_first(*args, **kwargs):
        with foreground.drawing():
            return function(*args, **kwargs)

    return st.fragment(drawn_first)
