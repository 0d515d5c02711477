"""A real Streamlit server of this dashboard and a real headless Chromium, for browser tests and benchmarks.

    with StreamlitServer(env={"CIFAR10_DATA_DIR": ...}, ports=range(8621, 8640)) as server:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(); page.goto(server.url)

The server is `streamlit run dashboard/Home.py` in a subprocess (its own process
group, so TensorFlow's threads and anything it starts go with it); it counts as
up once /_stcore/health answers "ok". Chromium is Debian's (`playwright install`
cannot download browsers here).
"""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def free_port(ports):
    """The first port of `ports` nobody listens on; RuntimeError when all are taken."""
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports}")


class StreamlitServer:
    """`streamlit run dashboard/Home.py` on 127.0.0.1:<a free port of `ports`>, with `env` added."""

    def __init__(self, env=None, ports=range(8621, 8640), log_path=None, address="127.0.0.1", cwd=ROOT,
                 extra_args=()):
        """address: passed as --server.address (None: whatever the dashboard's config says); cwd: the folder
        the server starts in (the entry script is given by its absolute path); extra_args: more flags."""
        self.env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
        self.ports = ports
        self.log_path = log_path
        self.address, self.cwd, self.extra_args = address, cwd, list(extra_args)
        self.process = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=60):
        """Start and wait until healthy; returns self. The log goes to log_path (else discarded)."""
        self.port = free_port(self.ports)
        command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "Home.py"),
                   "--server.headless", "true", "--server.port", str(self.port),
                   "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", *self.extra_args]
        if self.address is not None:
            command += ["--server.address", self.address]
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(command, cwd=self.cwd, env=self.env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with status {self.process.returncode}; "
                                   f"log: {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"streamlit on port {self.port} not healthy after {timeout} s; "
                           f"log: {self.log_path}")

    def stop(self, grace=10):
        """Terminate (SIGTERM to its process group), then kill if it is still there after `grace` s."""
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
            except ProcessLookupError:
                pass
        if self._log is not subprocess.DEVNULL:
            self._log.close()
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def launch_chromium(playwright, **kwargs):
    """Debian's headless Chromium through Playwright's sync API."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, **kwargs)
