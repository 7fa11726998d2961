"""Kommunbild: monthly counts, protected pupils left out, suppression in the table and the page."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyddsnat.lists.charts import board_page
from skyddsnat.policy import Absence, Suppression
from skyddsnat.rules.kommunbild import (
    STATUS_COLUMNS,
    combine_month_sums,
    kommunbild,
    month_sums,
    pupil_month_counts,
)
from skyddsnat.rules.suppression import TOTAL

POLICY = SimpleNamespace(
    franvaro=Absence(nivaer={"uppmarksamma": 10, "oroande": 15, "hog": 20},
                     hog_sammanhangande_dagar=5, ogiltig_flagga_procent=5, senaste_dagar=28),
    undertryckning=Suppression(k=5),
)
NIVAER = POLICY.franvaro.nivaer
SCHOOLS = ["11111111", "22222222", "33333333"]


def pid(n: int) -> str:
    return f"{n:032x}"


def town(seed: int = 1, pupils: int = 240):
    """Pupils across three schools and grades 1–3, two months, absence 0–30 %."""
    rng = np.random.default_rng(seed)
    ids = [pid(i) for i in range(pupils)]
    school = rng.choice(SCHOOLS, pupils)
    grade = rng.integers(1, 4, pupils)
    placeringar = pd.DataFrame({
        "person_id": pd.array(ids, dtype="string"),
        "skolenhetskod": pd.array(school, dtype="string"),
        "skolenhet_namn": pd.array([f"Skola {s[0]}" for s in school], dtype="string"),
        "arskurs": pd.array(grade, dtype="Int64"),
        "startdatum": pd.Timestamp("2025-08-01"),
        "slutdatum": pd.NaT,
    })
    sums = pd.DataFrame({
        "person_id": pd.array(ids * 2, dtype="string"),
        "skolenhetskod": pd.array(list(school) * 2, dtype="string"),
        "manad": pd.array(["2025-09"] * pupils + ["2025-10"] * pupils, dtype="string"),
        "schemalagd_min": pd.array([6000] * (2 * pupils), dtype="Int64"),
        "franvaro_min": pd.array(rng.integers(0, 1800, 2 * pupils), dtype="Int64"),
    })
    return sums, placeringar


def test_month_sums_are_additive():
    days = pd.DataFrame({
        "datum": pd.to_datetime(["2025-09-30", "2025-10-01", "2025-10-02", "2025-10-03"]),
        "person_id": pd.array([pid(1)] * 4, dtype="string"),
        "skolenhetskod": pd.array([SCHOOLS[0]] * 4, dtype="string"),
        "schemalagd_min": pd.array([300, 300, 0, 300], dtype="Int64"),
        "giltig_franvaro_min": pd.array([10, 0, 0, 300], dtype="Int64"),
        "ogiltig_franvaro_min": pd.array([5, 300, 0, 0], dtype="Int64"),
    })
    whole = month_sums(days)
    parts = combine_month_sums(month_sums(days.iloc[:2]), month_sums(days.iloc[2:]))
    pd.testing.assert_frame_equal(whole, parts)
    assert whole["manad"].tolist() == ["2025-09", "2025-10"]
    assert whole["franvaro_min"].tolist() == [15, 600]
    assert whole["schemalagd_min"].tolist() == [300, 600]


def test_level_boundary_per_month():
    sums, pl = town(pupils=2)
    sums = sums[sums["manad"] == "2025-09"].copy()
    sums["schemalagd_min"] = pd.array([10_000, 10_000], dtype="Int64")
    sums["franvaro_min"] = pd.array([999, 1000], dtype="Int64")
    counts = pupil_month_counts(sums, pl, set(), NIVAER)
    assert counts["antal_elever"].sum() == 2
    assert counts["antal_10"].sum() == 1
    assert counts["antal_15"].sum() == 0


def test_protected_pupils_are_not_counted():
    sums, pl = town()
    protected = {pid(0), pid(1), pid(2)}
    with_all = pupil_month_counts(sums, pl, set(), NIVAER)
    without = pupil_month_counts(sums, pl, pd.Series(sorted(protected), dtype="string"), NIVAER)
    assert with_all["antal_elever"].sum() - without["antal_elever"].sum() == 2 * len(protected)
    board = kommunbild(sums, pl, protected, POLICY)
    grand = board[(board["skolenhet"] == TOTAL) & (board["arskurs"] == TOTAL)]
    assert grand["antal_elever"].tolist() == [str(240 - 3)] * 2


def small_published(values: pd.Series) -> bool:
    numbers = pd.to_numeric(values, errors="coerce")
    return bool(numbers.between(1, POLICY.undertryckning.k - 1).any())


def test_kommunbild_publishes_no_small_count():
    sums, pl = town(seed=3, pupils=60)
    board = kommunbild(sums, pl, set(), POLICY)
    assert list(board.columns) == ["skolenhet", "arskurs", "manad", "antal_elever",
                                   "antal_10", "antal_15", "antal_20", "skolenhet_namn",
                                   *STATUS_COLUMNS]
    assert set(board["manad"]) == {"2025-09", "2025-10"}
    for col in ("antal_elever", "antal_10", "antal_15", "antal_20"):
        assert not small_published(board[col])
    assert (board == "..").any().any()  # this small town does have suppressed cells
    per_month = board.groupby("manad").size()
    assert (per_month == 4 * 3 + 4).all()  # 3 schools × 3 grades + totals, each month


class Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self._row, self._in = [], None, False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._in = True
            self._row.append("")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in = False
        elif tag == "tr":
            self.rows.append(self._row)

    def handle_data(self, data):
        if self._in:
            self._row[-1] += data


def test_board_page_shows_no_small_count(tmp_path):
    sums, pl = town(seed=5, pupils=45)
    board = kommunbild(sums, pl, set(), POLICY)
    out = board_page(board, tmp_path / "styrelse.html", "Frånvaro i grundskolan", "abc123",
                     date(2025, 10, 31))
    text = out.read_text(encoding="utf-8")
    assert "Så läser du sidan" in text and "data:image/png;base64," in text
    parser = Cells()
    parser.feed(text)
    header, *body = parser.rows
    assert header[:5] == ["Skolenhet", "Antal elever", "Antal ≥ 10 %", "Antal ≥ 15 %",
                          "Antal ≥ 20 %"]
    assert len(body) == 3
    counts = [cell for row in body for cell in row[1:5]]
    assert ".." in counts
    for cell in counts:
        assert cell == ".." or re.fullmatch(r"\d+", cell)
        assert cell == ".." or not 1 <= int(cell) <= 4
    latest = board[(board["manad"] == "2025-10") & (board["arskurs"] == TOTAL)
                   & (board["skolenhet"] != TOTAL)]
    assert sorted(counts) == sorted(latest[["antal_elever", "antal_10", "antal_15",
                                            "antal_20"]].to_numpy().ravel().tolist())


def test_policy_komplement_decides_group_disclosure(tmp_path):
    """`komplement` in undertryckning.yaml: on, a school grade where every pupil was absent
    ≥ 10 % is not published; off, it is (and the policy text says so)."""
    import shutil

    import yaml

    from skyddsnat.delivery.policy_explain import explain_markdown
    from skyddsnat.policy import DEFAULT_POLICY_DIR, PolicyError, load_policy

    sums, pl = town(seed=2)
    everyone = pl.loc[(pl["skolenhetskod"] == SCHOOLS[0]) & (pl["arskurs"] == 1), "person_id"]
    sums.loc[sums["person_id"].isin(everyone), "franvaro_min"] = 1500  # 25 %
    tables, texts = {}, {}
    for value in (True, False):
        pdir = tmp_path / str(value)
        shutil.copytree(DEFAULT_POLICY_DIR, pdir)
        path = pdir / "undertryckning.yaml"
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        path.write_text(yaml.safe_dump({**doc, "komplement": value}, allow_unicode=True),
                        encoding="utf-8")
        policy = load_policy(pdir)
        tables[value] = kommunbild(sums, pl, set(), policy)
        texts[value] = explain_markdown(policy)
    cell = lambda t: t[(t["skolenhet"] == SCHOOLS[0]) & (t["arskurs"] == "1")]  # noqa: E731
    assert (cell(tables[True])["status_antal_10"] == "komplement").all()
    assert (cell(tables[True])["antal_10"] == "..").all()
    assert (cell(tables[False])["antal_10"] != "..").any()
    assert "komplement: false" in texts[False] and "Gruppröjande: ett antal" in texts[True]
    path.write_text(path.read_text(encoding="utf-8").replace("komplement: false",
                                                             "komplement: ja"))
    with pytest.raises(PolicyError, match="komplement"):
        load_policy(pdir)


def test_a_month_of_too_few_school_days_is_named_and_left_out():
    from datetime import date

    from skyddsnat.delivery.data_basis import partial_months, partial_note

    days = [date(2026, 11, d) for d in (2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16)] + \
        [date(2026, 12, 1)]
    assert partial_months(days, 10) == {"2026-12": "t.o.m. 1 dec, 1 skoldag"}
    assert partial_months(days, 12) == {"2026-11": "t.o.m. 16 nov, 11 skoldagar",
                                        "2026-12": "t.o.m. 1 dec, 1 skoldag"}
    assert partial_months(days, 1) == {}
    note = partial_note(partial_months(days, 10), 10)
    assert "2026-12 (t.o.m. 1 dec, 1 skoldag)" in note and "färre än 10 skoldagar" in note


@st.composite
def placements(draw):
    """A few pupils at two schools over three months, with 0–3 placements each (start and
    end drawn around the months, ends often open, ties in start possible)."""
    days = [pd.Timestamp("2025-08-15") + pd.Timedelta(days=d) for d in range(0, 120, 10)]
    rows, sums = [], []
    for p in range(draw(st.integers(1, 4))):
        for school in SCHOOLS[:2]:
            for _ in range(draw(st.integers(0, 3))):
                start = draw(st.sampled_from(days))
                end = draw(st.one_of(st.none(), st.sampled_from(days)))
                rows.append((pid(p), school, draw(st.integers(1, 9)), start, end))
            for month in draw(st.sets(st.sampled_from(["2025-09", "2025-10", "2025-11"]))):
                sums.append((pid(p), school, month))
    pl = pd.DataFrame(rows, columns=["person_id", "skolenhetskod", "arskurs", "startdatum",
                                     "slutdatum"]).astype({"arskurs": "Int64"})
    pl["slutdatum"] = pd.to_datetime(pl["slutdatum"])
    s = pd.DataFrame(sums, columns=["person_id", "skolenhetskod", "manad"])
    s = s.assign(schemalagd_min=pd.array([600] * len(s), dtype="Int64"),
                 franvaro_min=pd.array([60] * len(s), dtype="Int64"))
    return s, pl


@settings(max_examples=150, deadline=None)
@given(placements())
def test_the_grade_of_a_month_is_the_latest_overlapping_placement(drawn):
    """Stated row by row: among the pupil's placements at that school, those overlapping the
    month first, then the latest start; a tie goes to the later row of the register."""
    from skyddsnat.rules.kommunbild import OKAND_ARSKURS, _arskurs_per_month

    sums, pl = drawn
    got = _arskurs_per_month(sums, pl)
    for i, (person, school, month) in enumerate(sums[["person_id", "skolenhetskod",
                                                      "manad"]].itertuples(index=False)):
        first = pd.Timestamp(month + "-01")
        last = first + pd.offsets.MonthEnd(0)
        best, rank = OKAND_ARSKURS, None
        for j, r in enumerate(pl.itertuples(index=False)):
            if (r.person_id, r.skolenhetskod) != (person, school):
                continue
            overlaps = r.startdatum <= last and (pd.isna(r.slutdatum) or r.slutdatum >= first)
            key = (overlaps, r.startdatum, j)
            if rank is None or key > rank:
                best, rank = str(r.arskurs), key
        assert got.iloc[i] == best
