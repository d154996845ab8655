"""One way for the AppTest suites to open the app: a new session (its own session state)
with settings put in before its first run, pointed at a cache and a data folder and training
in the test's process."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120


def point_app(monkeypatch, cache_dir, data_dir) -> None:
    """The app reads ``cache_dir`` and ``data_dir``, opens on no preset and trains in this
    process (the test's monkeypatches reach the training; no worker starts)."""
    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("VAEIMB_DATA_DIR", str(data_dir))
    monkeypatch.delenv("VAEIMB_APP_PRESET", raising=False)
    monkeypatch.setenv("VAEIMB_APP_WORKERS", "0")


def open_app(state: dict | None = None, timeout: float = TIMEOUT) -> AppTest:
    """A new session of the app with ``state`` in its session state (not run yet)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    return at
