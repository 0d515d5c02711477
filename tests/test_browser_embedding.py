"""The Map page in a real headless Chromium: a click on one dot (a WebGL scattergl point) opens that test image's
look-inside view, in sight. The checkpoint folder is a real tiny run made here first (100 test images)."""
import re

import pytest

from browser_actions import (BROWSER_MARKS, SLOW, browser_tab, expect, keyed, open_page, server_on_a_trained_run,
                             wait_until_idle)

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with server_on_a_trained_run(tmp_path_factory) as running:
        yield running


@pytest.fixture
def page(server):
    with browser_tab(server) as tab:
        yield tab


# The page position of the dot farthest from any other (so a click there hits it and no neighbour) and its
# test index (customdata); null until the chart is drawn.
LONELY_DOT = """() => {
  const plot = document.querySelector('.st-key-em_chart:not([data-stale="true"]) .js-plotly-plot');
  if (!plot || !plot._fullLayout || !plot._fullData || !plot._fullData.length) return null;
  const dots = plot._fullData[0], layout = plot._fullLayout, box = plot.getBoundingClientRect();
  const px = Array.from(dots.x, x => box.left + layout.xaxis._offset + layout.xaxis.d2p(x));
  const py = Array.from(dots.y, y => box.top + layout.yaxis._offset + layout.yaxis.d2p(y));
  let best = -1, room = -1;
  for (let i = 0; i < px.length; i++) {
    let nearest = Infinity;
    for (let j = 0; j < px.length; j++)
      if (j !== i) nearest = Math.min(nearest, Math.hypot(px[i] - px[j], py[i] - py[j]));
    if (nearest > room) { room = nearest; best = i; }
  }
  return {x: px[best], y: py[best], index: dots.customdata[best], room: room};
}"""


def test_a_click_on_a_dot_opens_that_images_look_inside_view_in_sight(page):
    open_page(page, "Map")
    expect(page.get_by_role("heading", name="Map of what it learned")).to_be_visible(timeout=SLOW)
    chart = keyed(page, "em_chart")
    expect(chart.locator(".nsewdrag")).to_be_visible(timeout=SLOW)
    wait_until_idle(page)
    chart.scroll_into_view_if_needed()
    page.wait_for_function(f"() => ({LONELY_DOT})() !== null", timeout=SLOW)
    dot = page.evaluate(LONELY_DOT)
    assert dot["room"] > 4  # pixels to the nearest other dot: the click cannot land on a neighbour
    page.mouse.move(dot["x"], dot["y"])
    expect(page.get_by_text(re.compile(rf"^#{dot['index']} · \w+, answered \w+"))).to_be_visible(timeout=SLOW)
    page.mouse.click(dot["x"], dot["y"])
    heading = page.get_by_role("heading", name=re.compile(rf"^Inside test image #{dot['index']} "))
    expect(heading).to_be_visible(timeout=SLOW)
    expect(heading).to_be_in_viewport(timeout=SLOW)  # brought into sight below the map
    wait_until_idle(page)
    expect(page.get_by_text(re.compile(r"^The network says \w+ \(\d+%\)"))).to_be_visible()
    expect(keyed(page, "em_index").locator("input")).to_have_value(str(dot["index"]))  # the typed route follows
