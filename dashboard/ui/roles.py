"""Who may control the server's one training run: the teacher. Everyone else is a student and watches.

By default the teacher is a browser on the computer that runs the server (the projector): Streamlit
reports the connection's real TCP peer in `st.context.ip_address`, and None for loopback. A teacher
passcode, when one is set, unlocks control in any other browser for that browser session.

Settings (an environment variable, or `.streamlit/secrets.toml` beside dashboard/Home.py; never a URL):
    CIFAR10_TEACHER_PASSCODE   or  teacher_passcode = "..."    unlocks control in another browser
    CIFAR10_LOCAL_IS_TEACHER=0 or  local_is_teacher = false     behind a reverse proxy every browser looks
                                                                local: then only the passcode makes a teacher

Every action that changes the run checks `allowed()` on the server when it runs; hiding a student's
buttons is a courtesy, not the protection.
"""
import hmac
import math
import os
import threading
import time

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

TEACHER, STUDENT = "teacher", "student"
FREE_TRIES = 3        # wrong passcodes before each further try has to wait
LONGEST_WAIT = 60     # seconds between tries at most

_unlocked = set()     # ids of the browser sessions unlocked with the passcode (server side: not forgeable)
_failures = {}        # peer address -> (wrong tries in a row, time.monotonic() of the last one)
_lock = threading.Lock()


def _setting(variable, secret):
    """An environment variable, else a key of the dashboard's secrets.toml, else None."""
    if os.environ.get(variable):
        return os.environ[variable]
    try:
        value = st.secrets.get(secret)
    except Exception:  # no secrets file at all: Streamlit raises rather than returning nothing
        return None
    return None if value is None else str(value)


def passcode():
    return _setting("CIFAR10_TEACHER_PASSCODE", "teacher_passcode")


def local_is_teacher():
    value = _setting("CIFAR10_LOCAL_IS_TEACHER", "local_is_teacher")
    return value is None or value.strip().lower() not in ("0", "false", "no", "off")


def peer_address():
    """The browser's address as the server sees it (the TCP peer); None for this computer (loopback).
    Under AppTest, which has no connection, Streamlit answers with a stand-in object: that is local too."""
    address = st.context.ip_address
    return address if isinstance(address, str) else None


def _session_id():
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def role():
    """TEACHER or STUDENT, for the browser session running this script."""
    with _lock:
        if _session_id() in _unlocked:
            return TEACHER
    if peer_address() is None and local_is_teacher():
        return TEACHER
    return STUDENT


def allowed(action):
    """True for the teacher. For a student: False, and a notice for the page to show ("Only the teacher
    can stop the run."). Call it first in every callback that changes the run."""
    if role() == TEACHER:
        return True
    st.session_state["role_notice"] = f"Only the teacher can {action}: this browser watches the run."
    return False


def unlock(attempt):
    """Check a passcode for this browser session. Returns (unlocked, message for the learner).

    Compared in constant time; after FREE_TRIES wrong tries from one address, each further try must
    wait longer (2, 4, 8 ... up to LONGEST_WAIT seconds)."""
    expected = passcode()
    if not expected:
        return False, "No teacher passcode is set on this server, so only its own computer controls the run."
    peer, now = peer_address() or "this computer", time.monotonic()
    with _lock:
        wrong, last = _failures.get(peer, (0, 0.0))
        wait = _wait_after(wrong) - (now - last)
        if wait > 0:
            return False, f"Too many wrong tries: wait {math.ceil(wait)} s, then try again."
        if hmac.compare_digest(attempt.encode("utf-8"), expected.encode("utf-8")):
            _failures.pop(peer, None)
            _unlocked.add(_session_id())
            return True, "Unlocked: this browser controls the run until it is closed or reloaded."
        _failures[peer] = (wrong + 1, now)
    return False, "That is not the teacher passcode."


def _wait_after(wrong_tries):
    return 0 if wrong_tries < FREE_TRIES else min(LONGEST_WAIT, 2 ** (wrong_tries - FREE_TRIES + 1))


def describe_role():
    """One line for the sidebar: what this browser may do."""
    if role() == TEACHER:
        return "**You are the teacher**: you control training. Other browsers watch."
    return ("**You are watching**: the teacher controls training from the computer that runs this dashboard. "
            "Every page is yours to explore.")


def draw_sidebar():
    """The sidebar's word on this browser's role; for a student, the passcode form when one is set."""
    with st.sidebar:
        st.markdown(describe_role())
        if role() == TEACHER or not passcode():
            return
        with st.form("teacher_unlock", clear_on_submit=True, border=False):
            attempt = st.text_input("Teacher passcode", type="password", key="teacher_passcode",
                                    help="Unlocks control of the run in this browser, until it is closed.")
            if st.form_submit_button("Unlock control", key="teacher_unlock_submit"):
                unlocked, message = unlock(attempt)
                if unlocked:
                    st.rerun()  # the whole page again, now with the controls
                st.error(message)
