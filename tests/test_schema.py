"""One declaration per experiment setting: the config's fields agree with it, and a setting
added to (a copy of) the schema reaches the CLI, the links and the sidebar by itself."""

from __future__ import annotations

import dataclasses
import typing

import pytest
from streamlit.testing.v1 import AppTest

from vaeimb.declarations import config, schema
from vaeimb.declarations.config import ExperimentConfig
from vaeimb.declarations.protocols import BLOG, PROTOCOLS
from vaeimb.declarations.schema import SECTIONS, WIDGETS, Setting
from vaeimb.interfaces import cli
from vaeimb_app.links import fields, from_query, to_query

KIND_TYPES = {"int": int, "float": float, "choice": str, "text": str}


def test_the_schema_and_the_config_fields_agree():
    """Names and order, types and defaults: each field but approach_params is one setting."""
    hints = typing.get_type_hints(ExperimentConfig)
    cfg_fields = [f for f in dataclasses.fields(ExperimentConfig) if f.name != "approach_params"]
    assert [f.name for f in cfg_fields] == [s.name for s in schema.SETTINGS]
    for f, s in zip(cfg_fields, schema.SETTINGS):
        assert hints[f.name] is KIND_TYPES[s.kind], f.name
        assert f.default == s.default and isinstance(s.default, KIND_TYPES[s.kind]), f.name
        s.check(s.default, "")
    ExperimentConfig().validate()


def test_every_setting_is_fully_declared_and_its_names_are_unique():
    for s in schema.SETTINGS:
        assert s.kind in KIND_TYPES and s.label and s.help, s.name
        assert s.widget in WIDGETS and s.section in SECTIONS, s.name
        assert (s.kind == "choice") == bool(s.choices), s.name
        assert s.kind in ("choice", "text") or (s.low is not None and s.high is not None), s.name  # links clip into it
        assert not s.labels or len(s.labels) == len(s.choices), s.name
    flags = [f for s in schema.SETTINGS for f in s.cli_flags]
    urls = [k for f in fields() for k in (f.url, *f.aliases)]
    states = [f.state for f in fields()]
    for names in (flags, urls, states):
        assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_generator_settings_are_named_for_generators_with_the_vae_names_as_aliases():
    for name, old in (("generator_steps", "vae_steps"), ("generator_batch_size", "vae_batch_size"),
                      ("generator_lr", "vae_lr")):
        s = schema.get(name)
        assert s.aliases == (old,) and s.budget and s.section == "advanced"
        assert s.cli_flags == (f"--{name.replace('_', '-')}", f"--{old.replace('_', '-')}")
        assert s.url_keys == (name, old) and s.state_key == f"cfg_{name}"
    assert not any("vae" in s.name or "VAE" in s.label for s in schema.SETTINGS)


# ---- a setting added to a copy of the schema --------------------------------------------
DROPOUT = Setting("dropout", 0.1, "float", 0.0, 0.9, help="classifier dropout", label="Dropout", aliases=("drop",),
                  section="advanced", step=0.05, budget=True)


@dataclasses.dataclass(frozen=True)
class WiderConfig(ExperimentConfig):
    """The field a real new setting adds to ExperimentConfig."""

    dropout: float = 0.1


@pytest.fixture
def with_dropout(monkeypatch):
    """The schema plus DROPOUT (which the blog protocols' budget sets to 0.5), and a config
    class that has its field: what adding a setting takes, done on copies."""
    monkeypatch.setattr(schema, "SETTINGS", (*schema.SETTINGS, DROPOUT))
    monkeypatch.setattr(config, "ExperimentConfig", WiderConfig)
    for name in ("blog", "blog-clean"):
        p = PROTOCOLS[name]
        monkeypatch.setitem(PROTOCOLS, name, dataclasses.replace(p, budget={**p.budget, "dropout": 0.5}))


def _parse(argv):
    a = cli.build_parser().parse_args(argv)
    return a, cli.config_from_args(a)


def test_a_new_setting_reaches_the_parser(with_dropout, capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--dropout FLOAT, --drop FLOAT classifier dropout (default 0.1; blog, blog-clean: 0.5)" in help_text
    a, cfg = _parse(["run", "--dropout", "0.3"])
    assert a.dropout == 0.3 and isinstance(cfg, WiderConfig) and cfg.dropout == 0.3
    assert _parse(["sweep", "--drop", "0.2"])[1].dropout == 0.2  # its old name, an alias
    assert _parse(["run", "--protocol", "blog"])[1].dropout == 0.5  # unset: the protocol's budget
    assert _parse(["atlas", "--out", "x"])[1].dropout == 0.1
    assert cli.main(["run", "--dropout", "2"]) == 2  # refused before anything trains, in the schema's words
    assert capsys.readouterr().err == "error: dropout must be float in [0, 0.9], got 2.0.\n"


def test_a_new_setting_reaches_the_links(with_dropout):
    assert to_query({"cfg_dropout": 0.1}) == {}  # the default stays out of the link
    assert to_query({"cfg_dropout": 0.3}) == {"dropout": "0.3"}
    assert from_query({"dropout": "0.3"}) == ({"cfg_dropout": 0.3}, [])
    assert from_query({"drop": "0.3"}) == ({"cfg_dropout": 0.3}, [])
    values, warnings = from_query({"dropout": "5"})
    assert values == {"cfg_dropout": 0.9} and warnings == ["link setting dropout='5' is outside [0, 0.9]; using 0.9."]


def test_a_new_setting_reaches_the_sidebar(with_dropout, monkeypatch, tmp_path, mnist_dir):
    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("VAEIMB_DATA_DIR", str(mnist_dir))
    monkeypatch.setenv("VAEIMB_APP_WORKERS", "0")
    monkeypatch.delenv("VAEIMB_APP_PRESET", raising=False)
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.query_params["drop"] = "0.3"  # a link that names it by its old name
    at.run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    widget = at.sidebar.number_input(key="w_cfg_dropout")
    assert (widget.label, widget.value, widget.min, widget.max, widget.step) == ("Dropout", 0.3, 0.0, 0.9, 0.05)
    assert widget.help == "Classifier dropout."
    assert at.query_params["dropout"] == "0.3" and "drop" not in at.query_params  # the link, rewritten
    widget.set_value(0.4).run()
    assert not at.exception and not at.error, [e.value for e in at.error]  # the page built a config with it
    assert at.session_state["cfg_dropout"] == 0.4
    from vaeimb_app.settings import budget_for_protocol_switch, defaults

    assert budget_for_protocol_switch("clean", "blog")["cfg_dropout"] == 0.5  # another family: its budget
    assert defaults()["cfg_dropout"] == 0.1


def test_every_setting_with_a_widget_is_in_the_sidebar(monkeypatch, tmp_path, mnist_dir):
    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("VAEIMB_DATA_DIR", str(mnist_dir))
    monkeypatch.setenv("VAEIMB_APP_WORKERS", "0")
    monkeypatch.delenv("VAEIMB_APP_PRESET", raising=False)
    at = AppTest.from_file("../app.py", default_timeout=120).run()
    assert not at.exception, at.exception
    kinds = {"number": "number_input", "select": "selectbox", "radio": "radio"}
    by_hand = {"dataset": "selectbox",  # at the top, with each dataset's label
               "majority": "selectbox", "minority": "selectbox", "n_majority": "number_input",
               "n_minority": "number_input",  # the class pair; the count (a ratio slider in "ratio" mode)
               "task": "radio", "profile": "selectbox", "rho": "number_input", "n_head": "number_input",
               "order": "text_input", "counts": "text_input"}  # the task and the long tail's profile
    assert at.sidebar.selectbox[0].key == "w_cfg_dataset"
    assert at.sidebar.selectbox[0].options == list(schema.get("dataset").labels)

    def sidebar_views(dataset: str) -> list:
        """The pair's sidebar, then the long tail's under each profile that shows more widgets."""
        views = []
        for state in ({}, {"cfg_task": "longtail", "cfg_profile": "exponential"},
                      {"cfg_task": "longtail", "cfg_profile": "counts"}):
            v = AppTest.from_file("../app.py", default_timeout=120)
            for key, value in {**state, "cfg_dataset": dataset}.items():
                v.session_state[key] = value
            views.append(v.run())
            assert not v.exception, v.exception
        return views

    # the labels say the dataset's word for its classes: MNIST's digits, another's classes
    words = {"mnist": {"majority": "Majority digit", "minority": "Minority digit", "order": "Digit order (head first)"},
             "fashion-mnist": {"majority": "Majority class", "minority": "Minority class",
                               "order": "Class order (head first)"}}
    for dataset, labels in words.items():
        views = [at, *sidebar_views(dataset)[1:]] if dataset == "mnist" else sidebar_views(dataset)
        for s in schema.SETTINGS:
            kind = kinds[s.widget] if s.widget else by_hand[s.name]
            found = [w for v in views for w in getattr(v.sidebar, kind) if w.key == f"w_{s.state_key}"]
            assert found, s.name
            assert found[0].label == labels.get(s.name, s.label), (dataset, s.name)
            if s.name not in ("task", "profile", "dataset"):  # the views set these three
                assert found[0].value == s.default, s.name
        assert views[0].sidebar.selectbox(key="w_cfg_dataset").value == dataset


def test_what_a_new_setting_needs_reaches_the_cli_and_the_links(with_dropout, monkeypatch, capsys):
    """A setting declared as used only by one profile (``requires``) is refused by the CLI
    and left out of links elsewhere, and implies that profile where nothing else is chosen:
    no face names it."""
    monkeypatch.setattr(schema, "SETTINGS", tuple(dataclasses.replace(s, requires=(("profile", ("exponential",)),))
                                                  if s.name == "dropout" else s for s in schema.SETTINGS))
    assert cli.main(["run", "--task", "longtail", "--profile", "counts", "--dropout", "0.3"]) == 2
    assert capsys.readouterr().err == ("error: --dropout applies only to --profile exponential (you gave --profile "
                                       "counts): drop --dropout or use --profile exponential.\n")
    a, cfg = _parse(["run", "--task", "longtail", "--dropout", "0.3"])
    assert (cfg.profile, cfg.dropout, a.notes) == ("exponential", 0.3, ("--dropout implies --profile exponential.",))
    assert to_query({"cfg_task": "longtail", "cfg_profile": "counts", "cfg_dropout": 0.3}) == {
        "task": "longtail", "profile": "counts"}
    assert from_query({"task": "longtail", "profile": "counts", "dropout": "0.3"}) == (
        {"cfg_task": "longtail", "cfg_profile": "counts"},
        ["link setting dropout applies only to profile=exponential (the link has profile=counts); ignored."])
