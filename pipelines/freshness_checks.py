"""Dagster-native freshness checks on the source assets, from policies/kallor.yaml.

The nightly rule (skyddsnat/ingest/freshness.py) judges the age of the data against the reference
date and stops the night; these checks judge, in the UI beside each source's three checks,
whether the source asset has been materialized recently at all (a stopped night, a
schedule that never ran): a source with `max_alder_dagar: N` must have been read within N
days and 6 hours (a nightly run at 02:00 plus a margin). They are Dagster's last-update
freshness checks written out (the builder's checks carry an English description and are
superseded in 1.12+ by FreshnessPolicy, which the UI does not show as a check), and run
hourly on their own job and schedule, not in the nightly job: a first night must not fail
on "never materialized".
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    asset_check,
    define_asset_job,
)

from assets.constants import TIMEZONE
from skyddsnat.policy import DEFAULT_POLICY_DIR, load_policy

CHECK_NAME = "farskhet"
MARGIN = timedelta(hours=6)


def _check(source: str, days: int):
    allowed = timedelta(days=days) + MARGIN

    @asset_check(asset=source, name=CHECK_NAME, blocking=False,
                 description=f"Färskhet: {source} ska ha lästs in inom {days} "
                             f"{'dag' if days == 1 else 'dagar'} och 6 timmar "
                             "(policies/kallor.yaml, max_alder_dagar); varnar när en natt "
                             "har stoppats eller inte körts.")
    def _farskhet(context):
        event = context.instance.get_latest_materialization_event(AssetKey(source))
        if event is None:
            return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN,
                                    metadata={"senast_inlast": "aldrig"},
                                    description=f"{source} har aldrig lästs in")
        age = time.time() - event.timestamp
        when = datetime.fromtimestamp(event.timestamp, ZoneInfo(TIMEZONE))
        return AssetCheckResult(
            passed=age <= allowed.total_seconds(), severity=AssetCheckSeverity.WARN,
            metadata={"senast_inlast": when.isoformat(timespec="minutes"),
                      "timmar_sedan": round(age / 3600, 1),
                      "tillaten_alder_timmar": allowed.total_seconds() / 3600})

    return _farskhet


def freshness_checks(policy_dir=DEFAULT_POLICY_DIR) -> list:
    """One check per source with a maximum age (period files have none)."""
    by_age: dict[str, int] = defaultdict(int)
    for name, rule in load_policy(policy_dir).kallor.kallor.items():
        if rule.max_alder_dagar is not None:
            by_age[name] = rule.max_alder_dagar
    return [_check(name, days) for name, days in sorted(by_age.items())]


FRESHNESS_CHECKS = freshness_checks()
_SELECTED = AssetSelection.checks(*FRESHNESS_CHECKS)
# The nightly job materializes and checks everything except the freshness checks.
NIGHTLY_SELECTION = AssetSelection.all() - _SELECTED

freshness_job = define_asset_job(
    "farskhetskontroll", selection=_SELECTED,
    description="Färskhetskontrollerna på källorna: har varje källa lästs in i tid?")
freshness_schedule = ScheduleDefinition(
    name="farskhet_varje_timme", job=freshness_job, cron_schedule="15 * * * *",
    execution_timezone=TIMEZONE, default_status=DefaultScheduleStatus.STOPPED,
    description="Kör färskhetskontrollerna en gång i timmen.")
