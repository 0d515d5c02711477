"""Driving a Streamlit page in Playwright as a learner does, for the browser tests: wait for states
(the page's own 'Running…' indicator, elements marked stale), never for time."""
import contextlib

import pytest

from dashboard.harness import CHROMIUM, StreamlitServer, launch_chromium
from tiny_cifar import write_cifar_folder
from tiny_runs import run_to_end, tiny_config

# Every browser test module: marked, and skipped cleanly without Debian's chromium or playwright.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM} (apt install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (requirements-dev.txt)")
expect = sync_api.expect
SLOW = 90_000  # ms: the first visit to a page that imports TensorFlow, on 2 busy cores


def open_page(page, label):
    """Click a page in the sidebar, as a learner does (the session and its choices are kept)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=label, exact=True).click()


def set_number(page, key, value):
    field = keyed(page, key).locator("input")
    field.fill(str(value))
    field.press("Enter")
    expect(field).to_have_value(str(value))


def button(page, key):
    """The button drawn with `key` (Streamlit also keeps a hidden copy of a button with help text)."""
    return keyed(page, key).get_by_role("button")


def keyed(page, key):
    """The element drawn with `key`, from the latest run: a rerun keeps the previous elements on screen,
    marked stale, until it has drawn their replacements."""
    return page.locator(f'.st-key-{key}:not([data-stale="true"])')


def fresh(page, testid):
    """Elements with this data-testid from the latest run."""
    return page.locator(f'[data-stale="false"] [data-testid="{testid}"]')


def wait_until_idle(page):
    """Until the run started by the last action has finished (no 'Running…' indicator, nothing stale)."""
    page.wait_for_timeout(300)  # the run starts a moment after the action that triggers it
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=SLOW)
    expect(page.locator('[data-stale="true"]')).to_have_count(0)


@contextlib.contextmanager
def server_on_a_trained_run(tmp_path_factory, per_class_test=10, **run):
    """A real Streamlit server on a tiny dataset (20 training images per class) and a real tiny run trained
    first (tiny_runs.tiny_config(**run)), with its snapshots."""
    from cifar_core.training.job import TrainingJob
    data, checkpoints = tmp_path_factory.mktemp("cifar"), tmp_path_factory.mktemp("checkpoints")
    write_cifar_folder(data, per_class_train=20, per_class_test=per_class_test)
    status = run_to_end(TrainingJob(checkpoints, data), tiny_config(**run))
    assert status.state == "finished", status.message
    env = {"CIFAR10_DATA_DIR": str(data), "CIFAR10_CHECKPOINT_DIR": str(checkpoints)}
    with StreamlitServer(env=env, log_path=tmp_path_factory.mktemp("log") / "streamlit.log") as running:
        yield running


@contextlib.contextmanager
def browser_tab(server, viewport=(1400, 1000)):
    """A headless Chromium of its own with one tab on the server's Home."""
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        tab = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        tab.set_default_timeout(30_000)
        tab.goto(server.url)
        yield tab
        browser.close()
