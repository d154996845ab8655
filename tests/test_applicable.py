"""A setting the chosen task, profile or protocol would not use is refused (one line, exit 2,
nothing trained or cached) or, where one choice would do, implies it and says so: the rule
(``schema.applicability``) read from one declaration (``TaskKind.settings``, ``Setting.requires``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vaeimb.declarations import schema
from vaeimb.declarations.errors import ConfigError
from vaeimb.declarations.task_kinds import PROFILES, TASK_KINDS
from vaeimb.interfaces import cli

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
DEEPSMOTE = "4000,2000,1000,750,500,350,200,100,60,40"


# ---- the declaration ----------------------------------------------------------------------
def test_what_each_setting_needs_is_declared_once_and_names_real_values():
    assert schema.requirements("majority") == (("task", ("pair",)),)
    assert schema.requirements("order") == (("task", ("longtail",)),)  # every long-tail profile
    assert schema.requirements("rho") == (("task", ("longtail",)), ("profile", ("exponential",)))
    assert schema.requirements("n_head") == (("task", ("longtail",)), ("profile", ("exponential",)))
    assert schema.requirements("counts") == (("task", ("longtail",)), ("profile", ("counts",)))
    for name in ("task", "protocol", "classifier", "steps", "batch_size", "generator_steps", "validation_fraction"):
        assert schema.requirements(name) == (), name
    for s in schema.SETTINGS:
        for other, allowed in s.requires:  # a typo in a declaration would make a setting never apply
            assert allowed and set(allowed) <= set(schema.get(other).choices), s.name
            assert schema.requirements(other), f"{s.name} needs {other}, which belongs to no task"
    assert set(PROFILES) == set(schema.get("profile").choices)
    assert {n for k in TASK_KINDS.values() for n in k.settings} <= {s.name for s in schema.SETTINGS}


@pytest.mark.parametrize("name, values, used", [
    ("majority", {}, True),
    ("majority", {"task": "longtail"}, False),
    ("majority", {"protocol": "deepsmote"}, False),  # the protocol's task
    ("order", {"task": "longtail"}, True),
    ("order", {}, False),
    ("rho", {"task": "longtail"}, False),  # deepsmote's profile
    ("rho", {"task": "longtail", "profile": "exponential"}, True),
    ("n_head", {"protocol": "deepsmote", "profile": "exponential"}, True),
    ("counts", {"task": "longtail", "profile": "exponential"}, False),
    ("counts", {"task": "longtail", "profile": "counts"}, True),
    ("counts", {"task": "pair", "profile": "counts"}, False),
    ("steps", {"protocol": "blog"}, True),
])
def test_applies(name, values, used):
    assert schema.applies(name, values) is used


# ---- the rule ----------------------------------------------------------------------------
@pytest.mark.parametrize("given, line", [
    ({"task": "longtail", "profile": "deepsmote", "counts": "100"},
     "--counts applies only to --profile counts (you gave --profile deepsmote): drop --counts or use --profile counts."),
    ({"task": "longtail", "majority": 3},
     "--majority applies only to --task pair (you gave --task longtail): drop --majority or use --task pair."),
    ({"task": "longtail", "profile": "deepsmote", "rho": 5.0},
     "--rho applies only to --profile exponential (you gave --profile deepsmote): drop --rho or use --profile "
     "exponential."),
    ({"task": "pair", "order": "123"},
     "--order applies only to --task longtail (you gave --task pair): drop --order or use --task longtail."),
    ({"profile": "counts", "n_head": 9},
     "--n-head applies only to --profile exponential (you gave --profile counts): drop --n-head or use --profile "
     "exponential."),
    ({"majority": 3, "order": "123"},
     "--order applies only to --task longtail, but --majority applies only to --task pair: drop one of them, or "
     "give --task."),
    ({"rho": 5.0, "counts": "1,2"},
     "--counts applies only to --profile counts, but --rho applies only to --profile exponential: drop one of "
     "them, or give --profile."),
    ({"protocol": "deepsmote", "majority": 3},
     "--majority applies only to --task pair, and --protocol deepsmote runs only --task longtail: drop --majority "
     "or choose --protocol clean, blog or blog-clean."),
    ({"protocol": "blog", "rho": 5.0},
     "--rho applies only to --task longtail, and --protocol blog runs only --task pair: drop --rho or choose "
     "--protocol clean or deepsmote."),
    ({"task": "pair", "profile": "exponential"},
     "--profile applies only to --task longtail (you gave --task pair): drop --profile or use --task longtail."),
])
def test_a_setting_that_would_be_ignored_is_refused_in_one_line(given, line):
    with pytest.raises(ConfigError) as e:
        schema.check_applicable(given)
    assert str(e.value) == line


@pytest.mark.parametrize("given, implied, note", [
    ({"task": "longtail", "counts": "100"}, {"profile": "counts"}, "--counts implies --profile counts."),
    ({"counts": DEEPSMOTE}, {"task": "longtail", "profile": "counts"},
     "--counts implies --task longtail and --profile counts."),
    ({"rho": 5.0}, {"task": "longtail", "profile": "exponential"},
     "--rho implies --task longtail and --profile exponential."),
    ({"n_head": 300, "task": "longtail"}, {"profile": "exponential"}, "--n-head implies --profile exponential."),
    ({"protocol": "deepsmote", "rho": 5.0}, {"profile": "exponential"}, "--rho implies --profile exponential."),
    ({"protocol": "clean", "order": "0123"}, {"task": "longtail"}, "--order implies --task longtail."),
    ({"profile": "exponential"}, {"task": "longtail"}, "--profile implies --task longtail."),
])
def test_a_setting_implies_what_it_needs_where_one_choice_would_do(given, implied, note):
    assert schema.check_applicable(given) == (implied, (note,))


@pytest.mark.parametrize("given", [
    {}, {"majority": 3, "minority": 8, "n_majority": 400, "n_minority": 4},  # the pair is the default task
    {"task": "longtail", "order": "0123456789"}, {"protocol": "deepsmote", "order": "9876543210"},
    {"task": "longtail", "profile": "exponential", "rho": 10.0, "n_head": 100},
    {"protocol": "blog", "steps": 7, "batch_size": 9, "classifier": "cnn"},  # a protocol's budget is overridden, not ignored
    {"protocol": "deepsmote", "generator_steps": 3, "validation_fraction": 0.3, "n_checkpoints": 2},
    {"task": "pair", "protocol": "clean", "majority": 1},
])
def test_settings_that_apply_pass_unchanged(given):
    assert schema.check_applicable(given) == ({}, ())


def test_links_word_the_same_rule_as_url_keys():
    found = schema.applicability({"task": "longtail", "majority": 3, "counts": DEEPSMOTE}, "link")
    assert found.refused == {"majority": "link setting majority applies only to task=pair (the link has "
                                         "task=longtail); ignored."}
    assert found.implied == {"profile": "counts"}
    assert found.notes == ("link setting counts implies profile=counts; using it.",)


# ---- the command line --------------------------------------------------------------------
REFUSED = [
    (["run", "--task", "longtail", "--counts", "100"], "counts gives 1 numbers but the digit order names 10"),
    (["run", "--task", "longtail", "--profile", "deepsmote", "--counts", "100"], "--counts applies only to --profile counts"),
    (["run", "--task", "longtail", "--majority", "3"], "--majority applies only to --task pair"),
    (["run", "--task", "longtail", "--n-minority", "30"], "--n-minority applies only to --task pair"),
    (["run", "--task", "longtail", "--ratio", "2%"], "--ratio applies only to --task pair"),
    (["run", "--task", "longtail", "--profile", "deepsmote", "--rho", "5"], "--rho applies only to --profile exponential"),
    (["run", "--protocol", "deepsmote", "--profile", "counts", "--rho", "5"], "--rho applies only to --profile exponential"),
    (["run", "--task", "pair", "--order", "123"], "--order applies only to --task longtail"),
    (["run", "--majority", "3", "--order", "123"], "but --majority applies only to --task pair"),
    (["run", "--rho", "5", "--counts", DEEPSMOTE], "but --rho applies only to --profile exponential"),
    (["run", "--protocol", "blog", "--rho", "5"], "--protocol blog runs only --task pair"),
    (["run", "--protocol", "deepsmote", "--majority", "3"], "--protocol deepsmote runs only --task longtail"),
    (["reproduce", "--task", "pair", "--rho", "5"], "--rho applies only to --task longtail"),
    (["reproduce", "--protocol", "deepsmote", "--profile", "deepsmote", "--n-head", "300"],
     "--n-head applies only to --profile exponential"),
    (["sweep", "--protocol", "deepsmote", "--majority", "3"], "--protocol deepsmote runs only --task longtail"),
]


@pytest.mark.parametrize("argv, fragment", REFUSED)
def test_the_cli_refuses_an_ignored_setting_in_one_line_before_anything_runs(argv, fragment, tmp_path, capsys,
                                                                              monkeypatch, no_training, mnist_dir):
    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path / "env-cache"))
    rc = cli.main([*argv, "--quiet", "--in-process", "--data-dir", str(mnist_dir), "--cache-dir", str(tmp_path / "c")])
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err
    assert list(tmp_path.iterdir()) == []  # nothing cached, in either cache folder


def test_the_console_refusal_is_one_line_exit_2_and_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vaeimb", "run", "--task", "longtail", "--majority", "3",
                           "--cache-dir", str(tmp_path / "c")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "VAEIMB_CACHE_DIR": str(tmp_path / "c2")})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == ("error: --majority applies only to --task pair (you gave --task longtail): drop --majority "
                           "or use --task pair.\n")
    assert list(tmp_path.iterdir()) == []


def _config(argv):
    a = cli.build_parser().parse_args(argv)
    return cli.config_from_args(a), a.notes


def test_the_cli_applies_what_a_flag_implies():
    cfg, notes = _config(["run", "--counts", DEEPSMOTE])
    assert (cfg.task, cfg.profile, cfg.counts, cfg.protocol, cfg.steps) == ("longtail", "counts", DEEPSMOTE, "deepsmote", 2000)
    assert notes == ("--counts implies --task longtail and --profile counts.",)
    cfg, notes = _config(["run", "--protocol", "deepsmote", "--rho", "10", "--n-head", "300"])
    assert (cfg.profile, cfg.rho, cfg.n_head, cfg.class_counts[-1]) == ("exponential", 10.0, 300, 30)
    assert notes == ("--rho implies --profile exponential.",)
    cfg, notes = _config(["reproduce", "--order", "0123", "--profile", "exponential"])
    assert cfg.task == "longtail" and cfg.classes == (0, 1, 2, 3) and notes == ("--profile implies --task longtail.",)
    cfg, notes = _config(["run", "--protocol", "blog", "--steps", "7", "--majority", "3"])  # an override applies
    assert (cfg.steps, cfg.majority, cfg.batch_size) == (7, 3, 128) and notes == ()


def test_the_cli_says_what_it_implied_before_it_runs(tmp_path, capsys, monkeypatch, mnist_dir):
    import vaeimb.studies.experiment as E

    class Ran(Exception):
        pass

    def run_experiment(config, specs, seeds, **kw):
        assert (config.task, config.profile) == ("longtail", "exponential")
        raise Ran

    monkeypatch.setattr(E, "run_experiment", run_experiment)
    with pytest.raises(Ran):
        cli.main(["run", "--rho", "10", "--n-head", "300", "--in-process", "--quiet", "--data-dir", str(mnist_dir),
                  "--cache-dir", str(tmp_path / "c")])
    assert capsys.readouterr().err == "note: --rho implies --task longtail and --profile exponential.\n"
