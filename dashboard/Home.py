"""The dashboard's entry point: `streamlit run dashboard/Home.py` from the repository root.

It runs on every page view: it sets up the server once (Keras left alone, the wide layout) and runs
the page chosen in the navigation (every page is listed in dashboard/ui/navigation.py). No TensorFlow
here: Home's first paint is instant.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any page imports TensorFlow

import streamlit as st  # noqa: E402

from dashboard.ui import navigation  # noqa: E402
from dashboard.ui.keras_quirks import keep_keras_state  # noqa: E402

keep_keras_state()
st.set_page_config(page_title="CIFAR-10 CNN", layout="wide")
navigation.navigation().run()
