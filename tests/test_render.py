"""The delivery's helper process: same bytes as rendering here, no value in its errors, and a
helper that dies or cannot start leaves its work to the delivery."""

from __future__ import annotations

import os
import sys
from datetime import date, datetime

import pandas as pd
import pytest

from skyddsnat.lists.catalog import list_spec
from skyddsnat.lists.excel import build_summary, check_list
from skyddsnat.lists.render import (
    WORKERS_ENV,
    Renderer,
    RenderFailed,
    board_bytes,
    helpers,
    list_bytes,
)
from skyddsnat.policy import load_policy

POLICY = load_policy()
SECRET = "Hemlig Hemligsson 19800101-1234"


def _list_job(n: int):
    spec = list_spec("atgardsprogram", f"{n:08d}")
    rows = pd.DataFrame({
        "arende_id": [f"A{n}{i}" for i in range(n)],
        "personnummer": [f"2012010{i}-123{i}" for i in range(n)],
        "fornamn": ["Alva", "Bo", "Cilla", "Dan"][:n], "efternamn": ["Ek"] * n,
        "arskurs": pd.array([7] * n, dtype="Int64"), "antal_f": pd.array([2] * n, "Int64"),
        "amnen_f": ["EN, MA"] * n, "antal_streck": pd.array([0] * n, "Int64"),
        "amnen_streck": [""] * n, "streck_och_franvaro": [False] * n,
        "skal": ["f_utan_atgardsprogram"] * n, "status": ["ny"] * n})
    summary = build_summary(spec, POLICY, "2025-09-01", rows,
                            created=datetime(2025, 9, 1, 2, 0))
    return spec, rows, summary, check_list(spec, rows, summary, {})


def _in_helper() -> bool:
    main = sys.modules["__main__"]
    return getattr(getattr(main, "__spec__", None), "name", "") == "skyddsnat.parallel"


def explode(text: str) -> None:
    raise ValueError(text)


def die_in_helper() -> str:
    if _in_helper():
        os._exit(3)
    return "here"


def test_helper_renders_the_same_bytes_as_the_delivery_itself():
    jobs = [_list_job(n) for n in (1, 2, 3, 4)]
    inline = [list_bytes(*job) for job in jobs]
    got: dict[int, tuple[bytes, str]] = {}
    with Renderer(1) as render:
        assert render.wait_for_helper()
        for i, job in enumerate(jobs):
            render.submit(list_bytes, job, lambda r, i=i: got.__setitem__(i, r), helper=True)
        render.finish()
    assert [got[i] for i in range(len(jobs))] == inline


def test_board_job_draws_its_page_in_the_helper():
    table = pd.DataFrame({"skolenhet": ["A"], "arskurs": ["7"], "manad": ["2025-09"],
                          "antal_elever": ["40"], "antal_10": [".."]})
    summary = {"Referensdatum": date(2025, 9, 30), "Policyversion": POLICY.version}
    got = []
    with Renderer(1) as render:
        assert render.wait_for_helper()
        render.submit(board_bytes, ("Tavla", table, summary, {}, None), got.append,
                      helper=True)
        render.finish()
    assert got == [board_bytes("Tavla", table, summary, {}, None)]


def test_an_error_in_the_helper_names_no_value():
    with Renderer(1) as render:
        assert render.wait_for_helper()
        render.submit(explode, (SECRET,), lambda r: None, helper=True)
        with pytest.raises(RenderFailed) as err:
            render.finish()
    assert "ValueError" in str(err.value)
    text = "".join(str(e) for e in (err.value, err.value.__cause__, err.value.__context__))
    assert "Hemlig" not in text and "19800101" not in text


def test_a_helper_that_dies_leaves_its_jobs_to_the_delivery():
    got = []
    with Renderer(1) as render:
        assert render.wait_for_helper()
        for _ in range(3):
            render.submit(die_in_helper, (), got.append, helper=True)
        render.finish()
    assert got == ["here"] * 3


def test_a_helper_that_cannot_start_leaves_everything_to_the_delivery(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    got = []
    with Renderer(1) as render:
        assert not render.wait_for_helper()
        render.submit(list_bytes, _list_job(2), got.append, helper=True)
        render.finish()
    assert got == [list_bytes(*_list_job(2))]


def test_helper_only_for_many_workbooks_unless_configured(monkeypatch):
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert helpers(10) == 0 and helpers(450) == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert helpers(450) == 0
    monkeypatch.setenv(WORKERS_ENV, "2")  # working processes, the delivery's included
    assert helpers(2) == 1
    monkeypatch.setenv(WORKERS_ENV, "1")
    assert helpers(450) == 0
