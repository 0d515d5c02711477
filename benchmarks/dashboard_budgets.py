"""Dashboard responsiveness budgets, measured with a real Streamlit server and a real headless Chromium.

    .venv/bin/python benchmarks/dashboard_budgets.py [--repeats 3] [--checkpoint-dir C] [--data-dir D]

On the full CIFAR-10 (data/CIFAR-10). A checkpoint is needed: the latest one of
--checkpoint-dir, else one trained first (`python -m cifar_core train --steps 200`
into a tmp folder, about a minute). Every server gets a fresh copy of that one
checkpoint, so its caches are cold and its training run writes nowhere else.
Prints a table of medians with budgets and PASS/FAIL, and writes it (with every
sample) to benchmarks/results/dashboard_budgets.json. Not run in CI. The machine
is shared: compare only numbers from one run.

Two phases of --repeats servers each: *idle* (nothing trains) and *training* (a run
started on the Train page with the default preset's settings but 100,000 iterations,
going all through the phase: the Iterations field is set to 100,000 before Start, since the form starts
at the checkpoint's own run's settings). Per server:

  tab A opens Home and then the Train page (which imports TensorFlow and loads the
  dataset, as a learner's first visit would); in the training phase it presses
  Start there and stays on the page (its fragment redraws every second: the
  teacher's projector). Tab B, a second browser context, makes the measurements.
  In the last training server, both tabs then close and the throughput is measured; then (unless
  --no-explain) a new tab A on the Train page and a new tab B make the Map measurements, which come last in
  every server: the Map's first visit starts a t-SNE in the background (a niced child process, a minute of
  both cores or more), which must not share a throughput window nor any other measurement.

What each number is (wall clock in this script, from just before the action to the
moment the expected element is in the page; waits poll on every animation frame):

  first paint      server health "ok" (the server accepts connections) -> Home's title
                   visible in a fresh browser context (includes loading the frontend).
  confusion new    click on "Confusion matrix" in the sidebar -> the heatmap drawn, for a
                   checkpoint this server has never opened: loads the model and
                   classifies the 10,000 test images.
  confusion cached the same, back from Home, for the same checkpoint (cached).
  cell click       mouse click on a cell of the heatmap -> that cell's gallery complete:
                   its sentence and min(count, 24) captioned images, all drawn by the new
                   run and loaded. Cells with the most images, on and off the diagonal.
  feature maps     Enter in "Test image number" (a new number) -> the heading names the
                   new image and the conv2 chart (the page's last) holds its maps.
  timeline         on Filters, Feature maps and Confusion matrix: an arrow key on the timeline
                   slider (one snapshot earlier, from the run's end to step 0, then later,
                   back to the end) -> the page's charts redrawn with that snapshot's data.
  play             on Filters, Play from step 0: snapshots shown per second, from the first
                   change of the slider to the last (the run's end, where Play stops).
  explain          on Feature maps, "Test image number", with "Why this answer?" on Grad-CAM: Enter in
                   the field (a new number) -> the heading names the new image and the Grad-CAM overlay (the
                   st.html <img> captioned "Grad-CAM for <class>, over the picture") is drawn by this run
                   with a src (a data: PNG) other than the previous image's, and decoded. Then, for that
                   image, a click on Saliency (SmoothGrad), Integrated gradients, Occlusion in turn -> that
                   method's overlay drawn by this run and decoded (the page reruns whole; only the chosen
                   map is computed). Back to Grad-CAM before the next image, untimed; each action once the
                   run before it is over. --explain-images images per server.
  mistakes new     click on "Mistakes" in the sidebar, the page's first visit in this server -> the first
                   tile of both galleries shown on this dataset, Worst mistakes and Suspect labels (its image
                   decoded, in the column of its "Look inside" button). The published label errors are drawn
                   only for the official release (not for a re-encoded copy, which says so instead). The
                   network's answers for that checkpoint may be cached by the Confusion matrix visits before.
  map first draw   click on "Map" in the sidebar (the page "Map of what it learned"), its first visit in this
                   server -> the scattergl chart drawn by this run holds one point per test image
                   (`_fullData[0].x.length`, 10,000 on the full dataset): fc2 and its PCA for the checkpoint
                   shown (the newest, or the timeline's step), and the figure sent and drawn.
  map click        hover over a dot (its hover label shown), then click -> the look-inside heading "Inside
                   test image #<i> (...)" and the verdict "The network says ..." drawn by this run and
                   rendered. The dots: the --dots ones farthest from any other on screen (so the click hits
                   that one), away from the modebar. Before each, the page's run before it is over (the
                   first: the page's warm-up of the network; the others: the previous view, its Grad-CAM
                   drawn) and the chart is scrolled back into sight. The heading comes after the map in the
                   page's fragment: the click's time includes the map's figure made and sent again.
  throughput       training images/second (iterations x batch size) between two changes
                   of the step counter about --window-seconds apart, read on Home by a
                   probe tab (reloaded every 0.5 s near both ends; each end timed to the
                   middle between the read before the change and the read that saw it),
                   with no tab watching and with 3 tabs on the Train page, alternated;
                   the drop is 1 - median(3 tabs) / median(none). A window never holds a
                   checkpoint (10,000 test images and a save); it holds a test
                   evaluation every 200 iterations as training does.
  peak RSS         resident memory of the server process and its children, sampled
                   every 0.5 s, highest value during the training phase (dataset loaded
                   by the pages and by the training run, tabs open, measurements going).
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from playwright.sync_api import sync_playwright

from cifar_core import checkpoints  # no TensorFlow
from cifar_core.insights.explanations import METHODS  # no TensorFlow
from dashboard.figures.explanations import LABELS  # the methods as the segmented control names them
from dashboard.harness import StreamlitServer, launch_chromium
from dashboard.ui import words

ROOT = Path(__file__).resolve().parent.parent

PORTS = range(8621, 8640)
RESULTS = ROOT / "benchmarks" / "results"
TITLE = "How a CNN learns: CIFAR-10"
TIMEOUT = 180_000  # ms: a step that takes longer is a failure, not a slow sample
GALLERY_SIZE = 24  # as dashboard/pages/6_Confusion_matrix.py
CHECKPOINT_EVERY = 1000  # the default preset's, which the training phase runs
TRAINING_STEPS = 100_000  # the training phase's run: longer than any server's measurements, at any speed
BUDGETS = {  # name: (budget, unit); lower is better for all
    "first_paint": (3.0, "s"), "confusion_new": (5.0, "s"), "confusion_cached": (0.5, "s"),
    "cell_click": (0.5, "s"), "feature_maps": (0.5, "s"), "throughput_drop": (15.0, "%"),
    "peak_rss": (1.5, "GB"), "timeline_filters": (0.5, "s"), "timeline_feature_maps": (0.5, "s"),
    "timeline_confusion": (0.5, "s"), "play_interval": (1.0, "s"),
    "explain_gradcam": (0.5, "s"), "explain_smoothgrad": (0.5, "s"), "explain_occlusion": (1.0, "s"),
    "explain_integrated_gradients": (1.0, "s"), "mistakes_new": (1.0, "s"), "map_first_draw": (2.0, "s"),
    "map_click": (0.5, "s"),
}
TIMELINE_PAGES = {"filters": "Filters", "feature_maps": "Feature maps", "confusion": "Confusion matrix"}
WIDGET_PREFIX = {"filters": "filters", "feature_maps": "fm", "confusion": "cm"}


# --- the server's memory ------------------------------------------------------------------

class RssSampler(threading.Thread):
    """Peak RSS (bytes) of a process and its children, sampled every 0.5 s until stop()."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.process, self.peak, self.done = psutil.Process(pid), 0, threading.Event()

    def run(self):
        while not self.done.wait(0.5):
            try:
                rss = sum(p.memory_info().rss for p in [self.process, *self.process.children(recursive=True)])
            except psutil.Error:  # the server (or a child) just went away
                continue
            self.peak = max(self.peak, rss)

    def stop(self):
        self.done.set()
        self.join()


# --- one browser tab ------------------------------------------------------------------------

def timed(action, wait):
    start = time.perf_counter()
    action()
    wait()
    return time.perf_counter() - start


def fresh(key):
    """CSS for the element drawn with `key` by the latest run: a rerun keeps stale copies a while, and
    Streamlit 1.67 keeps the previous one hidden beside the new one (data-retained; not stale while another
    fragment reruns). DRAWN is the same test for the scripts below."""
    return f'.st-key-{key}:not([data-stale="true"]):not([data-retained="true"])'


DRAWN = """(e => !e.closest('[data-stale="true"], [data-retained="true"]'))"""  # JS: drawn by the latest run
# JS: this tab's script run is over (Streamlit's status widget shows once a run takes 0.5 s, goes with it).
IDLE = """() => !document.querySelector('[data-testid="stStatusWidget"], [data-stale="true"]')"""


def sidebar(page, label):
    return page.get_by_test_id("stSidebarNav").get_by_role("link", name=label, exact=True)


def wait_fn(page, script, arg=None):
    page.wait_for_function(script, arg=arg, polling="raf", timeout=TIMEOUT)


def open_home(page):
    sidebar(page, "Home").click()
    page.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
    page.locator(".st-key-cm_chart").wait_for(state="detached", timeout=TIMEOUT)


def confusion_visit(page):
    """Seconds from the sidebar click to the heatmap drawn."""
    return timed(lambda: sidebar(page, "Confusion matrix").click(),
                 lambda: page.locator(f"{fresh('cm_chart')} .heatmaplayer image").wait_for(timeout=TIMEOUT))


GALLERY_DONE = """([sentence, n]) => {
  const drawn = """ + DRAWN + """;  // by this run, not left over from the last one
  const said = [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')]
    .some(e => drawn(e) && e.innerText.includes(sentence));
  const captions = [...document.querySelectorAll('figure.pixels figcaption')]
    .filter(c => drawn(c) && /^\\d+% · #\\d+$/.test(c.innerText.trim()));
  return said && captions.length === n && captions.every(c => {
    const img = c.parentElement.querySelector('img'); return img && img.complete && img.naturalWidth > 0; });
}"""


def cell_clicks(page, count):
    """Seconds from a click on a cell to its gallery, for `count` cells: those with the most images, half of
    them off the diagonal."""
    plot = page.locator(f"{fresh('cm_chart')} .js-plotly-plot")
    cells, names = plot.evaluate("p => [p.data[1].customdata, p.layout.xaxis.ticktext]")
    cells = sorted((c for c in cells if c[2] > 0), key=lambda c: -c[2])
    off = [c for c in cells if c[0] != c[1]][:count // 2]
    on = [c for c in cells if c[0] == c[1]][:count - len(off)]
    samples = []
    for true, predicted, images in [c for pair in zip(on, off) for c in pair] + on[len(off):]:
        plot.scroll_into_view_if_needed()
        area = page.locator(f"{fresh('cm_chart')} .nsewdrag").bounding_box()  # columns/rows -0.5..9.5
        x = area["x"] + (predicted + 0.5) * area["width"] / 10
        y = area["y"] + (true + 0.5) * area["height"] / 10
        sentence = (f"of {words.plural(names[true])} are" if images > 1 else f"of {words.with_article(names[true])} is") \
            + f" called {names[predicted]} ("  # the gallery's sentence, as the page words it
        samples.append(timed(lambda: page.mouse.click(x, y), lambda: wait_fn(
            page, GALLERY_DONE, [sentence, min(images, GALLERY_SIZE)])))
    return samples


MAPS_DONE = """([index, before]) => {
  const heading = [...document.querySelectorAll('h3')].some(h => """ + DRAWN + """(h)
    && h.innerText.trim() === `What the network sees in test image ${index}`);
  const plot = document.querySelector('""" + fresh("fm_conv2") + """ .js-plotly-plot');
  return heading && plot && plot.querySelector('.heatmaplayer image')
    && JSON.stringify(plot.data[0].z) !== before;
}"""


def feature_map_changes(page, indices):
    """Seconds from Enter in "Test image number" to the new image's maps, for each index."""
    sidebar(page, "Feature maps").click()
    page.locator(fresh("fm_source")).get_by_text("Test image number", exact=True).click(timeout=TIMEOUT)
    wait_fn(page, MAPS_DONE, [0, ""])
    field = page.locator(f"{fresh('fm_index')} input")
    samples = []
    for index in indices:
        before = page.locator(f"{fresh('fm_conv2')} .js-plotly-plot").evaluate(
            "p => JSON.stringify(p.data[0].z)")  # the maps now shown
        field.fill(str(index))
        samples.append(timed(lambda: field.press("Enter"), lambda: wait_fn(page, MAPS_DONE, [index, before])))
    return samples


CHARTS_NOW = """() => JSON.stringify([...document.querySelectorAll('.stPlotlyChart .js-plotly-plot')]
  .filter(""" + DRAWN + """).map(p => (p.data || []).map(t => t.z || t.source || t.y || null)))"""
CHARTS_CHANGED = """([before, slider, label]) => {
  const thumb = document.querySelector(slider);
  if (!thumb || thumb.getAttribute('aria-valuetext') !== label) return false;
  if (document.querySelector('[data-stale="true"]')) return false;  // the run has not drawn everything yet
  return (""" + CHARTS_NOW + """)() !== before; }"""


def slider_thumb(prefix):
    return f"{fresh(prefix + '_timeline')} input[type='range']"  # the slider's thumb, focusable


def timeline_moves(page, view):
    """Seconds from an arrow key on the timeline slider to the page redrawn at that snapshot: from the run's
    end down to step 0 (each snapshot new to this server), then back up (cached)."""
    prefix = WIDGET_PREFIX[view]
    sidebar(page, TIMELINE_PAGES[view]).click()
    thumb = page.locator(slider_thumb(prefix))
    thumb.wait_for(state="attached", timeout=TIMEOUT)
    page.locator(".stPlotlyChart .js-plotly-plot").first.wait_for(timeout=TIMEOUT)
    page.wait_for_timeout(500)
    samples = []
    for key in ["ArrowLeft"] * 20 + ["ArrowRight"] * 20:
        before_label = thumb.get_attribute("aria-valuetext")
        value, low, high = thumb.evaluate("e => [e.value, e.min, e.max]")
        at_end = value == (low if key == "ArrowLeft" else high)
        if at_end:
            continue
        before = page.evaluate(CHARTS_NOW)
        thumb.focus()
        start = time.perf_counter()
        thumb.press(key)
        page.wait_for_function("([s, l]) => { const t = document.querySelector(s); "
                               "return t && t.getAttribute('aria-valuetext') !== l }",
                               arg=[slider_thumb(prefix), before_label], polling="raf", timeout=TIMEOUT)
        label = page.locator(slider_thumb(prefix)).get_attribute("aria-valuetext")
        wait_fn(page, CHARTS_CHANGED, [before, slider_thumb(prefix), label])
        samples.append(time.perf_counter() - start)
    return samples


def play_intervals(page):
    """Seconds between two snapshots while Play runs on Filters, from step 0 to the run's end."""
    sidebar(page, "Filters").click()
    thumb = page.locator(slider_thumb("filters"))
    thumb.wait_for(state="attached", timeout=TIMEOUT)
    page.locator(fresh("filters_play")).get_by_role("button").click()
    changes, label = [], None
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        now = page.locator(slider_thumb("filters")).get_attribute("aria-valuetext")
        if now != label:
            changes.append(time.perf_counter())
            label = now
        if len(changes) > 1 and page.locator(fresh("filters_play")).get_by_role("button").inner_text().strip() \
                .endswith("Play"):
            break
        page.wait_for_timeout(20)
    return [b - a for a, b in zip(changes[1:], changes[2:])]  # the first change is Play's jump to step 0


EXPLAINED = """([label, before, heading]) => {
  const drawn = """ + DRAWN + """;
  const headed = [...document.querySelectorAll('h3')].some(h => drawn(h) && h.innerText.trim() === heading);
  if (heading !== null && !headed) return false;
  const img = [...document.querySelectorAll('[data-testid="stHtml"] img')]
    .find(i => drawn(i) && i.alt.startsWith(label + ' for '));  // "Grad-CAM for cat, over the picture"
  return !!img && img.src !== before && img.complete && img.naturalWidth > 0;
}"""
EXPLANATION_NOW = """() => {  // the src of the overlay shown now, whichever the method
  const img = [...document.querySelectorAll('[data-testid="stHtml"] img')]
    .find(i => """ + DRAWN + """(i) && / for .*, over the picture$/.test(i.alt));
  return img ? img.src : ''; }"""


def method_button(page, prefix, method):
    return page.locator(fresh(f"{prefix}_explain")).get_by_role("radio", name=LABELS[method], exact=True)


def explanation_changes(page, indices):
    """{method: seconds} on Feature maps: from Enter in "Test image number" (each of `indices`, new) to its
    Grad-CAM drawn; then, for that image, from a click on each other method to its map drawn."""
    sidebar(page, "Feature maps").click()
    page.locator(fresh("fm_source")).get_by_text("Test image number", exact=True).click(timeout=TIMEOUT)
    field = page.locator(f"{fresh('fm_index')} input")
    shown = field.input_value(timeout=TIMEOUT)
    samples = {method: [] for method in METHODS}
    for index in indices:
        grad_cam = method_button(page, "fm", "gradcam")
        if grad_cam.get_attribute("aria-checked", timeout=TIMEOUT) != "true":
            grad_cam.click()
        wait_fn(page, EXPLAINED, [LABELS["gradcam"], "", f"What the network sees in test image {shown}"])
        wait_fn(page, IDLE)
        before = page.evaluate(EXPLANATION_NOW)
        field.fill(str(index))
        samples["gradcam"].append(timed(lambda: field.press("Enter"), lambda: wait_fn(
            page, EXPLAINED, [LABELS["gradcam"], before, f"What the network sees in test image {index}"])))
        shown = index
        for method in [m for m in METHODS if m != "gradcam"]:
            wait_fn(page, IDLE)
            before = page.evaluate(EXPLANATION_NOW)
            button = method_button(page, "fm", method)
            button.scroll_into_view_if_needed(timeout=TIMEOUT)
            samples[method].append(timed(button.click, lambda: wait_fn(
                page, EXPLAINED, [LABELS[method], before, None])))
    return samples


MISTAKES_DRAWN = """(sections) => sections.every(section => {
  const button = [...document.querySelectorAll(`[class*="st-key-mi_pick_${section}_"]`)]
    .find(""" + DRAWN + """);  // the gallery's first "Look inside", drawn by this run
  const img = button && button.closest('[data-testid="stColumn"]').querySelector('img');
  return !!img && """ + DRAWN + """(img) && img.complete && img.naturalWidth > 0;
})"""


def mistakes_visit(page):
    """Seconds from the sidebar click to the first tile of Worst mistakes and of Suspect labels drawn."""
    wait_fn(page, IDLE)  # the page before is done
    return timed(lambda: sidebar(page, "Mistakes").click(),
                 lambda: wait_fn(page, MISTAKES_DRAWN, ["worst", "suspect"]))


MAP_PLOT = """document.querySelector('""" + fresh("em_chart") + """ .js-plotly-plot')"""
MAP_DRAWN = """(n) => { const p = """ + MAP_PLOT + """;
  return !!(p && p._fullData && p._fullData.length && p._fullData[0].x && p._fullData[0].x.length === n); }"""
# The test indices (customdata) of the `k` dots farthest from any other on screen, none under the modebar
# (the top 40 px of the plot area): a click there hits that dot and no neighbour.
LONELY_DOTS = """(k) => {
  const plot = """ + MAP_PLOT + """, dots = plot._fullData[0], layout = plot._fullLayout;
  const px = Array.from(dots.x, x => layout.xaxis.d2p(x)), py = Array.from(dots.y, y => layout.yaxis.d2p(y));
  const room = px.map((x, i) => {
    let nearest = Infinity;
    for (let j = 0; j < px.length; j++)
      if (j !== i) nearest = Math.min(nearest, (x - px[j]) ** 2 + (py[i] - py[j]) ** 2);
    return py[i] < 40 ? -1 : nearest; });
  return [...room.keys()].sort((a, b) => room[b] - room[a]).slice(0, k).map(i => dots.customdata[i]);
}"""
DOT_AT = """(index) => {  // the page position of the dot of test image `index` (customdata is the index)
  const plot = """ + MAP_PLOT + """, dots = plot._fullData[0], layout = plot._fullLayout;
  const box = plot.getBoundingClientRect(), i = dots.customdata.indexOf(index);
  return {x: box.left + layout.xaxis._offset + layout.xaxis.d2p(dots.x[i]),
          y: box.top + layout.yaxis._offset + layout.yaxis.d2p(dots.y[i])};
}"""
LOOKED_INSIDE = """(index) => {
  const drawn = e => """ + DRAWN + """(e) && e.checkVisibility();
  return [...document.querySelectorAll('h3')]
      .some(h => drawn(h) && h.innerText.startsWith(`Inside test image #${index} (`))
    && [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')]
      .some(e => drawn(e) && e.innerText.startsWith('The network says '));
}"""
VIEW_DONE = """(index) => (""" + LOOKED_INSIDE + """)(index) && (""" + IDLE + """)()
  && [...document.querySelectorAll('[data-testid="stHtml"] img')].some(i => i.alt.startsWith('Grad-CAM for ')
     && i.complete && i.naturalWidth > 0)"""


def map_visit(page, count):
    """Seconds from the sidebar click to the Map's chart holding its `count` points."""
    wait_fn(page, IDLE)  # the page before is done
    return timed(lambda: sidebar(page, "Map").click(), lambda: wait_fn(page, MAP_DRAWN, count))


def map_clicks(page, dots):
    """Seconds from a click on a dot to its look-inside heading and verdict, for `dots` lonely dots, each
    once the page's run before it is over."""
    chart = page.locator(fresh("em_chart"))
    chart.scroll_into_view_if_needed(timeout=TIMEOUT)
    samples = []
    wait_fn(page, IDLE)  # the page's run is over, its warm-up of the network included
    for index in page.evaluate(LONELY_DOTS, dots):
        # The previous click's view brings itself into sight for a while: a wheel event stops that, as a
        # learner's scrolling does (dashboard/ui/look_inside.py), then the chart comes back into sight.
        page.evaluate("() => dispatchEvent(new WheelEvent('wheel'))")
        chart.scroll_into_view_if_needed(timeout=TIMEOUT)
        dot = page.evaluate(DOT_AT, index)
        page.mouse.move(dot["x"], dot["y"])  # plotly clicks the hovered point
        page.get_by_text(re.compile(rf"^#{index} · ")).wait_for(timeout=TIMEOUT)
        samples.append(timed(lambda: page.mouse.click(dot["x"], dot["y"]),
                             lambda: wait_fn(page, LOOKED_INSIDE, index)))
        wait_fn(page, VIEW_DONE, index)  # the rest of the view (maps, Grad-CAM) before the next click
    return samples


def new_tab(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT)
    return context, context.new_page()


def start_training(page):
    """On the Train page with the default preset's settings but TRAINING_STEPS iterations (the form starts at
    the checkpoint's run's, e.g. 200 steps, which would end within a minute; a whole default run, 8,000 steps,
    ends within 8 minutes, before a server's measurements do): Start; returns the batch size."""
    sidebar(page, "Train").click()
    steps = str(TRAINING_STEPS)
    field = page.locator(f"{fresh('train_steps')} input")
    field.fill(steps)
    field.press("Enter")
    wait_fn(page, """([selector, steps]) => { const field = document.querySelector(selector);
      return field && field.value === steps && !document.querySelector('[data-stale="true"]'); }""",
            [f"{fresh('train_steps')} input", steps])
    page.locator(fresh("train_start")).get_by_role("button").click(timeout=TIMEOUT)
    caption = page.get_by_text(re.compile(r"^This run: default preset, [\d,]+ steps of \d+ images"))
    caption.wait_for(timeout=TIMEOUT)
    page.get_by_text(re.compile(r"^step [\d,]+ of ")).first.wait_for(timeout=TIMEOUT)
    return int(re.search(r"steps of (\d+) images", caption.inner_text()).group(1))


# --- training throughput --------------------------------------------------------------------

class StepProbe:
    """Reads the training step from Home's status line ("running: step 1,230 of 36,200"), which moves in
    steps of 10 (the job publishes its progress every 10 iterations)."""

    def __init__(self, browser, url):
        self.context, self.page = new_tab(browser)
        self.url = url

    def read(self):
        """(step shown, time): the time is the middle of the page load that showed it. RuntimeError when the
        run is no longer running (finished, paused, stopped or failed: its line says so)."""
        started = time.perf_counter()
        self.page.goto(self.url)
        line = self.page.get_by_text(re.compile(r"^[a-z]+: step [\d,]+ of [\d,]+$"))  # words.describe_run
        line.wait_for(timeout=TIMEOUT)
        text = line.inner_text().strip()
        state, step = re.match(r"^([a-z]+): step ([\d,]+) of", text).groups()
        if state != "running":
            raise RuntimeError(f"the training run is not running: Home says {text!r}")
        return int(step.replace(",", "")), (started + time.perf_counter()) / 2

    def next_change(self, period=0.5):
        """(new step, time) of the counter's next change, timed to the middle between the read before it and
        the read that saw it; reads every `period` seconds."""
        step, seen_at = self.read()
        while True:
            time.sleep(max(0.0, seen_at + period - time.perf_counter()))
            before = seen_at
            new, seen_at = self.read()
            if new != step:
                return new, (before + seen_at) / 2

    def window(self, seconds, fastest):
        """Steps/second between two changes of the counter about `seconds` apart. A checkpoint (a pass over
        the 10,000 test images, then a save) must not fall inside: when one could, at the `fastest` rate
        seen, wait until it has passed (at most 90 s)."""
        step, _ = self.read()
        deadline = time.perf_counter() + 90
        while (step // CHECKPOINT_EVERY != int(step + fastest * (seconds + 5)) // CHECKPOINT_EVERY
               and time.perf_counter() < deadline):
            time.sleep(2)
            step, _ = self.read()
        first, t0 = self.next_change()
        time.sleep(seconds)
        last, t1 = self.next_change()
        return (last - first) / (t1 - t0), (first, last)

    def close(self):
        self.context.close()


def cpu_seconds(processes):
    """CPU seconds used by `processes` and by their children that have ended (a closed tab's renderer
    is counted in its parent's children_* once reaped)."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:  # gone meanwhile
            pass
    return total


def browser_processes(server):
    """This script's child processes outside the server's tree: Chromium's."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.pid != server.process.pid and server.process.pid not in {a.pid for a in process.parents()}:
                found.append(process)
        except psutil.Error:  # ended while we looked (a closed tab's renderer)
            pass
    return found


def throughput(browser, server, batch, seconds, rounds):
    """{0: [images/s per window], 3: [...]}, and the CPU cores used meanwhile by the server and by this
    script's browser (on the same machine; in a classroom the tabs run on the students' laptops):
    no tab on the Train page, then 3, alternating."""
    probe = StepProbe(browser, server.url)
    fastest, _ = probe.window(seconds / 2, fastest=0.0)  # nobody watching: the fastest rate, to plan with
    samples = {0: [], 3: [], "cpu": []}
    server_process = psutil.Process(server.process.pid)
    for _ in range(rounds):
        for watchers in (0, 3):
            tabs = [new_tab(browser) for _ in range(watchers)]
            for _, page in tabs:
                page.goto(f"{server.url}/Train")
                page.get_by_text(re.compile(r"^step [\d,]+ of ")).first.wait_for(timeout=TIMEOUT)
            cpu_before = cpu_seconds([server_process]), cpu_seconds(browser_processes(server)), time.perf_counter()
            steps_per_second, (first, last) = probe.window(seconds, fastest)
            cpu_after = cpu_seconds([server_process]), cpu_seconds(browser_processes(server)), time.perf_counter()
            wall = cpu_after[2] - cpu_before[2]
            server_cores, browser_cores = ((cpu_after[i] - cpu_before[i]) / wall for i in (0, 1))
            samples[watchers].append(steps_per_second * batch)
            samples["cpu"].append({"tabs": watchers, "server_cores": server_cores,
                                   "browser_cores": browser_cores})
            print(f"    throughput with {watchers} Train tabs: {steps_per_second * batch:,.0f} images/s "
                  f"(steps {first:,} to {last:,}; CPU cores: server {server_cores:.2f}, "
                  f"browser {browser_cores:.2f})", flush=True)
            for context, _ in tabs:
                context.close()
    probe.close()
    return samples


# --- a server's life --------------------------------------------------------------------

def one_server(browser, data_dir, checkpoint, training, measure_throughput, args, samples, rss_peaks):
    """Start a fresh server on a fresh copy of `checkpoint`, measure, stop it; samples go into `samples`."""
    phase = "training" if training else "idle"
    already = {name: len(values) for name, values in samples.items()}
    with tempfile.TemporaryDirectory(prefix="dashboard-budgets-") as folder:
        shutil.copytree(checkpoint.path, Path(folder) / checkpoint.path.name)
        if (checkpoint.path.parent / "snapshots").is_dir():  # the run's timeline
            shutil.copytree(checkpoint.path.parent / "snapshots", Path(folder) / "snapshots")
        server = StreamlitServer(env={"CIFAR10_DATA_DIR": str(data_dir), "CIFAR10_CHECKPOINT_DIR": folder},
                                 ports=PORTS, log_path=Path(folder) / "streamlit.log", app_root=args.app_root,
                                 cwd=args.app_root)
        tabs = []
        rss = None
        try:
            tabs.append(new_tab(browser))
            tab_a = tabs[0][1]
            server.start(timeout=120)
            healthy = time.perf_counter()
            rss = RssSampler(server.process.pid)
            rss.start()
            tab_a.goto(server.url, wait_until="commit")
            tab_a.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
            samples["first_paint"].append(time.perf_counter() - healthy)
            status = tab_a.get_by_text("CIFAR-10 is here")
            status.wait_for(timeout=TIMEOUT)
            samples["dataset_status"].append(time.perf_counter() - healthy)
            test_images = int(re.search(r"and ([\d,]+) test images", status.inner_text())[1].replace(",", ""))
            if training:
                batch = start_training(tab_a)
            elif args.train_tab:
                sidebar(tab_a, "Train").click()
                tab_a.locator(fresh("train_start")).get_by_role("button").wait_for(timeout=TIMEOUT)

            tabs.append(new_tab(browser))
            tab_b = tabs[1][1]
            tab_b.goto(server.url)
            tab_b.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
            key = f"{phase}:"
            samples[key + "confusion_new"].append(confusion_visit(tab_b))
            for _ in range(args.cached):
                open_home(tab_b)
                samples[key + "confusion_cached"].append(confusion_visit(tab_b))
            samples[key + "cell_click"] += cell_clicks(tab_b, args.clicks)
            indices = [1000 * (i + 1) + 7 for i in range(args.changes)]  # any other test images
            samples[key + "feature_maps"] += feature_map_changes(tab_b, indices)
            if args.timeline:
                for view in TIMELINE_PAGES:
                    samples[f"{key}timeline_{view}"] += timeline_moves(tab_b, view)
                samples[key + "play_interval"] += play_intervals(tab_b)
            if args.explain:
                indices = [1000 * (i + 1) + 507 for i in range(args.explain_images)]  # not those above
                for method, values in explanation_changes(tab_b, indices).items():
                    samples[f"{key}explain_{method}"] += values
                samples[key + "mistakes_new"].append(mistakes_visit(tab_b))
            if measure_throughput:
                for context, _ in tabs:
                    context.close()
                tabs = []
                for what, values in throughput(browser, server, batch, args.window_seconds,
                                               args.throughput_rounds).items():
                    samples[f"throughput_{what}"] += values
                if args.explain:  # the Map's tabs as before: the teacher's on Train, the measuring one
                    tabs = [new_tab(browser), new_tab(browser)]
                    (_, tab_a), (_, tab_b) = tabs
                    tab_a.goto(f"{server.url}/Train")
                    tab_a.get_by_text(re.compile(r"^step [\d,]+ of ")).first.wait_for(timeout=TIMEOUT)
                    tab_b.goto(server.url)
                    tab_b.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
            if args.explain:  # last: the Map's first visit starts a t-SNE in the background
                samples[key + "map_first_draw"].append(map_visit(tab_b, test_images))
                samples[key + "map_click"] += map_clicks(tab_b, args.dots)
            new = {name.split(":")[-1]: values[already[name]:] for name, values in samples.items()
                   if len(values) > already[name] and not name.startswith("throughput")}  # "idle:x": "x"
            print("    " + ", ".join(f"{name} {', '.join(f'{v:.2f}' for v in values)} s"
                                    for name, values in new.items()), flush=True)
        except Exception:
            for number, (_, page) in enumerate(tabs):
                shot = RESULTS / f"failure-tab{number}.png"
                page.screenshot(path=shot, full_page=True)
                print(f"screenshot: {shot}", file=sys.stderr)
            log = Path(folder) / "streamlit.log"
            print(f"server log (tail):\n{log.read_text()[-3000:]}", file=sys.stderr)
            raise
        finally:
            for context, _ in tabs:
                context.close()
            if rss is not None:
                rss.stop()
                rss_peaks.append({phase: rss.peak})
            server.stop()


# --- report ---------------------------------------------------------------------------------

def median(values):
    return statistics.median(values) if values else None


def p90(values):
    """The 90th percentile (linear between samples), or None under 2 samples: the slow moves a median hides."""
    return statistics.quantiles(values, n=10, method="inclusive")[8] if len(values) >= 2 else None


def summary(samples, rss_peaks):
    """Rows: (label, median, p90 or None, budget key or None, unit, n)."""
    rows = [("Home first paint (fresh server)", median(samples["first_paint"]), p90(samples["first_paint"]),
             "first_paint", "s", len(samples["first_paint"])),
            ("  Home's dataset status (info)", median(samples["dataset_status"]), None, None, "s",
             len(samples["dataset_status"]))]
    for phase, said in (("idle", "idle"), ("training", "while training")):
        for key, label in (("confusion_new", "Confusion matrix, new checkpoint"),
                           ("confusion_cached", "Confusion matrix, cached"),
                           ("cell_click", "Cell click -> its gallery"),
                           ("feature_maps", "Feature maps of another image"),
                           ("timeline_filters", "Timeline step -> Filters"),
                           ("timeline_feature_maps", "Timeline step -> Feature maps"),
                           ("timeline_confusion", "Timeline step -> Confusion matrix"),
                           ("play_interval", "Play: seconds per snapshot"),
                           ("explain_gradcam", "Grad-CAM of another image"),
                           ("explain_smoothgrad", f"Method -> {LABELS['smoothgrad']} (SmoothGrad)"),
                           ("explain_integrated_gradients", f"Method -> {LABELS['integrated_gradients']}"),
                           ("explain_occlusion", f"Method -> {LABELS['occlusion']}"),
                           ("mistakes_new", "Suspects and worst mistakes, new checkpoint"),
                           ("map_first_draw", "Map first draw (PCA), new checkpoint"),
                           ("map_click", "Map dot click -> look-inside")):
            values = samples.get(f"{phase}:{key}", [])
            rows.append((f"{label} ({said})", median(values), p90(values), key, "s", len(values)))
    zero, three = samples.get("throughput_0", []), samples.get("throughput_3", [])
    if zero and three:
        rows.append(("Training images/s, no Train tab (info)", median(zero), None, None, "img/s", len(zero)))
        rows.append(("Training images/s, 3 Train tabs (info)", median(three), None, None, "img/s", len(three)))
        drop = 100 * (1 - median(three) / median(zero))
        rows.append(("Throughput drop with 3 Train tabs", drop, None, "throughput_drop", "%", len(three)))
    for phase, label in (("idle", "Peak server RSS, idle (info)"),
                         ("training", "Peak server RSS while training")):
        peaks = [p[phase] / 1e9 for p in rss_peaks if phase in p]
        if peaks:
            rows.append((label, max(peaks), None, "peak_rss" if phase == "training" else None, "GB", len(peaks)))
    return rows


def print_table(rows):
    print(f"\n{'measure':<60} {'median':>12} {'p90':>8} {'budget':>11}  result  n")
    print("-" * 105)
    for label, value, slow, key, unit, n in rows:
        shown = ("–" if value is None else f"{value:,.0f} {unit}" if unit == "img/s" else
                 f"{value:.2f} {unit}")
        tail = "" if slow is None else f"{slow:.2f} {unit}"
        if key is None:
            print(f"{label:<60} {shown:>12} {tail:>8} {'':>11}  {'':<6}  {n}")
            continue
        budget, _ = BUDGETS[key]
        verdict = "–" if value is None else "PASS" if value <= budget else "FAIL"
        print(f"{label:<60} {shown:>12} {tail:>8} {'<= ' + f'{budget:g} {unit}':>11}  {verdict:<6}  {n}")
    print("(PASS/FAIL: the median against the budget; p90: 90th percentile of the samples; RSS lines are the "
          "highest peak over the servers; GB = 10^9 bytes)")


def ensure_checkpoint(args, data_dir, scratch):
    if args.checkpoint_dir:
        latest = checkpoints.latest_checkpoint(args.checkpoint_dir)
        if latest is None:
            sys.exit(f"no checkpoint in {args.checkpoint_dir}")
        return latest
    folder = Path(scratch) / "checkpoints"
    print(f"Training a checkpoint (200 steps) into {folder} …", flush=True)
    run = subprocess.run([sys.executable, "-m", "cifar_core", "train", "--steps", "200", "--checkpoint-dir",
                          str(folder), "--data-dir", str(data_dir)], cwd=ROOT, capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"training the checkpoint failed:\n{run.stderr[-2000:]}")
    print(run.stdout.strip(), flush=True)
    return checkpoints.latest_checkpoint(folder)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh servers per phase (idle, training)")
    parser.add_argument("--cached", type=int, default=3, help="cached confusion-matrix visits per server")
    parser.add_argument("--clicks", type=int, default=4, help="cell clicks per server")
    parser.add_argument("--changes", type=int, default=4, help="feature-map image changes per server")
    parser.add_argument("--window-seconds", type=float, default=40, help="length of a throughput window")
    parser.add_argument("--throughput-rounds", type=int, default=2,
                        help="windows per condition (0 and 3 tabs)")
    parser.add_argument("--no-throughput", dest="throughput", action="store_false")
    parser.add_argument("--no-timeline", dest="timeline", action="store_false",
                        help="skip the timeline and Play measurements (pages without a timeline)")
    parser.add_argument("--explain-images", type=int, default=3,
                        help="Feature maps images per server (Grad-CAM, then each other method)")
    parser.add_argument("--dots", type=int, default=3, help="Map dots clicked per server")
    parser.add_argument("--no-explain", dest="explain", action="store_false",
                        help="skip the explanation, Mistakes and Map measurements (pages without them)")
    parser.add_argument("--phases", choices=("both", "idle", "training"), default="both",
                        help="measure only one phase (for a quick check of one change)")
    parser.add_argument("--checkpoint-dir", help="use its latest checkpoint instead of training one")
    parser.add_argument("--data-dir", default=str(ROOT / "data" / "CIFAR-10"))
    parser.add_argument("--app-root", type=Path, default=ROOT,
                        help="serve the dashboard of another checkout (e.g. `git worktree add /tmp/base <commit>`) "
                             "to compare before and after; with --no-timeline for one without the timeline, "
                             "--no-explain for one without the explanations, Mistakes and Map pages")
    parser.add_argument("--no-train-tab", dest="train_tab", action="store_false",
                        help="idle phase: tab A stays on Home instead of the Train page (no idle polling)")
    args = parser.parse_args()
    data_dir = Path(args.data_dir).resolve()
    if not (data_dir / "cifar-10-batches-py").is_dir():
        sys.exit(f"the full CIFAR-10 is not in {data_dir}: python -m cifar_core download")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped (SIGTERM)"))  # still stop the servers
    started = time.time()
    RESULTS.mkdir(parents=True, exist_ok=True)
    samples = {key: [] for key in ("first_paint", "dataset_status", "throughput_0", "throughput_3",
                                   "throughput_cpu")}
    for phase in ("idle", "training"):
        for key in ("confusion_new", "confusion_cached", "cell_click", "feature_maps", *[
                f"timeline_{view}" for view in TIMELINE_PAGES], "play_interval",
                *[f"explain_{method}" for method in METHODS], "mistakes_new", "map_first_draw", "map_click"):
            samples[f"{phase}:{key}"] = []
    rss_peaks = []
    with tempfile.TemporaryDirectory(prefix="dashboard-budgets-") as scratch:
        checkpoint = ensure_checkpoint(args, data_dir, scratch)
        print(f"Checkpoint: {checkpoint.path} (step {checkpoint.step})", flush=True)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                for training in [phase != "idle" for phase in ("idle", "training")
                                 if args.phases in ("both", phase)]:
                    for repeat in range(args.repeats):
                        phase = "training" if training else "idle"
                        print(f"  {phase} server {repeat + 1} of {args.repeats} …", flush=True)
                        measure_throughput = training and repeat == args.repeats - 1 and args.throughput
                        one_server(browser, data_dir, checkpoint, training, measure_throughput, args, samples,
                                   rss_peaks)
            finally:
                browser.close()

    rows = summary(samples, rss_peaks)
    print_table(rows)
    out = RESULTS / "dashboard_budgets.json"
    out.write_text(json.dumps({
        "command": " ".join([Path(sys.executable).name, *sys.argv]), "started": time.strftime(
            "%Y-%m-%d %H:%M:%S", time.localtime(started)), "minutes": round((time.time() - started) / 60, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "checkpoint_step": checkpoint.step, "app_root": str(args.app_root),
        "results": [{"measure": label, "median": value, "p90": slow, "unit": unit, "n": n,
                     "budget": BUDGETS[key][0] if key else None,
                     "pass": None if key is None or value is None else value <= BUDGETS[key][0]}
                    for label, value, slow, key, unit, n in rows],
        "samples": samples, "rss_peaks_bytes": rss_peaks}, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
