"""The shipped reference results and the findings the About page states from them."""

import json

import pytest

from vaeimb.declarations.errors import VaeimbError
from vaeimb.presentation.reference import (
    REFERENCE_FILE,
    compact,
    generator_findings,
    load_reference,
    markdown_table,
    per_seed_of,
    reference_rows,
    reference_verdict,
)


def _export(values: dict[str, list[float]], twins=None, recipes=None):
    runs = [{"approach": a, "seed": s, "metrics": {"misclassified": v}, "confusion_matrix": [[900, 10], [20, 1008]],
             "info": {"environment": {"threads": 2, "device": "cpu"}},
             "generator_quality": {"precision": 0.5, "recall": 0.25, "frechet": 12.0} if a.startswith("vae") else None}
            for a, vs in values.items() for s, v in enumerate(vs)]
    return {"label": "0 vs 6", "config": {"classifier": "mlp"}, "runs": runs, "twins": twins or {},
            "recipes": recipes or {}, "summary": [{"approach": a, "leaky": False} for a in values]}


RECIPES = {"baseline": "data=real,gen=none,batches=random,aug=none,loss=ce,decision=argmax",
           "vae": "data=real,gen=vae,batches=random,aug=none,loss=ce,decision=argmax",
           "oracle": "data=oracle,gen=none,batches=random,aug=none,loss=ce,decision=argmax"}


def test_compact_keeps_per_seed_counts_bounds_twins_and_quality():
    c = compact(_export({"baseline": [40, 50, 60], "vae": [30, 45, 55], "oracle": [10, 12, 14]},
                        twins={"vae": "baseline"}, recipes=RECIPES))
    assert c["per_seed"]["vae"] == {"0": 30, "1": 45, "2": 55} and c["n_test"] == 1938
    assert c["bounds"] == ["oracle"] and c["twins"] == {"vae": "baseline"}
    assert c["quality"]["vae"]["0"]["precision"] == 0.5 and c["environment"]["threads"] == 2
    json.dumps(c)  # JSON-able as shipped
    assert per_seed_of(c)["oracle"] == {0: 10.0, 1: 12.0, 2: 14.0}


def test_verdict_rows_and_findings_from_the_compact_entry():
    c = compact(_export({"baseline": [40, 50, 60, 55, 45], "vae": [30, 45, 52, 50, 40], "oracle": [10, 12, 14, 9, 11]},
                        twins={"vae": "baseline"}, recipes=RECIPES))
    v = reference_verdict(c)
    assert v.best == "vae" and v.oracle_ratio == pytest.approx(43.4 / 11.2)
    rows = reference_rows(c)
    assert [r["approach"] for r in rows] == ["oracle", "vae", "baseline"] and rows[1]["seeds"] == 5
    assert rows[2]["per_seed"] == [40, 50, 60, 55, 45]
    head, lines = generator_findings(c)
    assert head.startswith("vae beats its twin baseline in 5 of 5 paired seeds (-") and "distinguishable" in head
    assert "better in 5 of 5" in lines[0]


def test_findings_say_plainly_when_no_generator_beats_its_twin():
    c = compact(_export({"baseline": [40, 50, 60, 55, 45], "vae": [41, 49, 62, 50, 47]},
                        twins={"vae": "baseline"}, recipes=RECIPES))
    head, lines = generator_findings(c)
    assert head.startswith("No learned generator beats its own generator-free twin")
    assert "better in 2 of 5 seeds" in lines[0] and "not distinguishable" in lines[0]


def test_missing_reference_file_is_one_clear_error(tmp_path):
    with pytest.raises(VaeimbError, match="bench/targets.py"):
        load_reference(tmp_path / "nope.json")


def test_the_shipped_reference_file_loads_and_has_both_classifiers():
    data = load_reference(REFERENCE_FILE)
    assert set(data["classifiers"]) == {"mlp", "cnn"}
    for entry in data["classifiers"].values():
        assert "oracle" in entry["bounds"] and len(next(iter(entry["per_seed"].values()))) == 5
        assert reference_verdict(entry).best != "oracle"


def test_markdown_table_lists_every_approach_best_first_with_quality():
    export = _export({"baseline": [40, 50, 60], "vae": [30, 45, 55], "oracle": [10, 12, 14]},
                     twins={"vae": "baseline"}, recipes=RECIPES)
    table = markdown_table(compact(export)).splitlines()
    assert table[2].startswith("| oracle | 12.0 ± 2.0 |") and "10, 12, 14" in table[2]
    assert table[3].startswith("| vae | 43.3 ± 12.6 |") and table[3].endswith("| 0.50 | 0.25 | 12.0 |")
    assert table[4].startswith("| baseline |") and table[4].endswith("|  |  |  |")


def test_code_note_names_both_code_ids_only_when_they_differ(monkeypatch):
    import vaeimb.declarations.provenance as P

    here = P.code_fingerprint()
    assert P.code_note(here) is None
    note = P.code_note("0123456789ab", "The shipped MLP results")
    assert note.startswith("The shipped MLP results were made by code 0123456789ab") and here in note
    assert "unknown code id" in P.code_note(None)


#: The first lines of /proc/cpuinfo on the two CPU families the shipped results were made on.
INTEL = ("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n"
         "model name\t: Intel(R) Xeon(R) Platinum 8480+\nstepping\t: 8\n")
AMD = ("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n"
       "model name\t: AMD EPYC\nstepping\t: 1\n")
HOSTS = {"intel": (INTEL, "GenuineIntel 6/143", "Intel(R) Xeon(R) Platinum 8480+"),
         "amd": (AMD, "AuthenticAMD 25/17", "AMD EPYC")}


def test_cpu_family_and_name_read_vendor_family_model_and_model_name(monkeypatch):
    import platform

    import vaeimb.declarations.provenance as P

    for cpuinfo, family, name in HOSTS.values():
        assert P.cpu_family(cpuinfo) == family and P.cpu_name(cpuinfo) == name
        monkeypatch.setattr(P, "read_cpuinfo", lambda c=cpuinfo: c)  # the default reads this host
        assert P.cpu_family() == family and P.cpu_name() == name
    # no /proc/cpuinfo (or no vendor in it: an ARM machine): the machine
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(platform, "processor", lambda: "")
    assert P.cpu_family("") == "aarch64" and P.cpu_name("") == "aarch64"
    assert P.cpu_family("processor\t: 0\nBogoMIPS\t: 50.00\n") == "aarch64"


def test_read_cpuinfo_reads_the_file_and_gives_nothing_when_there_is_none(monkeypatch, tmp_path):
    import vaeimb.declarations.provenance as P

    (tmp_path / "cpuinfo").write_text(AMD + "flags\t\t: fpu " + "x" * 20000 + "\n\nprocessor\t: 1\n")
    monkeypatch.setattr(P, "CPUINFO", tmp_path / "cpuinfo")
    text = P.read_cpuinfo()
    assert text.startswith(AMD) and len(text) == 8192 and P.cpu_family() == "AuthenticAMD 25/17"
    monkeypatch.setattr(P, "CPUINFO", tmp_path / "none")
    assert P.read_cpuinfo() == ""


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_family_note_only_for_results_made_on_another_family(monkeypatch, host):
    """On an Intel host and on an AMD host: silent for results made on its own family (or
    on an unknown one), a sentence naming both families for the other, by CPU name for
    results older than the ``cpu_family`` field."""
    import vaeimb.declarations.provenance as P

    cpuinfo, family, name = HOSTS[host]
    (_, other_family, other_name), = [v for k, v in HOSTS.items() if k != host]
    monkeypatch.setattr(P, "read_cpuinfo", lambda: cpuinfo)
    assert P.family_note({"cpu_family": family, "cpu": "renamed"}) is None  # the family decides
    assert P.family_note({"cpu": name}) is None and P.family_note({}) is None
    note = P.family_note({"cpu_family": other_family, "cpu": other_name}, "The shipped rows")
    assert note.startswith(f"The shipped rows were made on CPU {other_family}; this machine is {family}.")
    assert "any approach (one without a generator too) may give other counts, as another seed would" in note
    assert "the others give the same" not in note
    old = P.family_note({"cpu": other_name})  # results older than the field: by CPU name
    assert old.startswith(f"These results were made on CPU {other_name}; this machine is {name}.")


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_every_result_records_the_cpu_family_and_torchs_kernels(monkeypatch, host):
    import torch

    import vaeimb.declarations.provenance as P
    from vaeimb.declarations.jobs import Identity

    cpuinfo, family, name = HOSTS[host]
    monkeypatch.setattr(P, "read_cpuinfo", lambda: cpuinfo)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: f"{host}-kernels")
    env = P.environment(Identity(threads=3))
    assert (env["cpu"], env["cpu_family"], env["cpu_capability"]) == (name, family, f"{host}-kernels")
    assert env["threads"] == 3 and env["code"] == P.code_fingerprint()
    for cores in (1, 64):  # the cores this process may use, one and many
        monkeypatch.setattr(P.os, "sched_getaffinity", lambda pid, n=cores: set(range(n)), raising=False)
        assert P.environment(Identity())["pid_cores"] == cores


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_provenance_notes_are_the_code_and_family_notes_that_apply(monkeypatch, host):
    """On a faked Intel or AMD host: none for results made here, by this code; each note that
    applies otherwise, in order (code, then family)."""
    import vaeimb.declarations.provenance as P

    cpuinfo, family, _ = HOSTS[host]
    (_, other_family, _), = [v for k, v in HOSTS.items() if k != host]
    monkeypatch.setattr(P, "read_cpuinfo", lambda: cpuinfo)
    monkeypatch.setattr(P, "code_fingerprint", lambda: "here")
    assert P.provenance_notes({"code": "here", "cpu_family": family}) == []
    assert P.provenance_notes({"code": "old", "cpu_family": family}, "X") == [P.code_note("old", "X")]
    both = P.provenance_notes({"code": "old", "cpu_family": other_family}, "X")
    assert both == [P.code_note("old", "X"), P.family_note({"cpu_family": other_family}, "X")] and all(both)
