"""One browser's choices that outlive a page change, and who is watching the Train page."""
import threading
import time
import uuid

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx


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


_watchers = {}  # viewer -> (time.monotonic() of its last redraw, its redraw interval in s, its session id, local)
_watchers_lock = threading.Lock()


def train_page_watchers(every, local):
    """(how many browsers are watching the Train page, how many of them on this computer), this one included,
    which redraws every `every` s and is on this computer if `local`.

    Each browser session reports in at every redraw. One that has gone (a closed tab, a reload: its session
    ends at once) or that has not reported for twice its interval (plus 2 s: on another page) is not counted.
    Shared by the whole server, like the training job."""
    viewer = st.session_state.setdefault("viewer_id", uuid.uuid4().hex)
    ctx = get_script_run_ctx()
    now = time.monotonic()
    with _watchers_lock:
        _watchers[viewer] = (now, every, ctx.session_id if ctx is not None else None, local)
        for other, (seen, interval, session_id, _) in list(_watchers.items()):
            if now - seen > 2 * interval + 2 or not _connected(session_id):
                del _watchers[other]
        return len(_watchers), sum(here for *_, here in _watchers.values())


def redraw_seconds(watchers, here):
    """How often each of `watchers` browsers, `here` of them on this computer, redraws the running status.

    Every second for one or two. With more: at most 1.5 redraws a second from all of them together (each
    costs the server a script run), and at most one a second from those on this computer, whose drawing
    takes the training's own cores (3 Train tabs there cost a 2-core Zen 4's training 18-21% of its images/s
    at 1.5 a second with the charts every 3 redraws, 7-11% at one a second with the charts every 5)."""
    if watchers <= 2:
        return 1.0
    return round(max(watchers / 1.5, here), 1)


def _connected(session_id):
    # AppTest runs pages without a server's runtime: there, every session counts as connected.
    return session_id is None or not Runtime.exists() or Runtime.instance().is_active_session(session_id)
