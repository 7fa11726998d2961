"""`skyddsnat run`: the nightly job once, in process, exactly as the schedule runs it."""

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance

from pipelines.jobs import JOB_NAME, run_config, run_tags
from skyddsnat.keys import load_keys, verify_against_data
from skyddsnat.layout import DataDir
from skyddsnat.policy import DEFAULT_POLICY_DIR, load_policy


@dataclass
class RunOutcome:
    success: bool
    run_id: str
    failures: list[str]


def run_nightly(data_dir: Path, key_dir: Path | None, as_of: date, kommunkod: str = "",
                instance: DagsterInstance | None = None,
                policy_dir: Path | None = None) -> RunOutcome:
    """Check keys and policy first (before any data is read), then execute the job."""
    data = DataDir(data_dir)
    keys = load_keys(key_dir)
    verify_against_data(keys, data.state)
    policy_dir = Path(policy_dir or DEFAULT_POLICY_DIR)
    load_policy(policy_dir)
    from pipelines.definitions import build_definitions  # heavy import, after the checks

    # This data dir's own code location: its partitions cover the days its files have.
    defs = build_definitions(str(data_dir), str(key_dir or ""))
    job = defs.resolve_job_def(JOB_NAME)
    if instance is None:
        instance = (DagsterInstance.get() if os.environ.get("DAGSTER_HOME")
                    else DagsterInstance.ephemeral())
    result = job.execute_in_process(
        run_config=run_config(str(data_dir), str(key_dir or ""), as_of, kommunkod,
                              str(policy_dir)),
        tags=run_tags(str(data_dir), as_of, kommunkod),
        instance=instance,
        raise_on_error=False,
    )
    failures = []
    for ev in result.all_events:
        if ev.event_type == DagsterEventType.STEP_FAILURE:
            err = ev.event_specific_data.error
            failures.append(f"{ev.step_key}: {err.message.strip() if err else 'okänt fel'}")
    for ev in result.all_events:
        if ev.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            data_ = ev.event_specific_data
            if not data_.passed:
                failures.append(f"kontroll {data_.check_name} på "
                                f"{data_.asset_key.to_user_string()} underkänd")
    return RunOutcome(result.success and not failures, result.run_id, failures)
