"""The helper processes: results in order whatever the jobs' durations, errors without values,
a dead helper's job done here, and the counts of helpers for a run's work."""

import os
import queue
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyddsnat import parallel
from skyddsnat.ingest.errors import SourceFileError
from skyddsnat.parallel import HelperFailed, helper_count, mapped


def slow_square(x: int, pause: float) -> tuple[int, int]:
    time.sleep(pause)
    return x * x, os.getpid()


def in_helper() -> bool:
    return os.environ.get("SKYDDSNAT_PARALLEL_HELPER") == "1"


def fails_with_value(secret: str) -> None:
    if not in_helper():  # here the job is slow, so the helper takes some
        time.sleep(0.3)
        return
    raise ValueError(f"värdet {secret}")


def fails_on_file(name: str) -> None:
    if not in_helper():
        time.sleep(0.3)
        return
    raise SourceFileError(name, "fel antal fält", line=7, column="personnummer")


def dies(x: int) -> int:
    if in_helper():
        os._exit(3)
    time.sleep(0.1)
    return x


@settings(max_examples=5, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.001, 0.02]), min_size=2, max_size=12))
def test_results_in_order_whatever_the_durations(pauses):
    jobs = [(i, p) for i, p in enumerate(pauses)]
    with mapped(slow_square, jobs, helpers=1) as done:
        got = list(done)
    assert [r for r, _ in got] == [i * i for i in range(len(pauses))]


def test_work_is_shared_with_a_helper():
    jobs = [(i, 0.25) for i in range(12)]  # slow enough for the helper to start
    with mapped(slow_square, jobs, helpers=1) as done:
        pids = {pid for _, pid in done}
    assert os.getpid() in pids and len(pids) == 2


def test_an_error_crosses_by_type_only_unless_it_names_no_value(monkeypatch):
    secret = "19121212-1212"
    monkeypatch.setenv("SKYDDSNAT_PARALLEL_HELPER", "1")  # inherited by the helper only
    with pytest.raises(HelperFailed) as err, mapped(
            fails_with_value, [(secret,)] * 12, helpers=1) as done:
        monkeypatch.delenv("SKYDDSNAT_PARALLEL_HELPER")
        list(done)
    assert "ValueError" in str(err.value) and secret not in str(err.value)
    assert err.value.__cause__ is None and err.value.__context__ is None
    monkeypatch.setenv("SKYDDSNAT_PARALLEL_HELPER", "1")
    with pytest.raises(SourceFileError) as err, mapped(
            fails_on_file, [("a.csv",)] * 12, helpers=1) as done:
        monkeypatch.delenv("SKYDDSNAT_PARALLEL_HELPER")
        list(done)
    assert (err.value.file, err.value.line, err.value.column) == ("a.csv", 7, "personnummer")


def test_a_dead_helpers_job_is_done_here(monkeypatch):
    monkeypatch.setenv("SKYDDSNAT_PARALLEL_HELPER", "1")  # inherited by the helper only
    jobs = [(i,) for i in range(8)]
    with mapped(dies, jobs, helpers=1) as done:
        monkeypatch.delenv("SKYDDSNAT_PARALLEL_HELPER")
        assert list(done) == list(range(8))


def test_helpers_only_for_enough_work_unless_configured(monkeypatch):
    env = "SKYDDSNAT_TEST_WORKERS"
    monkeypatch.delenv(env, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert helper_count(10, 10, env) == 0  # one process's worth: no helper
    assert helper_count(20, 10, env) == 1
    assert helper_count(450, 10, env, most=1) == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert helper_count(450, 10, env) == 3 and helper_count(30, 10, env) == 2
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert helper_count(450, 10, env) == 0
    monkeypatch.setenv(env, "1")  # processes that work, this one included: 1 = no helper
    assert helper_count(450, 10, env) == 0
    monkeypatch.setenv(env, "2")
    assert helper_count(3, 10, env) == 1  # an override is an override
    assert helper_count(1, 10, env) == 0  # but a single job has nobody to share with


def imported(name: str) -> tuple[bool, int]:
    import sys

    return name in sys.modules, os.getpid()


@pytest.fixture
def warm(monkeypatch):
    monkeypatch.delenv(parallel.WARM_ENV, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    yield parallel
    parallel.stop_warm()


def test_the_warm_helper_imports_first_then_runs_jobs_and_errors_cross_by_type(
        warm, monkeypatch):
    monkeypatch.setenv("SKYDDSNAT_PARALLEL_HELPER", "1")  # inherited by the helper only
    warm.warm_start(["colorsys"])
    monkeypatch.delenv("SKYDDSNAT_PARALLEL_HELPER")
    was_imported, pid = warm.on_warm(imported, ("colorsys",))
    assert was_imported and pid != os.getpid()  # imported before it was asked anything
    with pytest.raises(HelperFailed) as err:
        warm.on_warm(fails_with_value, ("19121212-1212",))
    assert "ValueError" in str(err.value) and "1212" not in str(err.value)
    assert warm.on_warm(imported, ("colorsys",))[1] == pid  # still the same helper


def test_without_a_warm_helper_or_when_it_dies_the_job_runs_here(warm, monkeypatch):
    assert warm.on_warm(imported, ("json",))[1] == os.getpid()  # none started
    monkeypatch.setenv("SKYDDSNAT_PARALLEL_HELPER", "1")
    warm.warm_start([])
    monkeypatch.delenv("SKYDDSNAT_PARALLEL_HELPER")
    assert warm.on_warm(dies, (5,)) == 5  # died there: done here
    assert warm.on_warm(imported, ("json",))[1] == os.getpid()
    monkeypatch.setenv(warm.WARM_ENV, "0")
    warm.warm_start([])
    assert warm.claim_warm(queue.Queue()) is None


def test_a_claimed_warm_helper_takes_the_renderers_work(warm):
    warm.warm_start([])
    inbox: queue.Queue = queue.Queue()
    helper = warm.claim_warm(inbox)
    try:
        assert helper is not None and warm.claim_warm(queue.Queue()) is None
        while not helper.ready:  # its "ready" came to the new inbox
            assert parallel.receive(inbox, [helper], block=True)[1] == "ready"
        assert helper.send((imported, ("json",)))
        _, kind, (_, pid) = parallel.receive(inbox, [helper], block=True)
        assert kind == "ok" and pid == helper.proc.pid
        assert warm.on_warm(imported, ("json",))[1] == os.getpid()  # no longer warm's
    finally:
        helper.stop()


def test_mapped_borrows_the_warm_helper_and_gives_it_back_unless_a_job_failed(warm,
                                                                              monkeypatch):
    monkeypatch.setenv("SKYDDSNAT_PARALLEL_HELPER", "1")
    warm.warm_start([])
    monkeypatch.delenv("SKYDDSNAT_PARALLEL_HELPER")
    warm_pid = warm.on_warm(imported, ("json",))[1]
    assert warm_pid != os.getpid()
    with mapped(slow_square, [(i, 0.1) for i in range(8)], helpers=1) as done:
        pids = {pid for _, pid in done}
    assert pids == {os.getpid(), warm_pid}  # no other helper started
    assert warm.on_warm(imported, ("json",))[1] == warm_pid  # the warm one again
    with pytest.raises(HelperFailed), mapped(fails_with_value, [("x",)] * 4, 1) as done:
        list(done)
    assert warm.on_warm(imported, ("json",))[1] == os.getpid()  # stopped, not given back


def paced(_: int) -> int:
    """Slow here, quick in the helper: how much the helper does shows whether it waited for
    this process to hand it each next job."""
    time.sleep(0.01 if in_helper() else 0.15)
    return os.getpid()


def test_a_helper_holds_its_next_job_while_this_process_works_on_one(warm, monkeypatch):
    """With one job at a time a helper got its next only when this process looked up from
    its own job, so a quick helper did one job per job of ours; holding the next it does
    DEPTH, however quick it is."""
    monkeypatch.setenv("SKYDDSNAT_PARALLEL_HELPER", "1")
    warm.warm_start([])
    warm_pid = warm.on_warm(imported, ("json",))[1]  # up and ready before the jobs
    monkeypatch.delenv("SKYDDSNAT_PARALLEL_HELPER")
    with mapped(paced, [(i,) for i in range(30)], helpers=1) as done:
        pids = list(done)
    assert pids.count(warm_pid) >= 1.5 * pids.count(os.getpid()), pids.count(warm_pid)
