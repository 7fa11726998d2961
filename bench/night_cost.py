"""`python -m bench.night_cost`: what a night costs against a DuckDB full recompute, end to end,
in one invocation (issue 20).

For each profile (default ange, stockholm, stockholm2x; every export's personnummer in the
real-export mix, `profiles.realistic`), each part in a child process with its wall time and
the peak RSS of its process tree (sampled every 0.1 s, bench/measure.py):

  duck     the plain DuckDB script (bench/duck_e2e.py) over the inbox CSVs, from scratch
  backfill our whole-year backfill: `skyddsnat run --as-of D` on an empty warehouse
  check     DuckDB's results against the backfill's warehouse tables (untimed)
  night    the next school day: one new attendance file, every snapshot re-delivered byte
           for byte under the new date (the inbox holds only that night's delivery: the
           product cleaned the rest after the backfill)
  moves    the day after: the same, with one person in 200 given a new address
  fixed    (once) interpreter start, import of the heavy modules, Dagster run set-up
  lists    with --compare: every list delivered by the two nights against the earlier run's
           (bench/compare_lists.py, by content), when that run's work dirs are still there

and writes the ratios (night/DuckDB ≤ 1, backfill/DuckDB ≤ 4, peak RSS ours/DuckDB ≤ 1), a
scaling table, per-step tables and the fixed-cost line into a generated block of
bench/RESULTS.md (one block per --label, rewritten each time), plus JSON beside the data.

    python -m bench.night_cost [--profiles ange,stockholm,stockholm2x] [--label after]
        [--code DIR] [--data DIR] [--skip stockholm2x:moves,...] [--compare BEFORE.json]
        [--repeat N]   # DuckDB and the backfill N times each, in turn; the fastest of each

`--code DIR` measures another checkout (its own DIR/.venv) on the same data: the "before"
figures. DuckDB, the generator and the check always run from this checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path

from bench import measure, scenarios

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PARTS = ("duck", "backfill", "check", "night", "moves", "fixed", "lists")
HEAVY = ("pandas", "pandera", "dagster", "great_expectations", "pipelines.definitions")
BEFORE_JSON = HERE / "night_cost_before.json"  # the baseline's figures, kept in the repo
BEGIN, END = "<!-- night_cost:{label}:begin -->", "<!-- night_cost:{label}:end -->"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.night_cost",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", default="ange,stockholm,stockholm2x")
    ap.add_argument("--code", type=Path, default=ROOT,
                    help="the checkout to measure (with its own .venv); default this one")
    ap.add_argument("--data", type=Path,
                    default=Path(os.environ.get("SKYDDSNAT_BENCH_DATA", HERE / "data")),
                    help="generated inboxes and work dirs (env SKYDDSNAT_BENCH_DATA)")
    ap.add_argument("--as-of", default="2026-06-10", help="reference date of the backfill")
    ap.add_argument("--parts", default=",".join(PARTS), help="which parts, of " + ",".join(PARTS))
    ap.add_argument("--skip", default="", help="PROFILE:PART,... parts left out per profile")
    ap.add_argument("--repeat", type=int, default=1, help="measure DuckDB and the backfill "
                    "this many times each, in turn (DuckDB, backfill, DuckDB, …): this shared "
                    "VM's speed drifts within minutes, so each is reported as its fastest, "
                    "every wall kept in the JSON")
    ap.add_argument("--label", default="after", help="names the RESULTS.md block and JSON")
    ap.add_argument("--compare", type=Path, help="an earlier JSON for the before/after "
                    "tables (default: bench/night_cost_before.json unless --label before)")
    ap.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    ap.add_argument("--merge", action="store_true", help="keep the parts of the label's "
                    "earlier JSON that this invocation does not measure (re-measure one part)")
    args = ap.parse_args(argv)

    t_start = time.time()
    code = args.code.resolve()
    python = str(code / ".venv" / "bin" / "python")
    if not Path(python).exists():
        ap.error(f"{python} missing: run `make install` in {code}")
    data = args.data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    as_of = date.fromisoformat(args.as_of)
    parts = set(args.parts.split(","))
    skip = {tuple(x.split(":", 1)) for x in args.skip.split(",") if ":" in x}
    tag = f"{args.label}"
    out: dict = {"label": args.label, "code": str(code), "commit": _commit(code),
                 "started": _now(), "as_of": as_of.isoformat(), "machine": _machine(),
                 "profiles": {}}
    keys = scenarios.ensure_keys(data / "keys")
    earlier = data / f"night_cost_{args.label}.json"
    if args.merge and earlier.exists():
        old = json.loads(earlier.read_text())
        out["profiles"], out["fixed"] = old.get("profiles", {}), old.get("fixed")
        out["merged_into"] = old.get("started")

    for name in args.profiles.split(","):
        want = {p for p in parts if (name, p) not in skip}
        res = _profile(name, data, keys, as_of, code, python, want, tag, args.repeat)
        out["profiles"][name] = {**out["profiles"].get(name, {}), **res}
        _save(data, out)
    if "fixed" in parts:
        out["fixed"] = _fixed(code, python, out["profiles"])
    compare = args.compare
    if compare is None and args.label != "before" and BEFORE_JSON.exists():
        compare = BEFORE_JSON
    before = json.loads(compare.read_text()) if compare else None
    if before and "lists" in parts:
        out["lists"] = _compare_lists(before, out, data)
    out["finished"] = _now()
    out["total_s"] = round(time.time() - t_start, 1)
    _save(data, out)
    text = render(out, before)
    if not args.no_results:
        _write_block(args.results, args.label, text)
        _say(f"skrivet: {args.results} (block {args.label})")
    print(text)
    return 0 if _all_ok(out) else 1


# --- one profile ------------------------------------------------------------------------------

def _profile(name: str, data: Path, keys: Path, as_of: date, code: Path, python: str,
             parts: set[str], tag: str, repeat: int = 1) -> dict:
    from skyddsnat.generate.profiles import realistic, resolve

    prof = realistic(resolve(name))
    generated = data / name
    res: dict = {"kommunkod": prof.kommunkod}
    if not (generated / "generator_summary.json").exists():
        _say(f"{name}: genererar (en gång) i {generated}")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", _GENERATE, name, str(generated), as_of.isoformat()],
                       check=True, cwd=ROOT)
        res["generate_s"] = round(time.perf_counter() - t0, 1)
    gen_inbox = generated / "inbox"
    params = data / f"{name}_duck_params.json"
    _duck(["--write-params", str(params), "--kommunkod", prof.kommunkod], data, as_of, gen_inbox)
    rows = scenarios.source_rows(gen_inbox)
    res["source_rows"] = {k: rows.get(k, 0) for k in ("folkbokforing", "narvaro", "avgifter")}

    work = data / f"{name}_work_{tag}"
    home = data / f"{name}_dagster_{tag}"
    nights = data / f"{name}_nights"
    for turn in range(max(1, repeat)):
        # In turn, so that each pair ran in the same minutes of this VM's drifting speed.
        if "duck" in parts:
            _say(f"{name}: DuckDB end to end")
            _fastest(res, "duck", _duck_measured(data, as_of, [gen_inbox], params,
                                                 data / f"{name}_duck_{tag}.json"))
            _report(name, "duck", res["duck"])
        if "backfill" not in parts:
            continue
        scenarios.work_dir(generated, work)
        if home.exists():
            import shutil

            shutil.rmtree(home)
        _say(f"{name}: backfill {as_of}" + (f" ({turn + 1} av {repeat})" if repeat > 1 else ""))
        _fastest(res, "backfill", _run("backfill", work, keys, as_of, home, prof.kommunkod,
                                       code, python))
        _report(name, "backfill", res["backfill"])
    if "backfill" not in parts:
        return res
    if "check" in parts and res["backfill"]["returncode"] == 0:
        _say(f"{name}: likhetskontroll mot DuckDB")
        res["check"] = _check(work, data, as_of, [gen_inbox], params, keys, name, tag)
    nxt = scenarios.next_school_day(as_of)
    night_dir = nights / nxt.isoformat()
    scenarios.add_next_day(gen_inbox, as_of, nxt, moves=False, out=night_dir)
    if "night" in parts or "moves" in parts:
        _deliver(night_dir, work)
        _say(f"{name}: natt {nxt} (ny närvarodag, ögonblicksbilder oförändrade)")
        res["night"] = _run("night", work, keys, nxt, home, prof.kommunkod, code, python)
        _report(name, "night", res["night"])
    if "moves" in parts:
        nxt2 = scenarios.next_school_day(nxt)
        moves_dir = nights / f"{nxt2.isoformat()}_flytt"
        scenarios.add_next_day(night_dir, nxt, nxt2, moves=True, out=moves_dir)
        _deliver(moves_dir, work)
        _say(f"{name}: natt {nxt2} (en av 200 flyttar)")
        res["moves"] = _run("moves", work, keys, nxt2, home, prof.kommunkod, code, python)
        _report(name, "moves", res["moves"])
    return res


_GENERATE = """
import sys
from datetime import date
from pathlib import Path
from bench import scenarios
from skyddsnat.generate.profiles import realistic, resolve
scenarios.generate(realistic(resolve(sys.argv[1])), Path(sys.argv[2]),
                   date.fromisoformat(sys.argv[3]))
"""


def _fastest(res: dict, part: str, run: dict) -> None:
    """Keep the faster successful run of `part` (the last one leaves the work dir the nights
    go on from: each backfill starts from an empty warehouse); every wall in `walls_s`."""
    walls = [*res.get(part, {}).get("walls_s", []), run["wall_s"]]
    kept = res.get(part)
    if kept is None or (run["returncode"] == 0 and (kept.get("returncode", 1) != 0
                                                    or run["wall_s"] < kept["wall_s"])):
        kept = run
    res[part] = {**kept, "walls_s": walls}


def _deliver(night_dir: Path, work: Path) -> None:
    """The night's delivery linked into the inbox (which the last run cleaned)."""
    for f in sorted(night_dir.iterdir()):
        target = work / "inbox" / f.name
        if not target.exists():
            os.link(f, target)


def _run(label: str, work: Path, keys: Path, as_of: date, home: Path, kommunkod: str,
         code: Path, python: str) -> dict:
    m = measure.nightly(label, work, keys, as_of, home, kommunkod, code=code, python=python)
    d = {k: v for k, v in asdict(m).items() if k != "rss_samples"}
    d["cpu_s"] = m.cpu_s
    return d


def _duck(extra: list[str], data: Path, as_of: date, inbox: Path) -> None:
    subprocess.run([sys.executable, "-m", "bench.duck_e2e", str(data), "--as-of",
                    as_of.isoformat(), "--inbox", str(inbox), *extra],
                   check=True, cwd=ROOT, capture_output=True)


def _duck_measured(data: Path, as_of: date, inboxes: list[Path], params: Path,
                   out: Path) -> dict:
    cmd = [sys.executable, "-m", "bench.duck_e2e", str(data), "--as-of", as_of.isoformat(),
           "--params", str(params), "--out", str(out)]
    for i in inboxes:
        cmd += ["--inbox", str(i)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = [0.0]
    rc, wall, user, sys_, rss, sampled, tail = measure.run_measured(
        "duck", cmd, env, cwd=ROOT, started=started)
    res = {"returncode": rc, "wall_s": wall, "cpu_s": user + sys_, "peak_rss_mib": rss,
           "sampled_rss_mib": sampled, "stderr_tail": tail if rc else ""}
    if rc == 0:
        res["result"] = json.loads(out.read_text())
    return res


def _check(work: Path, data: Path, as_of: date, inboxes: list[Path], params: Path,
           keys: Path, name: str, tag: str) -> dict:
    out = data / f"{name}_check_{tag}.json"
    cmd = [sys.executable, "-m", "bench.duck_e2e", str(work), "--as-of", as_of.isoformat(),
           "--params", str(params), "--check", str(keys), "--out", str(out)]
    for i in inboxes:
        cmd += ["--inbox", str(i)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(out.read_text())["check"]


def _compare_lists(before: dict, out: dict, data: Path) -> dict:
    """Each day's delivery of this run against the earlier run's, list by list."""
    res: dict = {}
    for name in out["profiles"]:
        old = data / f"{name}_work_{before['label']}" / "outbox"
        new = data / f"{name}_work_{out['label']}" / "outbox"
        if not (old.is_dir() and new.is_dir()) or old == new:
            continue
        nights = {out["profiles"][name].get(p, {}).get("as_of") for p in ("night", "moves")}
        for day in sorted({d.name for d in old.iterdir()} & {d.name for d in new.iterdir()}
                          & nights):
            _say(f"{name}: listor {day} mot {before['label']}")
            t0 = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "bench.compare_lists", str(old / day),
                                   str(new / day)], cwd=ROOT, capture_output=True, text=True)
            lines = done.stdout.splitlines()
            res[f"{name} {day}"] = {"same": sum(ln.startswith("lika") for ln in lines),
                                    "differ": sum(not ln.startswith("lika") for ln in lines),
                                    "identical": done.returncode == 0,
                                    "seconds": round(time.perf_counter() - t0, 1)}
    return res


# --- fixed costs ------------------------------------------------------------------------------

def _fixed(code: Path, python: str, profiles: dict) -> dict:
    """Interpreter start, each heavy module's import alone in a fresh interpreter (its
    cumulative `-X importtime`, which includes what it imports), and the run set-up of the
    nights measured above (process start → RUN_START → first step; last step → exit)."""
    env = {**os.environ, "PYTHONPATH": str(code), "GX_ANALYTICS_ENABLED": "False"}
    starts = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True, env=env, cwd=code)
        starts.append(time.perf_counter() - t0)
    imports = {}
    for mod in HEAVY:
        done = subprocess.run([python, "-X", "importtime", "-c", f"import {mod}"], env=env,
                              cwd=code, capture_output=True, text=True)
        imports[mod] = _cumulative(done.stderr, mod)
    setup = {}
    for name, res in profiles.items():
        for part in ("night", "moves", "backfill"):
            r = res.get(part)
            if r and r.get("first_step_at") and r.get("started_at"):
                setup[f"{name}:{part}"] = {
                    "to_run_start_s": r["run_start_at"] - r["started_at"],
                    "to_first_step_s": r["first_step_at"] - r["started_at"],
                    "after_last_step_s": r["ended_at"] - r["last_step_at"],
                }
    return {"interpreter_s": min(starts), "imports_s": imports, "run_setup": setup}


def _cumulative(importtime: str, mod: str) -> float | None:
    """The cumulative µs of `mod`'s own line in -X importtime output, as seconds."""
    for line in importtime.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)\s*$", line)
        if m and m.group(2) == mod:
            return int(m.group(1)) / 1e6
    return None


# --- rendering --------------------------------------------------------------------------------

def _mib(x: float | None) -> str:
    return "–" if x is None else f"{x / 1024:.2f} GiB" if x >= 1024 else f"{x:.0f} MiB"


def _s(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f} s"


def _ratio(a: float | None, b: float | None, target: float) -> str:
    if not a or not b:
        return "–"
    r = a / b
    return f"{r:.2f}× ({'met' if r <= target else '**missed**'})"


def _get(res: dict, part: str, key: str) -> float | None:
    r = res.get(part)
    if not r or r.get("returncode", 1) != 0:
        return None
    return r.get(key)


def _peak(res: dict, part: str) -> float | None:
    return _get(res, part, "sampled_rss_mib")


def render(out: dict, before: dict | None = None) -> str:
    m = out["machine"]
    when = (f"Measured {out['started']} – {out['finished']} ({out.get('total_s', 0):.0f} s "
            "for the whole invocation)")
    if out.get("merged_into"):
        when = (f"Measured in more than one invocation (the first began {out['merged_into']}, "
                f"the last re-measured parts {out['started']} – {out['finished']})")
    lines = [f"{when} on {m['cpus']} cores, {m['mem_gib']:.0f} GiB "
             f"({m['cpu']}), shared with the other streams' work, so read the figures as "
             f"noisy. Code: `{out['code']}` at `{out['commit']}`; reference date "
             f"{out['as_of']}. Peak RSS is the process tree's, sampled every 0.1 s.", ""]
    lines += ["| profile | DuckDB e2e | backfill | night: new day, snapshots unchanged | "
              "night: 1 in 200 moves | night / DuckDB (≤ 1) | backfill / DuckDB (≤ 4) | "
              "peak RSS ours / DuckDB (≤ 1) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, res in out["profiles"].items():
        dw, dr = _get(res, "duck", "wall_s"), _peak(res, "duck")
        ours_rss = max([x for x in (_peak(res, "backfill"), _peak(res, "night")) if x] or [0])
        cells = [f"{_s(_get(res, p, 'wall_s'))} / {_mib(_peak(res, p))}"
                 for p in ("duck", "backfill", "night", "moves")]
        lines.append(f"| {name} | " + " | ".join(cells) + " | "
                     f"{_ratio(_get(res, 'night', 'wall_s'), dw, 1.0)} | "
                     f"{_ratio(_get(res, 'backfill', 'wall_s'), dw, 4.0)} | "
                     f"{_ratio(ours_rss or None, dr, 1.0)} |")
    repeated = [f"{name} {p} " + ", ".join(f"{w:.1f}" for w in res[p]["walls_s"]) + " s"
                for name, res in out["profiles"].items() for p in ("duck", "backfill")
                if len(res.get(p, {}).get("walls_s", [])) > 1]
    if repeated:
        lines += ["", "DuckDB and the backfill were measured in turn, each reported as its "
                  "fastest run (this VM's speed drifts within minutes); every run: "
                  + "; ".join(repeated) + "."]
    lines += ["", "Scaling (wall / peak RSS; inputs: persons in the folkbokföring, attendance "
              "rows over the year):", "",
              "| profile | persons | attendance rows | DuckDB | backfill | night | moves night |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for name, res in out["profiles"].items():
        rows = res.get("source_rows", {})
        cells = [f"{_s(_get(res, p, 'wall_s'))} / {_mib(_peak(res, p))}"
                 for p in ("duck", "backfill", "night", "moves")]
        lines.append(f"| {name} | {rows.get('folkbokforing', 0):,} | {rows.get('narvaro', 0):,} "
                     "| " + " | ".join(cells) + " |")
    lines += _growth(out["profiles"])
    lines += _steps_table(out)
    if before:
        lines += _before_after(before, out)
    lines += _fixed_lines(out.get("fixed"))
    lines += _check_lines(out)
    if out.get("lists"):
        lines += ["", f"Delivered lists against the `{before and before.get('label')}` run's, "
                  "by content (bench/compare_lists.py):", ""]
        lines += [f"- {k}: {v['same']} lists the same, {v['differ']} differing"
                  f"{'' if v['identical'] else ' (**not identical**)'}"
                  for k, v in out["lists"].items()]
    failed = [f"{n}:{p}" for n, res in out["profiles"].items()
              for p in ("duck", "backfill", "night", "moves")
              if res.get(p) and res[p].get("returncode", 0) != 0]
    if failed:
        lines += ["", "**Failed parts:** " + ", ".join(failed)]
    return "\n".join(lines)


def _growth(profiles: dict) -> list[str]:
    """Each profile against the one before it: how inputs, wall and peak RSS grow."""
    names = list(profiles)
    lines = []
    for a, b in zip(names, names[1:], strict=False):
        pa, pb = profiles[a], profiles[b]
        ra, rb = pa.get("source_rows", {}), pb.get("source_rows", {})

        def x(u, v):
            return f"×{v / u:.2f}" if u and v else "–"

        cells = [f"{x(_get(pa, p, 'wall_s'), _get(pb, p, 'wall_s'))} / "
                 f"{x(_peak(pa, p), _peak(pb, p))}" for p in ("duck", "backfill", "night", "moves")]
        lines.append(f"| *{b} ÷ {a}* | {x(ra.get('folkbokforing'), rb.get('folkbokforing'))} | "
                     f"{x(ra.get('narvaro'), rb.get('narvaro'))} | " + " | ".join(cells) + " |")
    return lines


def _steps_table(out: dict) -> list[str]:
    cols = [(n, p) for n, res in out["profiles"].items() for p in ("backfill", "night", "moves")
            if res.get(p) and res[p].get("steps")]
    if not cols:
        return []
    steps: dict[str, float] = {}
    for n, p in cols:
        for k, v in out["profiles"][n][p]["steps"].items():
            steps[k] = max(steps.get(k, 0.0), v)
    lines = ["", "Per step (seconds, Dagster STEP_START → STEP_SUCCESS; slowest first):", "",
             "| step | " + " | ".join(f"{n} {p}" for n, p in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for k in sorted(steps, key=lambda s: -steps[s]):
        vals = [out["profiles"][n][p]["steps"].get(k) for n, p in cols]
        lines.append(f"| {k} | " + " | ".join("–" if v is None else f"{v:.1f}" for v in vals)
                     + " |")
    lines.append("| *(whole process)* | " + " | ".join(
        f"{out['profiles'][n][p]['wall_s']:.1f}" for n, p in cols) + " |")
    return lines


def _before_after(before: dict, after: dict) -> list[str]:
    lines = ["", f"Before (`{before.get('commit')}`, {before.get('started')}) and after, per "
             "step (seconds):", ""]
    for name, res in after["profiles"].items():
        old = before.get("profiles", {}).get(name)
        if not old:
            continue
        parts = [p for p in ("backfill", "night", "moves") if res.get(p) and old.get(p)]
        if not parts:
            continue
        lines += [f"**{name}**", "", "| step | " + " | ".join(
            f"{p} before | {p} after" for p in parts) + " |",
            "|---|" + "---:|---:|" * len(parts)]
        keys = sorted({k for p in parts for k in (*res[p].get("steps", {}),
                                                  *old[p].get("steps", {}))},
                      key=lambda k: -max(old[p].get("steps", {}).get(k, 0) for p in parts))
        for k in keys:
            cells = []
            for p in parts:
                for side in (old, res):
                    v = side[p].get("steps", {}).get(k)
                    cells.append("–" if v is None else f"{v:.1f}")
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        cells = [f"{side[p]['wall_s']:.1f} / {_mib(side[p].get('sampled_rss_mib'))}"
                 for p in parts for side in (old, res)]
        lines.append("| *(whole process, wall / peak RSS)* | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _fixed_lines(fixed: dict | None) -> list[str]:
    if not fixed:
        return []
    imp = ", ".join(f"`{k}` {v:.2f} s" if v is not None else f"`{k}` –"
                    for k, v in fixed["imports_s"].items())
    lines = ["", f"**Fixed cost** (same invocation): interpreter start "
             f"{fixed['interpreter_s']:.2f} s; import alone in a fresh interpreter "
             f"(cumulative `-X importtime`, each including what it imports): {imp}."]
    setup = fixed.get("run_setup", {})
    if setup:
        lines += ["", "| run | process start → RUN_START | → first step | last step → exit |",
                  "|---|---:|---:|---:|"]
        for k, v in setup.items():
            lines.append(f"| {k} | {v['to_run_start_s']:.1f} s | {v['to_first_step_s']:.1f} s "
                         f"| {v['after_last_step_s']:.1f} s |")
    return lines


def _check_lines(out: dict) -> list[str]:
    lines = []
    for name, res in out["profiles"].items():
        c = res.get("check")
        if not c:
            continue
        if "error" in c:
            lines.append(f"- {name}: the check failed to run ({c['error']})")
            continue
        bits = []
        for k in ("skolplikt", "franvaro_termin", "franvaro_4v", "inkomstkontroll"):
            v = c.get(k, {})
            bits.append(f"{k} {v.get('common')}/{v.get('ours')} ours, "
                        f"{v.get('duckdb')} DuckDB, {v.get('differing', 0)} differing "
                        f"({'same' if v.get('same') else '**differs**'})")
        lines.append(f"- {name}: " + "; ".join(bits))
    if lines:
        lines = ["", "Equivalence of the backfill's warehouse with DuckDB's results from the "
                 "CSVs (keys pseudonymised with the run's key; franvaro_4v: the pupils our "
                 "list shows, their 4-week percentages; our obekraftad_taxa counted as "
                 "efterdebitering, which the SQL does not hold back):", ""] + lines
    return lines


# --- plumbing ---------------------------------------------------------------------------------

def _write_block(path: Path, label: str, text: str) -> None:
    begin, end = BEGIN.format(label=label), END.format(label=label)
    block = f"{begin}\n{text}\n{end}"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if begin in old and end in old:
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
    else:
        anchor = "## Caveats of this measurement"
        head = f"## Night cost end to end, {label} (issue 20; generated by bench/night_cost.py)"
        section = f"{head}\n\n{block}\n\n"
        new = old.replace(anchor, section + anchor, 1) if anchor in old else old + "\n" + section
    path.write_text(new, encoding="utf-8")


def _save(data: Path, out: dict) -> None:
    (data / f"night_cost_{out['label']}.json").write_text(json.dumps(out, indent=1, default=str))


def _all_ok(out: dict) -> bool:
    return all(r.get("returncode", 0) == 0 for res in out["profiles"].values()
               for r in res.values() if isinstance(r, dict) and "returncode" in r)


def _commit(code: Path) -> str:
    done = subprocess.run(["git", "-C", str(code), "log", "-1", "--format=%h %cI"],
                          capture_output=True, text=True)
    return done.stdout.strip() or "?"


def _machine() -> dict:
    import psutil

    from bench.report import cpu_model

    cpu = cpu_model(platform.processor() or platform.machine())
    return {"cpus": len(os.sched_getaffinity(0)), "mem_gib": psutil.virtual_memory().total / 2**30,
            "cpu": cpu, "load_before": os.getloadavg()[0]}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _report(name: str, part: str, r: dict) -> None:
    if r.get("returncode", 0) != 0:
        _say(f"{name} {part}: misslyckades (kod {r['returncode']}):\n{r.get('stderr_tail', '')}")
    else:
        _say(f"{name} {part}: {r['wall_s']:.1f} s, topp-RSS {_mib(r.get('sampled_rss_mib'))}")


def _say(msg: str) -> None:
    print(f"[night_cost] {msg}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
