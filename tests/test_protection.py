"""Who is protected: a flag spreads through guardians and fee households, and only there."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyddsnat.policy import load_policy
from skyddsnat.privacy.protection import household_links, protected_persons

SKYDD = load_policy().skydd
MARKS = list(SKYDD.markeringar)
ON = {"vardnadshavare": True, "hushall_avgifter": True}


def personer(rows: list[tuple]) -> pd.DataFrame:
    """rows: (person_id, sekretess, skyddad, vh1, vh2)."""
    frame = pd.DataFrame(rows, columns=["person_id", "sekretessmarkering",
                                        "skyddad_folkbokforing", "vardnadshavare_1",
                                        "vardnadshavare_2"])
    for col in ("person_id", "vardnadshavare_1", "vardnadshavare_2"):
        frame[col] = frame[col].astype("string")
    return frame


def avgifter(rows: list[tuple]) -> pd.DataFrame:
    """rows: (hushall_id, betalare, medbetalare, barn)."""
    frame = pd.DataFrame(rows, columns=["hushall_id", "betalare", "medbetalare", "barn"])
    return frame.astype("string")


FAMILY = [
    ("barn", False, False, "mor", "far"),
    ("syskon", False, False, "mor", None),
    ("mor", False, False, None, None),
    ("far", False, False, None, None),
    ("granne", False, False, None, None),
    ("grannbarn", False, False, "granne", None),
]


def protect(rows, fees=None, spridning=ON, marks=MARKS) -> set[str]:
    return set(protected_persons(personer(rows), fees, marks, spridning))


def flagged(rows, who: str, col: int = 1):
    return [tuple((True if i == col else v) for i, v in enumerate(r)) if r[0] == who else r
            for r in rows]


@pytest.mark.parametrize("col", [1, 2])  # sekretessmarkering, skyddad folkbokföring
def test_flagged_child_protects_its_guardians(col):
    got = protect(flagged(FAMILY, "barn", col))
    assert {"barn", "mor", "far"} <= got
    assert "syskon" in got  # shares a guardian: same household, over-protection is safe
    assert not got & {"granne", "grannbarn"}


def test_flagged_guardian_protects_the_child_and_the_other_guardian():
    got = protect(flagged(FAMILY, "far"))
    assert got == {"barn", "mor", "far", "syskon"}


def test_no_flag_protects_nobody():
    assert protect(FAMILY) == set()
    result = protected_persons(personer(FAMILY), None, MARKS, ON)
    assert result.dtype == "string" and result.name == "person_id"


def test_fee_household_with_protected_co_payer_protects_payer_and_children():
    rows = FAMILY + [("betalare", False, False, None, None),
                     ("sambo", True, False, None, None),
                     ("avgiftsbarn", False, False, None, None),
                     ("annat_hushall", False, False, None, None)]
    fees = avgifter([("H1", "betalare", "sambo", "avgiftsbarn"),
                     ("H1", "betalare", "sambo", "grannbarn"),
                     ("H2", "annat_hushall", None, "syskon")])
    got = protect(rows, fees)
    assert {"betalare", "sambo", "avgiftsbarn", "grannbarn", "granne"} <= got
    assert not any(p.startswith("hushall:") for p in got)
    assert not got & {"barn", "mor", "far", "syskon", "annat_hushall"}


def test_children_known_only_from_fees_are_protected():
    rows = [("betalare", False, True, None, None)]
    fees = avgifter([("H1", "betalare", None, "okant_barn")])
    assert protect(rows, fees) == {"betalare", "okant_barn"}


def test_policy_switches_turn_propagation_off():
    rows = flagged(FAMILY, "barn") + [("sambo", False, False, None, None)]
    fees = avgifter([("H1", "mor", "sambo", "barn")])
    assert protect(rows, fees, {"vardnadshavare": False, "hushall_avgifter": False}) == {"barn"}
    assert protect(rows, fees, {"vardnadshavare": False, "hushall_avgifter": True}) == {
        "barn", "mor", "sambo"}
    assert protect(rows, fees, {"vardnadshavare": True, "hushall_avgifter": False}) == {
        "barn", "mor", "far", "syskon"}


def test_markings_are_policy():
    rows = flagged(FAMILY, "barn", col=2)
    assert protect(rows, marks=["sekretessmarkering"]) == set()
    assert "barn" in protect(rows, marks=["skyddad_folkbokforing"])


def test_household_links_are_edges_between_ids():
    links = household_links(personer(FAMILY), avgifter([("H1", "mor", None, "barn")]))
    pairs = set(zip(links["a"], links["b"], strict=True))
    assert ("barn", "mor") in pairs and ("barn", "far") in pairs
    assert ("mor", "hushall:H1") in pairs and ("barn", "hushall:H1") in pairs
    assert not any(pd.isna(a) or pd.isna(b) for a, b in pairs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 14), st.integers(0, 14)), max_size=20),
       st.sets(st.integers(0, 14), max_size=3))
def test_protection_is_closed_over_households(edges, flags):
    """Property: no protected person shares a guardian link with an unprotected one."""
    ids = [f"p{i}" for i in range(15)]
    guardian = {}
    for child, parent in edges:
        if child != parent:
            guardian.setdefault(child, []).append(parent)
    rows = []
    for i in range(15):
        parents = [ids[g] for g in guardian.get(i, [])[:2]]
        rows.append((ids[i], i in flags, False, *parents, *[None] * (2 - len(parents))))
    got = protect(rows)
    assert {ids[i] for i in flags} <= got
    for child, parents in guardian.items():
        for parent in parents[:2]:
            assert (ids[child] in got) == (ids[parent] in got)
