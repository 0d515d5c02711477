"""Running the dashboard's pages headless with AppTest, the way a browser reaches them: Home first, then
switch_page (the `trained_app` fixture in conftest.py points them at a tiny trained run)."""
from streamlit.testing.v1 import AppTest

HOME = "../dashboard/Home.py"  # relative to the tests


def open_page(page):
    """An AppTest on `page` (a dashboard.ui.navigation constant), drawn without an exception."""
    at = AppTest.from_file(HOME, default_timeout=90).run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at
