"""The drill-down stays in view, in a real headless Chromium on a projector-sized screen (1024x768): after
"Look inside" under a confusion-matrix cell's gallery, the page scrolls to the look-inside view (below the
gallery's 24 images, out of sight without it), once per click: a rerun for anything else leaves the page where
the learner put it. The checkpoint folder is a real tiny run made here first; the test set has 60 images per
class, so the fullest cell fills its first page."""
import re

import pytest

from browser_actions import (BROWSER_MARKS, SLOW, browser_tab, button, expect, keyed, open_page,
                             server_on_a_trained_run, wait_until_idle)

pytestmark = BROWSER_MARKS
PROJECTOR = {"width": 1024, "height": 768}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with server_on_a_trained_run(tmp_path_factory, per_class_test=60, steps=60, checkpoint_every=30) as running:
        yield running


@pytest.fixture
def page(server):
    with browser_tab(server, viewport=(PROJECTOR["width"], PROJECTOR["height"])) as tab:
        yield tab


def open_fullest_cell(page):
    """Click the cell with the most images, as a learner does; -> its gallery's captions (24 of them)."""
    open_page(page, "Confusion matrix")
    chart = keyed(page, "cm_chart")
    expect(chart.locator(".nsewdrag")).to_be_visible(timeout=SLOW)
    wait_until_idle(page)
    cells = chart.locator(".js-plotly-plot").evaluate("p => p.data[1].customdata")  # [true, predicted, count]
    true, predicted, count = max(cells, key=lambda cell: cell[2])
    assert count > 24, cells
    chart.scroll_into_view_if_needed()
    area = chart.locator(".nsewdrag").bounding_box()  # columns and rows -0.5..9.5, rows top to bottom
    page.mouse.click(area["x"] + (predicted + 0.5) * area["width"] / 10,
                     area["y"] + (true + 0.5) * area["height"] / 10)
    captions = page.locator("figure.pixels figcaption").filter(has_text=re.compile(r"^\d+% · #\d+$"))
    expect(captions).to_have_count(24, timeout=SLOW)
    wait_until_idle(page)
    return captions


# The look-inside heading of this image, whole, in the top third of the screen: the view below it in sight.
NEAR_TOP = """text => { const heading = [...document.querySelectorAll('h3')]
  .find(h => h.innerText.startsWith(text) && !h.closest('[data-stale="true"]'));
  const box = heading && heading.getBoundingClientRect();
  return !!box && box.top >= 0 && box.bottom <= innerHeight / 3; }"""


def look_inside(page, captions, nth):
    """Click "Look inside" under the nth image; -> the text its view's heading starts with."""
    index = captions.nth(nth).inner_text().split("#")[1]
    button(page, f"cm_pick_{index}").click()
    return f"Inside test image {index} at "


def near_top(page, heading):
    page.wait_for_function(NEAR_TOP, arg=heading, timeout=SLOW)


def test_look_inside_scrolls_the_view_into_sight_once_per_click(page):
    captions = open_fullest_cell(page)
    first = look_inside(page, captions, 0)  # the top row: its view starts three rows of images lower
    near_top(page, first)
    wait_until_idle(page)
    near_top(page, first)  # still there once the maps below it are drawn
    expect(keyed(page, "cm_view_probs").locator(".main-svg").first).to_be_in_viewport()

    heading = page.get_by_role("heading", name=re.compile("^" + first))
    page.mouse.move(PROJECTOR["width"] * 0.7, PROJECTOR["height"] / 2)
    page.mouse.wheel(0, -2500)  # the learner scrolls back up to the matrix...
    expect(keyed(page, "cm_normalise")).to_be_in_viewport()
    expect(heading).not_to_be_in_viewport()
    keyed(page, "cm_normalise").get_by_text("Normalise rows").click()  # ...and reruns the gallery
    wait_until_idle(page)
    expect(heading).to_be_attached()  # the view is still drawn below, and the page stays where the learner is
    expect(heading).not_to_be_in_viewport()
    expect(keyed(page, "cm_normalise")).to_be_in_viewport()

    near_top(page, look_inside(page, captions, 0))  # the same image again: back to its view
    wait_until_idle(page)
    last = look_inside(page, captions, 23)  # another image, from the last row
    near_top(page, last)
    wait_until_idle(page)
    near_top(page, last)
