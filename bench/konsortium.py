"""`make konsortium`: three municipalities on one local Dagster deployment.

PostgreSQL storage (a server of our own, pipelines/drift.py), the queued run coordinator (at
most one run per kommunkod), a code server, `dagster-daemon` and the webserver on 127.0.0.1.
The consortium is policies/konsortium/lokal.yaml under .konsortium/. Two rounds, each from
fresh data dirs:

1. samtidigt: the daemon's inbox sensors see each municipality's complete export and launch
   one run per municipality; the queue lets them run side by side.
2. en i taget: the same nights submitted to the queue one after another (each waits for the
   previous), the serial baseline.

Prints one line per municipality, the wall seconds of both rounds and, last,
`konsortium: N/N kommuner lyckades`; exits non-zero unless all succeeded. Every process it
started is stopped, also on failure (`make konsortium-stop` after an interrupted one).

    python -m bench.konsortium [--root .konsortium] [--max-samtidiga 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pipelines.drift import ROOT, Deployment, Postgres, instance_yaml, stop_recorded
from pipelines.jobs import KOMMUN_TAG, run_config, run_tags
from skyddsnat.konsortium import ENV_FILE, ENV_ROOT, KommunPlats, load_konsortium

KONSORTIUM = ROOT / "policies" / "konsortium" / "lokal.yaml"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
SETTLED = 120  # generated files are dated this many seconds back: complete and settled


@dataclass(frozen=True)
class Utgangslage:
    """How a municipality is generated: a profile and a seed of its own."""

    profile: str
    children: int | None
    inhabitants: int | None
    seed: int


# Ånge at its own size, two smaller neighbours: different profiles and seeds.
KOMMUNER = {"2260": Utgangslage("ange", None, None, 11),
            "2281": Utgangslage("ange", 700, 3_600, 22),
            "2262": Utgangslage("ange", 300, 1_500, 33)}


def service_env(root: Path, konsortium: Path = KONSORTIUM) -> dict[str, str]:
    """The environment of the code server and so of every run it launches."""
    return {ENV_FILE: str(konsortium), ENV_ROOT: str(root),
            "SKYDDSNAT_INGEST_WORKERS": "1", "SKYDDSNAT_DELIVERY_WORKERS": "1"}


def generate_kommun(place: KommunPlats, how: Utgangslage, as_of: date, dest: Path) -> None:
    """A synthetic municipality's inbox under dest, its kommunkod the consortium's."""
    from skyddsnat.generate import generate
    from skyddsnat.generate.profiles import resolve

    prof = replace(resolve(how.profile), kommunkod=place.kommunkod,
                   name=f"{how.profile}_{place.kommunkod}")
    if how.children:
        prof = replace(prof, children=how.children, inhabitants=how.inhabitants,
                       own_school_units=max(2, how.children // 250))
    generate(prof, dest, as_of, seed=how.seed, progress=False, overwrite=True)


def ensure_keys(place: KommunPlats) -> None:
    from skyddsnat.privacy.keys import init_keys

    if not place.key_dir.exists():
        init_keys(place.key_dir, place.key_dir.parent / "skyddsbehorig.key")


def settle(generated: Path) -> None:
    """Date the generated export back: complete and settled, as a finished delivery is."""
    old = time.time() - SETTLED
    for f in generated.iterdir():
        os.utime(f, (old, old))


def fresh_data_dir(generated: Path, place: KommunPlats) -> None:
    """A data dir whose inbox is the generated export (hard links: same size and mtime, so a
    sensor that has seen the files sees nothing new)."""
    if place.data_dir.exists():
        shutil.rmtree(place.data_dir)
    inbox = place.data_dir / "inbox"
    inbox.mkdir(parents=True)
    for f in sorted(generated.iterdir()):
        os.link(f, inbox / f.name)


def _records(instance, kod: str):
    from dagster import RunsFilter

    return instance.get_run_records(RunsFilter(tags={KOMMUN_TAG: kod}))


def wait_for_runs(instance, koder: list[str], count: int, timeout: float) -> dict[str, list]:
    """Until every municipality has `count` finished runs; their records, oldest first."""
    deadline = time.monotonic() + timeout
    while True:
        got = {kod: sorted(_records(instance, kod), key=lambda r: r.create_timestamp)
               for kod in koder}
        if all(len(rs) >= count and all(r.dagster_run.is_finished for r in rs)
               for rs in got.values()):
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"körningarna blev inte klara inom {timeout:.0f} s")
        time.sleep(2)


def wall(records) -> float:
    return max(r.end_time for r in records) - min(r.start_time for r in records)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.konsortium")
    ap.add_argument("--root", type=Path, default=ROOT / ".konsortium")
    ap.add_argument("--max-samtidiga", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--stop", action="store_true", help="Stoppa det en avbruten körning lämnat.")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    if args.stop:
        stopped = stop_recorded(root)
        Postgres(root).stop()
        print(f"Stoppade: {', '.join(stopped) or 'inga processer'}; PostgreSQL stoppad.")
        return 0
    stop_recorded(root)  # anything an interrupted run left behind
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the finally below stops everything.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    konsortium = load_konsortium(KONSORTIUM, root=root)
    as_of = datetime.now(STOCKHOLM).date()
    t0 = time.perf_counter()
    for place in konsortium.kommuner:
        generated = root / "genererat" / place.kommunkod
        shutil.rmtree(generated, ignore_errors=True)
        generate_kommun(place, KOMMUNER[place.kommunkod], as_of, generated)
        settle(generated / "inbox")
        ensure_keys(place)
        fresh_data_dir(generated / "inbox", place)
    print(f"Tre syntetiska kommuner genererade ({time.perf_counter() - t0:.0f} s), "
          f"referensdag {as_of}.", flush=True)

    pg = Postgres(root)
    deployment = Deployment(root, service_env(root))
    try:
        conn = pg.start()
        deployment.env["DAGSTER_PG_PASSWORD"] = pg.password()
        os.environ["DAGSTER_PG_PASSWORD"] = pg.password()
        deployment.write_instance(instance_yaml(args.max_samtidiga, conn))
        deployment.start(webserver=True)
        print(f"PostgreSQL på 127.0.0.1:{conn['port']}, dagster-daemon och webbservern på "
              f"http://127.0.0.1:{deployment.web_port} (DAGSTER_HOME {deployment.home}).",
              flush=True)
        ok = _rounds(deployment, konsortium, root, as_of, args)
    finally:
        deployment.stop()
        pg.stop()
        print("Alla startade processer är stoppade (kodserver, daemon, webbserver, "
              "PostgreSQL).", flush=True)
    print(f"konsortium: {ok}/{len(konsortium.kommuner)} kommuner lyckades", flush=True)
    return 0 if ok == len(konsortium.kommuner) else 1


def _rounds(deployment: Deployment, konsortium, root: Path, as_of: date, args) -> int:
    """Both rounds; prints a line per municipality and the figures; returns how many
    municipalities succeeded in both."""
    from dagster import DagsterInstance
    from dagster_graphql import DagsterGraphQLClient

    from pipelines.konsortium import job_name

    os.environ["DAGSTER_HOME"] = str(deployment.home)
    koder = [p.kommunkod for p in konsortium.kommuner]
    with DagsterInstance.get() as instance:
        # Round 1: the sensors (running by default in lokal.yaml) launch one run each.
        parallel = wait_for_runs(instance, koder, 1, args.timeout)
        first = {kod: rs[0] for kod, rs in parallel.items()}
        # Round 2: fresh data dirs (same files, so the sensors see nothing new), one at a time.
        for place in konsortium.kommuner:
            fresh_data_dir(root / "genererat" / place.kommunkod / "inbox", place)
        client = DagsterGraphQLClient("127.0.0.1", port_number=deployment.web_port)
        second = {}
        for place in konsortium.kommuner:
            data, keys = str(place.data_dir), str(place.key_dir or "")
            client.submit_job_execution(
                job_name(place.kommunkod),
                run_config=run_config(data, keys, as_of, place.kommunkod, str(place.policy_dir)),
                tags=run_tags(data, as_of, place.kommunkod, str(place.policy_dir)))
            second[place.kommunkod] = wait_for_runs(instance, [place.kommunkod], 2,
                                                    args.timeout)[place.kommunkod][1]
    ok = 0
    for place in konsortium.kommuner:
        a, b = first[place.kommunkod], second[place.kommunkod]
        good = a.dagster_run.is_success and b.dagster_run.is_success
        ok += good
        outbox = place.data_dir.relative_to(ROOT) if place.data_dir.is_relative_to(ROOT) \
            else place.data_dir
        print(f"{place.kommunkod} {place.namn}: {'lyckades' if good else 'MISSLYCKADES'} "
              f"({a.end_time - a.start_time:.0f} s samtidigt, {b.end_time - b.start_time:.0f} s "
              f"ensam); listorna i {outbox}/outbox/{as_of}/")
    serial, concurrent = wall(second.values()), wall(first.values())
    print(f"Tre kommuner samtidigt (daemonens sensorer, max {args.max_samtidiga} körningar): "
          f"{concurrent:.0f} s; en i taget (kön): {serial:.0f} s "
          f"({serial / concurrent:.2f}×).")
    return ok


if __name__ == "__main__":
    sys.exit(main())
