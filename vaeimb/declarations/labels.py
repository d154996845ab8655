"""How ratios, digit pairs and cells are written in every table, figure and sentence."""

from __future__ import annotations


def ratio_label(ratio: float) -> str:
    """0.02 -> "2%"."""
    return f"{100 * ratio:g}%"


def pair_label(pair: tuple[int, int]) -> str:
    """(0, 6) -> "0 vs 6" (majority first)."""
    return f"{pair[0]} vs {pair[1]}"


def cell_label(majority: int, minority: int, ratio: float) -> str:
    """An atlas cell in progress output: "0 vs 6 at 0.02"."""
    return f"{majority} vs {minority} at {ratio:.3g}"
