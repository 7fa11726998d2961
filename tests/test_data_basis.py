"""Every list says what it rests on, every sealed file opens, and the board shows no month of
a single day as if it were a whole one.

A night on 1 December (one school day of December in the data) without any period file
(no invoices, incomes or grades): every sealed list of the delivery opens with the officer's
key, the board leaves December out in its workbook and its page alike and says so, and a
policy that asks for fewer school days shows it.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import openpyxl
import pytest
import yaml
from dagster import DagsterInstance

from pipelines.runner import run_nightly
from skyddsnat.generate import TINY, generate
from skyddsnat.lists.restricted import unseal_file
from skyddsnat.policy import DEFAULT_POLICY_DIR
from skyddsnat.privacy.keys import init_keys, load_officer_private

pytestmark = pytest.mark.slow

AS_OF = date(2026, 12, 1)  # a Tuesday: December holds one school day


def _policy(target: Path, minimum: int) -> Path:
    shutil.copytree(DEFAULT_POLICY_DIR, target)
    path = target / "franvaro.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["kommunbild_minsta_skoldagar"] = minimum
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def december(tmp_path_factory):
    base = tmp_path_factory.mktemp("underlag")
    data = base / "data"
    generate(TINY, data, AS_OF, seed=9)
    for pattern in ("avgifter_*.csv", "inkomster_*.csv", "betyg_*.csv"):
        for p in (data / "inbox").glob(pattern):
            p.unlink()
    init_keys(base / "keys", base / "officer.key")
    mutated = base / "data_min1"
    shutil.copytree(data, mutated)
    outcome = run_nightly(data, base / "keys", AS_OF, instance=DagsterInstance.ephemeral())
    assert outcome.success, outcome.failures
    outcome = run_nightly(mutated, base / "keys", AS_OF, instance=DagsterInstance.ephemeral(),
                          policy_dir=_policy(base / "p", 1))
    assert outcome.success, outcome.failures
    return base, data, mutated


def _delivery(data: Path) -> Path:
    return (data / "outbox" / AS_OF.isoformat()).resolve()


def _summary(path: Path) -> dict:
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return {r[0]: r[1] for r in wb["Sammanfattning"].iter_rows(values_only=True)
                if r and r[0] is not None}
    finally:
        wb.close()


def _months(path: Path) -> set[str]:
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        rows = list(wb["Lista"].iter_rows(values_only=True))
    finally:
        wb.close()
    at = next(n for n, r in enumerate(rows) if "manad" in r)  # the contract's names row
    i = rows[at].index("manad")
    return {r[i] for r in rows[at + 1:]}


def test_a_night_without_period_files_seals_every_kind_and_each_opens(december, tmp_path):
    base, data, _ = december
    sealed = sorted(_delivery(data).glob("restricted/*.sealed"))
    assert {p.stem for p in sealed} >= {"skolplikt", "franvaro", "atgardsprogram",
                                        "inkomstkontroll"}
    key = load_officer_private(base / "officer.key")
    for p in sealed:
        opened = unseal_file(p, key, tmp_path / p.stem)
        assert opened, p.name
        for x in opened:
            openpyxl.load_workbook(x, read_only=True).close()
    assert not list(_delivery(data).glob("avgiftshandlaggare/inkomstkontroll_*.xlsx"))


def test_a_month_of_one_school_day_is_left_out_of_the_board_and_said_so(december):
    _, data, mutated = december
    board = _delivery(data) / "namnd" / "kommunbild.xlsx"
    assert "2026-12" not in _months(board) and "2026-11" in _months(board)
    note = _summary(board)["Ofullständiga månader"]
    assert "2026-12 (t.o.m. 1 dec, 1 skoldag)" in note
    page = (_delivery(data) / "namnd" / "kommunbild.html").read_text(encoding="utf-8")
    assert "t.o.m. 1 dec, 1 skoldag" in page
    # kommunbild_minsta_skoldagar: 1 shows December as any other month
    board = _delivery(mutated) / "namnd" / "kommunbild.xlsx"
    assert "2026-12" in _months(board)
    assert "Ofullständiga månader" not in _summary(board)


def test_the_absence_summaries_state_their_data_basis(december):
    _, data, _ = december
    for path in sorted((_delivery(data) / "rektor").glob("franvaro_*.xlsx")):
        s = _summary(path)
        assert s["Närvarodata t.o.m."] == "2026-12-01"
        assert s["Terminen hittills"].endswith("– 2026-12-01")
        assert s["Senaste 4 veckorna"] == "2026-11-03 – 2026-12-01"
        assert s["Folkbokföring per"] == s["Elevregister per"] == "2026-12-01"
    for path in sorted((_delivery(data) / "rektor").glob("atgardsprogram_*.xlsx")):
        assert _summary(path)["Betygstermin"] == "inga betyg"  # no grade file tonight
