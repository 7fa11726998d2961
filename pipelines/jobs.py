"""The nightly job over every asset, and how a run request for a reference date is built."""

from __future__ import annotations

from datetime import date

from dagster import PartitionsDefinition, RunRequest, define_asset_job

from pipelines.freshness_checks import NIGHTLY_SELECTION
from skyddsnat.ingest.catalog import entry
from skyddsnat.ingest.day_files import DayFiles
from skyddsnat.ingest.inbox import files_for
from skyddsnat.layout import DataDir
from skyddsnat.policy import DEFAULT_POLICY_DIR, load_policy

JOB_NAME = "nattlig_korning"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
KOMMUN_TAG = "skyddsnat/kommunkod"



def nightly_job(partitions_def: PartitionsDefinition):
    """The job over every asset, partitioned as the code location's attendance. Its runs,
    also those launched from the UI, carry the policy's kommunkod (a run's own tag wins).
    The sources' freshness checks run on their own job (pipelines/freshness_checks.py)."""
    return define_asset_job(
        JOB_NAME,
        selection=NIGHTLY_SELECTION,
        partitions_def=partitions_def,
        tags={KOMMUN_TAG: load_policy(DEFAULT_POLICY_DIR).skolplikt.kommunkod},
        description="Hela nattkörningen: inläsning, skydd, listor och leverans för en "
                    "referensdag.",
    )


def attendance_range(data: DataDir, as_of: date, policy) -> tuple[date, date]:
    """From the oldest attendance file not yet loaded, or delivered again changed, to as_of.

    Partitions live as files under warehouse/narvaro/, so a run catches up after downtime
    without re-reading days it already has, a corrected past day is read again
    (skyddsnat/ingest/day_files.py), and the reference day itself is always re-read.
    """
    ledger = DayFiles(data.state)
    todo = [d for d, p in files_for(data.inbox, entry(policy, "narvaro"), as_of)
            if not data.partition("narvaro", d.isoformat()).exists() or ledger.changed(d, p)]
    return (min(todo) if todo else as_of), as_of


def run_config(data_dir: str, key_dir: str, as_of: date | None, kommunkod: str = "",
               policy_dir: str = "", omrakna: bool = False) -> dict:
    """The run config of one municipality's night (as_of None: the day the run starts;
    `omrakna`: keep no stored result, compute every asset afresh)."""
    config = {"data_dir": data_dir, "key_dir": key_dir,
              "as_of": as_of.isoformat() if as_of else "", "kommunkod": kommunkod}
    if policy_dir:
        config["policy_dir"] = policy_dir
    if omrakna:
        config["omrakna"] = True
    return {"resources": {
        "skyddsnat": {"config": config},
        "warehouse": {"config": {"data_dir": data_dir}},
    }}


def run_tags(data_dir: str, as_of: date, kommunkod: str = "",
             policy_dir: str = "") -> dict[str, str]:
    """Partition range, reference day and municipality (the queue allows one run per kommun)."""
    policy = load_policy(policy_dir or DEFAULT_POLICY_DIR)
    start, end = attendance_range(DataDir(data_dir), as_of, policy)
    kod = kommunkod or policy.skolplikt.kommunkod
    return {RANGE_START: start.isoformat(), RANGE_END: end.isoformat(),
            "skyddsnat/referensdag": as_of.isoformat(), KOMMUN_TAG: kod}


def run_request_for(data_dir: str, key_dir: str, as_of: date, run_key: str | None,
                    kommunkod: str = "", policy_dir: str = "") -> RunRequest:
    return RunRequest(run_key=run_key,
                      run_config=run_config(data_dir, key_dir, as_of, kommunkod, policy_dir),
                      tags=run_tags(data_dir, as_of, kommunkod, policy_dir))
