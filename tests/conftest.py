"""Shared test set-up: CPU only, few threads, no network."""
import os
import socket

import pytest
import torch

os.environ.setdefault("INPAINTLIB_PROFILE", "quick")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def no_network(monkeypatch):
    """Make any attempt to open a network connection fail loudly. Local UNIX sockets (how
    DataLoader worker processes hand tensors to the parent) are not a network and still work."""

    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in this test")

    local_connect = socket.socket.connect

    def connect(sock, *args, **kwargs):
        if getattr(socket, "AF_UNIX", None) is not None and sock.family == socket.AF_UNIX:
            return local_connect(sock, *args, **kwargs)
        return refuse()

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return refuse


CHROMIUM = "/usr/bin/chromium"
# Flags for a headless Chromium on a machine with no network: no background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def chromium():
    """A Playwright Chromium browser (Debian's /usr/bin/chromium, never a downloaded one).

    Missing browser or Playwright: the test is skipped locally, but fails under CI
    (CI=true), where .ci/run installs both.
    """
    import shutil

    reason = None
    if not os.path.exists(CHROMIUM) and not shutil.which("chromium"):
        reason = "Debian's chromium is not installed (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = reason or "playwright is not installed (pip install -e '.[test]')"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
                                    headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def one_thread():
    """Run a test on one torch thread: for tiny tensors one thread is faster than two, and
    unaffected by another busy process on a 2-core machine. Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
