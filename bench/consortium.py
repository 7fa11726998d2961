"""A consortium of municipalities: one partition per kommunkod, run in parallel by Dagster.

Each partition runs the whole nightly pipeline for its own data dir (its own inbox, keys,
warehouse and outbox: municipalities never share a table or a key) as a child process
(`python -m skyddsnat.cli run --kommunkod K`). With `multiprocess_executor` (max_concurrent 2)
two municipalities run at once; the same job with `in_process_executor` runs them one after
another, which is the serial baseline.

    python -m bench.consortium [--data DIR] [--kommuner 2260,2281,2262]
"""


import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from dagster import (
    Config,
    DagsterInstance,
    DynamicOut,
    DynamicOutput,
    In,
    Nothing,
    OpExecutionContext,
    in_process_executor,
    job,
    multiprocess_executor,
    op,
)

from bench import scenarios

ROOT = Path(__file__).resolve().parent.parent
AS_OF = date(2026, 6, 10)


class ConsortiumConfig(Config):
    base: str  # one sub-directory per kommunkod: <base>/<kod>/data and <base>/<kod>/keys
    kommuner: list[str]
    as_of: str


@op(out=DynamicOut(str))
def kommuner(context: OpExecutionContext, config: ConsortiumConfig):
    for kod in config.kommuner:
        yield DynamicOutput(kod, mapping_key=f"k{kod}")


@op
def nattkorning(context: OpExecutionContext, config: ConsortiumConfig, kod: str) -> float:
    """The nightly pipeline of one municipality, isolated in its own process and data dir."""
    base = Path(config.base) / kod
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DAGSTER_HOME", None)  # each municipality's run on an ephemeral instance
    done = subprocess.run(
        [sys.executable, "-m", "skyddsnat.cli", "run", "--data-dir", str(base / "data"),
         "--key-dir", str(base / "keys"), "--as-of", config.as_of, "--kommunkod", kod],
        cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"kommun {kod}: nattkörningen misslyckades (kod {done.returncode})")
    seconds = time.perf_counter() - t0
    context.log.info(f"kommun {kod}: {seconds:.1f} s")
    return seconds


@op(ins={"seconds": In(list[float])})
def summera(context: OpExecutionContext, seconds: list[float]) -> Nothing:
    context.log.info(f"{len(seconds)} kommuner, summa {sum(seconds):.1f} s")


def _graph():
    summera(kommuner().map(nattkorning).collect())


konsortium_parallellt = job(
    name="konsortium_parallellt",
    executor_def=multiprocess_executor.configured({"max_concurrent": 2}))(_graph)
konsortium_seriellt = job(name="konsortium_seriellt", executor_def=in_process_executor)(_graph)


def prepare(base: Path, koder: list[str], profile="tiny") -> None:
    """A fresh generated municipality (own inbox and keys) per kommunkod; inbox kept between
    measurements, warehouse/outbox/state reset so each measurement starts equal."""
    from skyddsnat.generate.profiles import TINY

    prof = TINY if profile == "tiny" else profile
    for kod in koder:
        gen = base / "generated" / kod
        scenarios.generate(prof, gen, AS_OF, seed=int(kod), kommunkod=kod)
        scenarios.work_dir(gen, base / kod / "data")
        scenarios.ensure_keys(base / kod / "keys")


def measure(base: Path, koder: list[str], profile="tiny") -> dict[str, float]:
    """Wall time of the serial and the parallel job over the same municipalities."""
    from dagster import reconstructable

    out = {}
    config = {"ops": {op_name: {"config": {"base": str(base), "kommuner": koder,
                                           "as_of": AS_OF.isoformat()}}
                      for op_name in ("kommuner", "nattkorning")}}
    for name, target in (("seriellt", konsortium_seriellt), ("parallellt", konsortium_parallellt)):
        prepare(base, koder, profile)
        with tempfile.TemporaryDirectory() as home:
            Path(home, "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
            with DagsterInstance.from_config(home) as instance:
                t0 = time.perf_counter()
                if name == "parallellt":
                    from dagster import execute_job

                    result = execute_job(reconstructable(_parallel), instance=instance,
                                         run_config=config)
                else:
                    result = target.execute_in_process(run_config=config, instance=instance)
                out[name] = time.perf_counter() - t0
                if not result.success:
                    raise SystemExit(f"konsortiet ({name}) misslyckades")
    return out


def _parallel():
    return konsortium_parallellt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.consortium")
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / "data" / "konsortium")
    ap.add_argument("--kommuner", default="2260,2281,2262")
    ap.add_argument("--profile", default="tiny", help="tiny | ange")
    args = ap.parse_args(argv)
    koder = args.kommuner.split(",")
    times = measure(args.data.resolve(), koder, args.profile)
    speedup = times["seriellt"] / times["parallellt"]
    print(f"konsortium {len(koder)} kommuner ({args.profile}): seriellt {times['seriellt']:.1f} s,"
          f" parallellt (multiprocess, max 2) {times['parallellt']:.1f} s, {speedup:.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
