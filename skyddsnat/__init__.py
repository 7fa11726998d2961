"""Skyddsnät: pure domain and privacy logic (no Dagster import in this package)."""

__version__ = "0.1.0"

from skyddsnat.arrow_strings import use_arrow_strings as _use_arrow_strings

_use_arrow_strings()  # see arrow_strings.py
