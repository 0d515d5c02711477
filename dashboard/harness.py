"""A real Streamlit server of this dashboard and a real headless Chromium, for browser tests and benchmarks.

    with StreamlitServer(env={"CIFAR10_DATA_DIR": ...}, ports=range(8621, 8640)) as server:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(); page.goto(server.url)

    with Relay(server.port) as student:      # a browser at student.url reaches the server from 127.0.0.7
        page.goto(student.url)

The server is `streamlit run dashboard/Home.py` in a subprocess (its own process
group, so TensorFlow's threads and anything it starts go with it); it counts as
up once /_stcore/health answers "ok". Chromium is Debian's (`playwright install`
cannot download browsers here). A Relay makes a browser on this computer look like another
computer to the server (a student's laptop): Streamlit sees the relay's outgoing address as the peer.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
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
                 extra_args=(), classroom_command=False, app_root=ROOT):
        """address: passed as --server.address (None: whatever the dashboard's config says); cwd: the folder
        the server starts in (the entry script is given by its absolute path); extra_args: more flags;
        app_root: the checkout whose dashboard/Home.py is served (another one, e.g. an older commit in a
        git worktree, for a benchmark's before/after: its folder goes first on PYTHONPATH);
        classroom_command: start it as `python -m dashboard` (the README's classroom command) instead of
        `streamlit run dashboard/Home.py`."""
        self.classroom_command = classroom_command
        self.env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
        self.app_root = Path(app_root)
        if self.app_root != ROOT:
            self.env["PYTHONPATH"] = os.pathsep.join([str(self.app_root), self.env.get("PYTHONPATH", "")])
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
        launcher = (["-m", "dashboard"] if self.classroom_command else
                    ["-m", "streamlit", "run", str(self.app_root / "dashboard" / "Home.py")])
        command = [sys.executable, *launcher, "--server.headless", "true", "--server.port", str(self.port),
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


class Relay:
    """A TCP relay on 127.0.0.1:<a free port> to 127.0.0.1:`target_port`, its outgoing sockets bound to
    `source` (another loopback address, 127.0.0.0/8 is all this computer): the server sees every browser
    that comes through it as the peer `source`, as it would a student's laptop. Raw bytes both ways, so
    HTTP and websockets pass unchanged; one thread per direction of each connection."""

    def __init__(self, target_port, source="127.0.0.7", target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.source = source
        self.port = None
        self._listener = None
        self._sockets = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self._closed.clear()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)  # so that the accepting thread notices stop()
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, name="relay-accept", daemon=True).start()
        return self

    def _accept(self):
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by stop()
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=10, source_address=(self.source, 0))
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            ended = []  # directions of this connection that have ended
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b, ended), name="relay-pump",
                                 daemon=True).start()

    def _pump(self, source, sink, ended):
        """source -> sink until source ends; then the end goes on to sink, and once both directions have
        ended both sockets are closed."""
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        with self._lock:
            ended.append(source)
            if len(ended) == 2:
                for s in (source, sink):
                    self._sockets.discard(s)
                    s.close()

    def stop(self):
        """Stop accepting and cut every relayed connection (their browsers see the server go away)."""
        self._closed.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            for s in self._sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._sockets.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
