"""Sealed restricted lists: right key opens, other key and tampering fail, size is bucketed."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from skyddsnat.lists.catalog import list_spec
from skyddsnat.lists.excel import LIST_SHEET, SUMMARY_SHEET, read_list
from skyddsnat.lists.forklaring import forklaring
from skyddsnat.lists.reidentify import officer_fields
from skyddsnat.lists.restricted import BUCKET, open_sealed_list, unseal_file, write_sealed_list
from skyddsnat.policy import load_policy
from skyddsnat.privacy.keys import init_keys, load_keys, load_officer_private
from skyddsnat.privacy.seal import SealBroken, seal_identities

POLICY = load_policy()
P = [f"{i:032x}" for i in range(3)]
AS_OF = "2025-09-01"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    base = tmp_path_factory.mktemp("keys")
    init_keys(base / "k", base / "officer.pem")
    init_keys(base / "k2", base / "other.pem")
    return (load_keys(base / "k"), load_officer_private(base / "officer.pem"),
            load_officer_private(base / "other.pem"))


@pytest.fixture(scope="module")
def sealed_store(keys):
    identities = pd.DataFrame({
        "person_id": pd.Series(P, dtype="string"),
        "personnummer": ["201501011234", "201602022345", "201703033456"],
        "fornamn": ["Alva", "Bror", "Cleo"], "efternamn": ["Ros", "Lilja", "Vass"],
        "utdelningsadress": ["Hemliga vägen 1", "Hemliga vägen 2", "Hemliga vägen 3"],
        "postnummer": ["11111", "22222", "33333"], "postort": ["Ort", "Ort", "Ort"]})
    return seal_identities(keys[0].officer_public, identities)


def franvaro_rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "arende_id": [f"C{i}" for i in range(n)],
        "person_id": pd.Series(P[:n], dtype="string"),
        "skolenhetskod": ["11111111", "22222222", "22222222"][:n],
        "arskurs": pd.array([5, 6, 7][:n], dtype="Int64"),
        "franvaro_procent": [21.5, 16.0, 30.2][:n], "ogiltig_procent": [2.0, 5.5, 0.0][:n],
        "langsta_sammanhangande_dagar": pd.array([6, 1, 2][:n], dtype="Int64"),
        "niva": ["hog", "oroande", "hog"][:n],
        "franvaro_procent_4v": [25.0, 12.0, 31.0][:n], "ogiltig_procent_4v": [0.0, 6.0, 0.0][:n],
        "langsta_sammanhangande_dagar_4v": pd.array([6, 1, 2][:n], dtype="Int64"),
        "niva_4v": ["hog", "uppmarksamma", "hog"][:n],
        "utredningsplikt": [True, True, True][:n], "fynd": ["", "", "hog_utan_arende"][:n],
        "skal": ["hog_franvaro, lang_franvaro", "oroande_franvaro, ogiltig_franvaro",
                 "hog_franvaro"][:n],
        "status": ["ny", "kvarstar", "ny"][:n]})


def seal(path, keys, store, n: int, kind: str = "franvaro"):
    spec = list_spec(kind)
    return write_sealed_list(path, spec, franvaro_rows(n), store, keys[0].officer_public, AS_OF,
                             POLICY.version, officer_fields(POLICY),
                             forklaring=forklaring(kind, POLICY))


def test_opens_with_officer_key_per_school_with_addresses(tmp_path, keys, sealed_store):
    path = seal(tmp_path / "restricted" / "franvaro.sealed", keys, sealed_store, 3)
    files = unseal_file(path, keys[1], tmp_path / "out")
    assert sorted(f.name for f in files) == ["franvaro_11111111.xlsx", "franvaro_22222222.xlsx"]
    opened = tmp_path / "out" / "franvaro_22222222.xlsx"
    body = read_list(opened)
    assert list(body.columns[:7]) == ["arende_id", "personnummer", "fornamn", "efternamn",
                                      "utdelningsadress", "postnummer", "postort"]
    assert body["personnummer"].tolist() == ["20160202-2345", "20170303-3456"]
    assert body["utdelningsadress"].iloc[0] == "Hemliga vägen 2"
    assert body["niva"].tolist() == ["oroande", "hog"] and body["status"].tolist() == [
        "kvarstar", "ny"]
    wb = openpyxl.load_workbook(opened)
    assert wb[LIST_SHEET]["B1"].value == "Personnummer"
    assert wb[SUMMARY_SHEET]["A1"].value == "Problematisk frånvaro, skolenhet 22222222"
    summary = [r[0] for r in wb[SUMMARY_SHEET].iter_rows(values_only=True)]
    assert "Förklaring" in summary and "Hög" in summary  # the block travels in the seal


def test_other_private_key_fails(tmp_path, keys, sealed_store):
    path = seal(tmp_path / "franvaro.sealed", keys, sealed_store, 3)
    with pytest.raises(SealBroken):
        unseal_file(path, keys[2], tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("where", ["header", "body"])
def test_tampered_file_fails_loudly(tmp_path, keys, sealed_store, where):
    path = seal(tmp_path / "franvaro.sealed", keys, sealed_store, 1)
    data = bytearray(path.read_bytes())
    if where == "header":
        data = bytearray(bytes(data).replace(AS_OF.encode(), b"2025-09-02", 1))
    else:
        data[-100] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(SealBroken):
        open_sealed_list(path, keys[1])


def test_empty_and_three_rows_have_same_size(tmp_path, keys, sealed_store):
    empty = seal(tmp_path / "e.sealed", keys, sealed_store, 0)
    three = seal(tmp_path / "t.sealed", keys, sealed_store, 3)
    assert empty.stat().st_size == three.stat().st_size == BUCKET
    assert b"Hemliga" not in three.read_bytes() and P[0].encode() not in three.read_bytes()


def test_header_names_no_person_and_info_binds_kind(tmp_path, keys, sealed_store):
    path = seal(tmp_path / "s.sealed", keys, sealed_store, 1, kind="skolplikt")
    header = path.read_bytes().split(b"\n", 1)[0].decode()
    assert '"kind":"skolplikt"' in header and AS_OF in header and POLICY.version in header
    forged = path.read_bytes().replace(b'"kind":"skolplikt"', b'"kind":"franvaro"', 1)
    path.write_bytes(forged)
    with pytest.raises(SealBroken):
        open_sealed_list(path, keys[1])


def test_empty_list_unseals_to_one_empty_workbook(tmp_path, keys, sealed_store):
    path = seal(tmp_path / "e.sealed", keys, sealed_store, 0)
    files = unseal_file(path, keys[1], tmp_path / "out")
    assert [f.name for f in files] == ["franvaro.xlsx"]
    ws = openpyxl.load_workbook(files[0])[LIST_SHEET]
    assert ws.max_row == 2  # the labels and the contract names, no rows
    assert read_list(files[0]).empty


def test_only_the_list_subjects_identities_are_sealed_in(tmp_path, keys, sealed_store):
    path = seal(tmp_path / "one.sealed", keys, sealed_store, 1)
    doc = open_sealed_list(path, keys[1])
    assert list(doc["identities"]) == [P[0]]
    assert doc["rows"][0]["arende_id"] == "C0" and doc["rows"][0]["status"] == "ny"


def test_income_list_unseals_with_payer_identity_and_address(tmp_path, keys, sealed_store):
    spec = list_spec("inkomstkontroll")
    rows = pd.DataFrame({
        "arende_id": ["K1"], "hushall_id": ["H9"], "betalare": pd.Series([P[1]], dtype="string"),
        "medbetalare": pd.Series([P[2]], dtype="string"),
        "inkomstar": pd.array([2024], dtype="Int64"), "debiterat": pd.array([100], "Int64"),
        "korrekt_avgift": pd.array([900], "Int64"), "differens": pd.array([800], "Int64"),
        "atgard": ["efterdebitering"], "taxa_bekraftad": [True], "status": ["ny"]})
    path = write_sealed_list(tmp_path / "i.sealed", spec, rows, sealed_store,
                             keys[0].officer_public, AS_OF, POLICY.version,
                             officer_fields(POLICY))
    [out] = unseal_file(path, keys[1], tmp_path / "out")
    record = read_list(out).iloc[0].to_dict()
    assert record["betalare_personnummer"] == "20160202-2345"
    assert record["betalare_namn"] == "Bror Lilja"
    assert record["betalare_utdelningsadress"] == "Hemliga vägen 2"
    assert record["differens"] == 800


def test_unseal_appends_to_the_officers_hash_chained_log(tmp_path, keys, sealed_store):
    """`skyddsnat unseal` logs which file, when and how many rows, on the officer's side;
    `audit verify --log-dir` checks the chain and finds an edit."""
    import json

    from typer.testing import CliRunner

    from skyddsnat.cli import app

    runner = CliRunner()
    path = seal(tmp_path / "restricted" / "franvaro.sealed", keys, sealed_store, 3)
    key_file = tmp_path / "officer.pem"
    from cryptography.hazmat.primitives import serialization
    key_file.write_bytes(keys[1].private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    for _ in range(2):
        r = runner.invoke(app, ["unseal", str(path), "--key", str(key_file),
                                "--out", str(tmp_path / "out")])
        assert r.exit_code == 0, r.output
    log = tmp_path / "oppningslogg" / "revisionslogg.jsonl"
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [e["details"]["rader"] for e in entries] == [3, 3]
    assert entries[0]["details"]["fil"] == "franvaro.sealed"
    assert entries[0]["details"]["referensdatum"] == AS_OF and entries[0]["ts"]
    text = log.read_text(encoding="utf-8")
    assert "201501011234" not in text and "Alva" not in text
    r = runner.invoke(app, ["audit", "verify", "--log-dir", str(tmp_path / "oppningslogg")])
    assert r.exit_code == 0 and "2 poster" in r.output
    log.write_text(text.replace('"rader":3', '"rader":1', 1), encoding="utf-8")
    r = runner.invoke(app, ["audit", "verify", "--log-dir", str(tmp_path / "oppningslogg")])
    assert r.exit_code != 0
    # A wrong key opens nothing and logs nothing.
    other = tmp_path / "other.pem"
    other.write_bytes(keys[2].private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    r = runner.invoke(app, ["unseal", str(path), "--key", str(other), "--out",
                            str(tmp_path / "out2"), "--log-dir", str(tmp_path / "l2")])
    assert r.exit_code != 0 and not (tmp_path / "l2").exists()


@pytest.mark.parametrize("kind", ["skolplikt", "franvaro", "atgardsprogram", "inkomstkontroll"])
def test_a_kind_with_no_lists_tonight_still_opens(tmp_path, keys, sealed_store, kind):
    """A night without invoice and income files seals an empty income list with no columns
    at all; the officer must still be able to open it (it once failed on 'betalare')."""
    path = write_sealed_list(tmp_path / f"{kind}.sealed", list_spec(kind), pd.DataFrame(),
                             sealed_store, keys[0].officer_public, AS_OF, POLICY.version,
                             officer_fields(POLICY), summary={"Inkomstår": "-"})
    [out] = unseal_file(path, keys[1], tmp_path / "out")
    wb = openpyxl.load_workbook(out)
    rows = list(wb[LIST_SHEET].iter_rows(values_only=True))
    names = next(i for i, r in enumerate(rows) if "arende_id" in r)
    assert rows[names + 1:] == []  # the header rows only
    top = [r[0] for r in wb["Sammanfattning"].iter_rows(max_row=4, values_only=True)]
    assert "Inkomstår" in top  # the basis opens the summary
