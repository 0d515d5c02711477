"""Driving a Streamlit page in Playwright as a learner does, for the browser tests: wait for states
(the page's own 'Running…' indicator, elements marked stale), never for time."""
import pytest

from dashboard.harness import CHROMIUM

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
