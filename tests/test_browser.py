"""The dashboard in a real headless Chromium against a real Streamlit server, driven like a learner.

One server for the module, on a tiny learnable dataset and an empty checkpoint
folder made here. The tests run in order, as a lesson does: Home, a short
training run on the Train page (which makes the checkpoint), the confusion
matrix (click a cell, look inside an image), then the feature maps of an
uploaded photo. A screenshot of each stage (and of any failure) goes to pytest's
tmp folder `screenshots0/`, with the server's log; a failure prints its path.
"""
import io
import re
from collections import namedtuple

import pytest
from PIL import Image

from browser_actions import (BROWSER_MARKS, SLOW, button, expect, fresh, keyed, open_page, set_number, sync_api,
                             wait_until_idle)
from dashboard.harness import StreamlitServer, launch_chromium
from tiny_cifar import write_cifar_folder

pytestmark = BROWSER_MARKS

STEPS, BATCH, EVAL_EVERY, CHECKPOINT_EVERY = 100_000, 32, 25, 50  # a run that outlasts the test: it stops it
TRAINED_ENOUGH = 200  # steps: the tiny data's classes are then told apart


Folders = namedtuple("Folders", "data checkpoints screenshots")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """The tiny dataset (200 training, 100 test images), an empty checkpoint folder, the screenshots."""
    data = tmp_path_factory.mktemp("cifar")
    write_cifar_folder(data, per_class_train=20, per_class_test=10)
    return Folders(data, tmp_path_factory.mktemp("checkpoints"), tmp_path_factory.mktemp("screenshots"))


@pytest.fixture(scope="module")
def server(folders):
    env = {"CIFAR10_DATA_DIR": str(folders.data), "CIFAR10_CHECKPOINT_DIR": str(folders.checkpoints)}
    with StreamlitServer(env=env, log_path=folders.screenshots / "streamlit.log") as running:
        yield running


@pytest.fixture(scope="module")
def browser(server):
    with sync_api.sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(request, browser, server, folders):
    """A fresh browser tab (its own Streamlit session) on Home; a screenshot if the test fails."""
    shots = folders.screenshots
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    tab = context.new_page()
    tab.goto(server.url)
    failures = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failures:
        path = shots / f"FAILED-{request.node.name}.png"
        tab.screenshot(path=path, full_page=True)
        print(f"screenshot of the failure: {path}; server log: {shots / 'streamlit.log'}")
    context.close()


def screenshot(page, folders, name):
    page.screenshot(path=folders.screenshots / f"{name}.png", full_page=True)


def chart_points(page, key):
    """Number of x values in the first trace of the plotly chart drawn with `key`; None while it is not drawn
    (not yet, or being redrawn by a rerun)."""
    return page.evaluate(
        """key => {
          const plot = document.querySelector(`.st-key-${key}:not([data-stale="true"]) .js-plotly-plot`);
          return plot && plot.data && plot.data.length && plot.data[0].x ? plot.data[0].x.length : null }""",
        key)


def test_home_shows_the_title_and_that_the_dataset_is_here(page, folders):
    expect(page.get_by_role("heading", name="How a CNN learns: CIFAR-10")).to_be_visible()
    expect(page.get_by_text("CIFAR-10 is here: 200 training and 100 test images")).to_be_visible()
    expect(page.get_by_text("No model yet")).to_be_visible()
    screenshot(page, folders, "1-home")


def test_a_training_run_draws_its_curves_as_it_goes_and_stops_with_a_checkpoint(page, folders):
    # The run is far longer than the test: it watches the curves grow (however fast or slow the machine
    # is), then presses Stop, so nothing depends on how many steps a chart redraw takes.
    open_page(page, "Train")
    keyed(page, "train_preset").get_by_text("quick", exact=True).click(timeout=SLOW)
    wait_until_idle(page)
    for key, value in (("train_steps", STEPS), ("train_batch_size", BATCH),
                       ("train_eval_every", EVAL_EVERY), ("train_checkpoint_every", CHECKPOINT_EVERY)):
        set_number(page, key, value)
        wait_until_idle(page)
    screenshot(page, folders, "2-train-settings")
    button(page, "train_start").click()
    expect(page.get_by_text("Training started.")).to_be_visible()

    progress = fresh(page, "stProgress").get_by_text(re.compile(rf"^step [\d,]+ of {STEPS:,}$"))
    seen = []  # (step, points on the accuracy chart), every time one of them changes
    # Until the chart has been redrawn with new points twice, and the network has trained enough for the
    # confusion matrix test below (a full diagonal): states, however fast the machine.
    while len({points for _, points in seen}) < 3 or not seen or seen[-1][0] < TRAINED_ENOUGH:
        expect(progress).to_be_visible(timeout=SLOW)
        step = int(progress.inner_text().split()[1].replace(",", ""))
        points = chart_points(page, "train_accuracy_chart")
        if points is not None and (not seen or (step, points) != seen[-1]):
            seen.append((step, points))
            if len(seen) == 2:
                screenshot(page, folders, "3-train-running")
        page.wait_for_timeout(250)
    steps, points = zip(*seen)
    assert list(steps) == sorted(steps) and steps[-1] < STEPS, seen
    assert list(points) == sorted(points) and points[-1] > points[0], seen  # the curve grew while we watched
    button(page, "train_stop").click()
    expect(page.get_by_text(re.compile(r"Stopped at step [\d,]+; checkpoint saved\."))).to_be_visible(timeout=SLOW)
    wait_until_idle(page)
    expect(page.get_by_role("heading", name="Checkpoints")).to_be_visible()
    expect(fresh(page, "stDataFrame")).to_be_visible()  # the list of checkpoints (a canvas: no text to read)
    screenshot(page, folders, "4-train-stopped")


def test_a_click_on_a_diagonal_cell_shows_its_images_and_one_can_look_inside(page, folders):
    open_page(page, "Confusion matrix")
    chart = keyed(page, "cm_chart")
    expect(chart.locator(".nsewdrag")).to_be_visible(timeout=SLOW)
    expect(page.get_by_text("Click a cell")).to_be_visible()
    screenshot(page, folders, "5-confusion")

    # The plot area spans columns -0.5..9.5 left to right and rows -0.5..9.5 top to bottom (reversed axis);
    # an invisible marker sits on each cell's centre, so a click there reports (true, predicted).
    chart.scroll_into_view_if_needed()
    area = chart.locator(".nsewdrag").bounding_box()
    true = predicted = 3  # cat called cat: the tiny data is learnable, so the diagonal is full
    page.mouse.click(area["x"] + (predicted + 0.5) * area["width"] / 10,
                     area["y"] + (true + 0.5) * area["height"] / 10)
    summary = page.get_by_text(re.compile(r"test images\s+of cats are called\s+cat \(right\)"))
    expect(summary).to_be_visible(timeout=SLOW)
    wait_until_idle(page)
    count = int(summary.inner_text().split()[0].replace(",", ""))
    captions = page.locator("figure.pixels figcaption").filter(has_text=re.compile(r"^\d+% · #\d+$"))
    expect(captions).to_have_count(min(count, 24))  # the gallery: each image, the probability of its answer
    expect(page.locator("figure.pixels img").first).to_be_visible()
    for key in ("cm_true", "cm_pred"):  # the keyboard route to a cell follows the click
        expect(keyed(page, key).get_by_role("combobox")).to_have_value("cat")
    screenshot(page, folders, "6-confusion-cell")

    first = captions.first.inner_text()  # "97% · #12"
    index = first.split("#")[1]
    button(page, f"cm_pick_{index}").click()
    expect(page.get_by_role("heading", name=f"Inside test image {index}")).to_be_visible(timeout=SLOW)
    wait_until_idle(page)
    expect(page.get_by_text(re.compile(r"^The network says cat \(\d+%\) — right\.$"))).to_be_visible()
    for key in ("cm_view_probs", "cm_view_conv1", "cm_view_conv2"):
        expect(keyed(page, key).locator(".main-svg").first).to_be_visible()
    expect(keyed(page, "cm_view_probs").get_by_text("cat (true)")).to_be_visible()
    screenshot(page, folders, "7-confusion-look-inside")


def test_an_uploaded_photo_gets_its_feature_maps_and_probabilities(page, folders):
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), (230, 25, 75)).save(photo, format="PNG")  # the tiny data's airplane colour
    path = folders.screenshots / "photo.png"
    path.write_bytes(photo.getvalue())

    open_page(page, "Feature maps")
    keyed(page, "fm_source").get_by_text("Your own photo", exact=True).click(timeout=SLOW)
    expect(page.get_by_text("No photo yet")).to_be_visible(timeout=SLOW)
    keyed(page, "fm_upload").locator("input[type=file]").set_input_files(path)
    heading = page.get_by_role("heading", name="What the network sees in your photo")
    expect(heading).to_be_visible(timeout=SLOW)
    wait_until_idle(page)
    bars = keyed(page, "fm_probs").locator(".bars .point")
    expect(bars).to_have_count(10)
    expect(page.get_by_text(re.compile(r"^The network says airplane \(\d+%\)\.$"))).to_be_visible()
    for key in ("fm_conv1", "fm_conv2"):
        expect(keyed(page, key).locator(".main-svg").first).to_be_visible()
    screenshot(page, folders, "8-feature-maps-upload")
