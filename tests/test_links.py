"""Links that reproduce a view: settings to and from URL query parameters."""

import io

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from vaeimb.declarations import schema
from vaeimb.declarations.datasets import DATASETS
from vaeimb_app.links import fields, fit_to_dataset, from_query, to_query


def test_defaults_make_an_empty_link_and_every_field_round_trips():
    assert to_query({f.state: f.default for f in fields()}) == {}
    state = {"cfg_majority": 3, "cfg_minority": 8, "cfg_n_majority": 4000, "cfg_minority_mode": "ratio",
             "cfg_ratio_pct": 0.5, "cfg_approaches": ["vae", "baseline", "cvae"], "cfg_recipes": "gen=smote,loss=la",
             "cfg_params": "threshold.tau=0.5", "cfg_n_seeds": 5, "cfg_classifier": "cnn", "cfg_steps": 300,
             "cfg_protocol": "blog-clean", "cfg_validation_fraction": 0.25, "cfg_lr": 0.0005,
             "cfg_generator_steps": 250, "cfg_generator_lr": 0.002, "latent_generator": "cvae",
             "latent_seed": 2, "sweep_ratios": [0.1, 0.01], "sweep_metric": "balanced_error"}
    query = to_query(state)
    assert query["approaches"] == "baseline,vae,cvae"  # canonical (preset) order
    assert query["generator_steps"] == "250" and query["validation"] == "0.25" and query["lr"] == "0.0005"
    back, warnings = from_query(query)
    assert warnings == []
    assert back == {**state, "cfg_approaches": ["baseline", "vae", "cvae"], "sweep_ratios": [0.01, 0.1]}


@pytest.mark.parametrize("query, key, value, says", [
    ({"n_majority": "9999999"}, "cfg_n_majority", 5923, "outside"),
    ({"seeds": "lots"}, "cfg_n_seeds", 3, "not a number"),
    ({"ratio_pct": "3.3"}, "cfg_ratio_pct", 3.0, "not one of"),
    ({"classifier": "svm"}, "cfg_classifier", "mlp", "not one of"),
    ({"lr": "0"}, "cfg_lr", 1e-6, "outside [1e-06, 1]"),
    ({"vae_steps": "0"}, "cfg_generator_steps", 1, "outside [1, 200000]"),
    ({"approaches": "vae,nope"}, "cfg_approaches", ["vae"], "unknown item(s) nope"),
    ({"majority": "6", "minority": "6"}, "cfg_minority", 0, "same digit twice"),
    ({"n_minority": "6000", "n_majority": "100"}, "cfg_n_minority", 100, "exceeds"),
    ({"dataset": "cifar10"}, "cfg_dataset", "mnist", "dataset='cifar10' is not one of mnist, fashion-mnist, kmnist"),
    ({"dataset": "fashion-mnist", "majority": "6", "minority": "6"}, "cfg_minority", 0, "same class twice"),
    ({"dataset": "fashion-mnist", "n_majority": "6500"}, "cfg_n_majority", 6000,
     "more images of class 0 (T-shirt/top) than Fashion-MNIST train holds"),
])
def test_bad_values_become_the_nearest_valid_with_a_warning(query, key, value, says):
    values, warnings = from_query(query)
    assert values[key] == value
    assert any(says in w for w in warnings), warnings


def test_a_link_names_a_dataset_other_than_mnist():
    values, warnings = from_query({"dataset": "fashion-mnist", "majority": "0", "minority": "6"})
    assert warnings == [] and values == {"cfg_dataset": "fashion-mnist", "cfg_majority": 0, "cfg_minority": 6}
    assert to_query(values) == {"dataset": "fashion-mnist"}  # 0 vs 6 is the default pair
    assert "dataset" not in to_query({"cfg_dataset": "mnist"})


@pytest.fixture
def kept_file(tmp_path, monkeypatch):
    """A small own file (3 classes, 12 x 12 noise, 40 / 5 images each) kept in a user cache of
    the test's own: its dataset name."""
    from vaeimb.parts import own_images

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    rng = np.random.default_rng(0)
    y_train, y_test = np.repeat([1, 4, 7], 40), np.repeat([1, 4, 7], 5)
    buf = io.BytesIO()
    np.savez(buf, x_train=rng.integers(0, 255, (120, 12, 12), dtype=np.uint8), y_train=y_train,
             x_test=rng.integers(0, 255, (15, 12, 12), dtype=np.uint8), y_test=y_test)
    images = own_images.read_npz(buf.getvalue(), name="noise.npz")
    own_images.store(images)
    return images.name


def test_a_link_to_a_kept_file_opens_on_it_with_its_classes(kept_file):
    values, warnings = from_query({"dataset": kept_file, "majority": "2", "minority": "0", "n_majority": "30",
                                   "n_minority": "3"})
    assert warnings == []
    assert values == {"cfg_dataset": kept_file, "cfg_majority": 2, "cfg_minority": 0, "cfg_n_majority": 30,
                      "cfg_n_minority": 3}
    assert to_query(values)["dataset"] == kept_file
    # a pair or an order the file does not have: 0 and 1, its own classes, and counts it holds
    values, warnings = from_query({"dataset": kept_file, "majority": "0", "minority": "6", "task": "longtail",
                                   "order": "0123"})
    assert values["cfg_order"] == "012" and any("order='0123'" in w and "using 012" in w for w in warnings), warnings
    values, warnings = from_query({"dataset": kept_file, "minority": "6"})
    assert (values["cfg_majority"], values["cfg_minority"]) == (0, 1)
    assert values["cfg_n_majority"] == 40 and values["cfg_n_minority"] == 1  # 100 of 5000: the same ratio
    assert any("outside noise.npz's 3 classes (0-2); using 0 and 1" in w for w in warnings), warnings


def test_a_link_to_a_file_this_server_does_not_keep_says_to_upload_it_again(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    values, warnings = from_query({"dataset": "file:0123456789abcdef", "minority": "1"})
    assert values == {"cfg_dataset": "mnist", "cfg_minority": 1}
    (warning,) = warnings
    assert "dataset='file:0123456789abcdef'" in warning and "not on this server" in warning
    assert "upload the file again" in warning and warning.endswith("using mnist.")
    values, warnings = from_query({"dataset": "file:nothex"})
    assert values == {"cfg_dataset": "mnist"} and "is not one of" in warnings[0]


def test_settings_are_fitted_to_a_dataset_with_fewer_classes(kept_file):
    from vaeimb.declarations.datasets import dataset

    ds = dataset(kept_file)
    state = {"cfg_task": "pair", "cfg_majority": 0, "cfg_minority": 6, "cfg_n_majority": 5000, "cfg_n_minority": 100,
             "cfg_order": "0123456789", "cfg_minority_mode": "count"}
    changes, said = fit_to_dataset(state, ds)
    assert changes == {"cfg_majority": 0, "cfg_minority": 1, "cfg_order": "012", "cfg_n_majority": 40,
                       "cfg_n_minority": 1}
    assert said == ["noise.npz has 3 classes: the pair is now 0 (1) vs 1 (4).",
                    "Majority count lowered to 40: noise.npz train holds 40 images of class 0 (1).",
                    "Minority count lowered to 1, to keep the minority ratio."]
    changes, said = fit_to_dataset({**state, "cfg_task": "longtail"}, ds)
    assert said == ["noise.npz has 3 classes: the class order is now 012 (1, 4, 7)."]
    assert fit_to_dataset(state, DATASETS["fashion-mnist"]) == ({}, [])


def test_every_setting_of_the_schema_is_linked_under_its_url_key():
    linked = {f.state: f for f in fields()}
    for s in schema.SETTINGS:
        f = linked[s.state_key]
        assert (f.url, f.kind, f.default, f.low, f.high, f.choices) == (
            s.url_keys[0], s.kind, s.default, s.low, s.high, s.choices)


def test_old_links_with_vae_settings_still_open():
    """Links shared before the generator settings were renamed keep their values."""
    values, warnings = from_query({"vae_steps": "250", "vae_batch_size": "32", "checkpoints": "5"})
    assert warnings == []
    assert values == {"cfg_generator_steps": 250, "cfg_generator_batch_size": 32, "cfg_n_checkpoints": 5}
    assert to_query(values) == {"generator_steps": "250", "generator_batch_size": "32", "checkpoints": "5"}


def test_unknown_parameters_are_ignored_with_a_warning():
    values, warnings = from_query({"colour": "red"})
    assert values == {} and warnings == ["link setting 'colour' is not known here; ignored."]


def test_the_app_opens_a_link_with_its_settings_and_writes_the_view_back(monkeypatch, tmp_path, mnist_dir):
    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("VAEIMB_DATA_DIR", str(mnist_dir))
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.query_params.update({"majority": "3", "minority": "8", "seeds": "2", "classifier": "cnn", "steps": "oops"})
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="w_cfg_majority").value == 3
    assert at.sidebar.selectbox(key="w_cfg_minority").value == 8
    assert at.sidebar.number_input(key="w_cfg_n_seeds").value == 2
    assert any("steps='oops'" in w.value for w in at.warning)
    assert at.query_params["majority"] == "3" and at.query_params["classifier"] == "cnn"
    assert "steps" not in at.query_params  # the nearest valid value is the default


SIDEBAR_ONLY = """
from vaeimb_app.settings import render_sidebar, sync_link
render_sidebar()
sync_link()
"""


def test_a_changed_setting_is_written_to_the_url(monkeypatch, tmp_path, mnist_dir):
    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path))
    at = AppTest.from_string(SIDEBAR_ONLY, default_timeout=60)
    at.query_params.update({"majority": "3", "minority": "8"})
    at.run()
    at.sidebar.selectbox(key="w_cfg_minority").set_value(9).run()
    at.sidebar.radio(key="w_cfg_classifier").set_value("cnn").run()
    assert at.query_params == {"majority": "3", "minority": "9", "classifier": "cnn"}


# ---- settings the link's task, profile or protocol would not use -------------------------
@pytest.mark.parametrize("query, values, says", [
    ({"task": "longtail", "majority": "3"}, {"cfg_task": "longtail"},
     "link setting majority applies only to task=pair (the link has task=longtail); ignored."),
    ({"task": "longtail", "profile": "deepsmote", "rho": "5"}, {"cfg_task": "longtail", "cfg_profile": "deepsmote"},
     "link setting rho applies only to profile=exponential (the link has profile=deepsmote); ignored."),
    ({"task": "pair", "order": "123"}, {"cfg_task": "pair"},
     "link setting order applies only to task=longtail (the link has task=pair); ignored."),
    ({"protocol": "deepsmote", "minority": "3"}, {"cfg_protocol": "deepsmote", "cfg_task": "longtail"},
     "link setting minority applies only to task=pair, and protocol=deepsmote runs only task=longtail; ignored."),
    ({"task": "longtail", "ratio_pct": "5", "minority_as": "ratio"}, {"cfg_task": "longtail"},
     "link setting ratio_pct applies only to task=pair (the link has task=longtail); ignored."),
    ({"minority_as": "count", "ratio_pct": "5"}, {"cfg_minority_mode": "count"},
     "link setting ratio_pct applies only to minority_as=ratio (the link has minority_as=count); ignored."),
    ({"minority_as": "ratio", "n_minority": "40"}, {"cfg_minority_mode": "ratio"},
     "link setting n_minority applies only to minority_as=count (the link has minority_as=ratio); ignored."),
    # where one choice would do, the link's setting implies it
    ({"task": "longtail", "counts": "100"}, {"cfg_task": "longtail", "cfg_counts": "100", "cfg_profile": "counts"},
     "link setting counts implies profile=counts; using it."),
    ({"rho": "5"}, {"cfg_rho": 5.0, "cfg_task": "longtail", "cfg_profile": "exponential"},
     "link setting rho implies task=longtail and profile=exponential; using them."),
    ({"ratio_pct": "5"}, {"cfg_ratio_pct": 5.0, "cfg_minority_mode": "ratio"},
     "link setting ratio_pct implies minority_as=ratio; using it."),
])
def test_a_link_setting_that_would_be_ignored_is_left_out_with_a_warning(query, values, says):
    assert from_query(query) == (values, [says])


def test_a_link_carries_only_the_settings_its_view_uses():
    """A widget the sidebar hides (another task's, another profile's, the other way of giving
    the minority) stays out of the link, so the link opens without a warning."""
    state = {"cfg_task": "longtail", "cfg_protocol": "deepsmote", "cfg_profile": "counts", "cfg_counts": "50,40,30",
             "cfg_order": "123", "cfg_rho": 7.0, "cfg_n_head": 99, "cfg_majority": 3, "cfg_n_minority": 7,
             "cfg_minority_mode": "ratio", "cfg_ratio_pct": 5.0}
    query = to_query(state)
    assert query == {"task": "longtail", "protocol": "deepsmote", "profile": "counts", "counts": "50,40,30",
                     "order": "123"}
    back, warnings = from_query(query)
    assert warnings == [] and back == {"cfg_task": "longtail", "cfg_protocol": "deepsmote", "cfg_profile": "counts",
                                       "cfg_counts": "50,40,30", "cfg_order": "123"}
    del query["task"]  # a protocol that runs only the long tail implies it
    assert from_query(query) == (back, [])
    pair = {"cfg_majority": 3, "cfg_minority_mode": "count", "cfg_ratio_pct": 5.0, "cfg_n_minority": 7,
            "cfg_rho": 7.0, "cfg_profile": "exponential"}
    assert to_query(pair) == {"majority": "3", "n_minority": "7"}


def test_the_app_warns_about_a_link_setting_it_ignores_and_drops_it(monkeypatch, tmp_path, mnist_dir):
    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path))
    at = AppTest.from_string(SIDEBAR_ONLY.replace("sync_link()", "show_link_warnings()\nsync_link()")
                             .replace("import render_sidebar", "import render_sidebar, show_link_warnings"),
                             default_timeout=60)
    at.query_params.update({"task": "longtail", "majority": "3", "rho": "5"})
    at.run()
    assert not at.exception and not at.error, at.exception
    assert [w.value for w in at.warning] == [
        "link setting majority applies only to task=pair (the link has task=longtail); ignored.",
        "link setting rho implies profile=exponential; using it."]
    assert at.session_state["cfg_majority"] == 0 and at.session_state["cfg_profile"] == "exponential"
    assert at.sidebar.number_input(key="w_cfg_rho").value == 5.0
    assert at.query_params == {"task": "longtail", "profile": "exponential", "rho": "5"}
    assert list(tmp_path.iterdir()) == []
