"""`skyddsnat run`: the nightly job once, in process, exactly as the schedule runs it.

Dagster's event lines (DEBUG and up) go to a log file under the data dir's logs/, not to
the terminal; the terminal shows one line of progress per step instead.
"""

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, logger

from pipelines.jobs import JOB_NAME, run_config, run_tags
from pipelines.reuse import KEPT
from pipelines.sqlite_events import event_writes
from skyddsnat.layout import DataDir
from skyddsnat.policy import DEFAULT_POLICY_DIR, load_policy
from skyddsnat.privacy.keys import load_keys, verify_against_data

LOG_DIR = "logs"
FINISHED = ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED", "STEP_UP_FOR_RETRY")


@dataclass
class RunOutcome:
    success: bool
    run_id: str
    failures: list[str]
    seconds: float = 0.0
    log_file: Path | None = None
    steps: dict[str, str] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)  # steps that kept last night's result


class _Progress(logging.Handler):
    """One line per finished step (a bar on a terminal)."""

    def __init__(self, total: int, show: bool):
        super().__init__(logging.DEBUG)
        self.total, self.done, self.show = total, 0, show
        self.steps: dict[str, str] = {}
        self.bar = None
        if show and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="nattkörning", unit="steg", file=sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        kind = getattr(event, "event_type_value", None)
        if kind not in FINISHED or kind == "STEP_UP_FOR_RETRY":
            return
        step = meta.get("step_key") or "?"
        self.steps[step] = {"STEP_SUCCESS": "klar", "STEP_FAILURE": "misslyckades"}.get(
            kind, "hoppades över")
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(step)
            self.bar.update(1)
        elif self.show:
            print(f"[{self.done}/{self.total}] {step}: {self.steps[step]}", file=sys.stderr,
                  flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        super().close()


def _loggers(log_file: Path, progress: _Progress):
    @logger(description="Skyddsnät: händelser till loggfil, framsteg till terminalen.")
    def skyddsnat_logger(_):
        lg = logging.Logger("skyddsnat.korning", logging.DEBUG)
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        lg.addHandler(fh)
        lg.addHandler(progress)
        return lg

    return {"skyddsnat": skyddsnat_logger}


def _message(err) -> str:
    """The error's own line, without Dagster's exception class prefix."""
    if err is None:
        return "okänt fel"
    text = err.message.strip()
    prefix = f"{err.cls_name}: "
    return text.split(prefix, 1)[1] if prefix in text else text


def run_nightly(data_dir: Path, key_dir: Path | None, as_of: date, kommunkod: str = "",
                instance: DagsterInstance | None = None,
                policy_dir: Path | None = None, progress: bool = False,
                omrakna: bool = False) -> RunOutcome:
    """Check keys and policy first (before any data is read), then execute the job.

    Dagster's event lines go to `<data dir>/logs/korning-<date>-<time>.log`; with
    `progress` each finished step is shown on stderr; with `omrakna` no stored result is
    kept (pipelines/reuse.py), every asset is computed afresh."""
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
    logs = data.root / LOG_DIR
    logs.mkdir(exist_ok=True)
    log_file = logs / f"korning-{as_of.isoformat()}-{datetime.now():%Y%m%dT%H%M%S}.log"
    shown = _Progress(len(job.graph.node_dict), progress)
    config = run_config(str(data_dir), str(key_dir or ""), as_of, kommunkod, str(policy_dir),
                        omrakna)
    t0 = time.monotonic()
    try:
        with event_writes():
            result = job.with_logger_defs(_loggers(log_file, shown)).execute_in_process(
                run_config={**config, "loggers": {"skyddsnat": {}}},
                tags=run_tags(str(data_dir), as_of, kommunkod),
                instance=instance,
                raise_on_error=False,
            )
    finally:
        shown.close()
    failures = []
    for ev in result.all_events:
        if ev.event_type == DagsterEventType.STEP_FAILURE:
            err = ev.event_specific_data.error
            failures.append(f"{ev.step_key}: {_message(err)}")
    for ev in result.all_events:
        if ev.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            data_ = ev.event_specific_data
            if not data_.passed:
                failures.append(f"kontroll {data_.check_name} på "
                                f"{data_.asset_key.to_user_string()} underkänd")
    kept = sorted({ev.step_key for ev in result.all_events
                   if ev.event_type == DagsterEventType.ASSET_MATERIALIZATION
                   and _value(ev.event_specific_data.materialization.metadata.get(
                       "återanvänd")) == KEPT})
    return RunOutcome(result.success and not failures, result.run_id, failures,
                      time.monotonic() - t0, log_file, shown.steps, kept)


def _value(entry) -> object:
    return getattr(entry, "value", entry)
