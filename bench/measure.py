"""Run one nightly job as a child process and measure it: wall, CPU, peak RSS, per-step times.

The job runs as `python -m skyddsnat.cli run ...` in its own process so its peak RSS is its
own (`os.wait4` returns the rusage of exactly that child), with a fresh DAGSTER_HOME whose
SQLite event log is read afterwards for per-step STEP_START → STEP_SUCCESS times.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
DAGSTER_YAML = "telemetry:\n  enabled: false\n"


@dataclass
class RunMeasure:
    label: str
    as_of: str
    returncode: int
    wall_s: float  # the whole child process, interpreter start to exit
    user_s: float
    sys_s: float
    peak_rss_mib: float  # ru_maxrss of the child (kernel high-water mark)
    sampled_rss_mib: float  # psutil sampling of the process tree every 0.1 s (a cross-check)
    run_s: float = 0.0  # Dagster RUN_START → RUN_SUCCESS
    steps: dict[str, float] = field(default_factory=dict)  # step key → seconds
    rows_read: dict[str, int] = field(default_factory=dict)  # source asset → rows read
    step_rss_mib: dict[str, float] = field(default_factory=dict)  # step → sampled tree peak
    stderr_tail: str = ""
    # Epoch times: process start and exit, Dagster RUN_START, first STEP_START, last step end
    # (the fixed costs around the steps: interpreter, imports, run set-up, tear-down).
    started_at: float = 0.0
    ended_at: float = 0.0
    run_start_at: float = 0.0
    first_step_at: float = 0.0
    last_step_at: float = 0.0
    rss_samples: list[tuple[float, float]] = field(default_factory=list, repr=False)

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def total_rows(self) -> int:
        return sum(self.rows_read.values())

    @property
    def rows_per_s(self) -> float:
        return self.total_rows / self.wall_s if self.wall_s else 0.0


def fresh_dagster_home(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")
    return path


def _sample_rss(pid: int, stop: threading.Event, peak: list[int],
                samples: list[tuple[float, float]]) -> None:
    try:
        proc = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    while not stop.is_set():
        try:
            rss = proc.memory_info().rss + sum(
                c.memory_info().rss for c in proc.children(recursive=True))
            peak[0] = max(peak[0], rss)
            samples.append((time.time(), rss / 2**20))
        except psutil.Error:
            pass
        stop.wait(0.1)


def run_measured(label: str, cmd: list[str], env: dict[str, str], cwd: Path = ROOT,
                 samples: list[tuple[float, float]] | None = None,
                 started: list[float] | None = None
                 ) -> tuple[int, float, float, float, float, float, str]:
    """Start cmd, sample its RSS (into `samples`: epoch time, MiB of the process tree), and
    reap it with wait4 for its own rusage. `started[0]` gets the epoch time of the start."""
    started = [0.0] if started is None else started
    samples = [] if samples is None else samples
    started[0] = time.time()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=_sample_rss, args=(proc.pid, stop, peak, samples),
                               daemon=True)
    sampler.start()
    # Drain the pipes in threads so a chatty child never blocks; reap with wait4 ourselves.
    out: dict[str, str] = {}

    def drain(name, stream):
        out[name] = stream.read()

    drains = [threading.Thread(target=drain, args=(n, s), daemon=True)
              for n, s in (("stdout", proc.stdout), ("stderr", proc.stderr))]
    for t in drains:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    sampler.join()
    for t in drains:
        t.join()
    tail = "\n".join((out.get("stderr", "") + out.get("stdout", "")).splitlines()[-15:])
    return (proc.returncode, wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss / 1024,
            peak[0] / 2**20, tail)


def nightly(label: str, data_dir: Path, key_dir: Path, as_of: date, dagster_home: Path,
            kommunkod: str = "", code: Path = ROOT, python: str = sys.executable
            ) -> RunMeasure:
    """One `skyddsnat run` of the checkout `code` (with its `python`) in a child process,
    measured, with its Dagster event log read. The instance in `dagster_home` is kept (made
    if missing), so a night sees the runs before it, as in production."""
    env = {**os.environ, "DAGSTER_HOME": str(fresh_dagster_home(dagster_home.resolve())),
           "GX_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(code)}
    cmd = [python, "-m", "skyddsnat.cli", "run", "--data-dir", str(data_dir.resolve()),
           "--key-dir", str(key_dir.resolve()), "--as-of", as_of.isoformat()]
    if kommunkod:
        cmd += ["--kommunkod", kommunkod]
    samples: list[tuple[float, float]] = []
    started = [0.0]
    rc, wall, user, sys_, rss, sampled, tail = run_measured(label, cmd, env, cwd=code,
                                                            samples=samples, started=started)
    m = RunMeasure(label, as_of.isoformat(), rc, wall, user, sys_, rss, sampled,
                   stderr_tail=tail, rss_samples=samples, started_at=started[0],
                   ended_at=started[0] + wall)
    read_event_log(dagster_home, m)
    return m


def read_event_log(dagster_home: Path, m: RunMeasure) -> None:
    """Per-step wall times and rows read per source, from the newest run in the instance."""
    from dagster import DagsterEventType, DagsterInstance

    os.environ["DAGSTER_HOME"] = str(dagster_home.resolve())
    with DagsterInstance.get() as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return
        records = instance.all_logs(runs[0].run_id)
    started: dict[str, float] = {}
    run_start = run_end = None
    for rec in records:
        ev = rec.dagster_event
        if ev is None:
            continue
        kind = ev.event_type
        if kind == DagsterEventType.RUN_START:
            run_start = rec.timestamp
        elif kind in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            run_end = rec.timestamp
        elif kind == DagsterEventType.STEP_START:
            started[ev.step_key] = rec.timestamp
            m.first_step_at = m.first_step_at or rec.timestamp
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            if ev.step_key in started:
                m.steps[ev.step_key] = rec.timestamp - started[ev.step_key]
                m.last_step_at = max(m.last_step_at, rec.timestamp)
                during = [r for t, r in m.rss_samples
                          if started[ev.step_key] <= t <= rec.timestamp]
                if during:
                    m.step_rss_mib[ev.step_key] = max(during)
        elif kind == DagsterEventType.ASSET_MATERIALIZATION:
            mat = ev.event_specific_data.materialization
            rows = mat.metadata.get("rader_lasta")
            if rows is not None:
                m.rows_read[mat.asset_key.to_user_string()] = int(rows.value)
    if run_start and run_end:
        m.run_s = run_end - run_start
    m.run_start_at = run_start or 0.0
