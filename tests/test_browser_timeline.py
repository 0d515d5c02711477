"""The timeline in a real headless Chromium: Play steps a trained run's snapshots from the untrained network
to the end, and the filters change as it goes. The checkpoint folder is a real tiny run made here first
(120 steps: snapshots at 0, 50, 100 and 120)."""
import re

import pytest

from browser_actions import (BROWSER_MARKS, SLOW, browser_tab, button, expect, keyed, open_page,
                             server_on_a_trained_run, wait_until_idle)

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with server_on_a_trained_run(tmp_path_factory, steps=120, batch_size=8, checkpoint_every=40) as running:
        yield running


@pytest.fixture
def page(server):
    with browser_tab(server) as tab:
        yield tab


def shown_step(page):
    return keyed(page, "filters_timeline").get_by_role("slider")


PICTURE = """() => { const plot = document.querySelector(
    '.st-key-filters_patches:not([data-stale="true"]) .js-plotly-plot');
    return plot && plot.data ? JSON.stringify(plot.data.map(t => t.z || t.source || null)) : null }"""


def drawn_picture(page):
    """PICTURE once the filters are drawn, read in the same moment as the wait (a rerun can mark the chart stale
    for a moment between a wait and a second read: CI once read null there)."""
    return page.wait_for_function(PICTURE, timeout=SLOW).json_value()


# Records, every animation frame, each change of the slider's label and whether the filters drawn with it are
# not the trained ones: a snapshot shows for about half a second, shorter than an expect() poll may wait.
RECORD = """trained => { window.seen = []; const tick = () => {
    const thumb = document.querySelector('.st-key-filters_timeline:not([data-stale="true"]) input[type=range]');
    const label = thumb && thumb.getAttribute('aria-valuetext');
    const picture = (PICTURE)();
    const last = window.seen[window.seen.length - 1];
    if (label && (!last || last[0] !== label)) window.seen.push([label, false]);
    if (label && picture && picture !== trained) window.seen[window.seen.length - 1][1] = true;
    requestAnimationFrame(tick); }; tick(); }""".replace("(PICTURE)", f"({PICTURE})")


def test_play_steps_through_the_snapshots_from_the_untrained_network_to_the_end(page):
    open_page(page, "Filters")
    expect(shown_step(page)).to_have_attribute("aria-valuetext", "step 120 · 100%", timeout=SLOW)
    wait_until_idle(page)
    trained = drawn_picture(page)  # conv1's colour patches at the end of the run
    page.evaluate(RECORD, trained)
    button(page, "filters_play").click()
    expect(button(page, "filters_play")).to_have_text(re.compile("Pause$"), timeout=SLOW)
    expect(button(page, "filters_play")).to_have_text(re.compile("Play$"), timeout=SLOW)  # it stops at the end
    wait_until_idle(page)
    seen = [(label.split(" · ")[0], other) for label, other in page.evaluate("window.seen")]
    assert [label for label, _ in seen] == ["step 120", "step 0 (untrained)", "step 50", "step 100", "step 120"]
    assert seen[1][1], "the untrained network's filters were never drawn at step 0"
    assert drawn_picture(page) == trained  # back at the end: the trained filters again


def step_label(label):
    return re.compile("^" + re.escape(label) + r"( · \d+%)?$")


DIAMOND = """([key, step]) => {  // the page position of the snapshot diamond at `step` on a Train chart
  const plot = document.querySelector(`.st-key-${key}:not([data-stale="true"]) .js-plotly-plot`);
  if (!plot || !plot._fullLayout) return null;
  const trace = plot.data.findIndex(t => t.name === 'snapshots');
  if (trace < 0) return null;
  const i = plot.data[trace].x.indexOf(step), layout = plot._fullLayout, box = plot.getBoundingClientRect();
  return {x: box.left + layout.xaxis._offset + layout.xaxis.d2p(step),
          y: box.top + layout.yaxis2._offset + layout.yaxis2.d2p(plot.data[trace].y[i])};
}"""


def test_a_click_on_a_snapshot_diamond_on_the_train_page_opens_that_step_on_the_chosen_page(page):
    open_page(page, "Train")
    keyed(page, "train_open_on").get_by_text("Confusion matrix", exact=True).click()
    wait_until_idle(page)
    chart = keyed(page, "train_accuracy_chart")
    chart.scroll_into_view_if_needed()
    page.wait_for_function(f"a => ({DIAMOND})(a) !== null", arg=["train_accuracy_chart", 50], timeout=SLOW)
    where = page.evaluate(DIAMOND, ["train_accuracy_chart", 50])
    page.mouse.click(where["x"], where["y"])
    expect(page.get_by_role("heading", name="Confusion matrix")).to_be_visible(timeout=SLOW)
    expect(keyed(page, "cm_timeline").get_by_role("slider")).to_have_attribute(
        "aria-valuetext", step_label("step 50"), timeout=SLOW)
