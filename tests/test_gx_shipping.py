"""GX's tables go to the run's warm helper only while that saves GX's import here: the first
few of a run; a backfill's many days are validated here (one import, no table shipped)."""

import sys

from skyddsnat.ingest import validation


def test_the_first_tables_go_to_the_warm_helper_then_gx_is_imported_here(monkeypatch):
    monkeypatch.delitem(sys.modules, "schemas.gx_suites", raising=False)
    monkeypatch.setattr(validation, "_SHIPPED", {"tables": 0})
    where = []
    monkeypatch.setattr(validation, "on_warm", lambda fn, args: where.append("helper"))

    def here(*_):
        where.append("here")
        sys.modules["schemas.gx_suites"] = sys  # what importing GX here leaves behind

    monkeypatch.setattr(validation, "_gx", here)
    for _ in range(validation.SHIP_AT_MOST + 3):
        validation.gx_validate(None, "narvaro", None)
    assert where == ["helper"] * validation.SHIP_AT_MOST + ["here"] * 3
