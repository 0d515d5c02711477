"""`python -m dashboard [streamlit options]`: the classroom server's command.

The same server as `streamlit run dashboard/Home.py`, but Streamlit is kept off the internet from its
very first moment (dashboard/ui/offline.py): otherwise another site's page that knocks on the websocket
before anyone has opened the dashboard makes Streamlit look up this computer's addresses outside (the
entry script, which also does this, only runs once a browser opens a page). Options are Streamlit's:

    python -m dashboard --server.address 0.0.0.0
"""
import sys
from pathlib import Path

from streamlit.web import cli

from dashboard.ui.offline import keep_streamlit_offline


def main():
    keep_streamlit_offline()
    sys.argv = ["streamlit", "run", str(Path(__file__).with_name("Home.py")), *sys.argv[1:]]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
