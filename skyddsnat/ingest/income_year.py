"""Incomes from the future are refused: a fastställd inkomst for year Y is set the year after.

An income file (`inkomster_YYYY`) or row for a year after the reference date's year cannot be
a real export: it is a misnamed file or a wrong reference date, and counting it would check
fees against incomes nobody has decided. The whole file is refused, naming file (and line)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from skyddsnat.ingest.catalog import SourceEntry
from skyddsnat.ingest.errors import SourceFileError
from skyddsnat.ingest.inbox import files_for


def refuse_future_income_files(inbox: Path, source: SourceEntry, as_of: date) -> None:
    """Raise for the first yearly income file in the inbox named for a year after `as_of`'s."""
    if source.typ != "arlig":
        return  # one file of every year: its rows are checked instead
    for stamp, p in files_for(inbox, source):
        if stamp.year > as_of.year:
            raise SourceFileError(p.name, f"inkomstår efter referensdagens år {as_of.year}; "
                                          "filen tas inte emot")


def refuse_future_income_rows(file: str, years: pd.Series, as_of: date) -> None:
    """Raise if any row's `inkomstar` lies after `as_of`'s year (the line, not the value)."""
    late = years.astype("Int64") > as_of.year
    if late.fillna(False).any():
        line = late[late.fillna(False)].index[0]
        raise SourceFileError(file, f"inkomstår efter referensdagens år {as_of.year}; "
                                    "filen tas inte emot", line=int(line), column="inkomstar")
