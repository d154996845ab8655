"""The digit-pair atlas's pure parts: pairs, the table's files, the gain grid, merging and
what the Atlas page derives from it, on hand-made atlases whose answers are known."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from vaeimb.declarations.config import ExperimentConfig, n_minority_from_ratio
from vaeimb.declarations.datasets import DATASETS
from vaeimb.declarations.errors import ConfigError, VaeimbError
from vaeimb.running.recipes import parse_param_overrides
from vaeimb.studies.atlas import runs as atlas_runs
from vaeimb.studies import atlas as atl
from vaeimb.studies.atlas import (
    ALL_PAIRS,
    Atlas,
    gain_grid,
    load_atlas,
    merge_atlases,
    parse_pairs,
)
from vaeimb_app import atlas_view
from vaeimb_app.links import as_linked, from_query, to_query

BUDGET = {"approach_params": {}, "batch_size": 32, "classifier": "mlp", "latent_dim": 20, "lr": 0.001,
          "n_checkpoints": 2, "n_majority": 300, "protocol": "clean", "steps": 30, "generator_batch_size": 16,
          "generator_lr": 0.001, "generator_steps": 20, "validation_fraction": 0.2}


def row(maj, mnr, approach, seed, misclassified, ratio=0.02, n_majority=300):
    """A table row whose balanced accuracy moves with misclassified (1 - m / 1000)."""
    r = {"majority": maj, "minority": mnr, "ratio": ratio, "n_majority": n_majority,
         "n_minority": n_minority_from_ratio(n_majority, ratio), "approach": approach, "seed": seed, "n_test": 1900,
         "misclassified": float(misclassified), "balanced_accuracy": 1 - misclassified / 1000,
         "threshold_logit": 0.0}
    r.update({m: 0.5 for m in ("minority_recall", "minority_f1", "g_mean", "roc_auc")})
    return r


def make_atlas(cells: dict, ratio=0.02, meta=None) -> Atlas:
    """``{(maj, min): {approach: [misclassified per seed 0, 1, ...]}}`` -> an Atlas."""
    rows = [row(maj, mnr, name, seed, v, ratio) for (maj, mnr), by in cells.items()
            for name, values in by.items() for seed, v in enumerate(values)]
    return Atlas(rows, meta if meta is not None else {"format": atl.FORMAT, "budget": dict(BUDGET),
                                                      "created": "2026-01-01 00:00 UTC"})


#: A = vae, B = oversample. Fewer misclassified is better, so the gain of A is B - A:
#: 0 vs 6 -> [5, 6, 7] (A better, decided), 3 vs 8 -> [5, -5, 1] (undecided),
#: 6 vs 0 -> [-10, -11, -9] (B better, decided; every seed -10 would be the exact
#: sign-flip test's 0.25 with 3 seeds: undecided).
CELLS = {
    (0, 6): {"vae": [10, 20, 30], "oversample": [15, 26, 37]},
    (3, 8): {"vae": [10, 20, 30], "oversample": [15, 15, 31]},
    (6, 0): {"vae": [20, 31, 39], "oversample": [10, 20, 30]},
}


@pytest.fixture
def hand() -> Atlas:
    return make_atlas(CELLS)


# ---- pairs -------------------------------------------------------------------------
def test_parse_pairs_reads_all_lists_and_commas():
    assert parse_pairs(["all"]) == list(ALL_PAIRS) and len(ALL_PAIRS) == 90
    assert all(a != b for a, b in ALL_PAIRS)
    assert parse_pairs(["ALL"]) == list(ALL_PAIRS)
    assert parse_pairs(["0:6", "3:8"]) == [(0, 6), (3, 8)]
    assert parse_pairs(["0:6,3:8", " 6:0 "]) == [(0, 6), (3, 8), (6, 0)]
    assert parse_pairs(["0:6", "0:6"]) == [(0, 6)]  # a repeat counts once


@pytest.mark.parametrize("items, says", [
    (["3:3"], "twice"),
    (["x"], "not MAJORITY:MINORITY"),
    (["0:10"], "outside 0-9"),
    (["all", "0:6"], "alone"),
    ([], "give 'all'"),
    (["0-6"], "not MAJORITY:MINORITY"),
])
def test_parse_pairs_refuses_bad_input_with_one_clear_error(items, says):
    with pytest.raises(ConfigError, match=says):
        parse_pairs(items)


# ---- files ---------------------------------------------------------------------------
def test_write_then_load_gives_the_same_atlas(hand, tmp_path):
    hand.rows[0]["roc_auc"] = float("nan")  # an empty cell in the table
    folder = hand.write(tmp_path / "new" / "atlas")
    back = load_atlas(folder)
    assert back.meta == hand.meta
    key = lambda r: (r["majority"], r["minority"], r["approach"], r["seed"])
    for got, want in zip(sorted(back.rows, key=key), sorted(hand.rows, key=key)):
        assert got.keys() == want.keys()
        for k in want:
            if isinstance(want[k], float) and math.isnan(want[k]):
                assert math.isnan(got[k])
            else:
                assert got[k] == pytest.approx(want[k]), k
    assert back.approaches == ["oversample", "vae"] and back.ratios == [0.02] and back.seeds == [0, 1, 2]
    assert back.pairs == [(0, 6), (3, 8), (6, 0)]
    assert not list(folder.glob(".*.tmp"))  # written whole, no temporary left


def test_load_refuses_missing_malformed_and_foreign_atlases(hand, tmp_path):
    with pytest.raises(VaeimbError, match="atlas.json is missing"):
        load_atlas(tmp_path / "nowhere")
    folder = hand.write(tmp_path / "a")
    (folder / atl.TABLE_FILE).write_text("majority,minority\n0,6\n")
    with pytest.raises(VaeimbError, match="malformed"):
        load_atlas(folder)
    folder = hand.write(tmp_path / "b")
    text = (folder / atl.TABLE_FILE).read_text().splitlines()
    (folder / atl.TABLE_FILE).write_text("\n".join([text[0], text[1].replace(",0,", ",zero,", 1)]))
    with pytest.raises(VaeimbError, match="malformed"):
        load_atlas(folder)
    folder = hand.write(tmp_path / "c")
    (folder / atl.META_FILE).write_text(json.dumps({"format": 99}))
    with pytest.raises(VaeimbError, match="format 99"):
        load_atlas(folder)
    (folder / atl.META_FILE).write_text("{not json")
    with pytest.raises(VaeimbError, match="unreadable"):
        load_atlas(folder)


# ---- the gain grid -------------------------------------------------------------------
def test_gain_grid_is_b_minus_a_for_misclassified_with_paired_intervals(hand):
    g = gain_grid(hand, "vae", "oversample", 0.02)
    assert g.gain[0, 6] == pytest.approx(6.0)
    half = stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)  # sd of [5, 6, 7] is 1
    assert (g.low[0, 6], g.high[0, 6]) == pytest.approx((6 - half, 6 + half))
    assert g.significant[0, 6] and g.low[0, 6] > 0
    assert g.gain[3, 8] == pytest.approx(1 / 3) and not g.significant[3, 8]
    assert g.low[3, 8] < 0 < g.high[3, 8]
    assert g.gain[6, 0] == -10 and g.significant[6, 0] and g.high[6, 0] < 0
    assert (g.mean_a[0, 6], g.mean_b[0, 6]) == (20, 26)
    assert g.n[0, 6] == 3 and g.n[1, 2] == 0
    assert np.isnan(np.diag(g.gain)).all()
    assert np.isnan(g.gain).sum() == 97  # only the three cells hold data
    assert g.counts() == {"a_better": 1, "b_better": 1, "undecided": 1, "cells": 3, "raw_a_better": 1, "raw_b_better": 1}
    swapped = gain_grid(hand, "oversample", "vae", 0.02)
    np.testing.assert_allclose(swapped.gain, -g.gain)
    assert swapped.counts() == {"a_better": 1, "b_better": 1, "undecided": 1, "cells": 3, "raw_a_better": 1, "raw_b_better": 1}


def test_gain_grid_of_a_higher_is_better_metric_keeps_the_sign(hand):
    g = gain_grid(hand, "vae", "oversample", 0.02, "balanced_accuracy")
    assert g.gain[0, 6] == pytest.approx(0.006)  # A - B: positive where A is better
    assert g.counts() == {"a_better": 1, "b_better": 1, "undecided": 1, "cells": 3, "raw_a_better": 1, "raw_b_better": 1}


def test_gain_grid_pairs_only_the_seeds_both_ran():
    cells = {(0, 6): {"vae": [10, 20, 30], "oversample": [15, 26]}}
    g = gain_grid(make_atlas(cells), "vae", "oversample", 0.02)
    assert g.n[0, 6] == 2 and g.gain[0, 6] == pytest.approx(5.5) and g.mean_a[0, 6] == 20


@pytest.mark.parametrize("args, says", [
    (("vae", "smote", 0.02), "no approach 'smote'"),
    (("vae", "oversample", 0.05), "no ratio 0.05"),
    (("vae", "oversample", 0.02, "accuracy"), "Unknown atlas metric"),
])
def test_gain_grid_refuses_what_the_atlas_lacks(hand, args, says):
    with pytest.raises(ConfigError, match=says):
        gain_grid(hand, *args)


def test_summary_and_cell_sentences_say_what_the_grid_holds(hand):
    g = gain_grid(hand, "vae", "oversample", 0.02)
    assert atl.summary_line(g).startswith("vae beats oversample on 1 pairs after Holm's correction, loses on 1, "
                                          "undecided on 1 (paired t-tests, 3 seeds, errors).")
    assert "chance of even one false separation among these 3 comparisons is at most 5%" in atl.summary_line(g)
    assert "+6 " in atl.cell_sentence(g, 0, 6) and "vae is better" in atl.cell_sentence(g, 0, 6)
    assert "oversample is better" in atl.cell_sentence(g, 6, 0)
    assert "undecided" in atl.cell_sentence(g, 3, 8)
    assert "no seed has both" in atl.cell_sentence(g, 1, 2)
    empty = gain_grid(make_atlas({(0, 6): {"vae": [1, 2], "oversample": [3, 4]}}, ratio=0.05), "vae", "oversample", 0.05)
    assert "3 seeds" not in atl.summary_line(empty) and "2 seeds" in atl.summary_line(empty)


def test_cell_detail_lists_each_seed_with_the_heatmaps_sign():
    cells = {(0, 6): {"vae": [10, 20, 30], "oversample": [15, 26]}}
    rows = atl.cell_detail(make_atlas(cells), 0, 6, 0.02, "vae", "oversample")
    assert rows == [{"seed": 0, "a": 10, "b": 15, "gain": 5}, {"seed": 1, "a": 20, "b": 26, "gain": 6},
                    {"seed": 2, "a": 30, "b": None, "gain": None}]
    rows = atl.cell_detail(make_atlas(cells), 0, 6, 0.02, "vae", "oversample", "balanced_accuracy")
    assert rows[0]["gain"] == pytest.approx(0.005)
    assert atl.cell_detail(make_atlas(cells), 3, 8, 0.02, "vae", "oversample") == []


# ---- the page's view --------------------------------------------------------------------
def test_resolve_view_defaults_quietly_and_warns_about_unknown_choices(hand):
    assert atlas_view.resolve_view(hand) == (("vae", "oversample", 0.02, "misclassified"), [])
    view, warnings = atlas_view.resolve_view(hand, "unknown", "vae", 0.021, "roc_auc")
    assert view == ("vae", "vae", 0.02, "misclassified")
    assert len(warnings) == 3
    assert "no approach 'unknown'" in warnings[0] and "showing vae as A" in warnings[0]
    assert "no ratio 0.021" in warnings[1] and "showing 2%" in warnings[1]
    assert "cannot show metric 'roc_auc'" in warnings[2]
    two = merge_atlases(hand, make_atlas({(0, 6): {"vae": [1], "oversample": [2]}}, ratio=0.05))
    assert atlas_view.resolve_view(two, ratio="0.05")[0][2] == 0.05
    assert atlas_view.resolve_view(two, ratio=0.04)[0][2] == 0.05  # the nearest
    assert atlas_view.resolve_view(two, ratio="lots")[1]
    other = make_atlas({(0, 6): {"baseline": [1], "smote": [2], "cvae": [3]}})
    assert atlas_view.resolve_view(other)[0][:2] == ("cvae", "baseline")  # no vae/oversample: last and first


def test_missing_pairs_are_those_lacking_any_approach_or_seed(hand):
    missing = atl.missing_pairs(hand, 0.02, ["vae", "oversample"])
    assert len(missing) == 87 and (0, 6) not in missing and (1, 2) in missing
    gappy = make_atlas({(0, 6): {"vae": [1, 2, 3], "oversample": [1, 2]}, (3, 8): {"vae": [1, 2, 3]}})
    gappy.rows.append(row(6, 0, "oversample", 2, 5))
    missing = atl.missing_pairs(gappy, 0.02, ["vae", "oversample"])
    assert (0, 6) in missing and (3, 8) in missing and len(missing) == 90
    assert (3, 8) not in atl.missing_pairs(gappy, 0.02, ["vae"])
    assert len(atl.missing_pairs(hand, 0.05, ["vae"])) == 90


def test_base_config_is_the_atlas_budget(hand):
    cfg = atl.base_config(hand)
    assert cfg == ExperimentConfig(**{k: v for k, v in BUDGET.items()})
    with pytest.raises(ConfigError, match="budget"):
        atl.base_config(Atlas(hand.rows, {"format": 1}))


def test_tasks_per_cell_counts_generators_once_per_seed():
    cfg = ExperimentConfig(**BUDGET)
    assert atlas_runs.jobs_per_cell(cfg, ["vae", "oversample"], [0, 1, 2]) == 9  # vae, its VAE, oversample
    assert atlas_runs.jobs_per_cell(cfg, ["baseline"], [0]) == 1


# ---- merging --------------------------------------------------------------------------
def test_merge_keeps_every_row_once_and_the_later_atlas_wins(hand):
    extra = make_atlas({(0, 6): {"vae": [99]}, (1, 2): {"vae": [1, 2, 3], "oversample": [4, 5, 6]}},
                       meta={"format": 1, "budget": dict(BUDGET), "created": "2026-02-01 00:00 UTC"})
    merged = merge_atlases(hand, extra)
    assert len(merged.rows) == len(hand.rows) + 6
    assert merged.per_seed("vae", 0.02, "misclassified")[(0, 6)] == {0: 99, 1: 20, 2: 30}
    assert merged.pairs == [(0, 6), (1, 2), (3, 8), (6, 0)]
    assert merged.meta["sources"] == [hand.meta, extra.meta]
    assert merged.meta["created"] == "2026-02-01 00:00 UTC" and merged.meta["budget"] == BUDGET
    assert merge_atlases(extra, hand).per_seed("vae", 0.02, "misclassified")[(0, 6)][0] == 10
    again = merge_atlases(merged, make_atlas({(3, 8): {"vae": [7]}}))  # sources stay flat
    assert len(again.meta["sources"]) == 3
    other_n = make_atlas({})
    other_n.rows = [row(0, 6, "vae", 0, 1, n_majority=500)]
    assert len(merge_atlases(hand, other_n).rows) == len(hand.rows) + 1  # another majority count is another row


def test_merge_refuses_atlases_of_different_budgets(hand):
    other = make_atlas({(1, 2): {"vae": [1]}}, meta={"format": 1, "budget": {**BUDGET, "steps": 1000}})
    with pytest.raises(ConfigError, match="steps: 30 vs 1000"):
        merge_atlases(hand, other)
    with pytest.raises(ConfigError):
        merge_atlases()


def test_a_merged_atlas_round_trips_through_its_files(hand, tmp_path):
    merged = merge_atlases(hand, make_atlas({(1, 2): {"vae": [1]}}))
    back = load_atlas(merged.write(tmp_path))
    assert back.meta == json.loads(json.dumps(merged.meta)) and len(back.rows) == len(merged.rows)


def test_provenance_names_the_budget_and_each_source(hand):
    hand.meta.update(executor="in-process, 2 torch thread(s) per job", pairs=[[0, 6]], ratios=[0.02],
                     environment={"machine": "x86_64", "cpu": "AMD EPYC", "vaeimb": "0.1.0", "code": "abc123"})
    lines = atl.provenance(merge_atlases(hand, make_atlas({(1, 2): {"vae": [1]}})))
    assert lines[0] == ("Budget: MLP classifier, 30 steps (batch 32), generators 20 steps (batch 16), 300 majority images, "
                        "clean protocol; seeds 0, 1, 2.")
    assert len(lines) == 3
    assert "2026-01-01 00:00 UTC" in lines[1] and "AMD EPYC" in lines[1] and "code abc123" in lines[1]
    assert "in-process" in lines[1] and "1 pair(s) x 1 ratio(s)" in lines[1]


# ---- opening a cell on the Experiment page ------------------------------------------------
@pytest.mark.parametrize("ratio", [0.02, 0.04])
def test_cell_state_makes_a_link_that_reads_back_without_warnings(hand, ratio):
    state = atlas_view.cell_state(hand, 3, 8, ratio, ["vae", "oversample", "gen=smote,batches=balanced"])
    assert state["cfg_approaches"] == ["oversample", "vae"]  # the sidebar's order
    assert state["cfg_recipes"] == "gen=smote,batches=balanced"
    query = to_query(state)
    assert query["majority"] == "3" and query["minority"] == "8" and query["steps"] == "30"
    back, warnings = from_query(query)
    assert warnings == []
    assert back == {k: v for k, v in state.items() if k in back}
    linked, warnings = as_linked(state)
    assert warnings == [] and linked == state
    n_minority = n_minority_from_ratio(300, ratio)
    if ratio == 0.02:  # a ratio the sidebar offers
        assert (state["cfg_minority_mode"], state["cfg_ratio_pct"]) == ("ratio", 2.0)
    else:  # one it does not: the count it stands for
        assert (state["cfg_minority_mode"], state["cfg_n_minority"]) == ("count", n_minority)


def test_cell_state_carries_the_atlas_approach_parameters(hand):
    hand.meta["budget"] = {**BUDGET, "approach_params": {"threshold": {"decision.tau": 0.5}, "vae": {"data.n_generate": 100}}}
    state = atlas_view.cell_state(hand, 0, 6, 0.02, ["threshold", "oversample"])
    assert state["cfg_params"] == "threshold.decision.tau=0.5"
    assert parse_param_overrides(state["cfg_params"].splitlines(), ["threshold", "oversample"]) == {
        "threshold": {"decision.tau": 0.5}}


def test_the_shipped_atlas_covers_every_pair_with_its_provenance():
    """The Atlas page's default table: made by the command, every pair, paired seeds."""
    shipped = atl.load_atlas(atl.SHIPPED_DIR)
    assert shipped.pairs == list(atl.ALL_PAIRS) and len(shipped.seeds) >= 3
    assert shipped.meta["command"].startswith("python -m vaeimb atlas") and not shipped.meta["failures"]
    assert shipped.meta["environment"]["threads"] and shipped.meta["budget"]["steps"]
    grid = atl.gain_grid(shipped, "vae", "oversample", shipped.ratios[0])
    assert grid.counts()["cells"] == 90 and (grid.n[~np.isnan(grid.gain)] == len(shipped.seeds)).all()
    # the reference budget, and both of the page's questions answerable
    budget = shipped.meta["budget"]
    assert (budget["steps"], budget["batch_size"], budget["generator_steps"], budget["generator_batch_size"]) == (500, 64, 400, 64)
    assert {"baseline", "threshold", "oversample", "vae", "augment-posthoc", "oracle"} <= set(shipped.approaches)
    assert shipped.twins == {"vae": "baseline"} and atl.GAP_CLOSED in shipped.metrics()


def test_the_map_decides_its_cells_together_as_statsmodels_does():
    """Every cell's paired t-test (scipy), adjusted over the cells of the map by
    statsmodels' multipletests: the stars are exactly its rejections."""
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(7)
    cells = {}
    for pair in ALL_PAIRS[:40]:
        base = rng.integers(20, 80, 3)
        cells[pair] = {"vae": list(base), "oversample": list(base + rng.integers(-4, 12, 3))}
    atlas = make_atlas(cells)
    pairs = sorted(cells)
    raw = np.array([stats.ttest_rel(cells[p]["oversample"], cells[p]["vae"]).pvalue for p in pairs])
    raw = np.where(np.isnan(raw), 1.0, raw)  # equal differences on every seed: never a star here
    for method, theirs in (("holm", "holm"), ("bh", "fdr_bh")):
        g = gain_grid(atlas, "vae", "oversample", 0.02, correction=method)
        ours = np.array([g.significant[p] for p in pairs])
        finite = ~np.isnan(np.array([g.p_raw[p] for p in pairs]))
        reject = multipletests(raw[finite], 0.05, theirs)[0]
        assert list(ours[finite]) == list(reject)
        assert not ours[~finite].any()
    none = gain_grid(atlas, "vae", "oversample", 0.02, correction="none")
    assert none.counts()["a_better"] + none.counts()["b_better"] >= g.counts()["a_better"] + g.counts()["b_better"]
    assert "chance alone would separate about 2.0 of these 40" in atl.summary_line(none)


def test_gap_closed_is_a_metric_where_oversample_and_the_oracle_ran():
    cells = {(0, 6): {"vae": [40, 70, 30], "oversample": [70, 60, 50], "oracle": [10, 20, 10],
                      "augment": [10, 20, 30]}}
    atlas = make_atlas(cells)
    assert atl.GAP_CLOSED in atlas.metrics() and atl.GAP_CLOSED not in make_atlas(CELLS).metrics()
    gap = 60 - 40 / 3  # the seed means of oversample and the oracle: every seed over the same gap
    assert atlas.per_seed("vae", 0.02, atl.GAP_CLOSED) == {(0, 6): pytest.approx({0: 30 / gap, 1: -10 / gap, 2: 20 / gap})}
    oracle = atlas.per_seed("oracle", 0.02, atl.GAP_CLOSED)[(0, 6)]
    assert oracle == pytest.approx({0: 60 / gap, 1: 40 / gap, 2: 40 / gap}) and np.mean(list(oracle.values())) == pytest.approx(1)
    g = gain_grid(atlas, "augment", "vae", 0.02, atl.GAP_CLOSED)
    assert g.gain[0, 6] == pytest.approx(np.mean([30, 50, 0]) / gap)  # higher is better
    # a pair whose oversample and oracle are not separated has no gap to close: no seeds there
    flat = make_atlas({(0, 6): {"vae": [5, 6, 7], "oversample": [10, 20, 30], "oracle": [12, 18, 29]}})
    assert flat.per_seed("vae", 0.02, atl.GAP_CLOSED) == {(0, 6): {}}
    assert "gap between oversample and the oracle" in g.unit
    with pytest.raises(ConfigError, match="cannot|Unknown atlas metric"):
        gain_grid(make_atlas(CELLS), "vae", "oversample", 0.02, atl.GAP_CLOSED)


def test_generator_view_pairs_each_generator_with_its_twin():
    meta = {"format": atl.FORMAT, "budget": dict(BUDGET), "twins": {"vae": "baseline", "cvae": "baseline"}}
    atlas = make_atlas({(0, 6): {"vae": [1, 2], "baseline": [2, 3], "oversample": [3, 4]}}, meta=meta)
    assert atlas.twins == {"vae": "baseline"}  # cvae did not run
    assert atlas_view.generator_view(atlas, None) == ("vae", "baseline")
    assert atlas_view.generator_view(atlas, "oversample") == ("vae", "baseline")
    assert atlas_view.generator_view(make_atlas(CELLS), None) is None


def test_cell_command_names_the_cell_its_budget_and_seeds(hand):
    cmd = atl.cell_command(hand, 0, 6, 0.02, ["vae", "oversample"])
    assert cmd.startswith("python -m vaeimb run --majority 0 --minority 6 --n-majority 300 --n-minority 6 ")
    assert "--steps 30" in cmd and "--generator-steps 20" in cmd and "--checkpoints 2" in cmd
    assert cmd.endswith("--approaches vae oversample --seeds 0 1 2")


def test_class_pairs_and_their_names_follow_the_dataset():
    assert atlas_view.class_pairs(10) == list(atl.ALL_PAIRS)
    assert atlas_view.class_pairs(3) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    assert atlas_view.class_pair(DATASETS["mnist"], (0, 6)) == "0 vs 6"
    assert atlas_view.class_pair(DATASETS["fashion-mnist"], (0, 6)) == "0 (T-shirt/top) vs 6 (Shirt)"


def test_the_start_note_names_both_datasets_the_seeds_and_the_folder():
    note = atlas_view.start_note(DATASETS["kmnist"], DATASETS["mnist"], 3, "/c/atlas-kmnist", "KMNIST is read from /d.")
    assert note.startswith("The shipped atlas is MNIST's: its cells are MNIST digit pairs")
    for part in ("nothing is shipped for Kuzushiji-MNIST yet", "Kuzushiji-MNIST's class pairs", "its 3 seeds",
                 "saved in /c/atlas-kmnist", "KMNIST is read from /d."):
        assert part in note, part
