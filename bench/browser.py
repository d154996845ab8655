"""The real app in a headless browser: start ``streamlit run app.py`` and Chromium, drive pages.

One place for what the browser test (``tests/e2e``), ``bench/app_bench.py`` and
``bench/screenshots.py`` share, so the three start and wait for the app the same way.
Playwright is imported only when a browser is opened: the rest works without it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

ROOT = Path(__file__).resolve().parents[1]
#: Debian's Chromium (``apt-get install chromium``); override with $VAEIMB_CHROMIUM.
CHROMIUM = Path(os.environ.get("VAEIMB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
MAIN = '[data-testid="stMain"]'
#: Where tests write what they leave behind (git-ignored).
TEST_ARTIFACTS = ROOT / "test-artifacts"


class StartError(RuntimeError):
    """The app server did not come up; the message says where its log is."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _half_the_cores() -> None:
    """Run the server on half the CPUs: torch takes every core it may use, and on a small
    machine it would otherwise fight Chromium (and itself) for them."""
    if hasattr(os, "sched_getaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, cores[: max(1, len(cores) // 2)])


@dataclass(frozen=True)
class AppServer:
    url: str
    pid: int
    log: Path


def wait_until_healthy(proc: subprocess.Popen, url: str, log: Path, timeout: float) -> None:
    """Poll Streamlit's health endpoint until it answers ``ok``; never past ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise StartError(f"streamlit exited with code {proc.returncode} before answering; see {log}")
        left = deadline - time.monotonic()
        if left <= 0:
            raise StartError(f"streamlit did not answer on {url} within {timeout:g} s; see {log}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=min(2.0, left)) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:  # not listening yet, or a timeout
            pass
        time.sleep(max(0.0, min(0.3, deadline - time.monotonic())))


@contextlib.contextmanager
def app_server(env: Mapping[str, str | None], log: Path, *, timeout: float = 60.0,
               half_the_cores: bool = True) -> Iterator[AppServer]:
    """``streamlit run app.py`` on a free loopback port, stopped whatever happens.

    ``env`` overrides the current environment; a value of None removes that variable.
    Output goes to ``log``.
    """
    full_env = dict(os.environ)
    for key, value in env.items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = str(value)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=_half_the_cores if half_the_cores else None,
        )
        try:
            wait_until_healthy(proc, url, log, timeout)
            yield AppServer(url, proc.pid, log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def playwright_api():
    """``playwright.sync_api``, or None after saying how to install it (on stderr)."""
    try:
        import playwright.sync_api as api  # optional: only the browser benchmarks need it
    except ImportError:
        print("error: playwright is not installed: pip install -r requirements-dev.txt", file=sys.stderr)
        return None
    return api


@contextlib.contextmanager
def chromium_page(executable: str | os.PathLike = CHROMIUM, *, width: int = 1400, height: int = 1800,
                  timeout_ms: float = 30_000):
    """A page in headless Chromium (Playwright), closed whatever happens."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            browser.close()


def wait_idle(page, timeout_ms: float = 60_000) -> None:
    """Wait until the script run the last interaction started has finished."""
    page.wait_for_timeout(400)
    page.wait_for_function(
        "() => { const w = document.querySelector('[data-testid=\"stStatusWidget\"]');"
        " return !w || !/Running|Stop/.test(w.innerText); }",
        timeout=timeout_ms,
    )


def wait_for_charts(page, count: int | None = None, timeout_ms: float = 60_000) -> int:
    """Wait until every Plotly chart of the main area is drawn (not a placeholder); return how many.

    With ``count``, also wait until the page holds exactly that many charts.
    """
    return page.wait_for_function(
        "([main, n]) => { const c = document.querySelectorAll(main + ' [data-testid=\"stPlotlyChart\"]');"
        " const drawn = c.length > 0 && [...c].every(e => e.querySelector('.js-plotly-plot'));"
        " return drawn && (n === null || c.length === n) ? c.length : false; }",
        arg=[MAIN, count], timeout=timeout_ms,
    ).json_value()


def go_to(page, title: str, timeout_ms: float = 60_000) -> None:
    """Open a page from the sidebar navigation and wait for its script to finish."""
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    wait_idle(page, timeout_ms)


def type_number(page, label: str, value: int) -> None:
    """Type into a number input the way a user does: fill, Enter, wait for the rerun."""
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def screenshot(page, path: str | os.PathLike) -> Path:
    """The whole page as PNG once its script is idle, with the mouse moved away so no hover
    tooltip shows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wait_idle(page)
    page.mouse.move(0, 0)
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)
    return path
