"""The app on a dataset other than MNIST (issue #25), driven headlessly with AppTest on a
small fake Fashion-MNIST: four IDX files in ``FashionMNIST/raw/`` (320 training and 40 test
images of each class, a bright bar whose row is the class), beside a link to the real MNIST.

The app speaks of the chosen dataset's classes ("Majority class", ``0 (T-shirt/top)``), shows
nothing shipped for it (the shipped results, generators and atlas are MNIST's) and says
what a Run computes; a Run trains on it, a link opens on it."""

from __future__ import annotations

import gzip
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
from app_session import open_app, point_app
from streamlit.testing.v1 import AppTest
from test_app import TINY, button, plotly_figures

from vaeimb.declarations.datasets import DATASETS, FILES
from vaeimb.parts.data import find_raw_files

FASHION = DATASETS["fashion-mnist"]
TINY_ATLAS = Path(__file__).resolve().parent / "data" / "atlas_tiny"
TRAIN_PER_CLASS, TEST_PER_CLASS = 320, 40  # TINY draws 300 of the majority (and the oracle as many)


def _write_idx(path: Path, arr: np.ndarray) -> None:
    arr = np.asarray(arr, np.uint8)
    header = (0x0800 + arr.ndim).to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + arr.tobytes())


def _images(per_class: int, rng: np.random.Generator, swapped: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Class c: a bright bar on rows 2c+3..2c+5 over noise; ``swapped``: that share of each
    class is drawn as another class (a gallery of mistakes is sure to have some)."""
    labels = np.repeat(np.arange(10), per_class)
    looks = labels.copy()
    flip = rng.random(len(labels)) < swapped
    looks[flip] = (labels[flip] + 6) % 10
    x = rng.integers(0, 60, size=(len(labels), 28, 28))
    for i, c in enumerate(looks):
        x[i, 2 * c + 3 : 2 * c + 6, 4:24] = 230
    order = rng.permutation(len(labels))
    return x[order].astype(np.uint8), labels[order].astype(np.uint8)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, mnist_dir) -> Path:
    """A data folder with a fake Fashion-MNIST and the real MNIST (linked: the MNIST first view draws it)."""
    root = tmp_path_factory.mktemp("data")
    raw = root / FASHION.folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(25)
    train_x, train_y = _images(TRAIN_PER_CLASS, rng)
    test_x, test_y = _images(TEST_PER_CLASS, rng, swapped=0.15)
    for key, arr in (("train_images", train_x), ("train_labels", train_y), ("test_images", test_x),
                     ("test_labels", test_y)):
        _write_idx(raw / FILES[key], arr)
    mnist_raw = root / "MNIST" / "raw"
    mnist_raw.mkdir(parents=True)
    for key, path in find_raw_files(mnist_dir).items():
        (mnist_raw / FILES[key]).symlink_to(path)
    assert find_raw_files(root, FASHION) is not None and find_raw_files(root) is not None
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("datasets-cache")


@pytest.fixture
def env(monkeypatch, cache_dir, data_dir):
    point_app(monkeypatch, cache_dir, data_dir)
    monkeypatch.delenv("VAEIMB_ATLAS_DIR", raising=False)


def fresh_app(**state) -> AppTest:
    return open_app(state)


def sidebar_pair(at: AppTest):
    return at.sidebar.selectbox(key="w_cfg_majority"), at.sidebar.selectbox(key="w_cfg_minority")


def test_switching_to_fashion_shows_its_first_view_with_class_names(env):
    at = fresh_app().run()  # the app's defaults: MNIST's shipped results
    assert not at.exception, at.exception
    assert any(i.value.startswith("Shipped results:") for i in at.info)
    picker = at.sidebar.selectbox(key="w_cfg_dataset")
    assert picker.label == "Dataset" and picker.value == "mnist"
    assert picker.options == [d.label for d in DATASETS.values()]
    majority, minority = sidebar_pair(at)
    assert (majority.label, minority.label, majority.options[6]) == ("Majority digit", "Minority digit", "6")

    picker.set_value("fashion-mnist").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Does a VAE beat oversampling on imbalanced Fashion-MNIST?"
    majority, minority = sidebar_pair(at)
    assert (majority.label, minority.label) == ("Majority class", "Minority class")
    assert majority.options == [FASHION.class_label(c) for c in range(10)]
    assert (majority.value, minority.value) == (0, 6)
    assert majority.options[0] == "0 (T-shirt/top)" and minority.options[6] == "6 (Shirt)"
    assert "Fashion-MNIST train holds 6000 of class 0 (T-shirt/top)" in at.sidebar.number_input(key="w_cfg_n_majority").help
    # nothing shipped: neither the MNIST results nor a table; what a Run computes instead
    assert not any(i.value.startswith("Shipped results:") for i in at.info)
    assert not at.table and not at.get("plotly_chart")
    (note,) = [i.value for i in at.info if i.value.startswith("Nothing is shipped for Fashion-MNIST yet")]
    for part in ("MNIST's", "**Run**", "0 (T-shirt/top) vs 6 (Shirt)", "baseline, threshold, oversample, vae, oracle",
                 "3 seeds", "vae generator", "read from"):
        assert part in note, (part, note)
    assert any("Fashion-MNIST: 0 (T-shirt/top) vs 6 (Shirt), 5000/100" in c.value for c in at.caption)


def test_the_first_view_says_a_missing_dataset_is_downloaded(env, monkeypatch, tmp_path):
    monkeypatch.setenv("VAEIMB_DATA_DIR", str(tmp_path))  # no dataset here: nothing is read before a Run
    at = fresh_app(cfg_dataset="kmnist").run()
    assert not at.exception, at.exception
    (note,) = [i.value for i in at.info if i.value.startswith("Nothing is shipped for Kuzushiji-MNIST yet")]
    assert f"downloads it once into {tmp_path}" in note and "about 20 MB" in note
    assert sidebar_pair(at)[0].options[:2] == ["0 (o)", "1 (ki)"]


def test_a_run_on_fashion_names_its_classes(env):
    at = fresh_app(**TINY, cfg_dataset="fashion-mnist").run()
    assert not at.exception, at.exception
    button(at, "Run").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("Fashion-MNIST: 0 (T-shirt/top) vs 6 (Shirt), 300/20" in c.value for c in at.caption)
    assert list(at.table[0].value["approach"]) == ["baseline", "threshold", "oversample", "vae", "oracle"]
    assert any("every test image of both classes" in c.value for c in at.caption)
    heatmaps = [f for f in plotly_figures(at) if f["data"][0]["type"] == "heatmap"]
    assert len(heatmaps) == 5
    for h in heatmaps:
        assert h["data"][0]["x"] == ["pred 0 (T-shirt/top)", "pred 6 (Shirt)"]
        assert np.array(h["data"][0]["z"]).sum() == 2 * TEST_PER_CLASS  # the fake test split, not MNIST's
    captions = [c for img in at.image for c in img.captions]
    assert captions and all(c.startswith(("true 0 (T-shirt/top), pred 6 (Shirt)", "true 6 (Shirt), pred 0 (T-shirt/top)"))
                            for c in captions), captions[:3]


def test_a_link_opens_on_fashion(env):
    at = fresh_app()
    at.query_params.update({"dataset": "fashion-mnist", "majority": "0", "minority": "6"})
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["cfg_dataset"] == "fashion-mnist"
    assert at.sidebar.selectbox(key="w_cfg_dataset").value == "fashion-mnist"
    majority, minority = sidebar_pair(at)
    assert (majority.value, minority.value) == (0, 6)
    assert (majority.format_func(majority.value), minority.format_func(minority.value)) == ("0 (T-shirt/top)", "6 (Shirt)")
    assert any(i.value.startswith("Nothing is shipped for Fashion-MNIST yet") for i in at.info)
    assert not at.warning  # a valid link: nothing to say about it


def test_an_unknown_dataset_in_a_link_is_a_link_warning(env):
    at = fresh_app()
    at.query_params.update({"dataset": "cifar10"})
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["cfg_dataset"] == "mnist"
    assert any("dataset='cifar10'" in w.value and "using mnist" in w.value for w in at.warning)


def test_the_long_tail_names_the_classes(env):
    at = fresh_app(cfg_dataset="fashion-mnist", cfg_task="longtail", cfg_order="0169").run()
    assert not at.exception, at.exception
    order = at.sidebar.text_input(key="w_cfg_order")
    assert order.label == "Class order (head first)" and "6 Shirt" in order.help
    assert any(c.value == "Head first: 0 (T-shirt/top), 1 (Trouser), 6 (Shirt), 9 (Ankle boot)" for c in at.sidebar.caption)
    mnist = fresh_app(cfg_task="longtail").run()
    assert mnist.sidebar.text_input(key="w_cfg_order").label == "Digit order (head first)"


def test_the_latent_page_has_no_shipped_generator_for_fashion(env):
    at = fresh_app(cfg_dataset="fashion-mnist").run()
    at.switch_page("pages/2_latent_space.py").run()
    assert not at.exception, at.exception
    assert not any(i.value.startswith("Shipped vae generator") for i in at.info)
    assert any("not trained yet" in i.value and "the shipped generators are MNIST's" in i.value for i in at.info)
    assert "minority class" in at.markdown[0].value


def test_the_atlas_page_computes_fashions_pairs(env, monkeypatch, tmp_path):
    monkeypatch.setenv("VAEIMB_ATLAS_DIR", str(TINY_ATLAS))  # MNIST's, as the shipped atlas is
    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path / "cache"))
    at = fresh_app(cfg_dataset="fashion-mnist").run()
    at.switch_page("pages/5_atlas.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Atlas of Fashion-MNIST class pairs"
    assert not at.get("plotly_chart")  # MNIST's atlas is not shown for Fashion-MNIST
    assert any(i.value.startswith("The shipped atlas is MNIST's") for i in at.info)
    at.multiselect(key="atlas_new_pairs").set_value([(0, 6)])
    at.selectbox(key="atlas_new_a").set_value("baseline")
    at.selectbox(key="atlas_new_b").set_value("oversample")
    at.selectbox(key="atlas_new_ratio").set_value(0.05).run()
    button(at, "Run the chosen pairs").click().run()
    assert not at.exception, at.exception
    assert not at.warning, [w.value for w in at.warning]
    (fig,) = plotly_figures(at)
    z = np.array(fig["data"][0]["z"], dtype=float)
    assert np.isfinite(z[0, 6]) and np.isnan(z).sum() == 99  # the one pair computed
    assert fig["layout"]["yaxis"]["title"]["text"] == "Majority class"
    assert any(i.value.startswith("Nothing is shipped for Fashion-MNIST") for i in at.info)
    assert (tmp_path / "cache" / "atlas-fashion-mnist" / "atlas.json").is_file()
    assert not (tmp_path / "cache" / "atlas").exists()  # MNIST's own cells stay apart

    at.selectbox(key="atlas_pair").set_value("0 vs 6").run()  # the cell's detail names its classes
    assert any(h.value == "Majority 0 (T-shirt/top) vs minority 6 (Shirt) at ratio 5%" for h in at.subheader)
    link = next(m.value for m in at.markdown if m.value.startswith("[Open 0 vs 6 on the Experiment page"))
    assert urlencode({"dataset": "fashion-mnist"}) in link
