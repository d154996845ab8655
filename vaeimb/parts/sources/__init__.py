"""Data sources: what a classifier trains on (the draw, the draw plus generated images,
or the oracle's real ones), one module each behind ``base.DataSource``'s contract. No
torch here: recipes read the registry on torch-free paths."""

from __future__ import annotations

from ...declarations.part import registry
from .base import DataSource, TrainingSet
from .generated import GeneratedData
from .oracle import OracleData
from .real import RealData

#: ``{name: class}``; a recipe names ``real`` or ``oracle`` (``gen=`` makes ``real`` the
#: ``generated`` source).
SOURCES = registry(RealData, GeneratedData, OracleData)

__all__ = ["SOURCES", "DataSource", "GeneratedData", "OracleData", "RealData", "TrainingSet"]
