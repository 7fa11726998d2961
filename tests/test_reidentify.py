"""Re-identification: only allowed fields, protected rows never in general output."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyddsnat.lists.catalog import list_spec
from skyddsnat.lists.reidentify import (
    ReidentificationRefused,
    allowed_fields,
    format_personnummer,
    split_and_reidentify,
)
from skyddsnat.policy import load_policy

POLICY = load_policy()
P = [f"{i:032x}" for i in range(6)]
IDENTITIES = pd.DataFrame({
    "person_id": pd.Series(P, dtype="string"),
    "personnummer": [f"2015010{i}123{i}" for i in range(6)],
    "fornamn": ["Astrid", "Bo", "Cilla", "Dan", "Eva", "Folke"],
    "efternamn": ["Ek", "Berg", "Holm", "Lind", "Ström", "Sjö"],
    "utdelningsadress": [f"Gatan {i}" for i in range(6)],
    "postnummer": ["12345"] * 6,
    "postort": ["Ånge"] * 6,
})


def skolplikt_rows(pids) -> pd.DataFrame:
    return pd.DataFrame({
        "arende_id": pd.Series([f"ID{i}" for i in range(len(pids))], dtype="string"),
        "person_id": pd.Series(pids, dtype="string"),
        "forvantad_arskurs": pd.array([3] * len(pids), dtype="Int64"),
        "folkbokford_datum": pd.to_datetime(["2020-01-01"] * len(pids)),
        "orsak": "okand", "skolenheter": "", "status": "ny"})


def test_general_rows_get_allowed_identity_and_lose_person_ids():
    general, restricted = split_and_reidentify(skolplikt_rows(P[:2]), list_spec("skolplikt"),
                                               IDENTITIES, set(), POLICY)
    assert restricted.empty
    assert list(general.columns) == list(list_spec("skolplikt").columns)
    assert "person_id" not in general.columns
    assert list(general["personnummer"]) == ["20150100-1230", "20150101-1231"]
    assert list(general["fornamn"]) == ["Astrid", "Bo"]
    assert not any("Gatan" in str(v) for v in general.to_numpy().ravel())


def test_spec_asking_for_an_address_is_refused():
    spec = list_spec("skolplikt")
    greedy = replace(spec, columns=(*spec.columns, "utdelningsadress"))
    rows = skolplikt_rows(P[:1])
    with pytest.raises(ReidentificationRefused) as err:
        split_and_reidentify(rows, greedy, IDENTITIES, set(), POLICY)
    assert "Gatan" not in str(err.value) and "utdelningsadress" in str(err.value)


def test_field_removed_from_list_route_is_never_filled():
    route = POLICY.mottagare.listor["skolplikt"].model_copy(
        update={"identitet": ["personnummer"]})
    listor = {**POLICY.mottagare.listor, "skolplikt": route}
    narrow = POLICY.model_copy(update={"mottagare": POLICY.mottagare.model_copy(
        update={"listor": listor})})
    assert allowed_fields(list_spec("skolplikt"), narrow) == {"personnummer"}
    with pytest.raises(ReidentificationRefused):
        split_and_reidentify(skolplikt_rows(P[:1]), list_spec("skolplikt"), IDENTITIES, set(),
                             narrow)
    spec = replace(list_spec("skolplikt"), columns=("arende_id", "personnummer", "orsak"))
    general, _ = split_and_reidentify(skolplikt_rows(P[:1]), spec, IDENTITIES, set(), narrow)
    assert list(general.columns) == ["arende_id", "personnummer", "orsak"]


def test_wrong_role_for_list_is_refused():
    spec = replace(list_spec("skolplikt"), role="rektor")
    with pytest.raises(ReidentificationRefused):
        split_and_reidentify(skolplikt_rows(P[:1]), spec, IDENTITIES, set(), POLICY)


def test_board_role_gets_no_identity():
    spec = replace(list_spec("skolplikt"), kind="kommunbild", role="namnd")
    with pytest.raises(ReidentificationRefused):
        split_and_reidentify(skolplikt_rows(P[:1]), spec, IDENTITIES, set(), POLICY)


def fee_rows() -> pd.DataFrame:
    return pd.DataFrame({
        "arende_id": pd.Series(["X1", "X2", "X3"], dtype="string"),
        "hushall_id": ["H1", "H2", "H3"],
        "betalare": pd.Series(P[:3], dtype="string"),
        "medbetalare": pd.Series([pd.NA, P[4], pd.NA], dtype="string"),
        "inkomstar": pd.array([2024] * 3, dtype="Int64"),
        "debiterat": pd.array([1000, 2000, 3000], dtype="Int64"),
        "korrekt_avgift": pd.array([2000, 1000, 3700], dtype="Int64"),
        "differens": pd.array([1000, -1000, 700], dtype="Int64"),
        "atgard": ["efterdebitering", "aterbetalning", "efterdebitering"],
        "taxa_bekraftad": [True, True, True],
        "status": "ny"})


def test_row_whose_co_payer_is_protected_goes_to_restricted_only():
    spec = list_spec("inkomstkontroll", 2024)
    general, restricted = split_and_reidentify(fee_rows(), spec, IDENTITIES, {P[4], P[2]},
                                               POLICY)
    assert list(restricted["hushall_id"]) == ["H2", "H3"]
    assert list(restricted["betalare"]) == [P[1], P[2]]  # pseudonymous, unchanged
    assert list(general["hushall_id"]) == ["H1"]
    assert list(general["betalare_namn"]) == ["Astrid Ek"]
    assert list(general["betalare_personnummer"]) == ["20150100-1230"]
    assert "betalare" not in general.columns and "medbetalare" not in general.columns


@settings(max_examples=50, deadline=None)
@given(st.sets(st.sampled_from(P)), st.lists(st.sampled_from(P), max_size=6, unique=True))
def test_no_protected_identity_ever_reaches_general_rows(skyddade, subjects):
    general, restricted = split_and_reidentify(
        skolplikt_rows(subjects), list_spec("skolplikt"), IDENTITIES, skyddade, POLICY)
    assert len(general) + len(restricted) == len(subjects)
    assert set(restricted["person_id"]) == set(subjects) & skyddade
    protected_pnr = set(format_personnummer(
        IDENTITIES.loc[IDENTITIES["person_id"].isin(skyddade), "personnummer"]))
    assert not protected_pnr & set(general["personnummer"])


def test_format_personnummer_accepts_separators():
    assert format_personnummer(pd.Series(["201501011234", "20150101-1234", pd.NA])).tolist()[:2] \
        == ["20150101-1234", "20150101-1234"]
