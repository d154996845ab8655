"""The atlas: every digit pair's experiment at the reference budget, in one place.

``table`` holds the rows (load, save, merge, what is missing), ``grid`` the Atlas page's
heatmap and its sentences, ``runs`` runs an atlas (it trains: torch, imported on its own).
The table's and the grid's names are here too: ``from vaeimb.studies import atlas``.
"""

from .grid import GainGrid, cell_detail, cell_sentence, cell_words, gain_grid, summary_line
from .table import (
    ALL_PAIRS, COLUMNS, FORMAT, GAP_CLOSED, GAP_ENDS, GAP_ENDS_ORDER, META_FILE, METRIC_LABELS, PAIR_SETTINGS,
    ROW_METRICS, SHIPPED_DIR, TABLE_FILE, Atlas, base_config, cell_command, load_atlas, merge_atlases, missing_pairs,
    parse_pairs, provenance,
)

__all__ = [
    "ALL_PAIRS", "COLUMNS", "FORMAT", "GAP_CLOSED", "GAP_ENDS", "GAP_ENDS_ORDER", "META_FILE", "METRIC_LABELS",
    "PAIR_SETTINGS", "ROW_METRICS", "SHIPPED_DIR", "TABLE_FILE", "Atlas", "GainGrid", "base_config", "cell_command",
    "cell_detail", "cell_sentence", "cell_words", "gain_grid", "load_atlas", "merge_atlases", "missing_pairs",
    "parse_pairs", "provenance", "summary_line",
]
