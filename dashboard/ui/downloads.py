"""Downloads, to take the results home: a page's tables as CSV (made by cifar_core/tables.py) and, for the
teacher, the trained network.

- `csv_button(label, file_name, make_csv, key)`: the CSV is made only when the button is pressed. Streamlit
  calls `make_csv()` then, on a thread of its own (so it must not call st.*): offering it costs nothing.
  `gallery_button(...)`: a gallery of test images as such a list, all its images.
- `take_model_home(checkpoint)`: pick a format, press "Prepare download" (an export takes seconds), then
  download the zip; kept per checkpoint and format for this browser session, never made at page load.
"""
from functools import partial

import streamlit as st

from cifar_core import tables
from dashboard.ui import roles
from dashboard.ui.words import count_of, describe_point

CHARTS_AS_PICTURES = ("Download a chart as a picture with the camera icon above it (at its top right; it "
                      "shows when you point at the chart).")
FORMAT_LABELS = {"keras": "Keras (.keras)", "savedmodel": "TensorFlow SavedModel",
                 "litert": "LiteRT (.tflite)"}
FORMATS_NOTE = ("**Keras** loads in Python with `keras.models.load_model`, a **SavedModel** is for "
                "TensorFlow Serving and other TensorFlow tools, **LiteRT** runs on phones and small devices; "
                "[Netron](https://netron.app) opens the .keras and .tflite files to show the network.")


def csv_button(label, file_name, make_csv, key, help=None):
    """A download button for the CSV text that `make_csv()` (no arguments) returns when it is pressed."""
    st.download_button(label, make_csv, file_name=file_name, mime="text/csv", key=key, help=help,
                       on_click="ignore", icon=":material/download:")


def gallery_button(indices, labels, probabilities, class_names, name, key, extra=None):
    """A gallery's whole list (every page of it, in its order) as `name`.csv: test index, true class, the
    class the network calls it, its confidence, and any `extra` columns ({header: a value per image})."""
    if len(indices) == 0:
        return
    csv_button(f"The list of {count_of(len(indices), 'image')} (CSV)", f"{name}.csv",
               partial(tables.gallery_csv, indices, labels, probabilities, class_names, extra), key=key,
               help="All of them, in this order, not only this page: the test index, the true and the "
                    "predicted class, and the network's confidence in its answer.")


def take_model_home(checkpoint, key="take_home"):
    """The "Take the model home" control for `checkpoint` (the latest of the run shown; None: none yet).

    The teacher's (or a learner's alone on a laptop, who is the teacher there; roles.py): an export keeps
    the server's CPU busy for seconds, which a class of students pressing it at once would take from the
    training. Pages draw it for the teacher only, and the press checks the role again on the server."""
    st.subheader("Take the model home")
    if checkpoint is None:
        st.caption("Once the first checkpoint is saved, its trained network can be downloaded here.")
        return
    from cifar_core import export  # TensorFlow (a conversion) only when an export is asked for
    st.caption(f"The trained network of the latest checkpoint ({describe_point(checkpoint)}) and a note of "
               "how it was trained, in one zip file, to use outside this dashboard.")
    fmt = st.radio("Format", export.FORMATS, horizontal=True, key=f"{key}_format",
                   format_func=lambda f: FORMAT_LABELS.get(f, f))
    st.caption(FORMATS_NOTE)
    wanted = (str(checkpoint.path), checkpoint.saved_at, fmt)
    prepared = st.session_state.get(f"{key}_archives", {})  # {(path, saved at, format): (file name, bytes)}
    slot = st.empty()  # the Prepare button, gone once its zip is ready
    if wanted not in prepared and slot.button("Prepare download", key=f"{key}_prepare",
                                              help="Exporting takes a few seconds; then a Download button "
                                                   "appears."):
        if not roles.allowed("take the model home"):
            st.warning(st.session_state.pop("role_notice"))
            return
        label = FORMAT_LABELS.get(fmt, fmt)
        with st.spinner(f"Exporting the network at step {checkpoint.step:,} as {label}…"):
            try:
                archive = export.export_archive(checkpoint, fmt)
            except Exception as e:  # a conversion can fail in many ways (TensorFlow, the disk, a bad file)
                st.error(f"The export did not work: {e}")
                return
        slot.empty()
        prepared = {k: v for k, v in prepared.items() if k[:2] == wanted[:2]}  # this checkpoint's only
        prepared[wanted] = archive
        st.session_state[f"{key}_archives"] = prepared
    if wanted in prepared:
        name, data = prepared[wanted]
        st.download_button(f"Download {name} ({len(data) / 1e6:.1f} MB)", data, file_name=name,
                           mime="application/zip", key=f"{key}_download", on_click="ignore", type="primary",
                           icon=":material/download:")
