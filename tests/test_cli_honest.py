"""A command line that never falsely reassures: wrong paths fail with one Swedish line.

Run as a subprocess, as a user runs it: exit code, stderr and what the command created.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from skyddsnat.privacy.keys import init_keys

REPO = Path(__file__).resolve().parent.parent


def _cli(*args: str, home: Path | None = None, tmp: Path | None = None
         ) -> subprocess.CompletedProcess:
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(REPO)}
    if home is not None:
        env["DAGSTER_HOME"] = str(home)
    else:
        env.pop("DAGSTER_HOME", None)
    return subprocess.run([sys.executable, "-m", "skyddsnat.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, cwd=tmp or REPO)


def _one_swedish_line(r: subprocess.CompletedProcess, *parts: str) -> None:
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("FEL: "), r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    for part in parts:
        assert part in lines[0], lines[0]


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    base = tmp_path_factory.mktemp("nycklar")
    init_keys(base / "k", base / "officer.key")
    init_keys(base / "k2", base / "other.key")
    return base


def test_audit_verify_on_a_missing_or_empty_data_dir_fails_and_creates_nothing(tmp_path):
    missing = tmp_path / "finns_inte"
    _one_swedish_line(_cli("audit", "verify", "--data-dir", str(missing)), "finns inte")
    assert not missing.exists()
    empty = tmp_path / "tom"
    empty.mkdir()
    _one_swedish_line(_cli("audit", "verify", "--data-dir", str(empty)), "tom")
    assert _tree(empty) == []


def test_run_refuses_a_missing_data_dir_or_one_without_inbox(tmp_path, keys):
    missing = tmp_path / "finns_inte"
    r = _cli("run", "--data-dir", str(missing), "--key-dir", str(keys / "k"),
             "--as-of", "2026-11-20")
    _one_swedish_line(r, "finns inte")
    assert not missing.exists()
    bare = tmp_path / "utan_inkorg"
    bare.mkdir()
    r = _cli("run", "--data-dir", str(bare), "--key-dir", str(keys / "k"),
             "--as-of", "2026-11-20")
    _one_swedish_line(r, "inbox/")
    assert _tree(bare) == []


def test_unseal_with_a_wrong_path_or_key_gives_one_line(tmp_path, keys):
    from datetime import date

    import pandas as pd

    from skyddsnat.lists.catalog import list_spec
    from skyddsnat.lists.reidentify import officer_fields
    from skyddsnat.lists.restricted import write_sealed_list
    from skyddsnat.policy import load_policy
    from skyddsnat.privacy.keys import load_keys

    sealed = write_sealed_list(tmp_path / "skolplikt.sealed", list_spec("skolplikt"),
                               pd.DataFrame(), pd.DataFrame({"person_id": [], "sealed": []}),
                               load_keys(keys / "k").officer_public, date(2026, 11, 20),
                               "v1", officer_fields(load_policy()))
    out = tmp_path / "ut"
    _one_swedish_line(_cli("unseal", str(tmp_path / "nej.sealed"), "--key",
                           str(keys / "officer.key"), "--out", str(out)), "finns inte")
    _one_swedish_line(_cli("unseal", str(sealed), "--key", str(tmp_path / "nej.key"),
                           "--out", str(out)), "nyckelfilen")
    _one_swedish_line(_cli("unseal", str(sealed), "--key", str(keys / "other.key"),
                           "--out", str(out)), "kan inte öppnas")
    assert not out.exists()
    ok = _cli("unseal", str(sealed), "--key", str(keys / "officer.key"), "--out", str(out))
    assert ok.returncode == 0, ok.stderr


def test_a_dagster_home_that_does_not_exist_gives_one_line(tmp_path):
    r = _cli("policy", "check", home=tmp_path / "saknas")
    _one_swedish_line(r, "DAGSTER_HOME")
    assert not (tmp_path / "saknas").exists()


def test_an_unexpected_error_is_one_line_and_debug_shows_the_trace(tmp_path):
    from skyddsnat.privacy.audit import LOG_NAME

    data = tmp_path / "data"
    (data / "audit" / LOG_NAME).mkdir(parents=True)  # a folder where the log file should be
    (data / "audit" / LOG_NAME / "x").write_text("x", encoding="utf-8")
    _one_swedish_line(_cli("audit", "verify", "--data-dir", str(data)), "--debug")
    r = _cli("--debug", "audit", "verify", "--data-dir", str(data))
    assert r.returncode != 0 and "Traceback" in r.stderr
