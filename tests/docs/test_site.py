"""The built site in a real browser: the documentation is built strictly (no broken link, no missing
reference), served over HTTP as `make docs-serve` serves it, and its front page and the getting-started
tutorial are opened in headless Chromium (Debian's `chromium`), screenshotted, and must render (a picture
with text on it) with no message on the browser's console. `make test-docs`; CI installs Chromium."""

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.docs,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The site, built strictly into a temporary folder and served on a free port: its address."""
    site = tmp_path_factory.mktemp("site")
    mkdocs = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    built = subprocess.run(mkdocs, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *arguments):  # the test's output is the browser's, not the server's
        pass


@pytest.mark.parametrize("page", ["", "getting-started/"], ids=["front page", "getting started"])
def test_a_page_renders_in_a_real_browser_without_a_console_message(served, page, tmp_path):
    shot = tmp_path / "page.png"
    browser = [
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
        "--window-size=1280,900", "--virtual-time-budget=3000", f"--screenshot={shot}", served + page,
    ]  # fmt: skip
    opened = subprocess.run(browser, capture_output=True, text=True, timeout=120)
    assert opened.returncode == 0 and shot.is_file(), opened.stderr[-2000:]
    console = [line for line in opened.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []  # e.g. `Uncaught ReferenceError`, as the site gives when opened from file://
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape == (900, 1280)
    assert (pixels < 100).mean() > 0.01 and (pixels > 200).mean() > 0.5  # dark text on a light page
