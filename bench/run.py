"""`python -m bench.run`: generate once, measure the backfill and the nightly increment, compare
the core computations with DuckDB, and write bench/RESULTS.md.

    python -m bench.run [--profile stockholm] [--data DIR] [--skip-generate] [--as-of DATE]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path

from bench import measure, scenarios
from bench.report import write_results

HERE = Path(__file__).resolve().parent
KOMMUNKOD = {"stockholm": "0180", "ange": "2260", "tiny": "2260"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="stockholm", help="stockholm | ange | tiny")
    ap.add_argument("--data", type=Path, default=HERE / "data")
    ap.add_argument("--as-of", default="2026-06-10", help="reference date of the backfill")
    ap.add_argument("--skip-generate", action="store_true",
                    help="use the inbox already under --data/<profile>")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions of each computation")
    ap.add_argument("--no-duckdb", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args(argv)

    data = args.data.resolve()
    as_of = date.fromisoformat(args.as_of)
    generated = data / args.profile
    profile = _profile(args.profile)
    if args.skip_generate:
        if not (generated / "inbox").is_dir():
            ap.error(f"no inbox under {generated}; run without --skip-generate")
        gen_summary = _summary(generated)
    else:
        _say(f"genererar {args.profile} i {generated} (en gång)")
        gen_summary = scenarios.generate(profile, generated, as_of)
    keys = scenarios.ensure_keys(data / "keys")
    rows = scenarios.source_rows(generated / "inbox")
    kommunkod = KOMMUNKOD.get(args.profile, "")

    work = scenarios.work_dir(generated, data / f"{args.profile}_work")
    _say(f"(a) hela läsåret: {as_of} med alla närvarodagar saknade")
    backfill = measure.nightly("backfill", work, keys, as_of, data / "dagster_home_backfill",
                               kommunkod)
    _check(backfill)
    nxt = scenarios.next_school_day(as_of)
    scenarios.restock(generated, work)  # the run removed what it processed and archived
    made = scenarios.add_next_day(work / "inbox", as_of, nxt)
    _say(f"(b) nattlig ökning: {nxt} med {len(made)} nya filer")
    nightly = measure.nightly("nightly", work, keys, nxt, data / "dagster_home_nightly", kommunkod)
    _check(nightly)

    comparisons = []
    if not args.no_duckdb:
        from bench import duck
        from skyddsnat.policy import load_policy

        _say("DuckDB-jämförelse")
        policy = load_policy().with_kommunkod(kommunkod or None)
        scenarios.restock(generated, work)
        comparisons = duck.compare(work, as_of, policy, repeat=args.repeat)
        steps = {0: ["folkbokforing", "elevregister", "skolpliktsbeslut", "skolplikt_arenden"],
                 1: ["narvaro", "franvaro_tillstand", "franvaro_elever"],
                 2: ["avgifter", "inkomster", "inkomstkontroll"]}
        for i, c in enumerate(comparisons):
            c.ours_steps = steps[i]
            c.ours_end_to_end_s = sum(backfill.steps.get(s, 0.0) for s in steps[i])

    raw = {"profile": args.profile, "as_of": as_of.isoformat(), "next_day": nxt.isoformat(),
           "source_rows": rows, "generator": gen_summary,
           "runs": [_plain(backfill), _plain(nightly)],
           "comparisons": [asdict(c) | {"ratio": c.ratio} for c in comparisons]}
    (data / f"results_{args.profile}.json").write_text(json.dumps(raw, indent=1, default=str))
    write_results(args.out, args.profile, rows, backfill, nightly, comparisons)
    _say(f"skrivet: {args.out}")
    return 0 if backfill.returncode == 0 and nightly.returncode == 0 else 1


def _plain(m: measure.RunMeasure) -> dict:
    """The measure as JSON-ready fields, without the raw RSS samples."""
    return {k: v for k, v in asdict(m).items() if k != "rss_samples"} | {"cpu_s": m.cpu_s}


def _profile(name: str):
    if name == "tiny":
        from skyddsnat.generate.profiles import TINY

        return TINY
    return name


def _summary(generated: Path) -> dict:
    path = generated / "generator_summary.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _check(m: measure.RunMeasure) -> None:
    if m.returncode != 0:
        _say(f"{m.label}: körningen misslyckades (kod {m.returncode}):\n{m.stderr_tail}")
    else:
        _say(f"{m.label}: {m.wall_s:.1f} s, CPU {m.cpu_s:.1f} s, topp-RSS {m.peak_rss_mib:.0f} MiB")


def _say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
