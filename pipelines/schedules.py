"""The nightly schedule: 02:00 Europe/Stockholm, reference date = that day."""


from zoneinfo import ZoneInfo

from dagster import DefaultScheduleStatus, ScheduleEvaluationContext, schedule

from assets.constants import TIMEZONE
from pipelines.jobs import JOB_NAME, run_request_for
from pipelines.tick_log import log_findings


def build_schedule(data_dir: str, key_dir: str, *, job=None, name: str = "",
                   kommunkod: str = "", policy_dir: str = "",
                   default_status=DefaultScheduleStatus.STOPPED):
    @schedule(job=job, job_name=None if job else JOB_NAME, name=name or None,
              cron_schedule="0 2 * * *",
              execution_timezone=TIMEZONE, default_status=default_status,
              description="Varje natt 02:00 (Europe/Stockholm); referensdag = dagens datum.")
    def nattlig_schema(context: ScheduleEvaluationContext):
        as_of = context.scheduled_execution_time.astimezone(ZoneInfo(TIMEZONE)).date()
        log_findings(context, data_dir, as_of, policy_dir)  # why the night will stop, if it will
        return run_request_for(data_dir, key_dir, as_of, run_key=f"schema-{as_of.isoformat()}",
                               kommunkod=kommunkod, policy_dir=policy_dir)

    return nattlig_schema
