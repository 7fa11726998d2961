"""The hash-chained audit log: every edit, removal, insertion or reordering is reported."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from skyddsnat.cli import app
from skyddsnat.layout import DataDir
from skyddsnat.privacy.audit import HEAD_NAME, LOG_NAME, AuditLog

RUNNER = CliRunner()


@pytest.fixture
def data_dir(tmp_path):
    data = DataDir(tmp_path / "data").ensure()
    log = AuditLog(data.audit)
    for i in range(5):
        log.append("leverans", {"lista": f"lista{i}", "antal": i, "policy": "abc"}, key=f"k{i}")
    return data


def lines(data: DataDir) -> list[str]:
    return (data.audit / LOG_NAME).read_text(encoding="utf-8").splitlines()


def write(data: DataDir, new_lines: list[str]) -> None:
    (data.audit / LOG_NAME).write_text("\n".join(new_lines) + "\n", encoding="utf-8")


def verify_cli(data: DataDir):
    return RUNNER.invoke(app, ["audit", "verify", "--data-dir", str(data.root)])


def test_intact_chain_verifies(data_dir):
    log = AuditLog(data_dir.audit)
    assert log.verify() == []
    entries = log.entries()
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev"] == "0" * 64
    assert all(b["prev"] == a["hash"] for a, b in zip(entries, entries[1:], strict=False))
    result = verify_cli(data_dir)
    assert result.exit_code == 0, result.output
    assert "5 poster" in result.output


def test_empty_log_verifies(tmp_path):
    assert AuditLog(tmp_path / "none").verify() == []


def test_has_finds_idempotency_keys(data_dir):
    log = AuditLog(data_dir.audit)
    assert log.has("leverans", "k3")
    assert not log.has("leverans", "k9")
    assert not log.has("aterid", "k3")


def _edit(ls):
    entry = json.loads(ls[2])
    entry["details"]["antal"] = 99
    ls[2] = json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return ls


def _edit_and_rehash(ls):
    """An attacker recomputes the edited line's own hash: the next line's link breaks."""
    from skyddsnat.privacy.audit import _digest

    entry = json.loads(ls[2])
    entry["details"]["antal"] = 99
    entry["hash"] = _digest(entry)
    ls[2] = json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return ls


def _insert(ls):
    entry = json.loads(ls[1])
    entry["details"]["lista"] = "smuggel"
    return ls[:2] + [json.dumps(entry, sort_keys=True, separators=(",", ":"))] + ls[2:]


TAMPERING = {
    "edited line": (_edit, "rad 3: innehållet är ändrat"),
    "edited line, own hash recomputed": (_edit_and_rehash, "rad 4: kedjan bruten"),
    "removed middle line": (lambda ls: ls[:2] + ls[3:], "rad 3: fel löpnummer"),
    "removed first line": (lambda ls: ls[1:], "rad 1: fel löpnummer"),
    "removed last line": (lambda ls: ls[:-1], "loggens slut stämmer inte med ankaret"),
    "swapped lines": (lambda ls: ls[:1] + [ls[2], ls[1]] + ls[3:], "rad 2: fel löpnummer"),
    "inserted line": (_insert, "rad 3: kedjan bruten"),
    "duplicated line": (lambda ls: ls[:3] + [ls[2]] + ls[3:], "rad 4: fel löpnummer"),
    "garbage line": (lambda ls: ls[:1] + ["{oops"] + ls[1:], "rad 2: inte giltig JSON"),
    "json that is no entry": (lambda ls: ls[:1] + ["[1, 2]"] + ls[1:], "rad 2"),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_tampering_is_reported(data_dir, kind):
    change, expected = TAMPERING[kind]
    write(data_dir, change(lines(data_dir)))
    problems = AuditLog(data_dir.audit).verify()
    assert any(expected in p for p in problems), problems
    result = verify_cli(data_dir)
    assert result.exit_code != 0
    assert "manipulerad" in result.output


def test_emptied_log_with_an_anchor_is_reported(data_dir):
    (data_dir.audit / LOG_NAME).write_text("", encoding="utf-8")
    assert AuditLog(data_dir.audit).verify()
    (data_dir.audit / LOG_NAME).unlink()
    assert AuditLog(data_dir.audit).verify()
    assert verify_cli(data_dir).exit_code != 0


def test_missing_or_corrupt_anchor_is_reported(data_dir):
    head = data_dir.audit / HEAD_NAME
    head.write_text("garbage\n")
    assert AuditLog(data_dir.audit).verify()
    head.unlink()
    assert AuditLog(data_dir.audit).verify() == ["ankaret saknas"]
    assert verify_cli(data_dir).exit_code != 0


def test_appending_after_verification_keeps_the_chain(data_dir):
    log = AuditLog(data_dir.audit)
    entry = log.append("aterid", {"lista": "skolplikt", "antal": 3}, key="x")
    assert entry["seq"] == 6
    assert log.verify() == []


def test_many_entries_appended_at_once_chain_like_one_at_a_time(data_dir):
    log = AuditLog(data_dir.audit)
    added = log.append_many([("leverans", {"as_of": "2025-09-02", "n": i}, f"m{i}")
                             for i in range(3)])
    assert [e["seq"] for e in added] == [6, 7, 8]
    assert log.verify() == []
    assert log.keys(containing="2025-09-02") == {("leverans", f"m{i}") for i in range(3)}
    assert log.has("leverans", "k1") and not log.keys(containing="2031-01-01")
