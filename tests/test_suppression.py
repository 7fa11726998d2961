"""Small-cell suppression: primary and secondary rules, and the LP audit of what is published."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyddsnat.suppression import (
    PRIMAR,
    PUBLICERAD,
    SEKUNDAR,
    TOTAL,
    SuppressedTable,
    audit_feasible_intervals,
    is_protected,
    ratio_or_dots,
    suppress,
)

K = 5


def table(matrix) -> pd.DataFrame:
    m = np.asarray(matrix)
    r, c = np.indices(m.shape)
    return pd.DataFrame({"skola": r.ravel(), "ak": c.ravel(), "n": m.ravel()})


def status_of(t: SuppressedTable) -> dict:
    f = t.frame()
    return {(r, c): s for r, c, s in zip(f["row"], f["col"], f["status"], strict=True)}


def test_nothing_small_nothing_suppressed():
    t = suppress(table([[10, 0], [7, 25]]), "skola", "ak", "n", K)
    assert set(status_of(t).values()) == {PUBLICERAD}
    assert audit_feasible_intervals(t) == []


@pytest.mark.parametrize("value,status", [(0, PUBLICERAD), (1, PRIMAR), (4, PRIMAR),
                                          (5, PUBLICERAD)])
def test_primary_boundaries(value, status):
    t = suppress(table([[value, 20], [30, 40]]), "skola", "ak", "n", K)
    assert status_of(t)[(0, 0)] == status


def test_secondary_makes_the_pattern_safe_and_prefers_small_cells():
    t = suppress(table([[3, 50, 6], [40, 60, 7], [30, 30, 30]]), "skola", "ak", "n", K)
    s = status_of(t)
    assert s[(0, 0)] == PRIMAR
    assert s[(0, 2)] == SEKUNDAR  # 6 rather than 50 in the row
    assert s[(1, 2)] == SEKUNDAR or s[(1, 0)] == SEKUNDAR
    assert s[(TOTAL, TOTAL)] == PUBLICERAD
    assert all(iv.safe for iv in audit_feasible_intervals(t))


def test_small_total_is_suppressed_and_protected():
    t = suppress(table([[2, 1], [20, 30]]), "skola", "ak", "n", K)
    s = status_of(t)
    assert s[(0, TOTAL)] == PRIMAR  # the row total 3 is itself a small count
    assert all(iv.safe for iv in audit_feasible_intervals(t))


def test_audit_finds_a_recoverable_cell():
    t = suppress(table([[3, 20], [30, 40]]), "skola", "ak", "n", K)
    broken = t.status.copy()
    broken[:] = 0
    broken[0, 0] = 1  # only the primary cell: recoverable from its row total
    exposed = SuppressedTable(t.row_labels, t.col_labels, t.values, broken, t.structural, K)
    (iv,) = audit_feasible_intervals(exposed)
    assert (iv.lo, iv.hi, iv.safe) == (3, 3, False)


def test_structural_zero_is_never_a_secondary_cell():
    counts = table([[3, 20], [30, 40]])
    counts = counts[~((counts["skola"] == 0) & (counts["ak"] == 1))]  # school 0 lacks grade 1
    t = suppress(counts, "skola", "ak", "n", K)
    assert (0, 1) not in status_of(t)
    assert all(iv.safe for iv in audit_feasible_intervals(t))
    assert status_of(t)[(0, TOTAL)] == PRIMAR


@pytest.mark.parametrize("lo,hi,safe", [
    (3, 3, False), (0, 0, False), (1, 4, False), (2, 3, False), (0, 4, True), (1, 5, True),
    (0, math.inf, True), (7, 7, False),
])
def test_protection_criterion(lo, hi, safe):
    assert is_protected(lo, hi, K) is safe


def test_ratio_or_dots():
    assert ratio_or_dots(3, 9) == ".."
    assert ratio_or_dots(3, 10) == pytest.approx(0.3)
    assert ratio_or_dots(3, float("nan")) == ".."


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 4).flatmap(lambda r: st.integers(1, 4).flatmap(
    lambda c: st.lists(st.lists(st.integers(0, 30), min_size=c, max_size=c),
                       min_size=r, max_size=r))))
def test_random_tables_publish_nothing_small_and_leak_nothing(matrix):
    t = suppress(table(matrix), "skola", "ak", "n", K)
    f = t.frame()
    shown = f.loc[f["status"] == PUBLICERAD, "value"]
    assert not shown.between(1, K - 1).any()
    assert (f.loc[f["status"] != PUBLICERAD, "shown"] == "..").all()
    for iv in audit_feasible_intervals(t):
        assert iv.lo <= iv.value <= iv.hi
        assert is_protected(iv.lo, iv.hi, K)
    # an independent recheck of the line rule over the table with totals
    suppressed = t.status != 0
    for line in (*suppressed, *suppressed.T):
        assert line.sum() != 1
