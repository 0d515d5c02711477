"""Keep the Streamlit server from calling out to the internet: a school server must not.

Streamlit 1.67 checks a websocket whose Origin differs from its Host against this computer's own
addresses, which it finds by opening a UDP socket towards a public address (8.8.8.8) and by asking a
public "check IP" web service. Here both answer "unknown", so such a browser is simply refused.
Same-origin browsers (every student who types the teacher's address) never need them. At start-up,
`browser.serverAddress` in dashboard/.streamlit/config.toml keeps Streamlit from the same lookups.
"""
from streamlit import net_util


def _unknown():
    return None


def keep_streamlit_offline():
    """Called on every script run (cheap): Streamlit looks these up through the module at call time."""
    net_util.get_external_ip = _unknown
    net_util.get_internal_ip = _unknown
