"""One browser's choices that outlive a page change, and who is watching the Train page."""
import threading
import time
import uuid

import streamlit as st


def keep_choice(key, default):
    """Seed widget `key` so a learner's choice survives a visit to another page.

    Streamlit forgets a widget's value when a run does not draw it (another page); a
    plain copy under another name is kept, and seeds the widget when the page comes back.
    Call before drawing the widget, and draw it without `value=`.
    """
    copy = f"_kept_{key}"
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(copy, default)
    st.session_state[copy] = st.session_state[key]


def set_choice(key, value):
    """Change a kept widget's value (from a callback, or before the widget is drawn)."""
    st.session_state[key] = st.session_state[f"_kept_{key}"] = value


_watchers = {}  # viewer id -> (time.monotonic() of its last redraw, its redraw interval in s)
_watchers_lock = threading.Lock()


def train_page_watchers(every):
    """How many browsers are watching the Train page, this one included, which redraws every `every` s.

    Each browser session reports in at every redraw; one that has not for twice its interval (plus 2 s)
    has left. Shared by the whole server, like the training job."""
    viewer = st.session_state.setdefault("viewer_id", uuid.uuid4().hex)
    now = time.monotonic()
    with _watchers_lock:
        _watchers[viewer] = (now, every)
        for other, (seen, interval) in list(_watchers.items()):
            if now - seen > 2 * interval + 2:
                del _watchers[other]
        return len(_watchers)
