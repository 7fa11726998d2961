"""Dagster-native freshness checks on the source assets, from policies/kallor.yaml.

The nightly rule (skyddsnat/freshness.py) judges the age of the data against the reference
date and stops the night; these checks judge, in the UI beside each source's three checks,
whether the source asset has been materialized recently at all (a stopped night, a
schedule that never ran). A source with `max_alder_dagar: N` must have been updated within
N days and 6 hours (a nightly run at 02:00 plus a margin). They are evaluated by their own
sensor, not by the nightly job: a first night must not fail on "never materialized".
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from datetime import timedelta

from dagster import (
    AssetCheckSeverity,
    AssetSelection,
    DefaultSensorStatus,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
)

from assets.constants import TIMEZONE
from skyddsnat.policy import DEFAULT_POLICY_DIR, load_policy

MARGIN = timedelta(hours=6)


def freshness_checks(policy_dir=DEFAULT_POLICY_DIR) -> list:
    by_age: dict[int, list[str]] = defaultdict(list)
    for name, rule in load_policy(policy_dir).kallor.kallor.items():
        if rule.max_alder_dagar is not None:
            by_age[rule.max_alder_dagar].append(name)
    with warnings.catch_warnings():  # superseded by FreshnessPolicy in 1.12, still supported;
        # the checks are what the UI shows beside each source's own three checks
        warnings.simplefilter("ignore")
        return [check for days, names in sorted(by_age.items())
                for check in build_last_update_freshness_checks(
                    assets=sorted(names), lower_bound_delta=timedelta(days=days) + MARGIN,
                    timezone=TIMEZONE, severity=AssetCheckSeverity.WARN)]


FRESHNESS_CHECKS = freshness_checks()
# The nightly job materializes and checks everything except the freshness checks.
NIGHTLY_SELECTION = AssetSelection.all() - AssetSelection.checks(*FRESHNESS_CHECKS)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    freshness_sensor = build_sensor_for_freshness_checks(
        freshness_checks=FRESHNESS_CHECKS, name="farskhet_sensor",
        minimum_interval_seconds=600, default_status=DefaultSensorStatus.STOPPED)
