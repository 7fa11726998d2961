"""Skyddsnät: pure domain and privacy logic (no Dagster import in this package)."""

__version__ = "0.1.0"
