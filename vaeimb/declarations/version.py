"""The package's version (in every cache key and every result's provenance)."""

__version__ = "0.1.0"
