"""Whole-table suppression: primary, komplement and secondary cells, proven by the audit.

The hypothesis test builds random kommunbild-shaped tables (months, school units, årskurser,
tiny and missing groups) and proves each result with the audit's exact LPs (every suppressed
cell's interval by min/max), independent of the suppression's own bookkeeping.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyddsnat.rules.disclosure_audit import audit
from skyddsnat.rules.kommunbild import BLOCKS, COUNT_COLUMNS, STRUCTURE
from skyddsnat.rules.suppression import (
    KOMPLEMENT,
    PRIMAR,
    PUBLICERAD,
    SEKUNDAR,
    STATUSES,
    TOTAL,
    BlockMemo,
    primary_status,
    split_status,
    suppress_table,
    with_margins,
)

K = 5


def inner(rows) -> pd.DataFrame:
    """rows: (manad, skolenhet, arskurs, antal_elever, antal_10, antal_15, antal_20)."""
    return pd.DataFrame(rows, columns=["manad", "skolenhet", "arskurs", *COUNT_COLUMNS])


def run(rows, k=K, komplement=True):
    return suppress_table(inner(rows), STRUCTURE, k, komplement=komplement, blocks=BLOCKS)


def status(result, manad, school, grade, col):
    s = result.status
    hit = s[(s["manad"] == manad) & (s["skolenhet"] == school) & (s["arskurs"] == grade)]
    return hit[col].item()


TOWN = [("2025-09", s, g, n, a, b, c) for s, g, n, a, b, c in [
    ("A", "1", 30, 8, 6, 5), ("A", "2", 25, 3, 2, 0), ("A", "3", 28, 10, 7, 6),
    ("B", "1", 22, 6, 5, 5), ("B", "2", 31, 9, 9, 7), ("B", "3", 20, 0, 0, 0),
    ("C", "1", 27, 12, 8, 6), ("C", "2", 6, 6, 6, 6), ("C", "3", 24, 7, 5, 5)]]


def test_margins_cover_every_school_grade_and_the_municipality():
    t = with_margins(inner(TOWN), STRUCTURE)
    grand = t[(t["skolenhet"] == TOTAL) & (t["arskurs"] == TOTAL)]
    assert grand["antal_elever"].item() == sum(r[3] for r in TOWN)
    assert len(t) == 9 + 3 + 3 + 1


@pytest.mark.parametrize("value,expected", [(0, PUBLICERAD), (1, PRIMAR), (4, PRIMAR),
                                            (5, PUBLICERAD)])
def test_primary_boundaries(value, expected):
    values = np.array([[30, value, 0, 0]])
    code = primary_status(values, STRUCTURE, K, komplement=True)[0, 1]
    assert STATUSES[code] == expected


def test_everyone_in_a_group_is_a_group_disclosure():
    result = run(TOWN)
    # C/2: all 6 pupils ≥ 10 %, ≥ 15 % and ≥ 20 %.
    assert {status(result, "2025-09", "C", "2", c) for c in COUNT_COLUMNS[1:]} == {KOMPLEMENT}
    report = audit(result.published(), STRUCTURE, K, exact=True)
    assert report.passed, report.summary()


def test_komplement_off_publishes_the_group():
    on, off = run(TOWN), run(TOWN, komplement=False)
    assert KOMPLEMENT not in set(off.status[COUNT_COLUMNS].to_numpy().ravel())
    assert (on.published() != off.published()).any().any()
    assert audit(off.published(), STRUCTURE.for_policy(False), K, exact=True).passed


def city(seed: int = 7) -> list[tuple]:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(6):
        for g in range(1, 5):
            n = int(rng.integers(15, 45))
            a10 = int(rng.integers(3, n // 2))
            a15 = int(rng.integers(0, a10 + 1))
            rows.append(("2025-09", f"S{s}", str(g), n, a10, a15, int(rng.integers(0, a15 + 1))))
    return rows


def test_raising_k_suppresses_more_and_still_passes():
    low, high = run(city(), k=5), run(city(), k=8)
    hidden = {k: int((r.published()[COUNT_COLUMNS] == "..").to_numpy().sum())
              for k, r in ((5, low), (8, high))}
    assert hidden[8] > hidden[5]
    assert audit(high.published(), STRUCTURE, 8, exact=True).passed


def test_a_missing_grade_is_structural_never_secondary():
    rows = [r for r in TOWN if r[1:3] != ("A", "2")]
    result = run(rows)
    assert not ((result.status["skolenhet"] == "A") & (result.status["arskurs"] == "2")).any()
    assert audit(result.published(), STRUCTURE, K, exact=True).passed


def test_status_sheet_rides_beside_the_table():
    table = run(TOWN).with_status()
    published, sheet = split_status(table)
    assert list(published.columns) == ["manad", "skolenhet", "arskurs", *COUNT_COLUMNS]
    assert list(sheet.columns) == ["manad", "skolenhet", "arskurs", *COUNT_COLUMNS]
    assert set(sheet[COUNT_COLUMNS].to_numpy().ravel()) <= set(STATUSES)
    hidden = published[COUNT_COLUMNS] == ".."
    assert ((sheet[COUNT_COLUMNS] != PUBLICERAD) == hidden).all().all()
    assert SEKUNDAR in set(sheet[COUNT_COLUMNS].to_numpy().ravel())


@st.composite
def tables(draw):
    """Random kommunbild inner rows: 1–3 months, 1–4 schools, 1–3 grades, some groups
    missing, sizes from 0 (empty) and 1 (tiny) upwards, nested level counts."""
    months = draw(st.integers(1, 3))
    schools = draw(st.integers(1, 4))
    grades = draw(st.integers(1, 3))
    rows = []
    for m in range(months):
        for s in range(schools):
            for g in range(grades):
                if draw(st.integers(0, 5)) == 0:
                    continue  # this school lacks the grade (that month)
                n = draw(st.integers(0, 40))  # 0: an empty group
                a10 = draw(st.integers(0, n))
                a15 = draw(st.integers(0, a10))
                a20 = draw(st.integers(0, a15))
                rows.append((f"2025-{m + 9:02d}", f"S{s}", str(g + 1), n, a10, a15, a20))
    return rows


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.sampled_from([3, 5]))
def test_random_tables_are_proven_by_the_independent_lp(rows, k):
    if not rows:
        return
    result = run(rows, k=k)
    published = result.published()
    report = audit(published, STRUCTURE, k, exact=True)  # every interval by min/max LPs
    assert report.passed, (report.summary(), report.examples())
    for col in COUNT_COLUMNS:  # nothing small is shown, and no group is disclosed
        shown = pd.to_numeric(published[col], errors="coerce")
        assert not shown.between(1, k - 1).any()
    n = pd.to_numeric(published["antal_elever"], errors="coerce")
    for col in COUNT_COLUMNS[1:]:
        c = pd.to_numeric(published[col], errors="coerce")
        assert not ((c > 0) & (n - c < k)).any()
    # the audit knows only what is published, yet its intervals hold the truth
    truth = result.values.melt(id_vars=["manad", "skolenhet", "arskurs"], var_name="matt")
    cells = report.cells.merge(truth, on=["manad", "skolenhet", "arskurs", "matt"])
    assert len(cells) == len(report.cells)
    assert (cells["lo"] <= cells["value"]).all() and (cells["value"] <= cells["hi"]).all()
    assert np.isin(result.status[COUNT_COLUMNS].to_numpy(), STATUSES).all()


def _same(a, b) -> None:
    for x, y in ((a.values, b.values), (a.status, b.status)):
        pd.testing.assert_frame_equal(x.reset_index(drop=True), y.reset_index(drop=True))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(night1=tables(), other=tables(), k=st.sampled_from([3, 5]), komplement=st.booleans(),
       data=st.data())
def test_a_memo_from_an_earlier_night_changes_no_status(tmp_path_factory, night1, other, k,
                                                         komplement, data):
    """Night 2 (some of night 1's months kept, the others replaced) suppressed with night 1's
    memo equals night 2 suppressed from scratch; exactly the kept months come from the memo."""
    months = sorted({r[0] for r in night1})
    kept = data.draw(st.sets(st.sampled_from(months)) if months else st.just(set()))
    night2 = [r for r in night1 if r[0] in kept] + [r for r in other if r[0] not in kept]
    if not night2:
        return
    path = tmp_path_factory.mktemp("memo") / "memo.json"
    if night1:
        memo = BlockMemo(path)
        suppress_table(inner(night1), STRUCTURE, k, komplement=komplement, blocks=BLOCKS,
                       memo=memo)
        memo.save()
    memo = BlockMemo(path)
    with_memo = suppress_table(inner(night2), STRUCTURE, k, komplement=komplement,
                               blocks=BLOCKS, memo=memo)
    _same(with_memo, suppress_table(inner(night2), STRUCTURE, k, komplement=komplement,
                                    blocks=BLOCKS))

    def by_month(rows):
        return {m: sorted(r for r in rows if r[0] == m) for m in {r[0] for r in rows}}

    one, two = by_month(night1), by_month(night2)
    same = [m for m in two if one.get(m) == two[m]]
    assert len(set(memo.known) & set(memo.seen)) == len(same)


def test_the_memo_skips_unchanged_months_and_only_those(tmp_path, monkeypatch):
    from skyddsnat.rules import suppression

    city_rows = [(m, *r[1:]) for m in ("2025-09", "2025-10") for r in city()]
    memo = BlockMemo(tmp_path / "m.json")
    first = suppress_table(inner(city_rows), STRUCTURE, K, blocks=BLOCKS, memo=memo)
    memo.save()
    built = []
    real = suppression._Block
    monkeypatch.setattr(suppression, "_Block", lambda part, *a: built.append(
        part["manad"].iloc[0]) or real(part, *a))
    again = suppress_table(inner(city_rows), STRUCTURE, K, blocks=BLOCKS,
                           memo=BlockMemo(tmp_path / "m.json"))
    _same(first, again)
    assert built == []
    first_october = len(city())
    changed = [r if i != first_october else (*r[:3], r[3] + 1, *r[4:])
               for i, r in enumerate(city_rows)]
    suppress_table(inner(changed), STRUCTURE, K, blocks=BLOCKS,
                   memo=BlockMemo(tmp_path / "m.json"))
    assert built == ["2025-10"]
    # another k, or komplement off, is another problem: nothing reused
    built.clear()
    suppress_table(inner(city_rows), STRUCTURE, K + 1, blocks=BLOCKS,
                   memo=BlockMemo(tmp_path / "m.json"))
    assert built == ["2025-09", "2025-10"]


def test_a_stored_status_of_the_wrong_shape_is_not_used(tmp_path):
    rows = [(m, *r[1:]) for m in ("2025-09",) for r in city()]
    memo = BlockMemo(tmp_path / "m.json")
    first = suppress_table(inner(rows), STRUCTURE, K, blocks=BLOCKS, memo=memo)
    for key in memo.seen:
        memo.seen[key] = {"status": memo.seen[key]["status"][:-1]}
    memo.save()
    _same(first, suppress_table(inner(rows), STRUCTURE, K, blocks=BLOCKS,
                                memo=BlockMemo(tmp_path / "m.json")))
