"""bench/RESULTS.md: machine, date, data sizes, measures against the targets of issue 9."""

from __future__ import annotations

import os
import platform
from datetime import datetime
from pathlib import Path

import psutil

from bench.measure import RunMeasure

GIB = 1024
TARGETS = {"nightly": 60.0, "backfill": 300.0, "rss_mib": 4 * GIB, "ratio": 2.0}
BEGIN, END = "<!-- bench:auto:begin -->", "<!-- bench:auto:end -->"


def cpu_model(default: str = "?") -> str:
    """The processor's model name from /proc/cpuinfo, else `default`."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return default


def machine() -> dict[str, str]:
    return {"nproc": str(len(os.sched_getaffinity(0))), "cpu": cpu_model(),
            "minne": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
            "python": platform.python_version(), "os": platform.platform()}


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _run_rows(m: RunMeasure, target_s: float) -> list[str]:
    return [
        f"| {m.label} | wall (process) | {m.wall_s:.1f} s | ≤ {target_s:.0f} s | "
        f"{_met(m.returncode == 0 and m.wall_s <= target_s)} |",
        f"| {m.label} | Dagster run (RUN_START→RUN_SUCCESS) | {m.run_s:.1f} s | | |",
        f"| {m.label} | CPU user+sys | {m.cpu_s:.1f} s ({m.user_s:.1f} + {m.sys_s:.1f}) | | |",
        f"| {m.label} | peak RSS (ru_maxrss; sampled tree) | {m.peak_rss_mib:.0f} MiB; "
        f"{m.sampled_rss_mib:.0f} MiB | ≤ 4096 MiB | "
        f"{_met(m.peak_rss_mib <= TARGETS['rss_mib'])} |",
        f"| {m.label} | rows read / wall | {m.total_rows:,} rows, {m.rows_per_s:,.0f} rows/s | | |",
    ]


def render(profile: str, rows: dict[str, int], backfill: RunMeasure, nightly: RunMeasure,
           comparisons: list) -> str:
    mach = machine()
    out = [BEGIN, f"## Measured {datetime.now().strftime('%Y-%m-%d %H:%M')} — profile `{profile}`",
           "", "| machine | |", "|---|---|",
           *[f"| {k} | {v} |" for k, v in mach.items()], "",
           "### Data sizes (data rows per source, all inbox files)", "",
           "| source | rows |", "|---|---:|",
           *[f"| {k} | {v:,} |" for k, v in sorted(rows.items())],
           f"| **total** | {sum(rows.values()):,} |", "",
           "### End to end", "",
           f"(a) `backfill`: `skyddsnat run --as-of {backfill.as_of}` on an empty warehouse, every "
           f"attendance day of the school year missing. (b) `nightly`: `--as-of {nightly.as_of}`, "
           "one new attendance file and new snapshots. Each a child process "
           "(`python -m skyddsnat.cli run`), wall time from spawn to exit.", "",
           "| scenario | measure | value | target | |", "|---|---|---|---|---|",
           *_run_rows(backfill, TARGETS["backfill"]), *_run_rows(nightly, TARGETS["nightly"]),
           "", "### Per step (Dagster event log, STEP_START → STEP_SUCCESS)", "",
           "Peak RSS per step: the highest 0.1 s sample of the process tree (the run and any "
           "worker processes) while the step ran.", "",
           "| step | backfill s | backfill peak RSS MiB | nightly s | nightly peak RSS MiB |",
           "|---|---:|---:|---:|---:|"]

    def fmt(v, spec):
        return "" if v is None else format(v, spec)

    for step in sorted(set(backfill.steps) | set(nightly.steps),
                       key=lambda s: -backfill.steps.get(s, 0)):
        out.append(f"| {step} | {fmt(backfill.steps.get(step), '.2f')} | "
                   f"{fmt(backfill.step_rss_mib.get(step), '.0f')} | "
                   f"{fmt(nightly.steps.get(step), '.2f')} | "
                   f"{fmt(nightly.step_rss_mib.get(step), '.0f')} |")
    if comparisons:
        out += ["", "### Core computations against DuckDB", "",
                "`ours` = the pure function in skyddsnat/ on the pseudonymous warehouse tables "
                "already in memory (load not timed). `DuckDB` = the same logic in SQL on the "
                "same tables already loaded into DuckDB (load not timed), result materialised "
                "as a temp table; best of N. The results are compared row by row (`same`). "
                "`DuckDB CSV` = SQL straight over the inbox CSVs (parse + personnummer "
                "normalisation, no Luhn, no quarantine, no pseudonymisation, no encryption), "
                "set against `ours e2e` = the backfill's step times of the ingest assets the "
                "computation needs plus its computing asset (which do much more: validation, "
                "pandera/GX checks, HMAC, vault, archive, Parquet).", "",
                "| computation | rows in | ours s | DuckDB s (2 thr / 1 thr) | ours/DuckDB | "
                "target ≤ 2× | same | DuckDB CSV s | ours e2e s | note |",
                "|---|---:|---:|---:|---:|---|---|---:|---:|---|"]
        for c in comparisons:
            csv = "" if c.duck_csv_s is None else f"{c.duck_csv_s:.2f}"
            e2e = "" if c.ours_end_to_end_s is None else f"{c.ours_end_to_end_s:.2f}"
            out.append(f"| {c.name} | {c.rows_in:,} | {c.ours_s:.2f} | {c.duck_s:.2f} / "
                       f"{c.duck_1t_s:.2f} | {c.ratio:.1f}× | {_met(c.ratio <= TARGETS['ratio'])}"
                       f" | {'yes' if c.same_result else '**no**'} | {csv} | {e2e} | {c.note} |")
    out += ["", END]
    return "\n".join(out)


def write_results(path: Path, profile: str, rows, backfill, nightly, comparisons) -> None:
    """Replace the generated block of RESULTS.md, keeping the hand-written notes around it."""
    block = render(profile, rows, backfill, nightly, comparisons)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
