"""The inbox sensor: a run when a complete new source file has landed.

A file counts once it ends with a newline and has been unchanged for the settle time, so a
file still being copied is left for a later tick. The cursor remembers each file's size and
modification time, so the same file never starts two runs. A skipped tick says why; a
tick that starts a night which will stop on a missing or stale feed says so in its log.
"""


import hashlib
from datetime import datetime
from zoneinfo import ZoneInfo

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from assets.constants import TIMEZONE
from pipelines.jobs import JOB_NAME, run_request_for
from pipelines.tick_log import log_findings
from skyddsnat.ingest.inbox import any_source_file, fingerprint, is_complete
from skyddsnat.layout import DataDir
from skyddsnat.policy import DEFAULT_POLICY_DIR, load_policy


def _parse_cursor(cursor: str | None) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (cursor or "").splitlines() if "=" in line)


def build_sensor(data_dir: str, key_dir: str, settle_seconds: float = 30.0, *,
                 job=None, name: str = "", kommunkod: str = "", policy_dir: str = "",
                 minimum_interval_seconds: int = 60,
                 default_status=DefaultSensorStatus.STOPPED):
    @sensor(job=job, job_name=None if job else JOB_NAME, name=name or None,
            minimum_interval_seconds=minimum_interval_seconds,
            default_status=default_status,
            description="Startar nattkörningen när en ny, färdigskriven fil finns i inkorgen.")
    def inkorg_sensor(context: SensorEvaluationContext):
        inbox = DataDir(data_dir).inbox
        if not inbox.is_dir():
            return SkipReason("inkorgen finns inte")
        source_file = any_source_file(load_policy(policy_dir or DEFAULT_POLICY_DIR))
        seen = _parse_cursor(context.cursor)
        new, pending = [], 0
        for p in sorted(inbox.iterdir()):
            if not source_file.fullmatch(p.name):
                continue
            fp = fingerprint(p)
            if seen.get(p.name) == fp:
                continue
            if is_complete(p, settle_seconds):
                new.append((p.name, fp))
                seen[p.name] = fp
            else:
                pending += 1
        context.update_cursor("\n".join(f"{k}={v}" for k, v in sorted(seen.items())))
        if not new:
            return SkipReason(f"inga nya färdiga filer ({pending} skrivs fortfarande)")
        as_of = datetime.now(ZoneInfo(TIMEZONE)).date()
        log_findings(context, data_dir, as_of, policy_dir)
        run_key = "inkorg-" + hashlib.sha256(repr(new).encode()).hexdigest()[:16]
        return run_request_for(data_dir, key_dir, as_of, run_key=run_key,
                               kommunkod=kommunkod, policy_dir=policy_dir)

    return inkorg_sensor
