"""MNIST on a fresh machine: downloaded for real, once, into the user cache (issue #13).

No network: a loopback HTTP server (``LoopbackMirror``) serves the four original ``.gz``
files of ../shared, and ``$VAEIMB_MNIST_MIRROR`` points torchvision's MNIST download at it.
Each test starts from a machine without MNIST: ``$VAEIMB_DATA_DIR`` unset and
``$XDG_CACHE_HOME`` an empty temporary folder. The CLI (worker processes) and the app
(AppTest, in-process) must download MNIST into ``$XDG_CACHE_HOME/vaeimb/data`` once and
train; a mirror that refuses gives one message naming what to do, and caches nothing.
The browser version is tests/e2e/test_download_browser.py (it imports ``LoopbackMirror``).
"""

from __future__ import annotations

import collections
import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vaeimb.declarations.errors import DataUnavailableError
from vaeimb.parts import data as D
from vaeimb.declarations.datasets import DATASETS, FILES
from vaeimb.parts.data import DATA_DIR_ENV, find_raw_files

MNIST = DATASETS["mnist"]
#: MNIST's old mirror variable (``<base><file>``), still read.
MIRROR_ENV = MNIST.legacy_mirror_env

ROOT = Path(__file__).resolve().parents[1]
PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
#: The CLI's tiny config (tests/conftest.py's TINY) with three approaches: one generator, two without.
CLI_TINY = ["--n-majority", "300", "--n-minority", "20", "--steps", "30", "--batch-size", "32", "--generator-steps", "20",
            "--generator-batch-size", "16", "--checkpoints", "3", "--latent-dim", "6", "--seeds", "0",
            "--approaches", "baseline", "oversample", "vae"]
#: The app's tiny config (tests/test_app.py's TINY), set through session state.
APP_TINY = {
    "cfg_n_majority": 300, "cfg_n_minority": 20, "cfg_steps": 30, "cfg_batch_size": 32,
    "cfg_generator_steps": 20, "cfg_generator_batch_size": 16, "cfg_n_checkpoints": 3, "cfg_latent_dim": 6, "cfg_n_seeds": 1,
}


class LoopbackMirror:
    """A dataset's four ``.gz`` files over HTTP on 127.0.0.1, as ``<base><dataset name>/<file
    name>`` (what ``$VAEIMB_DATA_MIRROR`` names); ``url`` is ``<base>mnist/`` (what MNIST's old
    ``$VAEIMB_MNIST_MIRROR`` names).

    ``folder``: MNIST's folder, or {dataset name: folder} to serve several. ``refuse``: None
    serves the files; an HTTP status (404, 403) answers every request with it. ``corrupt``:
    file names served cut in half (their md5 fails). Bounded: at most ``max_requests``
    answers (later ones get 503), and the server stops itself after ``lifetime`` seconds
    whatever the test does.

    ``downloads`` counts the requests per file name (``served``: per ``<dataset>/<file>``);
    torchvision first opens each URL once to follow redirects (a GET with the header
    ``Method: HEAD``, closed unread): those are counted in ``probes`` instead.
    """

    def __init__(self, folder: Path | dict[str, Path], *, refuse: int | None = None, corrupt: tuple[str, ...] = (),
                 lifetime: float = 900, max_requests: int = 64):
        self.folders = {k: Path(v) for k, v in folder.items()} if isinstance(folder, dict) else {"mnist": Path(folder)}
        self.folder = next(iter(self.folders.values()))
        self.served: collections.Counter = collections.Counter()
        self.refuse = refuse
        self.corrupt = set(corrupt)
        self.downloads: collections.Counter = collections.Counter()
        self.probes: collections.Counter = collections.Counter()
        self.answered = 0
        self.max_requests = max_requests
        self._lock = threading.Lock()
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                dataset, _, name = self.path.lstrip("/").partition("/")
                if dataset not in mirror.folders:
                    name = ""
                probe = self.headers.get("Method") == "HEAD"
                with mirror._lock:
                    mirror.answered += 1
                    over = mirror.answered > mirror.max_requests
                    (mirror.probes if probe else mirror.downloads)[name] += 1
                    if not probe:
                        mirror.served[f"{dataset}/{name}"] += 1
                if over:
                    return self.send_error(503, "request limit reached")
                if mirror.refuse:
                    return self.send_error(mirror.refuse)
                if name not in FILES.values():
                    return self.send_error(404)
                path = mirror.folders[dataset] / name
                size = path.stat().st_size // (2 if name in mirror.corrupt else 1)
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                try:
                    with path.open("rb") as f:
                        self.wfile.write(f.read(size))
                except (BrokenPipeError, ConnectionResetError):  # a probe closes without reading
                    pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self.url = f"{self.base}mnist/"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self._timer = threading.Timer(lifetime, self._server.shutdown)
        self._timer.daemon = True

    def __enter__(self) -> "LoopbackMirror":
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def shared_raw_folder(mnist_dir: Path) -> Path:
    """The folder holding the four original gz files (only ever read)."""
    return find_raw_files(mnist_dir)["train_images"].parent


def fresh_machine_env(tmp: Path, mirror_url: str) -> dict[str, str | None]:
    """What differs from this machine on a fresh one (None = unset), with the mirror set."""
    env: dict[str, str | None] = {var: None for var in PROXY_VARS}
    env.update({DATA_DIR_ENV: None, "XDG_CACHE_HOME": str(tmp / "xdg"), "VAEIMB_CACHE_DIR": str(tmp / "results"),
                MIRROR_ENV: mirror_url, "VAEIMB_APP_PRESET": None})
    return env


def downloaded_files(tmp: Path) -> dict[str, Path] | None:
    return find_raw_files(tmp / "xdg" / "vaeimb" / "data")


def assert_downloaded_once(tmp: Path, mirror: LoopbackMirror) -> None:
    """MNIST is in the user cache as MNIST/raw/*.gz, each file fetched exactly once."""
    files = downloaded_files(tmp)
    assert files is not None, list((tmp / "xdg").rglob("*"))
    raw = tmp / "xdg" / "vaeimb" / "data" / "MNIST" / "raw"
    assert {p.parent for p in files.values()} == {raw}
    for name in FILES.values():
        assert (raw / name).read_bytes() == (mirror.folder / name).read_bytes(), name
    assert dict(mirror.downloads) == {name: 1 for name in FILES.values()}, mirror.downloads
    assert all(n <= 1 for n in mirror.probes.values()), mirror.probes


def assert_nothing_cached(tmp: Path) -> None:
    """No MNIST folder with files, no result cache entries."""
    data = tmp / "xdg" / "vaeimb" / "data"
    assert not [p for p in data.rglob("*") if p.is_file()], list(data.rglob("*"))
    assert not (data / "MNIST").exists()
    assert not list((tmp / "results").rglob("*.npz"))


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """Apply ``fresh_machine_env`` to this process (for the in-process app)."""

    def apply(mirror: LoopbackMirror) -> None:
        for key, value in fresh_machine_env(tmp_path, mirror.url).items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
        monkeypatch.setenv("VAEIMB_APP_WORKERS", "0")  # the app trains in this process

    return apply


def _cli(tmp: Path, mirror: LoopbackMirror, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for key, value in fresh_machine_env(tmp, mirror.url).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run([sys.executable, "-m", "vaeimb", "run", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


# --------------------------------------------------------------------------------------
# The core download
# --------------------------------------------------------------------------------------
def test_mirror_variable_takes_one_or_several_base_urls(monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    assert D.mirrors_for(MNIST) is None
    monkeypatch.setenv(MIRROR_ENV, " http://a.example/mnist ,https://b.example/m/\n http://c.example ")
    assert D.mirrors_for(MNIST) == ["http://a.example/mnist/", "https://b.example/m/", "http://c.example/"]


def test_a_file_failing_its_checksum_leaves_nothing_that_looks_like_data(mnist_dir, tmp_path, fresh):
    """torchvision keeps the three good files and the bad one (it checks each md5 after
    writing it): a later run would take the four gz files for MNIST. They are removed."""
    import torchvision.datasets

    last = FILES["test_labels"]
    with LoopbackMirror(shared_raw_folder(mnist_dir), corrupt=(last,)) as mirror:
        fresh(mirror)
        with pytest.raises(DataUnavailableError) as e:
            D.load_images()
    msg = str(e.value)
    assert "\n" not in msg and f"Error downloading {last}" in msg and MIRROR_ENV in msg
    assert mirror.downloads[last] == 1 and all(mirror.downloads[n] == 1 for n in FILES.values())
    assert_nothing_cached(tmp_path)
    assert not (tmp_path / "xdg" / "vaeimb" / "data").exists()  # the folder the download created, too
    assert torchvision.datasets.MNIST.mirrors != [mirror.url]  # torchvision's own class is untouched


def test_a_cut_short_gz_file_is_a_clear_error(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "x.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\0" * 20)
    with pytest.raises(DataUnavailableError, match="not a readable gzip file"):
        D._read_idx(raw / "x.gz")


# --------------------------------------------------------------------------------------
# The CLI
# --------------------------------------------------------------------------------------
def test_cli_run_downloads_mnist_once_into_the_user_cache(mnist_dir, tmp_path, record_property):
    with LoopbackMirror(shared_raw_folder(mnist_dir)) as mirror:
        t = time.perf_counter()
        out = _cli(tmp_path, mirror, *CLI_TINY, "--workers", "2", "--quiet")
        record_property("cli_first_run_s", round(time.perf_counter() - t, 1))
    assert out.returncode == 0, out.stderr[-3000:]
    for name in ("baseline", "oversample", "vae"):
        assert name in out.stdout
    assert_downloaded_once(tmp_path, mirror)  # the driver's download; the two workers read it
    assert list((tmp_path / "results").rglob("*.npz"))


def test_cli_run_with_a_refusing_mirror_is_one_clear_error(mnist_dir, tmp_path):
    with LoopbackMirror(shared_raw_folder(mnist_dir), refuse=404) as mirror:
        out = _cli(tmp_path, mirror, *CLI_TINY, "--in-process", "--quiet")
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, out.stderr
    for needed in (DATA_DIR_ENV, MIRROR_ENV, *FILES.values(), "404"):
        assert needed in lines[0]
    assert sum(mirror.probes.values()) + sum(mirror.downloads.values()) >= 1  # it did ask the mirror
    assert_nothing_cached(tmp_path)


# --------------------------------------------------------------------------------------
# The app (Streamlit AppTest of the Experiment page)
# --------------------------------------------------------------------------------------
def _experiment_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app.py", default_timeout=240)
    for key, value in APP_TINY.items():
        at.session_state[key] = value
    return at


def _press_run(at):
    at.run()
    assert not at.exception, at.exception
    next(b for b in at.button if b.label == "Run").click().run()
    return at


def test_app_run_downloads_mnist_once_into_the_user_cache(mnist_dir, tmp_path, fresh, record_property):
    with LoopbackMirror(shared_raw_folder(mnist_dir)) as mirror:
        fresh(mirror)
        at = _experiment_page()
        t = time.perf_counter()
        _press_run(at)
        record_property("app_first_run_s", round(time.perf_counter() - t, 1))
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    table = at.table[0].value
    assert list(table["approach"]) == ["baseline", "threshold", "oversample", "vae", "oracle"]
    assert_downloaded_once(tmp_path, mirror)
    assert list((tmp_path / "results").rglob("*.npz"))


@pytest.mark.parametrize("status", [404, 403])
def test_app_run_with_a_refusing_mirror_is_one_error_and_caches_nothing(mnist_dir, tmp_path, fresh, status):
    with LoopbackMirror(shared_raw_folder(mnist_dir), refuse=status) as mirror:
        fresh(mirror)
        at = _press_run(_experiment_page())
    assert not at.exception, at.exception
    assert len(at.error) == 1, [e.value for e in at.error]
    msg = at.error[0].value
    for needed in (DATA_DIR_ENV, MIRROR_ENV, *FILES.values(), str(status)):
        assert needed in msg, msg
    assert "Traceback" not in msg
    assert not at.get("progress")  # refused before any job's progress bar: not one failure per job
    assert sum(mirror.probes.values()) + sum(mirror.downloads.values()) >= 1
    assert_nothing_cached(tmp_path)
