"""The timeline in a real headless Chromium: Play steps a trained run's snapshots from the untrained network
to the end, and the filters change as it goes. The checkpoint folder is a real tiny run made here first
(120 steps: snapshots at 0, 50, 100 and 120)."""
import re

import pytest

from browser_actions import BROWSER_MARKS, SLOW, button, expect, keyed, open_page, sync_api, wait_until_idle
from dashboard.harness import StreamlitServer, launch_chromium
from tiny_cifar import write_cifar_folder
from tiny_runs import run_to_end, tiny_config

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from cifar_core.training.job import TrainingJob
    data, checkpoints = tmp_path_factory.mktemp("cifar"), tmp_path_factory.mktemp("checkpoints")
    write_cifar_folder(data, per_class_train=20, per_class_test=10)
    status = run_to_end(TrainingJob(checkpoints, data), tiny_config(steps=120, batch_size=8, checkpoint_every=40))
    assert status.state == "finished", status.message
    env = {"CIFAR10_DATA_DIR": str(data), "CIFAR10_CHECKPOINT_DIR": str(checkpoints)}
    with StreamlitServer(env=env, log_path=tmp_path_factory.mktemp("log") / "streamlit.log") as running:
        yield running


@pytest.fixture
def page(server):
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(30_000)
        tab.goto(server.url)
        yield tab
        browser.close()


def shown_step(page):
    return keyed(page, "filters_timeline").get_by_role("slider")


PICTURE = """() => { const plot = document.querySelector(
    '.st-key-filters_patches:not([data-stale="true"]) .js-plotly-plot');
    return plot && plot.data ? JSON.stringify(plot.data.map(t => t.z || t.source || null)) : null }"""


def test_play_steps_through_the_snapshots_from_the_untrained_network_to_the_end(page):
    open_page(page, "Filters")
    expect(shown_step(page)).to_have_attribute("aria-valuetext", "step 120 · 100%", timeout=SLOW)
    wait_until_idle(page)
    trained = page.evaluate(PICTURE)  # conv1's colour patches at the end of the run
    assert trained
    button(page, "filters_play").click()
    for label in ("step 0 (untrained)", "step 50", "step 100", "step 120"):  # one after the other, in order
        expect(shown_step(page)).to_have_attribute("aria-valuetext", step_label(label), timeout=SLOW)
        if label == "step 0 (untrained)":  # the untrained network's filters are drawn: not the trained ones
            page.wait_for_function(f"t => ({PICTURE})() !== null && ({PICTURE})() !== t", arg=trained,
                                   timeout=SLOW)
    expect(button(page, "filters_play")).to_have_text(re.compile("Play$"), timeout=SLOW)  # it stops at the end
    wait_until_idle(page)
    assert page.evaluate(PICTURE) == trained  # back at the end: the trained filters again


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
