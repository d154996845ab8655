"""The analyst's own images uploaded in the app (issue #25), driven headlessly with AppTest
(whose ``file_uploader`` uploads bytes as the browser would): a small ``.npz`` of MNIST
digits 3, 5 and 7 (32 x 32, named "three", "five", "seven").

An accepted file is kept in the user cache (here a temporary one: the store starts empty)
and chosen in the sidebar's Dataset picker, the settings fitted to its three classes; a
tiny Run trains on it and names its classes. A bad file is one ``st.error`` line under the
uploader: no traceback, nothing kept, the dataset unchanged. A link to a kept file opens on
it; a link to a file this server does not keep says to upload it again and opens on MNIST."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import numpy as np
import pytest
from app_session import open_app, point_app
from streamlit.testing.v1 import AppTest
from test_app import TINY, button, plotly_figures

from vaeimb.declarations import own as kept
from vaeimb.parts import own_images
from vaeimb.parts.data import load_images

ROOT = Path(__file__).resolve().parents[1]
DIGITS = (3, 5, 7)
NAMES = ("three", "five", "seven")
N_TRAIN, N_TEST = 100, 20
FILE = "digits.npz"


@pytest.fixture(scope="module")
def digits(mnist_dir):
    """(x_train, y_train, x_test, y_test): the first 100 / 20 MNIST images of 3, 5 and 7,
    padded to 32 x 32 (the app resizes them back)."""
    images = load_images(mnist_dir, download=False)

    def take(x, y, n):
        idx = np.sort(np.concatenate([np.flatnonzero(y == d)[:n] for d in DIGITS]))
        return np.pad(x[idx], ((0, 0), (2, 2), (2, 2))), np.array(y[idx])

    return (*take(images.train_images, images.train_labels, N_TRAIN),
            *take(images.test_images, images.test_labels, N_TEST))


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def keras(xtr, ytr, xte, yte, **extra) -> dict:
    return {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte, **extra}


@pytest.fixture(scope="module")
def good(digits) -> bytes:
    return npz(**keras(*digits, class_names=np.array(NAMES)))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("upload-cache")


@pytest.fixture
def env(monkeypatch, cache_dir, mnist_dir, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the store of own files: empty
    point_app(monkeypatch, cache_dir, mnist_dir)


def fresh_app(**state) -> AppTest:
    return open_app({**TINY, **state})


def uploader(at: AppTest):
    (widget,) = at.sidebar.file_uploader
    return widget


def upload(at: AppTest, data: bytes, name: str = FILE) -> AppTest:
    uploader(at).upload(name, data).run()
    assert not at.exception, at.exception
    assert not uploader(at).value  # taken: the uploader is empty again, its bytes let go
    return at


def nothing_stored() -> bool:
    root = kept.own_root()
    return not root.exists() or not any(root.iterdir())


def picker(at: AppTest):
    return at.sidebar.selectbox(key="w_cfg_dataset")


def pair(at: AppTest):
    return at.sidebar.selectbox(key="w_cfg_majority"), at.sidebar.selectbox(key="w_cfg_minority")


def test_the_upload_limit_is_streamlits(env):
    """The uploader refuses in the browser what read_npz would refuse on the server."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 1024 * 1024 == own_images.MAX_BYTES
    at = fresh_app().run()
    widget = uploader(at)
    assert widget.label == "Your own images (.npz)" and widget.allowed_type == [".npz"]
    assert widget.proto.max_upload_size_mb == 200
    for part in ("x_train, y_train, x_test, y_test", "train_images", "class_names", "uint8", "2 to 10 classes",
                 "200 MB", "8×8"):
        assert part in widget.help, part


def test_an_uploaded_file_is_chosen_and_a_tiny_run_names_its_classes(env, good):
    at = fresh_app().run()
    assert not at.exception, at.exception
    assert nothing_stored()
    upload(at, good)
    assert not at.error, [e.value for e in at.error]
    name = at.session_state["cfg_dataset"]
    assert kept.parse(name) is not None and kept.stored(kept.parse(name)) is not None
    ds_picker = picker(at)
    assert ds_picker.value == name and ds_picker.format_func(name) == "digits.npz (your file)"
    assert ds_picker.options[-1] == "digits.npz (your file)" and len(ds_picker.options) == 4
    captions = [c.value for c in at.sidebar.caption]
    (about,) = [c for c in captions if c.startswith("Your file digits.npz")]
    assert "3 classes (three, five, seven)" in about and "300 training and 60 test images" in about
    assert "Resized from 32×32 to 28×28" in about and "renumbered 0, 1, 2" in about
    # the default pair 0 vs 6 does not exist here: 0 and 1, and the counts it holds, said so
    assert "digits.npz has 3 classes: the pair is now 0 (three) vs 1 (five)." in captions
    assert "Majority count lowered to 100: digits.npz train holds 100 images of class 0 (three)." in captions
    assert "Minority count lowered to 7, to keep the minority ratio." in captions  # TINY's 300/20
    majority, minority = pair(at)
    assert majority.options == ["0 (three)", "1 (five)", "2 (seven)"]
    assert (majority.value, minority.value) == (0, 1)
    (note,) = [i.value for i in at.info if i.value.startswith("Nothing is computed for your file digits.npz")]
    assert "0 (three) vs 1 (five)" in note and "**Run**" in note
    assert name in at.query_params["dataset"]

    button(at, "Run").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("digits.npz: 0 (three) vs 1 (five), 100/7" in c.value for c in at.caption), [c.value for c in at.caption]
    (said,) = [c.value for c in at.caption if c.value.startswith("Dataset: Your file digits.npz")]
    assert "Resized from 32×32 to 28×28" in said  # what was done to the file, said beside its results
    assert list(at.table[0].value["approach"]) == ["baseline", "threshold", "oversample", "vae", "oracle"]
    heatmaps = [f for f in plotly_figures(at) if f["data"][0]["type"] == "heatmap"]
    assert heatmaps and all(h["data"][0]["x"] == ["pred 0 (three)", "pred 1 (five)"] for h in heatmaps)
    assert all(np.array(h["data"][0]["z"]).sum() == 2 * N_TEST for h in heatmaps)  # the file's test split

    at.run()  # a rerun does not read the file again: still chosen, no second message
    assert at.session_state["cfg_dataset"] == name and not at.error


def test_every_page_opens_on_an_uploaded_file(env, good, monkeypatch):
    monkeypatch.setenv("VAEIMB_ATLAS_DIR", str(ROOT / "tests" / "data" / "atlas_tiny"))  # MNIST's
    at = upload(fresh_app().run(), good)
    for page in ("pages/2_latent_space.py", "pages/3_sweep.py", "pages/5_atlas.py", "pages/4_about.py",
                 "pages/1_experiment.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert not at.error, (page, [e.value for e in at.error])
    at.switch_page("pages/5_atlas.py").run()
    pairs = at.multiselect(key="atlas_new_pairs")
    assert pairs.options == ["0 (three) vs 1 (five)", "0 (three) vs 2 (seven)", "1 (five) vs 0 (three)",
                             "1 (five) vs 2 (seven)", "2 (seven) vs 0 (three)", "2 (seven) vs 1 (five)"]


def test_the_long_tail_order_is_fitted_to_the_file(env, good):
    at = fresh_app(cfg_task="longtail", cfg_profile="exponential", cfg_n_head=80).run()
    upload(at, good)
    assert at.session_state["cfg_order"] == "012"
    assert "digits.npz has 3 classes: the class order is now 012 (three, five, seven)." in [
        c.value for c in at.sidebar.caption]
    assert any(c.value == "Head first: 0 (three), 1 (five), 2 (seven)" for c in at.sidebar.caption)
    assert not at.error, [e.value for e in at.error]


def test_a_config_the_file_cannot_serve_is_one_error(env, good):
    """The deepsmote profile has ten counts: on three classes it is the usual st.error."""
    at = fresh_app(cfg_task="longtail").run()
    upload(at, good)
    assert any("The deepsmote profile has 10 counts" in e.value for e in at.error), [e.value for e in at.error]


def _bad(digits) -> dict[str, tuple[bytes, str]]:
    xtr, ytr, xte, yte = digits
    return {
        "wrong keys": (npz(images=xtr, labels=ytr), "wrong keys"),
        "mismatched lengths": (npz(**keras(xtr, ytr[:-5], xte, yte)), "mismatched lengths"),
        "a single class": (npz(**keras(xtr, np.full_like(ytr, 3), xte, np.full_like(yte, 3))), "a single class"),
        "string labels": (npz(**keras(xtr, np.array([NAMES[DIGITS.index(int(v))] for v in ytr]), xte, yte)),
                          "labels that are not integers"),
        "too small": (npz(**keras(xtr[:, ::5, ::5], ytr, xte[:, ::5, ::5], yte)), "an image too small"),
        "not an npz": (b"just some text", "not an .npz file"),
    }


@pytest.mark.parametrize("case", ["wrong keys", "mismatched lengths", "a single class", "string labels", "too small",
                                  "not an npz"])
def test_a_bad_file_is_one_error_and_nothing_is_kept(env, digits, case):
    data, what = _bad(digits)[case]
    at = fresh_app(cfg_dataset="fashion-mnist").run()
    upload(at, data, "bad.npz")
    (error,) = at.error
    assert error.value.startswith("bad.npz: ") and what in error.value, error.value
    assert "\n" not in error.value and "Traceback" not in error.value
    assert nothing_stored()
    assert at.session_state["cfg_dataset"] == "fashion-mnist" and picker(at).value == "fashion-mnist"
    assert len(picker(at).options) == 3
    at.sidebar.selectbox(key="w_cfg_majority").set_value(2).run()  # the next change: the error goes
    assert not at.exception and not at.error


def test_a_file_over_the_limit_is_refused_before_it_is_read(env, digits, monkeypatch):
    monkeypatch.setattr(own_images, "MAX_BYTES", 1000)
    at = fresh_app().run()
    upload(at, npz(**keras(*digits)))
    (error,) = at.error
    assert "over the 1000 bytes limit" in error.value, error.value
    assert nothing_stored() and at.session_state["cfg_dataset"] == "mnist"


def test_a_bad_file_after_a_good_one_keeps_the_good_one(env, good, digits):
    at = fresh_app().run()
    upload(at, good)
    name = at.session_state["cfg_dataset"]
    upload(at, _bad(digits)["wrong keys"][0], "bad.npz")
    assert [e.value[:9] for e in at.error] == ["bad.npz: "]
    assert at.session_state["cfg_dataset"] == name
    assert [p.name for p in kept.own_root().iterdir()] == [kept.parse(name)]


def test_a_link_to_a_kept_file_opens_on_it(env, good):
    images = own_images.read_npz(good, name=FILE)
    own_images.store(images)  # uploaded earlier on this server, by this or another session
    at = fresh_app()
    at.query_params.update({"dataset": images.name, "majority": "2", "minority": "0", "n_majority": "90",
                            "n_minority": "10"})
    at.run()
    assert not at.exception, at.exception
    assert not at.warning, [w.value for w in at.warning]
    assert at.session_state["cfg_dataset"] == images.name
    assert picker(at).value == images.name and picker(at).format_func(images.name) == "digits.npz (your file)"
    majority, minority = pair(at)
    assert (majority.format_func(majority.value), minority.format_func(minority.value)) == ("2 (seven)", "0 (three)")
    assert any(i.value.startswith("Nothing is computed for your file digits.npz") for i in at.info)


def test_a_file_chosen_through_session_state_is_fitted_too(env, good):
    images = own_images.read_npz(good, name=FILE)
    own_images.store(images)
    at = fresh_app(cfg_dataset=images.name).run()  # the default pair 0 vs 6: 6 is not one of its classes
    assert not at.exception, at.exception
    assert (at.session_state["cfg_majority"], at.session_state["cfg_minority"]) == (0, 1)
    assert "digits.npz has 3 classes: the pair is now 0 (three) vs 1 (five)." in [c.value for c in at.sidebar.caption]
    assert any("train holds 100 images of class 0 (three)" in e.value for e in at.error)  # TINY's 300: said, not changed


def test_another_sessions_file_is_not_listed(env, good):
    own_images.store(own_images.read_npz(good, name=FILE))
    at = fresh_app().run()
    assert picker(at).options == ["MNIST (handwritten digits)", "Fashion-MNIST (clothing)",
                                  "Kuzushiji-MNIST (cursive Japanese)"]


def test_a_link_to_a_file_not_kept_here_says_to_upload_it_again(env):
    at = fresh_app()
    at.query_params.update({"dataset": "file:0123456789abcdef", "minority": "1"})
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["cfg_dataset"] == "mnist"
    (warning,) = [w.value for w in at.warning]
    assert "not on this server" in warning and "upload the file again" in warning and "using mnist" in warning
    assert not at.error and picker(at).value == "mnist"
