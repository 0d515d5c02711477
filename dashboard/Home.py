"""The dashboard's entry point: `streamlit run dashboard/Home.py` from the repository root.

It runs on every page view: it sets up the server (Keras left alone, no lookups on the internet, the
wide layout), says in the sidebar whether this browser is the teacher's, and runs the page chosen in the
navigation (every page is listed in dashboard/ui/navigation.py); once the page is drawn, it loads the
timeline's neighbouring networks in the background. No TensorFlow here: Home's first paint
is instant.
"""
import os
from contextlib import nullcontext

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any page imports TensorFlow

import streamlit as st  # noqa: E402

from cifar_core import foreground  # noqa: E402

from dashboard.ui import navigation, roles, timeline  # noqa: E402
from dashboard.ui.keras_quirks import keep_keras_state  # noqa: E402
from dashboard.ui.offline import keep_streamlit_offline  # noqa: E402

keep_keras_state()
keep_streamlit_offline()
st.set_page_config(page_title="CIFAR-10 CNN", layout="wide")
page = navigation.navigation()
roles.draw_sidebar()
# A page being drawn goes before the training run's next step; the Train page (where the run is watched, and
# which redraws itself as it goes) does not.
with foreground.drawing() if page.url_path != navigation.entry(navigation.TRAIN).url else nullcontext():
    page.run()
timeline.load_neighbours()  # after the page is drawn, so that its own run never waits for it
