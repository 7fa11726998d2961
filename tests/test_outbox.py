"""Atomic deliveries, the manifest, retention and idempotent audit entries."""

from __future__ import annotations

import json
import os
import re

import pandas as pd
import pytest

from skyddsnat.delivery.outbox import (
    DELIVERIES,
    MANIFEST,
    STAGING,
    OutboxProblem,
    purge,
    read_manifest,
    record_delivery,
    staged_delivery,
)
from skyddsnat.lists.catalog import list_spec
from skyddsnat.lists.excel import build_summary, write_list_xlsx
from skyddsnat.lists.reidentify import officer_fields
from skyddsnat.lists.restricted import restricted_path, write_sealed_list
from skyddsnat.policy import load_policy
from skyddsnat.privacy.audit import AuditLog
from skyddsnat.privacy.keys import init_keys, load_keys
from skyddsnat.privacy.seal import seal_identities

POLICY = load_policy()
SPEC = list_spec("skolplikt")
PNR, NAME = "20150101-1234", "Tindra"


@pytest.fixture(scope="module")
def officer(tmp_path_factory):
    base = tmp_path_factory.mktemp("keys")
    init_keys(base / "k", base / "officer.pem")
    return load_keys(base / "k").officer_public


def rows(name: str = NAME) -> pd.DataFrame:
    return pd.DataFrame({
        "arende_id": ["AAAAAAAAAA"], "personnummer": [PNR], "fornamn": [name],
        "efternamn": ["Lund"], "forvantad_arskurs": pd.array([4], dtype="Int64"),
        "folkbokford_datum": pd.to_datetime(["2020-01-01"]), "orsak": ["okand"],
        "skolenheter": [""], "status": ["ny"]})


def deliver(outbox, officer, as_of="2025-09-01", name=NAME, sealed_rows=0):
    general = rows(name)
    with staged_delivery(outbox, as_of, POLICY.version) as d:
        rel = f"{SPEC.role}/{SPEC.name}.xlsx"
        fp = write_list_xlsx(d.path(rel), SPEC, general,
                             build_summary(SPEC, POLICY, as_of, general))
        d.record(rel, rows=len(general), fingerprint=fp)
        pids = pd.Series([f"{i:032x}" for i in range(sealed_rows)], dtype="string")
        store = seal_identities(officer, pd.DataFrame({"person_id": pids, "fornamn": "Hemlig"}))
        write_sealed_list(d.path(restricted_path("skolplikt")), SPEC,
                          pd.DataFrame({"arende_id": "X", "person_id": pids, "orsak": "okand"}),
                          store, officer, as_of, POLICY.version, officer_fields(POLICY))
        d.record(restricted_path("skolplikt"))
    return d


def test_delivery_is_published_through_a_symlink_with_manifest(tmp_path, officer):
    d = deliver(tmp_path, officer)
    link = tmp_path / "2025-09-01"
    assert link.is_symlink() and (link / "skolpliktshandlaggare" / "skolplikt.xlsx").exists()
    manifest = read_manifest(tmp_path, "2025-09-01")
    assert manifest == d.manifest
    files = {f["path"]: f for f in manifest["files"]}
    assert set(files) == {"skolpliktshandlaggare/skolplikt.xlsx", "restricted/skolplikt.sealed"}
    assert files["skolpliktshandlaggare/skolplikt.xlsx"]["rows"] == 1
    sealed = files["restricted/skolplikt.sealed"]
    assert sealed["sealed"] and "rows" not in sealed and "fingerprint" not in sealed
    assert manifest["policy_version"] == POLICY.version and manifest["as_of"] == "2025-09-01"
    assert not any((tmp_path / STAGING).iterdir())


def test_manifest_holds_no_personal_data(tmp_path, officer):
    deliver(tmp_path, officer, sealed_rows=2)
    text = (tmp_path / "2025-09-01" / "manifest.json").read_text()
    assert PNR not in text and PNR.replace("-", "") not in text and NAME not in text
    # 12 digits that are not part of a hex digest (sha256 values may contain digit runs).
    assert not re.search(r"(?<![0-9a-f])\d{8}-?\d{4}(?![0-9a-f])", text)
    assert "Lund" not in text and "Hemlig" not in text


def test_failure_inside_staging_leaves_old_delivery_intact(tmp_path, officer):
    deliver(tmp_path, officer, name="Första")
    before = read_manifest(tmp_path, "2025-09-01")
    target = os.readlink(tmp_path / "2025-09-01")
    with pytest.raises(RuntimeError, match="avbruten"), \
            staged_delivery(tmp_path, "2025-09-01", POLICY.version) as d:
        (d.path(f"{SPEC.role}/{SPEC.name}.xlsx")).write_bytes(b"half")
        raise RuntimeError("avbruten")
    assert os.readlink(tmp_path / "2025-09-01") == target
    assert read_manifest(tmp_path, "2025-09-01") == before
    assert not any((tmp_path / STAGING).iterdir())


def test_new_delivery_replaces_old_and_removes_it(tmp_path, officer):
    deliver(tmp_path, officer, name="Första")
    old = os.readlink(tmp_path / "2025-09-01")
    deliver(tmp_path, officer, name="Andra")
    assert os.readlink(tmp_path / "2025-09-01") != old
    assert len(list((tmp_path / DELIVERIES).glob("2025-09-01-*"))) == 1


def test_plain_directory_from_old_layout_is_replaced(tmp_path, officer):
    (tmp_path / "2025-09-01" / "x").mkdir(parents=True)
    deliver(tmp_path, officer)
    assert (tmp_path / "2025-09-01").is_symlink()


def test_paths_cannot_escape_and_sealed_files_carry_no_counts(tmp_path):
    with pytest.raises(OutboxProblem), staged_delivery(tmp_path, "2025-09-01", "v") as d:
        d.path("../evil.xlsx")
    with pytest.raises(OutboxProblem), staged_delivery(tmp_path, "2025-09-01", "v") as d:
        d.record("restricted/skolplikt.sealed", rows=2)
    assert not (tmp_path / "2025-09-01").exists()


def test_purge_keeps_exactly_retention_days(tmp_path, officer):
    for day in ("2024-08-31", "2024-09-01", "2025-09-01"):
        deliver(tmp_path, officer, as_of=day)
    (tmp_path / STAGING / "2024-01-01-dead").mkdir()
    removed = purge(tmp_path, "2025-09-01", 365)
    assert removed == ["2024-08-31"]
    assert not (tmp_path / "2024-08-31").exists()
    assert (tmp_path / "2024-09-01").is_symlink() and (tmp_path / "2025-09-01").is_symlink()
    assert sorted(p.name[:10] for p in (tmp_path / DELIVERIES).iterdir()) == [
        "2024-09-01", "2025-09-01"]
    assert not any((tmp_path / STAGING).iterdir())


def reidentifications(manifest):
    return [{"list": "skolplikt", "role": SPEC.role, "count": 1,
             "policy_version": POLICY.version, "file": "skolpliktshandlaggare/skolplikt.xlsx"}]


def test_audit_entries_not_duplicated_on_rerun(tmp_path, officer):
    audit = AuditLog(tmp_path / "audit")
    d1 = deliver(tmp_path / "outbox", officer)
    added = record_delivery(audit, "2025-09-01", d1.manifest, reidentifications(d1.manifest))
    assert [e["event"] for e in added] == ["aterfidentifiering", "leverans"]
    d2 = deliver(tmp_path / "outbox", officer)  # same content, new sealed bytes
    assert record_delivery(audit, "2025-09-01", d2.manifest, reidentifications(d2.manifest)) == []
    d3 = deliver(tmp_path / "outbox", officer, name="Annan")  # other person, same count
    again = record_delivery(audit, "2025-09-01", d3.manifest, reidentifications(d3.manifest))
    assert [e["event"] for e in again] == ["aterfidentifiering", "leverans"]
    assert len(audit.entries()) == 4
    assert audit.verify() == []
    text = audit.path.read_text()
    assert PNR not in text and NAME not in text and "Annan" not in text
    details = json.loads(text.splitlines()[0])["details"]
    assert details == {"as_of": "2025-09-01", "list": "skolplikt", "role": SPEC.role,
                       "count": 1, "policy_version": POLICY.version}


def test_death_between_publish_steps_keeps_old_delivery(tmp_path, officer, monkeypatch):
    deliver(tmp_path, officer, name="Första")
    target = os.readlink(tmp_path / "2025-09-01")

    def killed(*_args, **_kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr("skyddsnat.delivery.outbox.os.replace", killed)
        with pytest.raises(KeyboardInterrupt):
            deliver(tmp_path, officer, name="Andra")
    assert os.readlink(tmp_path / "2025-09-01") == target
    assert (tmp_path / "2025-09-01" / MANIFEST).exists()
    deliver(tmp_path, officer, name="Tredje")  # the next run clears the orphan
    assert len(list((tmp_path / DELIVERIES).glob("2025-09-01-*"))) == 1


def test_person_lists_leave_the_outbox_after_their_kind_s_retention(tmp_path, officer):
    """gallring.listor_dagar per kind (skolplikt 14, forseglade 14): a list dated exactly
    14 days back is kept, one day older is purged; the delivery and its manifest stay,
    the manifest names what was purged; the purge is audited once."""
    from skyddsnat.delivery.outbox import list_kind, purge_outbox

    assert list_kind("rektor/franvaro_12345678.xlsx") == "franvaro"
    assert list_kind("namnd/atgardsprogram_kommun.xlsx") is None
    assert list_kind("restricted/skolplikt.sealed") == "forseglade"
    g = POLICY.gallring
    days = g.list_days("skolplikt")
    assert days == g.list_days("forseglade") == 14 < g.utkorg_dagar
    as_of = pd.Timestamp("2025-09-15")
    kept_day = (as_of - pd.Timedelta(days=days)).date().isoformat()
    old_day = (as_of - pd.Timedelta(days=days + 1)).date().isoformat()
    for day in (old_day, kept_day):
        deliver(tmp_path, officer, as_of=day)
    (tmp_path / old_day / "namnd").mkdir()
    (tmp_path / old_day / "namnd" / "kommunbild.html").write_text("x")
    audit = AuditLog(tmp_path / "audit")
    done = purge_outbox(tmp_path, as_of, g, audit)
    assert done["listor"] == {old_day: 2} and done["leveranser"] == []
    old = tmp_path / old_day
    assert not (old / "skolpliktshandlaggare").exists()
    assert not (old / "restricted").exists()
    assert (old / "namnd" / "kommunbild.html").exists()
    manifest = read_manifest(tmp_path, old_day)
    assert {f["path"] for f in manifest["gallrade"]} == {
        "skolpliktshandlaggare/skolplikt.xlsx", "restricted/skolplikt.sealed"}
    assert all(not f["path"].startswith(("skolplikt", "restricted")) for f in manifest["files"])
    assert (tmp_path / kept_day / "skolpliktshandlaggare" / "skolplikt.xlsx").exists()
    [entry] = audit.entries()
    assert entry["event"] == "utkorg_gallring" and entry["details"]["listor"] == {old_day: 2}
    assert purge_outbox(tmp_path, as_of, g, audit)["listor"] == {}
    assert len(audit.entries()) == 1
    # A longer retention for the kind keeps it: the policy decides.
    longer = g.model_copy(update={"listor_dagar": {**g.listor_dagar, "skolplikt": days + 1,
                                                   "forseglade": days + 1}})
    deliver(tmp_path, officer, as_of=old_day)
    assert purge_outbox(tmp_path, as_of, longer, audit)["listor"] == {}
    assert purge_outbox(tmp_path, as_of, g, audit)["listor"] == {old_day: 2}


def test_whole_deliveries_past_utkorg_dagar_are_purged_and_audited(tmp_path, officer):
    from skyddsnat.delivery.outbox import purge_outbox

    deliver(tmp_path, officer, as_of="2024-08-31")
    audit = AuditLog(tmp_path / "audit")
    done = purge_outbox(tmp_path, "2025-09-01", POLICY.gallring, audit)
    assert done["leveranser"] == ["2024-08-31"]
    assert audit.entries()[0]["details"]["leveranser"] == ["2024-08-31"]
