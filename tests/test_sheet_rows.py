"""A table sheet's rows written in one piece are the sheet xlsxwriter writes cell by cell:
the same XML in every part of the workbook, whatever the columns hold."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyddsnat.lists import excel, sheet_rows

TEXT = st.one_of(st.none(), st.sampled_from(["", "..", "Anna", "&<>\"'", " kant ", "x" * 40,
                                             "långt namn " * 6, "ny", "hog"]))
NUMBER = st.one_of(st.none(), st.integers(-10**6, 10**6))
DECIMAL = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False), st.just(float("nan")))
DAY = st.one_of(st.none(), st.datetimes(datetime(1990, 1, 1), datetime(2030, 1, 1)))
FLAG = st.one_of(st.none(), st.booleans())


@st.composite
def tables(draw) -> pd.DataFrame:
    n = draw(st.integers(0, 30))
    kinds = draw(st.lists(st.sampled_from(["text", "status", "number", "decimal", "day",
                                           "flag", "kr"]), min_size=1, max_size=6))
    columns = {}
    for k, kind in enumerate(kinds):
        if kind in ("text", "status"):
            s = pd.Series(draw(st.lists(TEXT, min_size=n, max_size=n)), dtype=object)
        elif kind == "number" or kind == "kr":
            s = pd.Series(draw(st.lists(NUMBER, min_size=n, max_size=n)), dtype="Int64")
        elif kind == "decimal":
            s = pd.Series(draw(st.lists(DECIMAL, min_size=n, max_size=n)), dtype=float)
        elif kind == "day":
            s = pd.Series(pd.to_datetime(draw(st.lists(DAY, min_size=n, max_size=n))))
        else:
            s = pd.Series(draw(st.lists(FLAG, min_size=n, max_size=n)), dtype="boolean")
        name = {"kr": "debiterat", "status": "status"}.get(kind, f"{kind}_{k}")
        columns[name if name not in columns else f"{name}_{k}"] = s
    return pd.DataFrame(columns)


def _parts(table: pd.DataFrame) -> dict[str, bytes]:
    buf = io.BytesIO()
    with excel._workbook(buf, "2026-06-11", "Prov") as wb:
        excel._write_table(wb, excel.LIST_SHEET, table, excel.header, ())
    with zipfile.ZipFile(buf) as z:
        return {name: z.read(name) for name in z.namelist()}


@settings(max_examples=40, deadline=None)
@given(tables())
def test_rows_in_one_piece_are_the_sheet_written_cell_by_cell(table):
    fast = _parts(table)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(sheet_rows.DataRows, "finish", sheet_rows.DataRows.replay)
        by_cell = _parts(table)
    assert fast == by_cell


def test_a_sheet_with_mixed_cells_or_infinite_numbers_is_written_cell_by_cell(monkeypatch):
    replayed = []
    monkeypatch.setattr(sheet_rows.DataRows, "replay",
                        lambda self, original=sheet_rows.DataRows.replay:
                        replayed.append(1) or original(self))
    mixed = pd.DataFrame({"skolenhet": ["A", "B"], "antal": pd.Series(["..", 7], dtype=object)})
    _parts(mixed)
    _parts(pd.DataFrame({"franvaro_procent": [1.5, np.inf]}))
    assert len(replayed) == 2
    _parts(pd.DataFrame({"skolenhet": ["A", "B"], "franvaro_procent": [1.5, 2.0]}))
    assert len(replayed) == 2
