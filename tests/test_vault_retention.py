"""Vault retention at its boundary, and a blanked source field blanked in the vault."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pyarrow as pa
import pytest

from skyddsnat.policy import load_policy
from skyddsnat.privacy.audit import AuditLog
from skyddsnat.privacy.identity_store import (
    merge_vault,
    read_identities,
    read_sealed,
    stage_identities,
    vault_person_ids,
)
from skyddsnat.privacy.keys import init_keys, load_keys
from skyddsnat.privacy.vault_retention import SEEN_FILE, named_in, purge_absent

P = [f"{i:032x}" for i in range(1, 5)]
DAY = date(2026, 9, 1)
DAYS = load_policy().gallring.valv_dagar


@pytest.fixture
def vault(tmp_path):
    init_keys(tmp_path / "keys", tmp_path / "officer.pem")
    keys = load_keys(tmp_path / "keys")
    ids = pd.DataFrame({"person_id": pd.Series(P, dtype="string"),
                        "personnummer": ["201503122384", "201406072391", "198112189876",
                                         "197702021234"],
                        "utdelningsadress": ["Väg 1", "Väg 2", "Väg 3", "Väg 4"]})
    stage_identities(keys, tmp_path / "vault", "folkbokforing", ids)
    merge_vault(keys, tmp_path / "vault", pd.Series([P[3]], dtype="string"))  # P3 sealed
    return keys, tmp_path


def _present(ids) -> pa.Array:
    return pa.array(list(ids), type=pa.string())


def test_absent_persons_are_purged_after_the_retention_and_audited(vault):
    keys, root = vault
    v, state, audit = root / "vault", root / "state", AuditLog(root / "audit")
    assert purge_absent(v, state, audit, _present(P), DAY, DAYS) == 0
    # Only P0 named from now on; the others were last named on DAY.
    at_limit = DAY + timedelta(days=DAYS)
    assert purge_absent(v, state, audit, _present(P[:1]), at_limit, DAYS) == 0
    assert set(vault_person_ids(v).to_pylist()) == set(P)
    assert not audit.entries()
    past = at_limit + timedelta(days=1)
    assert purge_absent(v, state, audit, _present(P[:1]), past, DAYS) == 3
    assert vault_person_ids(v).to_pylist() == [P[0]]
    assert read_sealed(v).empty  # a sealed identity is purged too, unopened
    assert read_identities(keys, v)["person_id"].tolist() == [P[0]]
    [entry] = audit.entries()
    assert entry["event"] == "valv_gallring" and entry["details"]["antal"] == 3
    assert entry["details"]["senast_sedd_fore"] == (DAY + timedelta(days=1)).isoformat()
    assert P[1] not in (root / "audit" / "revisionslogg.jsonl").read_text()
    # A re-run of the date purges and audits nothing more.
    assert purge_absent(v, state, audit, _present(P[:1]), past, DAYS) == 0
    assert len(audit.entries()) == 1
    assert set(pd.read_parquet(state / SEEN_FILE)["person_id"]) == {P[0]}


def test_a_longer_retention_keeps_them(vault):
    _keys, root = vault
    v, state, audit = root / "vault", root / "state", AuditLog(root / "audit")
    purge_absent(v, state, audit, _present(P), DAY, DAYS)
    later = DAY + timedelta(days=DAYS + 1)
    assert purge_absent(v, state, audit, _present(P[:1]), later, DAYS + 1) == 0
    assert purge_absent(v, state, audit, _present(P[:1]), later, DAYS) == 3


def test_named_in_reads_every_pseudonym_column(tmp_path):
    t = tmp_path / "avgifter.parquet"
    pd.DataFrame({"betalare": [P[0], P[1]], "medbetalare": [None, P[2]], "belopp": [1, 2],
                  "hushall_id": ["H1", "H2"]}).to_parquet(t)
    got = named_in([t, tmp_path / "saknas.parquet"], {"betalare", "medbetalare", "barn"})
    assert sorted(got.to_pylist()) == P[:3]


def test_a_blanked_field_is_blanked_on_merge(vault):
    keys, root = vault
    v = root / "vault"
    blank = pd.DataFrame({"person_id": pd.Series([P[0]], dtype="string"),
                          "personnummer": ["201503122384"], "utdelningsadress": [""]})
    stage_identities(keys, v, "folkbokforing", blank)
    # Another source names P0 too, without an address: it leaves the field to folkbokföring.
    stage_identities(keys, v, "elevregister", blank[["person_id", "personnummer"]])
    merge_vault(keys, v, pd.Series([P[3]], dtype="string"))
    back = read_identities(keys, v).set_index("person_id")
    assert back.loc[P[0], "utdelningsadress"] == ""
    assert back.loc[P[1], "utdelningsadress"] == "Väg 2"
