"""Vault retention at its boundary, and a blanked source field blanked in the vault."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from skyddsnat.privacy.vault_retention import NAMED_DIR, SEEN_FILE, named_in, purge_absent

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
    assert purge_absent(keys, v, state, audit, _present(P), DAY, DAYS) == 0
    # Only P0 named from now on; the others were last named on DAY.
    at_limit = DAY + timedelta(days=DAYS)
    assert purge_absent(keys, v, state, audit, _present(P[:1]), at_limit, DAYS) == 0
    assert set(vault_person_ids(v).to_pylist()) == set(P)
    assert not audit.entries()
    past = at_limit + timedelta(days=1)
    assert purge_absent(keys, v, state, audit, _present(P[:1]), past, DAYS) == 3
    assert vault_person_ids(v).to_pylist() == [P[0]]
    assert read_sealed(v).empty  # a sealed identity is purged too, unopened
    assert read_identities(keys, v)["person_id"].tolist() == [P[0]]
    [entry] = audit.entries()
    assert entry["event"] == "valv_gallring" and entry["details"]["antal"] == 3
    assert entry["details"]["senast_sedd_fore"] == (DAY + timedelta(days=1)).isoformat()
    assert P[1] not in (root / "audit" / "revisionslogg.jsonl").read_text()
    # A re-run of the date purges and audits nothing more.
    assert purge_absent(keys, v, state, audit, _present(P[:1]), past, DAYS) == 0
    assert len(audit.entries()) == 1
    assert set(pd.read_parquet(state / SEEN_FILE)["person_id"]) == {P[0]}


def test_a_longer_retention_keeps_them(vault):
    keys, root = vault
    v, state, audit = root / "vault", root / "state", AuditLog(root / "audit")
    purge_absent(keys, v, state, audit, _present(P), DAY, DAYS)
    later = DAY + timedelta(days=DAYS + 1)
    assert purge_absent(keys, v, state, audit, _present(P[:1]), later, DAYS + 1) == 0
    assert purge_absent(keys, v, state, audit, _present(P[:1]), later, DAYS) == 3


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


def test_named_in_keeps_each_table_s_pseudonyms_under_its_digest(tmp_path):
    cols = {"betalare", "medbetalare", "person_id"}
    a, b, cache = tmp_path / "avgifter.parquet", tmp_path / "betyg.parquet", tmp_path / "state"
    pd.DataFrame({"betalare": [P[0], P[1]], "medbetalare": [None, P[2]]}).to_parquet(a)
    pd.DataFrame({"person_id": [P[3]]}).to_parquet(b)
    assert sorted(named_in([a, b], cols, cache).to_pylist()) == P
    # Unchanged tables are not read again: their pseudonyms come from the cache.
    b.write_bytes(b"not parquet, but the same version as far as the cache knows")
    st = (tmp_path / "betyg.parquet").stat()
    ledger = json.loads((cache / NAMED_DIR / "filer.json").read_text())
    ledger["tables"]["betyg.parquet"]["version"] = f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
    (cache / NAMED_DIR / "filer.json").write_text(json.dumps(ledger))
    assert sorted(named_in([a, b], cols, cache).to_pylist()) == P
    # A table whose content changed is read again; its old entry is dropped.
    pd.DataFrame({"person_id": [P[1]]}).to_parquet(b)
    pd.DataFrame({"betalare": [P[0]], "medbetalare": [None]}).to_parquet(a)
    assert sorted(named_in([a, b], cols, cache).to_pylist()) == P[:2]
    assert len(list((cache / NAMED_DIR).glob("*.parquet"))) == 3  # two tables and the union
    # Another column set is another key.
    assert named_in([a, b], {"betalare"}, cache).to_pylist() == [P[0]]
    # Nothing but pseudonyms and digests at rest.
    for f in (cache / NAMED_DIR).glob("*.parquet"):
        assert set(pq.read_table(f).column("person_id").to_pylist()) <= set(P)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 3), st.sets(st.sampled_from(P))), max_size=6))
def test_named_in_with_its_cache_reads_what_the_tables_hold(tmp_path_factory, rewrites):
    """Whatever sequence of rewrites, the cache answers as a fresh read of the tables."""
    root = tmp_path_factory.mktemp("named")
    tables = [root / f"t{i}.parquet" for i in range(4)]
    for i, t in enumerate(tables):
        pd.DataFrame({"person_id": pd.Series(P[i:i + 1], dtype="string")}).to_parquet(t)
    for which, ids in rewrites:
        pd.DataFrame({"person_id": pd.Series(sorted(ids), dtype="string")}).to_parquet(
            tables[which])
        got = named_in(tables, {"person_id"}, root / "state")
        assert sorted(got.to_pylist()) == sorted(named_in(tables, {"person_id"}).to_pylist())


def test_a_re_run_of_the_date_leaves_the_record_untouched_and_newcomers_are_sorted(vault):
    keys, root = vault
    v, state, audit = root / "vault", root / "state", AuditLog(root / "audit")
    purge_absent(keys, v, state, audit, _present(P[2:]), DAY, DAYS)
    before = (state / SEEN_FILE).stat().st_mtime_ns
    purge_absent(keys, v, state, audit, _present(P[2:]), DAY, DAYS)
    assert (state / SEEN_FILE).stat().st_mtime_ns == before
    newcomer = "0" * 31 + "0"  # sorts before every other
    later = DAY + timedelta(days=1)
    purge_absent(keys, v, state, audit, _present([newcomer, *P[2:]]), later, DAYS)
    seen = pd.read_parquet(state / SEEN_FILE)
    assert seen["person_id"].tolist() == sorted([newcomer, *P])
    assert seen.set_index("person_id")["senast_sedd"].dt.date.to_dict() == {
        newcomer: later, P[0]: DAY, P[1]: DAY, P[2]: later, P[3]: later}
    # A record written in another order (an older version) is put in order.
    seen.iloc[::-1].to_parquet(state / SEEN_FILE, index=False)
    purge_absent(keys, v, state, audit, _present([newcomer, *P[2:]]), later, DAYS)
    assert pd.read_parquet(state / SEEN_FILE).equals(seen)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sets(st.sampled_from(P + ["f" * 32])), min_size=1, max_size=8),
       st.lists(st.integers(0, 4), min_size=8, max_size=8), st.integers(1, 6))
def test_a_person_is_kept_exactly_while_named_within_the_retention(vault, tmp_path_factory,
                                                                    nights, gaps, days):
    """Over any run of nights: a person (held by the vault or named by a source) stays on
    record while last named no more than `days` days ago; the vault loses exactly those who
    leave the record; a re-run of a night purges nothing more."""
    keys, root = vault
    v = tmp_path_factory.mktemp("valv")
    stage_identities(keys, v, "folkbokforing", pd.DataFrame(
        {"person_id": pd.Series(P, dtype="string"), "personnummer": ["x"] * len(P)}))
    merge_vault(keys, v, pd.Series([P[3]], dtype="string"))
    state, audit = v / "state", AuditLog(v / "audit")
    held, last, day = set(P), {}, DAY
    for named, gap in zip(nights, gaps, strict=False):
        day += timedelta(days=gap)
        for p in held | named:
            last.setdefault(p, day)
        last.update(dict.fromkeys(named, day))
        gone = {p for p, seen in last.items() if (day - seen).days > days}
        assert purge_absent(keys, v, state, audit, _present(named), day, days) == len(gone)
        last = {p: seen for p, seen in last.items() if p not in gone}
        held -= gone
        assert set(vault_person_ids(v).to_pylist()) == held
        assert purge_absent(keys, v, state, audit, _present(named), day, days) == 0
    record = pd.read_parquet(state / SEEN_FILE)
    assert dict(zip(record["person_id"], record["senast_sedd"].dt.date, strict=True)) == last
    purges = [e for e in audit.entries() if e["event"] == "valv_gallring"]
    assert len(purges) == len({e["details"]["as_of"] for e in purges})
