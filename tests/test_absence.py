"""Problematic absence: levels, runs, windows, the incremental fold and the rektor list."""

from __future__ import annotations

import os
from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assets.franvaro.window import settled_window
from skyddsnat.ingest.day_reads import day_pupils, read_days
from skyddsnat.layout import DataDir
from skyddsnat.policy import Absence, load_policy
from skyddsnat.privacy.storage import write_pseudonymous
from skyddsnat.rules.absence import (
    case_register_findings,
    classify,
    day_chunk,
    fold_chunk,
    fold_days,
    metrics_from_state,
    metrics_from_window,
    pupil_metrics,
    rektor_list,
    slide_window,
    term_start,
    with_findings,
)
from skyddsnat.rules.kommunbild import combine_month_sums, month_sums

POLICY = Absence(nivaer={"uppmarksamma": 10, "oroande": 15, "hog": 20},
                 hog_sammanhangande_dagar=5, ogiltig_flagga_procent=5, senaste_dagar=28)
P1, P2, P3 = "a" * 32, "b" * 32, "c" * 32
S1, S2 = "01234567", "07654321"


def rows(records) -> pd.DataFrame:
    """records: (datum, person, school, scheduled, valid, invalid)."""
    df = pd.DataFrame(records, columns=["datum", "person_id", "skolenhetskod", "schemalagd_min",
                                        "giltig_franvaro_min", "ogiltig_franvaro_min"])
    df["datum"] = pd.to_datetime(df["datum"])
    for c in ("person_id", "skolenhetskod"):
        df[c] = df[c].astype("string")
    for c in ("schemalagd_min", "giltig_franvaro_min", "ogiltig_franvaro_min"):
        df[c] = df[c].astype("Int64")
    return df


def one_pupil(total: int, invalid: int = 0, sched: int = 10_000) -> pd.DataFrame:
    return rows([(date(2025, 9, 1), P1, S1, sched, total - invalid, invalid)])


def metrics_of(df, start=date(2025, 8, 1), end=date(2025, 12, 31)):
    return classify(pupil_metrics(df, start, end), POLICY)


@pytest.mark.parametrize("minutes,niva", [
    (999, ""), (1000, "uppmarksamma"), (1499, "uppmarksamma"), (1500, "oroande"),
    (1999, "oroande"), (2000, "hog"),
])
def test_level_boundaries(minutes, niva):
    m = metrics_of(one_pupil(minutes))
    assert m["niva"].iloc[0] == niva


def test_percent_is_unrounded_but_shown_rounded_down():
    m = metrics_of(one_pupil(999))
    assert m["franvaro_procent"].iloc[0] == pytest.approx(9.99)
    listed = rektor_list(m, m.iloc[0:0], pd.DataFrame(columns=PLACERING_COLS), date(2025, 9, 2))
    assert listed.empty  # 9.99 % is no level and shows nowhere as 10.0
    m = metrics_of(one_pupil(1999))
    listed = rektor_list(m, m.iloc[0:0], placeringar(), date(2025, 9, 2))
    assert listed["franvaro_procent"].iloc[0] == pytest.approx(19.9)
    assert listed["niva"].iloc[0] == "oroande"


@pytest.mark.parametrize("invalid,flag", [(499, False), (500, True)])
def test_invalid_flag_at_exactly_five_percent(invalid, flag):
    m = metrics_of(one_pupil(invalid, invalid))
    assert bool(m["ogiltig_flagga"].iloc[0]) is flag
    assert m["niva"].iloc[0] == ""
    assert not m["utredningsplikt"].iloc[0]


def test_utredningsplikt():
    assert not metrics_of(one_pupil(1999))["utredningsplikt"].iloc[0]
    assert metrics_of(one_pupil(2000))["utredningsplikt"].iloc[0]
    assert metrics_of(one_pupil(1000, 500))["utredningsplikt"].iloc[0]
    assert not metrics_of(one_pupil(999, 500))["utredningsplikt"].iloc[0]


def week(days, full=True, sched=300, person=P1, school=S1):
    return [(d, person, school, sched, sched if full else 0, 0) for d in days]


THU, FRI, SAT, SUN, MON, TUE, WED, THU2 = (date(2025, 9, 4) + timedelta(days=i) for i in range(8))


def test_run_across_weekend_is_five():
    df = rows(week([THU, FRI, MON, TUE, WED]) + week([THU2], full=False))
    m = metrics_of(df)
    assert m["langsta_sammanhangande_dagar"].iloc[0] == 5
    assert m["niva"].iloc[0] == "hog"


def test_four_day_run_is_not_hog_by_run():
    df = rows(week([FRI, MON, TUE, WED]) + week([THU, THU2], full=False)
              + week([date(2025, 9, 15) + timedelta(days=i) for i in range(40)], full=False))
    m = metrics_of(df)
    assert m["langsta_sammanhangande_dagar"].iloc[0] == 4
    assert m["niva"].iloc[0] == ""  # 4 of 46 days: 8.7 %, and a run of 4 is not hog


def test_zero_scheduled_day_neither_breaks_nor_extends():
    zero = [(MON, P1, S1, 0, 0, 0)]
    df = rows(week([THU, FRI, TUE, WED]) + zero)
    assert metrics_of(df)["langsta_sammanhangande_dagar"].iloc[0] == 4
    assert metrics_of(df)["skoldagar"].iloc[0] == 4
    partial = rows(week([THU, FRI, TUE, WED]) + [(MON, P1, S1, 300, 299, 0)])
    assert metrics_of(partial)["langsta_sammanhangande_dagar"].iloc[0] == 2


def test_pupil_who_changed_school_is_on_both_lists():
    df = rows(week([THU, FRI]) + week([MON, TUE, WED], school=S2))
    m = metrics_of(df)
    assert list(m["skolenhetskod"]) == [S1, S2]
    assert list(m["skoldagar"]) == [2, 3]
    assert list(m["langsta_sammanhangande_dagar"]) == [2, 3]


def test_term_start_ht_vt_and_policy():
    data = [date(2025, 6, 10), date(2025, 8, 18), date(2025, 8, 19), date(2026, 1, 8)]
    assert term_start(date(2025, 10, 1), data, {}) == date(2025, 8, 18)
    assert term_start(date(2026, 3, 1), data, {}) == date(2026, 1, 8)
    assert term_start(date(2025, 6, 12), data, {}) == date(2025, 6, 10)
    assert term_start(date(2025, 10, 1), data, {"HT2025": date(2025, 8, 19)}) == date(2025, 8, 19)
    assert term_start(date(2025, 7, 15), iter(data), {}) == date(2025, 7, 1)  # none yet


PLACERING_COLS = ["person_id", "skolenhetskod", "skolenhet_namn", "arskurs", "startdatum",
                  "slutdatum"]


def placeringar():
    df = pd.DataFrame([
        (P1, S1, "Skola", 4, "2024-08-01", "2025-06-30"),
        (P1, S1, "Skola", 5, "2025-08-01", None),
        (P2, S1, "Skola", 7, "2023-08-01", "2025-06-30"),
    ], columns=PLACERING_COLS)
    df["startdatum"] = pd.to_datetime(df["startdatum"])
    df["slutdatum"] = pd.to_datetime(df["slutdatum"])
    df["arskurs"] = df["arskurs"].astype("Int64")
    return df


def test_recent_window_boundary_and_rektor_list():
    as_of = date(2025, 10, 30)
    inside, outside = as_of - timedelta(days=28), as_of - timedelta(days=29)
    days = [(outside, P1, S1, 300, 300, 0), (inside, P2, S1, 300, 300, 0),
            (as_of, P2, S1, 300, 0, 0)]
    df = rows(days)
    recent = classify(pupil_metrics(df, inside, as_of), POLICY)
    assert list(recent["person_id"]) == [P2]
    term = classify(pupil_metrics(df, date(2025, 8, 18), as_of), POLICY)
    listed = rektor_list(term, recent, placeringar(), as_of)
    assert list(listed["person_id"]) == [P1, P2]
    p1, p2 = listed.iloc[0], listed.iloc[1]
    assert p1["arskurs"] == 5 and p2["arskurs"] == 7  # active one, else the latest
    assert pd.isna(p1["niva_4v"]) or p1["niva_4v"] == ""
    assert p2["niva_4v"] == "hog" and p2["franvaro_procent_4v"] == 50.0
    assert listed["arskurs"].dtype == "Int64"


def test_case_register_findings():
    term = metrics_of(rows([(THU, P1, S1, 100, 30, 0), (THU, P2, S1, 100, 30, 0),
                            (THU, P3, S1, 100, 12, 0)]))
    listed = rektor_list(term, term.iloc[0:0], placeringar(), THU)
    arenden = pd.DataFrame({"person_id": pd.array([P2, P3, P3], dtype="string"),
                            "steg": pd.array([2, 4, 5], dtype="Int64"),
                            "datum": pd.to_datetime(["2025-09-01"] * 3)})
    found = case_register_findings(listed, arenden, POLICY)
    assert found.values.tolist() == [[P1, S1, "hog_utan_arende"],
                                     [P3, S1, "anmalan_till_huvudman"]]
    assert case_register_findings(listed, None, POLICY)["fynd"].tolist() == [
        "hog_utan_arende", "hog_utan_arende"]
    assert with_findings(listed, found)["fynd"].tolist() == [
        "hog_utan_arende", "", "anmalan_till_huvudman"]


# --- the incremental fold against a naive oracle ---------------------------------------------

def naive(df: pd.DataFrame) -> dict:
    out = {}
    school = df[df["schemalagd_min"] > 0].sort_values("datum")
    for (p, s), g in school.groupby(["person_id", "skolenhetskod"]):
        run = best = 0
        for _, r in g.iterrows():
            full = r["giltig_franvaro_min"] + r["ogiltig_franvaro_min"] >= r["schemalagd_min"]
            run = run + 1 if full else 0
            best = max(best, run)
        out[(p, s)] = (len(g), int(g["schemalagd_min"].sum()),
                       int((g["giltig_franvaro_min"] + g["ogiltig_franvaro_min"]).sum()),
                       int(g["ogiltig_franvaro_min"].sum()), best)
    return out


def as_dict(m: pd.DataFrame) -> dict:
    return {(r.person_id, r.skolenhetskod): (r.skoldagar, r.schemalagd_min, r.franvaro_min,
                                             r.ogiltig_min, r.langsta_sammanhangande_dagar)
            for r in m.itertuples()}


day_row = st.tuples(st.integers(0, 19), st.sampled_from([P1, P2, P3]), st.sampled_from([S1, S2]),
                    st.sampled_from([0, 60, 300]), st.integers(0, 300), st.integers(0, 300))


def _distinct_days(raw, start) -> pd.DataFrame:
    """`day_row`s as attendance rows: one per pupil, school and day, absence within schedule."""
    recs, seen = [], set()
    for d, p, s, sched, g, o in raw:
        if (d, p, s) not in seen:
            seen.add((d, p, s))
            g = min(g, sched)
            recs.append((start + timedelta(days=d), p, s, sched, g, min(o, sched - g)))
    return rows(recs) if recs else rows([])


@settings(max_examples=60, deadline=None)
@given(st.lists(day_row, max_size=40), st.lists(st.integers(1, 19), max_size=5),
       st.booleans(), st.sampled_from(["python", "pyarrow", "object"]))
def test_fold_in_chunks_equals_pupil_metrics(raw, cuts, one_by_one, strings):
    """Folded in any chunks, from any string storage the partitions come back in, the term
    state and its month sums are those of the whole term at once."""
    start = date(2025, 8, 18)
    df = _distinct_days(raw, start)
    whole = pupil_metrics(df, start, start + timedelta(days=30))
    assert as_dict(whole) == naive(df)
    stored = df.astype({c: object if strings == "object" else f"string[{strings}]"
                        for c in ("person_id", "skolenhetskod")})

    bounds = list(range(1, 20)) if one_by_one else sorted(set(cuts))
    edges = [start] + [start + timedelta(days=c) for c in bounds] + [start + timedelta(days=30)]
    state, sums = None, []
    for lo, hi in zip(edges, edges[1:], strict=False):
        chunk = stored[(stored["datum"] >= pd.Timestamp(lo))
                       & (stored["datum"] < pd.Timestamp(hi))]
        state = fold_days(state, chunk, start)
        state = fold_days(state, chunk, start)  # re-running a night changes nothing
        sums.append(month_sums(chunk))
    folded = metrics_from_state(state) if state is not None else whole
    assert as_dict(folded) == as_dict(whole)
    pd.testing.assert_frame_equal(folded.reset_index(drop=True), whole.reset_index(drop=True))
    pd.testing.assert_frame_equal(combine_month_sums(*sums), month_sums(df))


def test_state_of_another_term_is_rebuilt():
    df = rows(week([THU, FRI]))
    old = fold_days(None, df, date(2025, 1, 8))
    new = fold_days(old, rows(week([MON])), date(2025, 8, 18))
    assert metrics_from_state(new)["skoldagar"].tolist() == [1]


def test_five_day_run_alone_gives_hog():
    later = [date(2025, 9, 15) + timedelta(days=i) for i in range(30)]
    df = rows(week([THU, FRI, MON, TUE, WED]) + week(later, full=False))
    m = metrics_of(df)
    assert m["franvaro_procent"].iloc[0] < 15  # 5 of 35 days: oroande by percent alone
    assert m["niva"].iloc[0] == "hog" and m["utredningsplikt"].iloc[0]


P4, P5 = "d" * 32, "e" * 32
FIRST = date(2025, 9, 1)


def test_rektor_list_worst_first_with_a_reason_for_every_row():
    """Level first (the higher of the two windows), then absence %; each row says why it is
    there, a pupil listed only for invalid absence included."""
    days = []
    for k in range(5):  # P1: five full days in a row (hog by the run, 5 of 10 days = 50 %)
        days.append((FIRST + timedelta(days=k), P1, S1, 100, 100, 0))
    for k in range(5, 10):
        days.append((FIRST + timedelta(days=k), P1, S1, 100, 0, 0))
    days += [(FIRST, P2, S1, 1000, 120, 0), (FIRST, P3, S1, 1000, 160, 0),
             (FIRST, P4, S1, 1000, 60, 60), (FIRST, P5, S1, 1000, 250, 0)]
    term = metrics_of(rows(days))
    listed = rektor_list(term, term.iloc[0:0], placeringar(), FIRST + timedelta(days=9))
    assert listed["person_id"].tolist() == [P1, P5, P3, P2, P4]
    assert listed["niva"].tolist() == ["hog", "hog", "oroande", "uppmarksamma", "uppmarksamma"]
    assert listed["skal"].tolist() == [
        "hog_franvaro, lang_franvaro", "hog_franvaro", "oroande_franvaro",
        "uppmarksamma_franvaro", "uppmarksamma_franvaro, ogiltig_franvaro"]
    only_invalid = metrics_of(rows([(FIRST, P4, S1, 1000, 20, 50)]))  # 5 % invalid, 7 % in all
    alone = rektor_list(only_invalid, only_invalid.iloc[0:0], placeringar(), FIRST)
    assert alone["niva"].tolist() == [""] and alone["skal"].tolist() == ["ogiltig_franvaro"]


@settings(max_examples=80, deadline=None)
@given(st.lists(day_row, max_size=60), st.integers(2, 9),
       st.lists(st.integers(0, 4), min_size=1, max_size=8))
def test_a_window_slid_night_by_night_is_the_window_summed_whole(raw, length, steps):
    """Slid a few days at a time (days added, the ones that fell out subtracted, today on
    top with one day more), the last-weeks window gives exactly pupil_metrics over its days."""
    start = date(2025, 8, 18)
    df = _distinct_days(raw, start)
    till, window = start, None
    for step in steps:
        before, till = till, till + timedelta(days=min(step, length - 1))
        window = slide_window(window, before if window is not None else None, till, length,
                              added=df, leaving=df)
        first = till - timedelta(days=length - 1)
        pd.testing.assert_frame_equal(metrics_from_window(window, length),
                                      pupil_metrics(df, first, till))
        today = till + timedelta(days=1)
        on_top = slide_window(window, till, today, length + 1, added=df, length_before=length)
        pd.testing.assert_frame_equal(metrics_from_window(on_top, length + 1),
                                      pupil_metrics(df, first, today))


def test_a_window_refuses_two_rows_of_a_pupil_at_a_school_on_a_day():
    df = rows([(date(2025, 9, 1), P1, S1, 300, 300, 0), (date(2025, 9, 1), P1, S1, 300, 0, 0)])
    assert slide_window(None, None, date(2025, 9, 2), 5, added=df) is None


def test_the_kept_window_follows_a_corrected_day(tmp_path):
    """A day file stored again (a correction) inside the kept window: the next night's window
    is summed from the corrected day, not slid over the old one."""
    data, policy = DataDir(tmp_path), load_policy()
    start = date(2025, 9, 1)

    def store(day, valid):
        path = data.partition("narvaro", day.isoformat())
        write_pseudonymous(rows([(day, P1, S1, 300, valid, 0), (day, P2, S1, 300, 0, 0)]),
                           path, "narvaro")
        stamp = 1_700_000_000_000_000_000 + day.toordinal() * 10**9 + valid
        os.utime(path, ns=(stamp, stamp))  # a new file is a new version, however fast

    for d in range(6):
        store(start + timedelta(days=d), 0)

    def window(till):
        days = data.partition_days("narvaro", till)
        got = metrics_from_window(settled_window(data, days, till, 4, policy), 4)
        whole = pupil_metrics(read_days(data, days, policy), till - timedelta(days=3), till)
        pd.testing.assert_frame_equal(got, whole)
        return got

    window(start + timedelta(days=3))
    store(start + timedelta(days=2), 300)  # corrected: P1 absent the whole day
    got = window(start + timedelta(days=4))
    assert got.loc[got["person_id"] == P1, "franvaro_min"].item() == 300
    window(start + timedelta(days=5))  # slid on, the corrected day still inside
    window(start + timedelta(days=5))  # a re-run of the night


def test_the_kept_window_is_summed_whole_after_a_code_or_policy_change(tmp_path, monkeypatch):
    """A window slid by other code, or under another policy version, is not slid on."""
    from assets.franvaro import window as kept_window

    data, policy = DataDir(tmp_path), load_policy()
    start = date(2025, 9, 1)
    for d in range(7):
        day = start + timedelta(days=d)
        write_pseudonymous(rows([(day, P1, S1, 300, 0, 0)]),
                           data.partition("narvaro", day.isoformat()), "narvaro")
    slid = []
    real = kept_window.slide_window
    monkeypatch.setattr(kept_window, "slide_window",
                        lambda w, *a, **k: slid.append(w is not None) or real(w, *a, **k))

    def night(till, pol=policy):
        settled_window(data, data.partition_days("narvaro", till), till, 4, pol)
        return slid[-1]

    assert night(start + timedelta(days=3)) is False  # first: summed whole
    assert night(start + timedelta(days=4)) is True  # then slid
    monkeypatch.setattr(kept_window, "code_digest", lambda: "another build")
    assert night(start + timedelta(days=5)) is False
    assert night(start + timedelta(days=6)) is True
    other = policy.model_copy(update={"version": f"{policy.version}-ändrad"})
    assert night(start + timedelta(days=6), other) is False


def test_day_pupils_are_the_pairs_of_the_days_asked_for_once_each(tmp_path):
    """The data-quality check's pupils: every (pupil, school unit) on the given days, once,
    the same as those days' whole rows made distinct; other days and missing days add none."""
    data, policy = DataDir(tmp_path), load_policy()
    d1, d2, d3 = date(2025, 9, 1), date(2025, 9, 2), date(2025, 9, 3)
    for day, pairs in ((d1, [(P1, S1), (P2, S1)]), (d2, [(P1, S1), (P1, S2)]),
                       (d3, [(P3, S2)])):
        write_pseudonymous(rows([(day, p, s, 300, 0, 0) for p, s in pairs]),
                           data.partition("narvaro", day.isoformat()), "narvaro")
    asked = [d1, d2, date(2025, 8, 29)]
    got = day_pupils(data, asked, policy)
    whole = read_days(data, asked, policy)[["person_id", "skolenhetskod"]].drop_duplicates()
    key = ["person_id", "skolenhetskod"]
    assert sorted(got.itertuples(index=False, name=None)) == [(P1, S1), (P1, S2), (P2, S1)]
    pd.testing.assert_frame_equal(got.sort_values(key, ignore_index=True),
                                  whole.sort_values(key, ignore_index=True))
    assert day_pupils(data, [date(2025, 8, 29)], policy).empty


@settings(max_examples=60, deadline=None)
@given(st.lists(day_row, max_size=40), st.lists(st.integers(1, 19), max_size=5))
def test_a_batch_summed_apart_folds_as_the_batch_itself(raw, cuts):
    """A rebuild's batches summed with no state (`day_chunk`, in a helper process) and folded
    in order (`fold_chunk`) give the state that folding the batches' rows gives."""
    start = date(2025, 8, 18)
    df = _distinct_days(raw, start)
    edges = [start, *(start + timedelta(days=c) for c in sorted(set(cuts))),
             start + timedelta(days=30)]
    by_rows = by_chunks = None
    for lo, hi in zip(edges, edges[1:], strict=False):
        batch = df[(df["datum"] >= pd.Timestamp(lo)) & (df["datum"] < pd.Timestamp(hi))]
        by_rows = fold_days(by_rows, batch, start)
        by_chunks = fold_chunk(by_chunks, day_chunk(batch, start), start, lo)
        pd.testing.assert_frame_equal(by_chunks, by_rows)


def test_a_chunk_of_days_already_folded_is_refused():
    start = date(2025, 8, 18)
    df = rows(week([MON, TUE]))
    state = fold_days(None, df, start)
    with pytest.raises(ValueError):
        fold_chunk(state, day_chunk(df, start), start, MON)


def test_a_rebuild_in_two_processes_is_the_term_folded_at_once(tmp_path, monkeypatch):
    """`fold_in_batches` with a helper process summing every other batch of stored days."""
    from skyddsnat.rules import term_batches

    monkeypatch.setattr(term_batches, "BATCH_DAYS", 2)
    monkeypatch.setenv(term_batches.WORKERS_ENV, "2")
    data, policy = DataDir(tmp_path), load_policy()
    start = date(2025, 8, 18)
    df = rows(week([THU, FRI, MON, TUE, WED, THU2])
              + week([MON, TUE], full=False, person=P2))
    days = sorted({d.date() for d in df["datum"]})
    for day in days:
        write_pseudonymous(df[df["datum"] == pd.Timestamp(day)], data.partition(
            "narvaro", day.isoformat()), "narvaro")
    state, months, read = term_batches.fold_in_batches(data, days, None, None, start, policy)
    assert read == len(days) == 6
    pd.testing.assert_frame_equal(state, fold_days(None, read_days(data, days, policy), start))
    pd.testing.assert_frame_equal(months, month_sums(read_days(data, days, policy)))
