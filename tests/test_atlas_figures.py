"""The Atlas page's heatmap, checked on its data: the colours are the grid's gains, the stars
sit exactly on the decided cells, every cell with data is clickable and says its numbers."""

from __future__ import annotations

import numpy as np
import pytest
from test_atlas import CELLS, make_atlas

from vaeimb.presentation import figures
from vaeimb.studies.atlas import cell_sentence, cell_words, gain_grid


@pytest.fixture
def grid():
    return gain_grid(make_atlas(CELLS), "vae", "oversample", 0.02)


def traces(fig):
    heat, stars, cells = fig.data
    assert (heat.type, stars.type, cells.type) == ("heatmap", "scatter", "scatter")
    return heat, stars, cells


def test_colours_are_the_gains_centred_on_zero(grid):
    heat, _, _ = traces(figures.atlas_heatmap(grid))
    np.testing.assert_array_equal(np.asarray(heat.z, dtype=float), grid.gain)  # NaN (no data) where the grid has NaN
    assert list(heat.x) == list(range(10)) and list(heat.y) == list(range(10))
    assert heat.zmin == -10 and heat.zmax == 10 and heat.zmid == 0  # symmetric: white is "no difference"
    assert [c[1] for c in heat.colorscale] == list(figures.ATLAS_COLOURS)
    assert "vae better" in heat.colorbar.title.text and "oversample better" in heat.colorbar.title.text


def test_stars_mark_exactly_the_cells_separated_after_the_correction(grid):
    _, stars, _ = traces(figures.atlas_heatmap(grid))
    marked = sorted(zip(stars.y, stars.x))  # (row = majority, column = minority)
    assert marked == [(0, 6), (6, 0)]
    assert marked == sorted(map(tuple, np.argwhere(grid.significant)))
    assert stars.marker.symbol == "star" and stars.hoverinfo == "skip"


def test_every_cell_with_data_is_selectable_and_hover_states_its_numbers(grid):
    _, _, cells = traces(figures.atlas_heatmap(grid))
    assert sorted(map(tuple, cells.customdata)) == [(0, 6), (3, 8), (6, 0)]
    assert [tuple(c) for c in cells.customdata] == list(zip(cells.y, cells.x))
    hover = dict(zip(map(tuple, cells.customdata), cells.text))
    text = hover[(0, 6)]
    assert "majority 0 vs minority 6" in text and "ratio 2%" in text
    assert "mean gain of vae over oversample +6 (fewer misclassified test images)" in text
    assert f"[{grid.low[0, 6]:+.4g}, {grid.high[0, 6]:+.4g}]" in text
    assert "3 seed(s)" in text and "vae 20" in text and "oversample 26" in text
    assert "vae is better (adjusted p = " in text and "Holm" in text
    assert "oversample is better (adjusted p = 0.010, Holm's correction)" in hover[(6, 0)]
    assert "undecided" in hover[(3, 8)] and "+0.3333" in hover[(3, 8)]
    for (i, j), hover_text in hover.items():  # the hover says what the cell sentence says
        gain, interval, verdict = cell_words(grid, i, j)
        assert all(part in hover_text and part in cell_sentence(grid, i, j) for part in (gain, interval, verdict))
    assert cells.hovertemplate == "%{text}<extra></extra>"


def test_an_empty_grid_draws_without_data():
    g = gain_grid(make_atlas({(0, 6): {"vae": [1, 2], "oversample": [3, 4]}}, ratio=0.05), "vae", "oversample", 0.05)
    g.gain[:] = np.nan  # as if no pair had both approaches
    heat, stars, cells = traces(figures.atlas_heatmap(g))
    assert len(stars.x) == 0 and len(cells.x) == 0 and heat.zmax == 1


def test_single_seed_cells_say_they_have_no_interval():
    g = gain_grid(make_atlas({(0, 6): {"vae": [1], "oversample": [3]}}), "vae", "oversample", 0.02)
    (text,) = traces(figures.atlas_heatmap(g))[2].text
    assert "needs 2 or more seeds" in text and "undecided" in text


@pytest.mark.parametrize("event, pair", [
    ({"selection": {"points": [{"x": 6, "y": 0, "customdata": [0, 6]}]}}, (0, 6)),
    ({"selection": {"points": [{"customdata": [0, 6]}, {"customdata": [3, 8]}]}}, (3, 8)),  # the last click
    ({"selection": {"points": [{"x": 6, "y": 0}]}}, None),  # a star, not a cell
    ({"selection": {"points": []}}, None),
    ({}, None),
    (None, None),
])
def test_clicked_pair_reads_the_cell_from_a_selection_event(event, pair):
    assert figures.clicked_pair(event) == pair


def test_the_star_legend_names_the_correction():
    hand = make_atlas(CELLS)
    for correction, words in (("holm", "separated after Holm's correction"),
                              ("bh", "separated after Benjamini-Hochberg's correction"),
                              ("none", "95% interval excludes 0 (no correction)")):
        fig = figures.atlas_heatmap(gain_grid(hand, "vae", "oversample", 0.02, correction=correction))
        _, stars, _ = traces(fig)
        assert stars.name == words
