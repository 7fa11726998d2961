"""Policies bind: a key of policies/ changed in a copy changes what the run delivers.

Each test mutates keys in a temporary copy of policies/, runs the night through the CLI with
`--policy-dir` (as a municipality keeping its reviewed policy outside the code would) and
observes the intended effect on the delivery. Keys whose effect is a refusal are mutated
against `policy check`, which runs before any data is read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import openpyxl
import pytest
import yaml

from skyddsnat.generate import TINY, generate
from skyddsnat.policy import SHIPPED_POLICY_DIR, PolicyError, load_policy
from skyddsnat.privacy.keys import init_keys

pytestmark = pytest.mark.slow

AS_OF = date(2026, 11, 20)
PROFILE = replace(TINY, name="binding", inhabitants=500, children=180, own_school_units=2)


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "skyddsnat.cli", *args], env=env,
                          capture_output=True, text=True, timeout=600)


def policy_copy(root: Path, edit) -> Path:
    """policies/ copied to root/policies with `edit(name -> parsed yaml)` applied."""
    target = root / "policies"
    shutil.copytree(SHIPPED_POLICY_DIR, target)
    docs = {p.name: yaml.safe_load(p.read_text(encoding="utf-8"))
            for p in target.glob("*.yaml")}
    edit(docs)
    for name, doc in docs.items():
        (target / name).write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False),
                                   encoding="utf-8")
    return target


def night(root: Path, policy_dir: Path | None) -> Path:
    """One generated municipality and one night through the CLI; the delivery's folder."""
    data, keys, home = root / "data", root / "keys", root / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    generate(PROFILE, data, AS_OF, seed=11)
    init_keys(keys, root / "officer.key")
    env = {**os.environ, "DAGSTER_HOME": str(home), "GX_ANALYTICS_ENABLED": "False"}
    env.pop("SKYDDSNAT_POLICY_DIR", None)
    args = ["run", "--data-dir", str(data), "--key-dir", str(keys), "--as-of",
            AS_OF.isoformat()]
    if policy_dir is not None:
        args += ["--policy-dir", str(policy_dir)]
    r = _cli(*args, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return data / "outbox" / AS_OF.isoformat()


def header_row(path: Path) -> list[str]:
    """The contract column names of a list sheet (the row scripts read)."""
    rows = list(openpyxl.load_workbook(path, read_only=True)["Lista"].iter_rows(
        values_only=True, max_row=3))
    for row in rows:
        if "arende_id" in row:
            return [c for c in row if c is not None]
    raise AssertionError("no contract-name row in the list sheet")


def files(delivery: Path) -> set[str]:
    return {p.relative_to(delivery).as_posix() for p in delivery.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> Path:
    return night(tmp_path_factory.mktemp("shipped"), None)


@pytest.fixture(scope="module")
def mutated(tmp_path_factory) -> Path:
    """One night under a policy that narrows, moves and un-cuts lists (each key's effect is
    observed on its own list below)."""
    root = tmp_path_factory.mktemp("mutated")

    def edit(docs):
        lists = docs["mottagare.yaml"]["listor"]
        lists["franvaro"]["identitet"] = ["fornamn", "efternamn"]   # narrowed
        lists["atgardsprogram"]["mottagare"] = "skolpliktshandlaggare"  # moved
        lists["atgardsprogram"]["per_skolenhet"] = False   # one list
        lists["inkomstkontroll"]["per_ar"] = False         # one list for every year
        lists["kommunbild"]["mottagare"] = "rektor"         # the board table moved

    return night(root, policy_copy(root, edit))


def test_narrowed_identity_drops_the_column(shipped, mutated):
    before = header_row(next((shipped / "rektor").glob("franvaro_*.xlsx")))
    after = header_row(next((mutated / "rektor").glob("franvaro_*.xlsx")))
    assert "personnummer" in before
    assert "personnummer" not in after
    assert [c for c in before if c != "personnummer"] == after


def test_moved_list_lands_under_its_new_role(shipped, mutated):
    assert any(f.startswith("rektor/atgardsprogram_") for f in files(shipped))
    assert not any("atgardsprogram_" in f and f.startswith("rektor/") for f in files(mutated))
    assert "skolpliktshandlaggare/atgardsprogram.xlsx" in files(mutated)
    assert "rektor/kommunbild.xlsx" in files(mutated)
    assert "namnd/kommunbild.xlsx" not in files(mutated)


def test_per_skolenhet_false_gives_one_list_naming_each_school(shipped, mutated):
    per_school = [f for f in files(shipped) if f.startswith("rektor/atgardsprogram_")]
    assert len(per_school) >= 2
    assert "skolenhetskod" in header_row(mutated / "skolpliktshandlaggare"
                                         / "atgardsprogram.xlsx")


def test_per_ar_false_gives_one_income_list(shipped, mutated):
    assert any(f.startswith("avgiftshandlaggare/inkomstkontroll_") for f in files(shipped))
    income = [f for f in files(mutated) if f.startswith("avgiftshandlaggare/")]
    assert income == ["avgiftshandlaggare/inkomstkontroll.xlsx"]
    assert "inkomstar" in header_row(mutated / income[0])


def test_sealed_lists_keep_the_officers_fields_when_a_general_list_is_narrowed(mutated):
    assert "restricted/franvaro.sealed" in files(mutated)


# --- keys whose effect is a refusal before any run ----------------------------------------

def _check(root: Path, edit) -> list[tuple[str, str, str]]:
    try:
        load_policy(policy_copy(root, edit))
    except PolicyError as exc:
        return exc.problems
    return []


def test_widening_beyond_the_roles_ceiling_is_refused(tmp_path):
    def edit(docs):
        docs["mottagare.yaml"]["roller"]["rektor"]["identitet"] = ["fornamn", "efternamn"]

    problems = _check(tmp_path, edit)
    assert ("mottagare.yaml", "listor.franvaro.identitet") in {(f, k) for f, k, _ in problems}


def test_a_board_table_with_identities_is_refused(tmp_path):
    def edit(docs):
        docs["mottagare.yaml"]["listor"]["kommunbild"]["identitet"] = ["fornamn"]

    keys = {k for _, k, _ in _check(tmp_path, edit)}
    assert "listor.kommunbild.identitet" in keys


def test_a_cut_the_list_does_not_have_is_refused(tmp_path):
    def edit(docs):
        docs["mottagare.yaml"]["listor"]["skolplikt"]["per_skolenhet"] = True
        docs["mottagare.yaml"]["listor"]["franvaro"]["per_ar"] = True

    keys = {k for _, k, _ in _check(tmp_path, edit)}
    assert {"listor.skolplikt.per_skolenhet", "listor.franvaro.per_ar"} <= keys


def test_a_list_without_a_route_is_refused(tmp_path):
    def edit(docs):
        del docs["mottagare.yaml"]["listor"]["atgardsprogram"]

    assert "listor.atgardsprogram" in {k for _, k, _ in _check(tmp_path, edit)}


def test_a_general_list_to_the_sealed_role_is_refused(tmp_path):
    def edit(docs):
        docs["mottagare.yaml"]["listor"]["skolplikt"]["mottagare"] = "skyddsbehorig"

    assert "listor.skolplikt.mottagare" in {k for _, k, _ in _check(tmp_path, edit)}
