"""The LP audit of a table as published: it finds what an attacker can recover or bound."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyddsnat.lists.charts import page_figures
from skyddsnat.rules.action_programmes import BOARD_STRUCTURE
from skyddsnat.rules.disclosure_audit import (
    AuditError,
    ComponentMemo,
    TableStructure,
    audit,
    cell_protected,
    figure_problems,
    group_protected,
    nested,
)
from skyddsnat.rules.kommunbild import COUNT_COLUMNS, STRUCTURE
from skyddsnat.rules.suppression import with_margins

K = 5
KEYS = ["manad", "skolenhet", "arskurs"]


def published(rows) -> pd.DataFrame:
    """rows: (skolenhet, arskurs, antal_elever, antal_10, antal_15, antal_20) as shown."""
    out = pd.DataFrame(rows, columns=["skolenhet", "arskurs", *COUNT_COLUMNS]).astype(str)
    return out.assign(manad="2025-09")[KEYS + COUNT_COLUMNS]


@pytest.mark.parametrize("lo,hi,safe", [
    (3, 3, False), (0, 0, False), (1, 4, False), (2, 3, False), (0, 4, True), (1, 5, True),
    (0, np.inf, True), (7, 7, False),
])
def test_protection_criterion(lo, hi, safe):
    assert cell_protected(lo, hi, K) is safe


@pytest.mark.parametrize("c_lo,rest_hi,safe", [(1, 4, False), (0, 4, True), (1, 5, True),
                                               (3, 0, False)])
def test_group_criterion(c_lo, rest_hi, safe):
    assert group_protected(c_lo, rest_hi, K) is safe


def test_a_cell_alone_in_its_line_is_recovered():
    table = published([("A", "1", 20, "..", 0, 0), ("A", "Totalt", 20, 3, 0, 0),
                       ("Totalt", "1", 20, 3, 0, 0), ("Totalt", "Totalt", 20, 3, 0, 0)])
    report = audit(table, STRUCTURE.for_policy(False), K)
    assert not report.passed
    (cell,) = report.unsafe_cells.itertuples()
    assert (cell.matt, cell.lo, cell.hi) == ("antal_10", 3, 3)


def test_nesting_pins_a_cell_the_margins_alone_would_not():
    """antal_20 of A and B are hidden and sum to 6; A's antal_15 is a published 0, so
    antal_20 ≤ antal_15 pins A to 0 and B to 6."""
    rows = [("A", "1", 20, 0, 0, ".."), ("B", "1", 20, 8, 7, ".."),
            ("A", "Totalt", 20, 0, 0, ".."), ("B", "Totalt", 20, 8, 7, ".."),
            ("Totalt", "1", 40, 8, 7, 6), ("Totalt", "Totalt", 40, 8, 7, 6)]
    structure = STRUCTURE.for_policy(False)
    assert not audit(published(rows), structure, K).passed
    without = TableStructure(structure.keys, structure.margins, structure.measures)
    assert audit(published(rows), without, K).passed  # margins alone: A ∈ [0, 6]


def test_nesting_bounds_a_cell_inside_one_to_k_minus_one():
    """B's antal_20 ≥ 8 − A's, and ≤ B's published antal_15 of 5 (A's ≤ 5): B ∈ [3, 5],
    which lies inside 1 … 6 when k is 7."""
    rows = [("A", "1", 30, 9, 5, ".."), ("B", "1", 30, 9, 5, ".."),
            ("A", "Totalt", 30, 9, 5, ".."), ("B", "Totalt", 30, 9, 5, ".."),
            ("Totalt", "1", 60, 18, 10, 8), ("Totalt", "Totalt", 60, 18, 10, 8)]
    report = audit(published(rows), STRUCTURE.for_policy(False), 7, exact=True)
    b = report.cells[(report.cells["skolenhet"] == "B") & (report.cells["arskurs"] == "1")]
    assert (b["lo"].item(), b["hi"].item(), b["skyddad"].item()) == (3, 5, False)


def test_a_published_whole_group_is_a_disclosure():
    rows = [("A", "1", 6, 6, 0, 0), ("A", "Totalt", 6, 6, 0, 0),
            ("Totalt", "1", 6, 6, 0, 0), ("Totalt", "Totalt", 6, 6, 0, 0)]
    report = audit(published(rows), STRUCTURE, K)
    assert not report.passed and len(report.unsafe_groups) == 4
    assert audit(published(rows), STRUCTURE.for_policy(False), K).passed


def test_a_hidden_count_bounded_near_its_group_is_a_disclosure():
    """antal_10 of A/1 is hidden but antal_15 (published 6) ≤ it ≤ antal_elever 7."""
    rows = [("A", "1", 7, "..", 6, 0), ("A", "2", 30, "..", 0, 0),
            ("A", "Totalt", 37, 12, 6, 0), ("Totalt", "1", 7, "..", 6, 0),
            ("Totalt", "2", 30, "..", 0, 0), ("Totalt", "Totalt", 37, 12, 6, 0)]
    report = audit(published(rows), STRUCTURE, K)
    assert not report.passed
    assert set(report.unsafe_groups["skolenhet"]) == {"A", "Totalt"}


def test_a_published_small_count_fails():
    rows = [("A", "1", 20, 3, 0, 0), ("A", "Totalt", 20, 3, 0, 0),
            ("Totalt", "1", 20, 3, 0, 0), ("Totalt", "Totalt", 20, 3, 0, 0)]
    report = audit(published(rows), STRUCTURE, K)
    assert not report.passed and "1–4" in report.problems[0]


def test_inconsistent_margins_fail():
    rows = [("A", "1", 20, 5, 0, 0), ("A", "Totalt", 21, 5, 0, 0),
            ("Totalt", "1", 20, 5, 0, 0), ("Totalt", "Totalt", 20, 5, 0, 0)]
    assert not audit(published(rows), STRUCTURE, K).passed


def test_a_value_neither_number_nor_symbol_is_refused_without_quoting_it():
    rows = [("A", "1", 20, "x7", 0, 0), ("A", "Totalt", 20, 5, 0, 0)]
    with pytest.raises(AuditError) as err:
        audit(published(rows), STRUCTURE, K)
    assert "antal_10, rad 1" in str(err.value) and "x7" not in str(err.value)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 25), st.integers(0, 12), st.integers(0, 8),
                          st.booleans(), st.booleans(), st.booleans()),
                min_size=1, max_size=8),
       st.integers(0, 2**31))
def test_witnesses_and_exact_lps_agree(rows, seed):
    """Any suppression pattern (not only a good one): the fast audit's verdict per cell and
    group is the exact one (witnesses only ever prove what the min/max LPs prove)."""
    rng = np.random.default_rng(seed)
    data = []
    for i, (a, b, c, *_rest) in enumerate(rows):
        n = a + b + c
        data.append(("2025-09", f"S{i % 3}", str(i // 3), n, b + c, c, c // 2))
    inner = pd.DataFrame(data, columns=KEYS + COUNT_COLUMNS)
    table = with_margins(inner, STRUCTURE)
    shown = table.astype({c: str for c in COUNT_COLUMNS})
    hide = rng.random((len(table), 4)) < 0.4
    for j, col in enumerate(COUNT_COLUMNS):
        shown.loc[hide[:, j], col] = ".."
    small = table[COUNT_COLUMNS].to_numpy()
    for j, col in enumerate(COUNT_COLUMNS):  # never publish a small count here
        shown.loc[(small[:, j] >= 1) & (small[:, j] < K), col] = ".."
    fast, exact = audit(shown, STRUCTURE, K), audit(shown, STRUCTURE, K, exact=True)
    assert fast.passed == exact.passed
    assert fast.cells["skyddad"].tolist() == exact.cells["skyddad"].tolist()
    assert fast.groups["skyddad"].tolist() == exact.groups["skyddad"].tolist()


def _shown_month(month: str, rows, rng) -> pd.DataFrame:
    """A month block of the board as published, with a random (not necessarily good)
    suppression and never a small count shown."""
    data = [(month, f"S{i % 3}", str(i // 3), a + b + c, b + c, c, c // 2)
            for i, (a, b, c) in enumerate(rows)]
    table = with_margins(pd.DataFrame(data, columns=KEYS + COUNT_COLUMNS), STRUCTURE)
    shown = table.astype({c: str for c in COUNT_COLUMNS})
    small = table[COUNT_COLUMNS].to_numpy()
    hide = (rng.random((len(table), 4)) < 0.4) | ((small >= 1) & (small < K))
    for j, col in enumerate(COUNT_COLUMNS):
        shown.loc[hide[:, j], col] = ".."
    return shown


_ROWS = st.lists(st.tuples(st.integers(0, 25), st.integers(0, 12), st.integers(0, 8)),
                 min_size=1, max_size=6)


@settings(max_examples=15, deadline=None)
@given(old=_ROWS, new=_ROWS, other=_ROWS, seed=st.integers(0, 2**31))
def test_a_memo_reuses_unchanged_components_and_changes_no_verdict(old, new, other, seed,
                                                                  tmp_path_factory):
    """A night's board: last month as before, this month new. The memo from last night
    serves last month's components; every verdict and bound is the one a fresh audit gives."""
    rng = np.random.default_rng(seed)
    last_month = _shown_month("2025-09", old, rng)
    night1 = pd.concat([last_month, _shown_month("2025-10", other, rng)], ignore_index=True)
    night2 = pd.concat([last_month, _shown_month("2025-10", new, rng)], ignore_index=True)
    path = tmp_path_factory.mktemp("memo") / "lp.json"
    memo = ComponentMemo(path)
    first = audit(night1, STRUCTURE, K, memo=memo)
    memo.save()
    assert first.reused == 0
    alone = audit(last_month, STRUCTURE, K)
    for table in (night1, night2):
        memo = ComponentMemo(path)
        again, fresh = audit(table, STRUCTURE, K, memo=memo), audit(table, STRUCTURE, K)
        memo.save()
        assert again.passed == fresh.passed and again.problems == fresh.problems
        pd.testing.assert_frame_equal(again.cells, fresh.cells)
        pd.testing.assert_frame_equal(again.groups, fresh.groups)
        assert again.reused >= alone.components  # at least last month's components
    assert again.lps <= fresh.lps
    # Another k is another question: nothing reused.
    assert audit(night2, STRUCTURE, K + 1, memo=ComponentMemo(path)).reused == 0


def test_action_programme_relations_are_audited():
    """F without a programme (hidden) at A is pinned by F = 10 and F with a programme ≤ 0."""
    table = pd.DataFrame({
        "skolenhet": ["A", "B", "Totalt"],
        "elever_med_f": ["10", "12", "22"],
        "elever_med_atgardsprogram": ["0", "9", "9"],
        "f_utan_atgardsprogram": ["..", "..", "13"],
        "elever_med_streck": ["0", "0", "0"],
    })
    report = audit(table, BOARD_STRUCTURE.for_policy(False), K)
    assert not report.passed


def test_figures_come_only_from_published_cells():
    rows = [("A", "Totalt", 40, 8, "..", 0), ("B", "Totalt", 8, 0, 0, 0),
            ("Totalt", "Totalt", 48, 8, 6, 0)]
    table = published(rows).assign(skolenhet_namn="x")
    figures = page_figures(table, 10)
    assert figure_problems(figures, table, KEYS, 10) == []
    b = figures[(figures["skolenhet"] == "B") & (figures["bas"] != "")]
    assert b["varde"].isna().all()  # base 8 < 10: no share
    leaked = figures.copy()
    leaked.loc[(leaked["skolenhet"] == "A") & (leaked["matt"] == "antal_15")
               & (leaked["bas"] == ""), "varde"] = 6.0  # a suppressed count drawn
    assert figure_problems(leaked, table, KEYS, 10)


def test_structure_helpers():
    assert nested("a", "b", "c") == ({"a": 1, "b": -1}, {"b": 1, "c": -1})
    assert STRUCTURE.for_policy(False).groups == ()
    assert STRUCTURE.for_policy(True) is STRUCTURE
