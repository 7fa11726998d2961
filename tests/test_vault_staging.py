"""Staging is one AEAD per batch, authenticated whole; the merge keeps its rule and reads
what main's per-record staging and vault files hold."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from skyddsnat.privacy.identity_store import (
    PRECEDENCE,
    STAGING,
    VAULT_FILE,
    drop_staged,
    merge_vault,
    read_identities,
    read_sealed,
    stage_identities,
    staged_batches,
    vault_person_ids,
)
from skyddsnat.privacy.keys import (
    init_keys,
    load_keys,
    rotate_vault_key,
    seeded_keys,
    verify_against_data,
)
from skyddsnat.privacy.vault import (
    VaultTampered,
    decrypt_identities,
    encrypt_identities,
    plaintexts,
)

P = [f"{i:032x}" for i in range(1, 7)]
PEOPLE = pd.DataFrame({"person_id": pd.Series(P[:3], dtype="string"),
                       "personnummer": pd.Series(["201503122384", "201406072391", "198112189876"],
                                                 dtype="string"),
                       "fornamn": pd.Series(["Åsa", "Björn", None], dtype="string")})
NONE = pd.Series([], dtype="string")
KEYS = seeded_keys(7)


def _staged(vault: Path, source: str = "folkbokforing") -> Path:
    return vault / STAGING / f"{source}.parquet"


def _back(keys, vault: Path) -> dict[str, dict]:
    frame = read_identities(keys, vault)
    frame = frame.astype(object).where(frame.notna(), None)
    return {r.pop("person_id"): r for r in frame.to_dict("records")}


def test_a_staged_batch_is_one_ciphertext_and_earlier_batches_stay_unopened(tmp_path):
    stage_identities(KEYS, tmp_path, "folkbokforing", PEOPLE)
    first = pq.read_table(_staged(tmp_path))
    assert first.num_rows == 1 and first.column("personer").to_pylist() == [P[:3]]
    raw = _staged(tmp_path).read_bytes()
    for value in ("201503122384", "Åsa", "Björn"):
        assert value.encode() not in raw
    stage_identities(KEYS, tmp_path, "folkbokforing", PEOPLE.iloc[[0]])
    both = pq.read_table(_staged(tmp_path))
    assert both.column("ct").to_pylist()[0] == first.column("ct").to_pylist()[0]
    assert both.column("personer").to_pylist() == [P[:3], P[:1]]
    assert sorted(vault_person_ids(tmp_path).to_pylist()) == P[:3]


def _rewrite(path: Path, column: str, value) -> None:
    table = pq.read_table(path)
    table = table.set_column(table.column_names.index(column), column,
                             pa.array([value], table.schema.field(column).type))
    pq.write_table(table, path)


@pytest.mark.parametrize("tamper", ["ct", "personer", "no personer", "key_id", "moved"])
def test_a_tampered_batch_stops_the_merge_and_names_no_value(tmp_path, tamper):
    init_keys(tmp_path / "k", tmp_path / "o.pem")
    rotate_vault_key(tmp_path / "k")  # v1 exists too: a relabelled batch finds a key
    keys, vault = load_keys(tmp_path / "k"), tmp_path / "vault"
    stage_identities(keys, vault, "folkbokforing", PEOPLE)
    path = _staged(vault)
    if tamper == "ct":
        ct = bytearray(pq.read_table(path).column("ct")[0].as_py())
        ct[len(ct) // 2] ^= 1
        _rewrite(path, "ct", bytes(ct))
    elif tamper == "personer":  # the pseudonyms in the clear no longer the batch's
        _rewrite(path, "personer", [P[1], P[0], P[2]])
    elif tamper == "no personer":
        _rewrite(path, "personer", None)
    elif tamper == "key_id":
        _rewrite(path, "key_id", "v1")
    else:  # another source's batch: its label is bound in
        path.rename(_staged(vault, "elevregister"))
    with pytest.raises(VaultTampered) as info:
        merge_vault(keys, vault, NONE)
    assert "201503122384" not in str(info.value) and P[0] not in str(info.value)
    assert not (vault / VAULT_FILE).exists()


def test_files_written_before_batches_still_merge(tmp_path):
    """main's staging (one record per row) and vault files: a pending stage is merged, a new
    batch is added beside it, and untouched records keep their ciphertext."""
    vault = tmp_path / "vault"
    (vault / STAGING).mkdir(parents=True)
    old = pd.DataFrame({"person_id": pd.Series(P[3:5], dtype="string"),
                        "personnummer": ["197702021234", "196001012380"],
                        "fornamn": ["Cilla", "Dan"]})
    encrypt_identities(KEYS, old).to_parquet(vault / VAULT_FILE, index=False)
    encrypt_identities(KEYS, PEOPLE.iloc[:2]).to_parquet(_staged(vault), index=False)
    stage_identities(KEYS, vault, "folkbokforing", PEOPLE.iloc[[2]])
    assert sorted(vault_person_ids(vault).to_pylist()) == sorted(P[:5])
    before = pd.read_parquet(vault / VAULT_FILE).set_index("person_id")["ct"]
    merge_vault(KEYS, vault, NONE)
    back = _back(KEYS, vault)
    assert back[P[0]] == {"personnummer": "201503122384", "fornamn": "Åsa"}
    assert back[P[2]] == {"personnummer": "198112189876", "fornamn": None}
    assert back[P[4]] == {"personnummer": "196001012380", "fornamn": "Dan"}
    # main reads the new file as it reads its own: pandas, then one record per row.
    after = pd.read_parquet(vault / VAULT_FILE)
    assert list(after.columns) == ["person_id", "key_id", "nonce", "ct"]
    assert len(decrypt_identities(KEYS, after)) == 5
    assert after.set_index("person_id")["ct"][P[3]] == before[P[3]]


def test_a_person_twice_in_one_batch_takes_each_field_s_first_value(tmp_path):
    twice = pd.DataFrame({"person_id": [P[0], P[0]], "personnummer": [None, "201503122384"],
                          "fornamn": ["Åsa", "Åse"]})
    stage_identities(KEYS, tmp_path, "folkbokforing", twice)
    stage_identities(KEYS, tmp_path, "elevregister", PEOPLE[["person_id", "personnummer"]])
    merge_vault(KEYS, tmp_path, NONE)
    assert _back(KEYS, tmp_path)[P[0]] == {"personnummer": "201503122384", "fornamn": "Åsa"}


def test_retention_erases_a_staged_person_from_the_ciphertext(tmp_path):
    stage_identities(KEYS, tmp_path, "elevregister", PEOPLE)
    stage_identities(KEYS, tmp_path, "elevregister", PEOPLE.iloc[[1]])
    stage_identities(KEYS, tmp_path, "betyg", PEOPLE.iloc[[1]])
    drop_staged(KEYS, tmp_path, pa.array([P[1]], pa.string()))
    [first] = staged_batches(KEYS, _staged(tmp_path, "elevregister"))
    assert first.column("person_id").to_pylist() == [P[0], P[2]]
    assert not _staged(tmp_path, "betyg").exists()
    assert P[1] not in vault_person_ids(tmp_path).to_pylist()


text = st.one_of(st.none(), st.just(""), st.text(alphabet='aåÖ"\\\n\x00 é', max_size=4))
record = st.fixed_dictionaries({"personnummer": st.sampled_from(["201503122384", "x"])},
                               optional={"fornamn": text, "adress": text})
batch = st.dictionaries(st.sampled_from(P), record, max_size=4)
night = st.dictionaries(st.sampled_from(PRECEDENCE[:4]), st.lists(batch, min_size=1,
                                                                    max_size=2), max_size=3)


def _frame(rows: dict[str, dict]) -> pd.DataFrame:
    frame = pd.DataFrame([{"person_id": p, **r} for p, r in rows.items()])
    return frame if len(frame.columns) else pd.DataFrame({"person_id": []})


def _given(record: dict) -> dict:
    """A record's fields that have a value ("" is one: it blanks the vault's)."""
    return {f: v for f, v in record.items() if v is not None}


def _rule(staged: dict[str, list[dict]], prior: dict[str, dict]) -> dict[str, dict]:
    """The merge, record by record: sources in precedence order (within a source a person's
    latest staged record replaces earlier ones whole), then the vault's own record; each
    field takes its first value that is not missing."""
    records = []
    for source in sorted(staged, key=PRECEDENCE.index):
        latest = {}
        for rows in staged[source]:
            latest.update(rows)
        records += latest.items()
    records += prior.items()
    merged: dict[str, dict] = {}
    for pid, rec in records:
        into = merged.setdefault(pid, {})
        for field, value in rec.items():
            if into.get(field) is None:
                into[field] = value
    return merged


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(night, st.sets(st.sampled_from(P), max_size=2)), min_size=1,
                max_size=3))
@example([({"folkbokforing": [{P[3]: {"personnummer": "x"}}]}, set()),  # a NUL is a text,
          ({"folkbokforing": [{P[3]: {"personnummer": "x", "fornamn": "\x00"}}]}, set())])
def test_nights_of_staged_batches_merge_by_the_precedence_rule(tmp_path_factory, nights):
    """Any nights of staging (several batches per source, a person in several sources,
    blank and missing values, text json must escape): the vault holds, for every person not
    sealed, exactly what the rule gives; a person whose record did not change keeps the
    ciphertext, one whose record changed gets a new one; protected persons are sealed."""
    vault = tmp_path_factory.mktemp("valv")
    expected: dict[str, dict] = {}
    sealed: set[str] = set()
    for staged, protected in nights:
        before = (pd.read_parquet(vault / VAULT_FILE).set_index("person_id")["ct"]
                  if (vault / VAULT_FILE).exists() else pd.Series(dtype=object))
        for source, batches in staged.items():
            for rows in batches:
                stage_identities(KEYS, vault, source, _frame(rows))
        previous = expected
        expected = _rule(staged, expected)
        merge_vault(KEYS, vault, pd.Series(sorted(protected), dtype="string"))
        sealed |= protected & set(expected)
        general = {p: r for p, r in expected.items() if p not in sealed}
        assert {p: _given(r) for p, r in _back(KEYS, vault).items()} == {
            p: _given(r) for p, r in general.items()}
        assert set(read_sealed(vault)["person_id"]) == sealed
        after = (pd.read_parquet(vault / VAULT_FILE).set_index("person_id")["ct"]
                 if (vault / VAULT_FILE).exists() else pd.Series(dtype=object))
        for pid in set(before.index) & set(after.index):
            unchanged = _given(previous[pid]) == _given(expected[pid])
            assert (after[pid] == before[pid]) == unchanged
        assert not list((vault / STAGING).glob("*.parquet"))


field_text = st.one_of(st.none(), st.text(max_size=6))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(field_text, field_text), min_size=1, max_size=9),
       st.integers(0, 3), st.integers(1, 3))
def test_plaintexts_of_an_arrow_table_in_chunks_and_slices_are_json(rows, cut, chunks):
    """A merged table reaches the encoder as Arrow, in chunks and slices: every record is
    exactly the JSON of its dict, whatever the text holds."""
    size = max(1, len(rows) // chunks)
    parts = [rows[i:i + size] for i in range(0, len(rows), size)]
    table = pa.Table.from_batches([pa.record_batch(
        {"fornamn": pa.array([r[0] for r in part], pa.string()),
         "efternamn": pa.array([r[1] for r in part], pa.string())}) for part in parts])
    table = table.slice(min(cut, len(rows) - 1))
    expected = [json.dumps({"fornamn": a, "efternamn": b}, ensure_ascii=False,
                           separators=(",", ":")).encode()
                for a, b in rows[min(cut, len(rows) - 1):]]
    assert plaintexts(table, ["fornamn", "efternamn"]) == expected


def test_a_pseudonym_rotation_rekeys_a_pending_batch(tmp_path):
    """A batch staged before `keys rotate-pseudonym` is merged after it under the new
    pseudonyms (its persons in the clear and inside the ciphertext)."""
    from skyddsnat.layout import DataDir
    from skyddsnat.privacy.pseudonym import pseudonymize_series
    from skyddsnat.rotation import rotate_pseudonym

    init_keys(tmp_path / "k", tmp_path / "o.pem")
    data = DataDir(tmp_path / "d")
    verify_against_data(load_keys(tmp_path / "k"), data.state)
    stage_identities(load_keys(tmp_path / "k"), data.vault, "elevregister", PEOPLE)
    rotate_pseudonym(tmp_path / "k", data.root)
    keys = load_keys(tmp_path / "k")
    moved = pseudonymize_series(keys.pseudonym_key, PEOPLE["person_id"]).tolist()
    assert pq.read_table(_staged(data.vault, "elevregister")).column(
        "personer").to_pylist() == [moved]
    merge_vault(keys, data.vault, NONE)
    assert sorted(_back(keys, data.vault)) == sorted(moved)


def test_the_escape_look_reads_a_sliced_column_s_own_bytes():
    from skyddsnat.privacy.vault import _escaped

    column = pa.array(["a", '"', "c", 'd"'], pa.string())
    assert _escaped(column.slice(2, 1)) is None  # the quotes lie outside the slice
    assert _escaped(column.slice(3)).to_pylist() == [True]  # and here inside it
