"""Inbox cleanup, unit level: only archived exports of the night go; registered first;
audited once; a cleanup killed half-way is finished as the same entry."""

from __future__ import annotations

from datetime import date

import pytest

from skyddsnat.ingest.inbox_cleanup import clean, processed_exports, removed
from skyddsnat.layout import DataDir
from skyddsnat.policy import load_policy
from skyddsnat.privacy.archive import archive_file
from skyddsnat.privacy.audit import AuditLog
from skyddsnat.privacy.keys import init_keys, load_keys

DAY = date(2026, 11, 20)
POLICY = load_policy()


def _setup(tmp_path):
    init_keys(tmp_path / "keys", tmp_path / "officer.pem")
    keys = load_keys(tmp_path / "keys")
    data = DataDir(tmp_path / "data").ensure()
    names = ["folkbokforing_20261120.csv", "avgifter_202610.csv", "narvaro_20261120.csv",
             "narvaro_20261123.csv", "elevregister_20261120.csv", "anteckningar.txt"]
    for n in names:
        (data.inbox / n).write_text(f"{n}\n", encoding="utf-8")
    for n in names[:4]:
        archive_file(keys.officer_public, data.archive, DAY, data.inbox / n)
    return data


def test_only_archived_exports_dated_up_to_the_night_go(tmp_path):
    data = _setup(tmp_path)
    (data.inbox / "avgifter_202610.csv").write_text("ändrad\n", encoding="utf-8")  # not archived
    found = sorted(p.name for _, _, p, _ in processed_exports(data, DAY, POLICY))
    assert found == ["folkbokforing_20261120.csv", "narvaro_20261120.csv"]  # 23rd: future
    audit = AuditLog(data.audit)
    assert clean(data, DAY, audit, POLICY) == found
    left = sorted(p.name for p in data.inbox.iterdir())
    assert left == ["anteckningar.txt", "avgifter_202610.csv", "elevregister_20261120.csv",
                    "narvaro_20261123.csv"]
    [entry] = audit.entries()
    assert entry["event"] == "inkorg_rensad" and entry["details"]["filer"] == found
    assert removed(data, "folkbokforing", DAY) == ["folkbokforing_20261120.csv"]
    assert removed(data, "folkbokforing", date(2026, 11, 19)) == []
    assert clean(data, DAY, audit, POLICY) == [] and len(audit.entries()) == 1


def test_a_cleanup_killed_half_way_is_finished_as_the_same_entry(tmp_path, monkeypatch):
    import skyddsnat.ingest.inbox_cleanup as cleanup

    data = _setup(tmp_path)
    audit = AuditLog(data.audit)
    real_unlink, calls = type(data.inbox).unlink, []

    def unlink_then_die(self, missing_ok=False):
        calls.append(self.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(type(data.inbox), "unlink", unlink_then_die)
    with pytest.raises(KeyboardInterrupt):
        cleanup.clean(data, DAY, audit, POLICY)
    monkeypatch.undo()
    assert not audit.entries()
    names = clean(data, DAY, audit, POLICY)
    [entry] = audit.entries()
    assert entry["details"]["filer"] == names == sorted(
        ["folkbokforing_20261120.csv", "avgifter_202610.csv", "narvaro_20261120.csv"])


@pytest.mark.parametrize("setting,kept", [("efter_lyckad_korning", False), ("aldrig", True)])
def test_the_policy_decides_whether_the_inbox_is_cleaned(tmp_path, setting, kept):
    """gallring.inkorg_rensas, through the asset that ends the night."""
    import shutil

    import yaml
    from dagster import build_asset_context

    from assets.delivery.assets import inkorg_rensning
    from pipelines.resources import Skyddsnat
    from skyddsnat.delivery.policy_explain import explain_markdown
    from skyddsnat.policy import DEFAULT_POLICY_DIR, load_policy

    data = _setup(tmp_path)
    pdir = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, pdir)
    doc = yaml.safe_load((pdir / "gallring.yaml").read_text(encoding="utf-8"))
    doc["inkorg_rensas"] = setting
    (pdir / "gallring.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True),
                                        encoding="utf-8")
    res = Skyddsnat(data_dir=str(data.root), key_dir=str(tmp_path / "keys"),
                    as_of=DAY.isoformat(), policy_dir=str(pdir))
    inkorg_rensning(build_asset_context(), skyddsnat=res)
    assert (data.inbox / "folkbokforing_20261120.csv").exists() == kept
    text = explain_markdown(load_policy(pdir))
    assert ("tas inte bort av Skyddsnät" in text) == kept
