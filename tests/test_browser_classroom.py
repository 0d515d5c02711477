"""A classroom in real headless Chromium tabs against a real Streamlit server.

The teacher's tabs connect straight to the server (from 127.0.0.1: this computer, the projector). A
student's laptop is a tab that goes through a harness Relay whose outgoing sockets are bound to
127.0.0.7, so the server sees another computer. One server for the first three tests (with a teacher
passcode set), on a tiny dataset; the others start servers of their own, as a teacher would: the
README's classroom command (with every connection and name lookup that leaves this computer refused and
logged, by a sitecustomize.py, itself checked first), and a plain start from another working directory.
Screenshots of failures and the servers' logs go to pytest's tmp folder `classroom0/`; a failure prints
their paths.
"""
import errno
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections import namedtuple

import psutil
import pytest
from browser_actions import (BROWSER_MARKS, SLOW, button, expect, fresh, keyed, open_page, set_number, sync_api,
                             wait_until_idle)
from dashboard.harness import Relay, StreamlitServer, launch_chromium
from tiny_cifar import write_cifar_folder

pytestmark = BROWSER_MARKS

STEPS, BATCH, EVAL_EVERY, CHECKPOINT_EVERY = 100_000, 32, 25, 50  # a run that outlasts the test: it stops it
PASSCODE = "owl-42"
STUDENT = "127.0.0.7"
CONTROLS = ("train_start", "train_pause", "train_resume", "train_stop", "train_fresh")
ANALYSIS_PAGES = ("Dataset", "Augmentation", "Filters", "Feature maps", "Confusion matrix", "Mistakes", "Map")
HEADINGS = {"Map": "Map of what it learned"}  # the sidebar's label -> the page's title, where they differ
# What each page that needs a checkpoint draws once it has one (a chart, by its widget key).
CHARTS = {"Filters": ("filters_patches", ".main-svg"), "Map": ("em_chart", ".main-svg"),
          "Feature maps": ("fm_conv1", ".main-svg"),
          "Confusion matrix": ("cm_chart", ".nsewdrag")}

Folders = namedtuple("Folders", "data checkpoints logs")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """The tiny dataset (200 training, 100 test images), an empty checkpoint folder, the logs."""
    data = tmp_path_factory.mktemp("cifar")
    write_cifar_folder(data, per_class_train=20, per_class_test=10)
    return Folders(data, tmp_path_factory.mktemp("checkpoints"), tmp_path_factory.mktemp("classroom"))


@pytest.fixture(scope="module")
def server(folders):
    """The classroom's server, with a teacher passcode."""
    env = {"CIFAR10_DATA_DIR": str(folders.data), "CIFAR10_CHECKPOINT_DIR": str(folders.checkpoints),
           "CIFAR10_TEACHER_PASSCODE": PASSCODE}
    server = StreamlitServer(env=env, ports=range(8661, 8680), log_path=folders.logs / "streamlit.log")
    with server as running:
        yield running


@pytest.fixture(scope="module")
def relay(server):
    """Students' laptops: http://127.0.0.1:<relay.port> reaches the server from 127.0.0.7."""
    with Relay(server.port, source=STUDENT) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def open_tab(request, browser, folders):
    """open_tab(url, name): a fresh browser tab (its own browser context and Streamlit session) on `url`.
    Every tab gets a screenshot if the test fails."""
    tabs = []

    def open_(url, name):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(30_000)
        tab = context.new_page()
        tab.goto(url)
        tabs.append((name, context, tab))
        return tab

    failures = request.session.testsfailed
    yield open_
    failed = request.session.testsfailed > failures
    for name, context, tab in tabs:
        if failed:
            path = folders.logs / f"FAILED-{request.node.name}-{name}.png"
            try:
                tab.screenshot(path=path, full_page=True)
                print(f"screenshot of {name}'s tab: {path}")
            except sync_api.Error as e:
                print(f"no screenshot of {name}'s tab: {e}")
        context.close()
    if failed:
        print(f"server logs: {folders.logs}")


# --- driving a tab (the patterns of tests/test_browser.py) ---------------------------------------------


def sidebar(page):
    return page.get_by_test_id("stSidebar")


def progress(page, steps=STEPS):
    """The Train page's progress text, "step 1,234 of 100,000"."""
    return fresh(page, "stProgress").get_by_text(re.compile(rf"^step [\d,]+ of {steps:,}$"))


def step_of(locator):
    return int(locator.inner_text().split()[1].replace(",", ""))


def assert_no_controls(page):
    for key in CONTROLS:
        expect(keyed(page, key)).to_have_count(0)
    expect(page.get_by_role("button", name="Start", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Stop", exact=True)).to_have_count(0)


def prepare_a_short_run(teacher):
    """On a teacher's Train page: the quick preset, cut down for the tiny dataset (the run's own settings
    once it exists, so that Start goes on with it)."""
    keyed(teacher, "train_preset").get_by_text("quick", exact=True).click(timeout=SLOW)
    wait_until_idle(teacher)
    for key, value in (("train_steps", STEPS), ("train_batch_size", BATCH),
                       ("train_eval_every", EVAL_EVERY), ("train_checkpoint_every", CHECKPOINT_EVERY)):
        set_number(teacher, key, value)
        wait_until_idle(teacher)


STOPPED = re.compile(r"Stopped at step [\d,]+; checkpoint saved\.")


# --- 1. a student's laptop -----------------------------------------------------------------------------

def test_a_students_laptop_watches_the_teachers_run_and_opens_every_page(open_tab, server, relay):
    student = open_tab(relay.url, "student")
    teacher = open_tab(server.url, "teacher")
    expect(sidebar(student).get_by_text("You are watching")).to_be_visible()
    expect(sidebar(teacher).get_by_text("You are the teacher")).to_be_visible()

    open_page(student, "Train")
    expect(student.get_by_text("The teacher controls this run")).to_be_visible(timeout=SLOW)
    wait_until_idle(student)
    assert_no_controls(student)

    open_page(teacher, "Train")
    prepare_a_short_run(teacher)
    button(teacher, "train_start").click()
    expect(teacher.get_by_text("Training started.")).to_be_visible()

    # The student's page, untouched, follows the run: its progress grows (three different steps seen).
    watched = progress(student)
    seen = []
    while len(seen) < 3:
        expect(watched).to_be_visible(timeout=SLOW)
        try:
            step = step_of(watched)
        except sync_api.Error:  # redrawn between the check and the read
            continue
        if not seen or step != seen[-1]:
            seen.append(step)
        student.wait_for_timeout(250)
    assert seen == sorted(seen) and seen[-1] < STEPS, seen
    print(f"the student saw steps {seen}")
    assert_no_controls(student)  # also while a run goes
    expect(student.get_by_text("The teacher controls this run")).to_be_visible()

    button(teacher, "train_stop").click()
    expect(teacher.get_by_text(STOPPED)).to_be_visible(timeout=SLOW)
    expect(student.get_by_text(STOPPED)).to_be_visible(timeout=SLOW)
    expect(fresh(student, "stDataFrame")).to_be_visible(timeout=SLOW)  # the checkpoint list

    for label in ANALYSIS_PAGES:
        open_page(student, label)
        expect(student.get_by_role("heading", name=HEADINGS.get(label, label), exact=True)).to_be_visible(
            timeout=SLOW)
        if label in CHARTS:
            key, part = CHARTS[label]
            expect(keyed(student, key).locator(part).first).to_be_visible(timeout=SLOW)
        wait_until_idle(student)
        expect(student.get_by_test_id("stException")).to_have_count(0)
        expect(student.get_by_text("There is no trained model yet")).to_have_count(0)
        expect(sidebar(student).get_by_text("You are watching")).to_be_visible()


# --- 2. one truth on every screen ----------------------------------------------------------------------

def test_a_teacher_tab_left_alone_shows_the_run_started_in_another_tab(open_tab, server):
    left_alone = open_tab(server.url, "tab-A")
    open_page(left_alone, "Train")
    expect(button(left_alone, "train_start")).to_be_visible(timeout=SLOW)
    wait_until_idle(left_alone)

    other = open_tab(server.url, "tab-B")
    open_page(other, "Train")
    prepare_a_short_run(other)
    expect(left_alone.get_by_text("Started just now by the teacher.")).to_have_count(0)

    # From the click in tab B to tab A showing the run: first its caption, then its progress bar.
    caption_shown = """() => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')].some(e =>
        !e.closest('[data-stale="true"]') && e.innerText.includes('Started just now by the teacher.'))"""
    progress_shown = """() => [...document.querySelectorAll('[data-testid="stProgress"]')].some(e =>
        !e.closest('[data-stale="true"]') && /^step [\\d,]+ of [\\d,]+$/m.test(e.innerText))"""
    clicked = time.monotonic()
    button(other, "train_start").click()
    left_alone.wait_for_function(caption_shown, polling=50, timeout=SLOW)
    caption_after = time.monotonic() - clicked
    left_alone.wait_for_function(progress_shown, polling=50, timeout=SLOW)
    progress_after = time.monotonic() - clicked
    print(f"\nlatency, Start pressed in tab B -> tab A shows the run: {caption_after:.2f} s "
          f"(\"Started just now by the teacher.\"), {progress_after:.2f} s (its progress bar)")

    expect(progress(left_alone)).to_be_visible()
    expect(button(left_alone, "train_stop")).to_be_enabled(timeout=SLOW)  # tab A's own controls follow too

    button(other, "train_stop").click()
    expect(left_alone.get_by_text(STOPPED)).to_be_visible(timeout=SLOW)
    expect(left_alone.get_by_text("Stopped just now by the teacher.")).to_be_visible(timeout=SLOW)


# --- 3. the passcode -----------------------------------------------------------------------------------

def unlock(page, attempt):
    keyed(page, "teacher_passcode").locator("input").fill(attempt)
    button(page, "teacher_unlock_submit").click()


def test_the_passcode_unlocks_control_in_that_students_tab_only(open_tab, relay):
    student = open_tab(relay.url, "student-1")
    open_page(student, "Train")
    expect(student.get_by_text("The teacher controls this run")).to_be_visible(timeout=SLOW)
    wait_until_idle(student)
    assert_no_controls(student)

    unlock(student, "not-" + PASSCODE)
    expect(sidebar(student).get_by_text("That is not the teacher passcode.")).to_be_visible(timeout=SLOW)
    wait_until_idle(student)
    expect(sidebar(student).get_by_text("You are watching")).to_be_visible()
    assert_no_controls(student)

    unlock(student, PASSCODE)
    expect(button(student, "train_start")).to_be_visible(timeout=SLOW)
    wait_until_idle(student)
    expect(sidebar(student).get_by_text("You are the teacher")).to_be_visible()
    for key in CONTROLS:
        expect(button(student, key)).to_be_visible()
    expect(student.get_by_text("The teacher controls this run")).to_have_count(0)

    classmate = open_tab(relay.url, "student-2")
    open_page(classmate, "Train")
    expect(classmate.get_by_text("The teacher controls this run")).to_be_visible(timeout=SLOW)
    wait_until_idle(classmate)
    expect(sidebar(classmate).get_by_text("You are watching")).to_be_visible()
    assert_no_controls(classmate)
    expect(button(student, "train_start")).to_be_visible()  # the unlocked tab stays unlocked


# --- 4. no lookups on the internet ---------------------------------------------------------------------

# Imported at start-up by every Python whose PYTHONPATH holds its folder: refuses (and logs) every connect
# and every name lookup that leaves this computer.
SITECUSTOMIZE = '''
import ipaddress, os, socket, traceback

_LOG = {log!r}
open({armed!r}, "a").write(f"{{os.getpid()}}\\n")


def _local(host):
    if host in (None, "", "localhost", b"localhost"):
        return True
    if isinstance(host, bytes):
        host = host.decode()
    try:
        address = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False  # a name
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def _refuse(what, target):
    with open(_LOG, "a") as log:
        stack = "".join(traceback.format_stack()[-8:-2])
        log.write(f"pid {{os.getpid()}}: {{what}} {{target!r}}\\n{{stack}}\\n")
    raise OSError({errno!r}, f"refused by the test: {{what}} {{target!r}}")


def _guard(what, original):
    def guarded(self, address, *args, **kwargs):
        if isinstance(address, tuple) and not _local(address[0]):
            _refuse(what, address)
        return original(self, address, *args, **kwargs)
    return guarded


socket.socket.connect = _guard("connect", socket.socket.connect)
socket.socket.connect_ex = _guard("connect_ex", socket.socket.connect_ex)
_getaddrinfo = socket.getaddrinfo


def getaddrinfo(host, *args, **kwargs):
    # Wildcards name no other computer: binding to them is how a server listens.
    if not (_local(host) or host in ("0.0.0.0", "::")):
        _refuse("getaddrinfo", host)
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = getaddrinfo
'''


def websocket_handshake(port, origin):
    """The status line of the server's answer to a websocket handshake on /_stcore/stream from `origin`."""
    request = (f"GET /_stcore/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: streamlit\r\nOrigin: {origin}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(request.encode())
        answer = b""
        while b"\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n")[0].decode(errors="replace")


def guard_sockets(folder, log):
    """A sitecustomize.py in `folder` that refuses and logs to `log`; -> the file it marks when imported."""
    folder.mkdir()
    armed = folder / "armed"
    (folder / "sitecustomize.py").write_text(
        textwrap.dedent(SITECUSTOMIZE.format(log=str(log), armed=str(armed), errno=errno.ENETUNREACH)))
    return armed


def test_the_socket_guard_catches_streamlits_own_address_lookups(tmp_path):
    """The guard of the next test, checked: what Streamlit 1.67 does to find this computer's addresses
    (a UDP connect to 8.8.8.8, an HTTP request to checkip.amazonaws.com) is refused and logged."""
    log = tmp_path / "outside-attempts.log"
    guard_sockets(tmp_path / "hooks", log)
    lookups = "from streamlit import net_util as n; print(n.get_internal_ip(), n.get_external_ip())"
    subprocess.run([sys.executable, "-c", lookups],
                   env={**os.environ, "PYTHONPATH": str(tmp_path / "hooks")}, check=True, timeout=60)
    attempts = log.read_text()
    assert "connect ('8.8.8.8', 1)" in attempts, attempts
    assert "getaddrinfo 'checkip.amazonaws.com'" in attempts, attempts


def test_a_classroom_server_looks_nothing_up_on_the_internet(open_tab, folders, tmp_path):
    hooks = tmp_path / "hooks"
    log = tmp_path / "outside-attempts.log"
    armed = guard_sockets(hooks, log)
    env = {"CIFAR10_DATA_DIR": str(folders.data), "CIFAR10_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
           "PYTHONPATH": str(hooks)}
    # The README's classroom command: every interface, headless (the harness always passes headless).
    server = StreamlitServer(env=env, ports=range(8681, 8700), address="0.0.0.0", classroom_command=True,
                             log_path=folders.logs / "streamlit-classroom-command.log")
    with server:
        assert armed.exists(), "the sitecustomize.py that guards the sockets was not imported by the server"
        home = open_tab(server.url, "home")
        expect(home.get_by_role("heading", name="How a CNN learns: CIFAR-10")).to_be_visible(timeout=SLOW)
        wait_until_idle(home)
        expect(home.get_by_text("CIFAR-10 is here")).to_be_visible()

        same_origin = websocket_handshake(server.port, f"http://127.0.0.1:{server.port}")
        cross_origin = websocket_handshake(server.port, f"http://elsewhere.example:{server.port}")
        print(f"\nwebsocket handshake, same origin: {same_origin!r}; cross-origin: {cross_origin!r}")
        assert " 101 " in same_origin + " ", same_origin  # the handshake itself is right ...
        assert " 101 " not in cross_origin + " ", cross_origin  # ... and another site's page is refused
        expect(home.get_by_role("heading", name="How a CNN learns: CIFAR-10")).to_be_visible()
    attempts = log.read_text() if log.exists() else ""
    assert not attempts, f"the server tried to reach outside this computer:\n{attempts}"


def test_a_cross_origin_handshake_before_any_page_view_looks_nothing_up_either(folders, tmp_path):
    """The same server, but another site's page knocks before anyone has opened the dashboard: no script
    has run yet; the classroom command (`python -m dashboard`) has kept Streamlit offline from its start."""
    log = tmp_path / "outside-attempts.log"
    armed = guard_sockets(tmp_path / "hooks", log)
    env = {"CIFAR10_DATA_DIR": str(folders.data), "CIFAR10_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
           "PYTHONPATH": str(tmp_path / "hooks")}
    with StreamlitServer(env=env, ports=range(8681, 8700), address="0.0.0.0", classroom_command=True,
                         log_path=folders.logs / "streamlit-knocked-early.log") as server:
        assert armed.exists(), "the sitecustomize.py that guards the sockets was not imported by the server"
        cross_origin = websocket_handshake(server.port, f"http://elsewhere.example:{server.port}")
        assert " 101 " not in cross_origin + " ", cross_origin
    attempts = log.read_text() if log.exists() else ""
    assert not attempts, f"the server tried to reach outside this computer:\n{attempts}"


# --- 5. the config, from any working directory ---------------------------------------------------------

def test_the_config_beside_the_entry_script_holds_from_another_working_directory(open_tab, folders, tmp_path,
                                                                                   request):
    checkpoints = tmp_path / "checkpoints"  # the first test's run, else a tiny one trained here
    source = folders.checkpoints
    if not any(source.iterdir()):  # run on its own
        source = request.getfixturevalue("trained_dir")
    shutil.copytree(source, checkpoints)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"CIFAR10_DATA_DIR": str(folders.data), "CIFAR10_CHECKPOINT_DIR": str(checkpoints)}
    server = StreamlitServer(env=env, ports=range(8681, 8700), address=None, cwd=elsewhere,
                             log_path=folders.logs / "streamlit-elsewhere.log")
    with server:
        listening = [c.laddr for c in psutil.Process(server.process.pid).net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN]
        print(f"\nthe server listens on {listening}")
        assert listening and all(address.ip == "127.0.0.1" for address in listening), listening
        assert server.port in {address.port for address in listening}, listening

        tab = open_tab(server.url, "feature-maps")
        open_page(tab, "Feature maps")
        keyed(tab, "fm_source").get_by_text("Your own photo", exact=True).click(timeout=SLOW)
        uploader = keyed(tab, "fm_upload")
        # Streamlit's default is 200MB; 1.67 writes the limit as "5MB per file • PNG, JPG".
        expect(uploader.get_by_text(re.compile(r"(^|\s)5MB per file"))).to_be_visible(timeout=SLOW)

        too_big = tmp_path / "too-big.png"
        too_big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(6 * 1024 * 1024))
        uploader.locator("input[type=file]").set_input_files(too_big)
        expect(uploader.get_by_text(re.compile(r"File must be 5(\.0)? ?MB or smaller"))).to_be_visible()
        expect(tab.get_by_text("What the network sees in your photo")).to_have_count(0)
