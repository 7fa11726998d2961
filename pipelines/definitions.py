"""The one place that assembles the code location: assets, checks, job, schedule, sensor.

The data dir and key dir come from the environment (SKYDDSNAT_DATA_DIR, SKYDDSNAT_KEY_DIR);
without them the demo's folders are used, so `make ui` shows the demo municipality.
With SKYDDSNAT_KONSORTIUM (a consortium file) it serves several, see pipelines/konsortium.py.
The attendance partitions start at the first attendance day the data dir(s) can have
(`skyddsnat.rules.attendance_start`), not years before it.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from dagster import (
    Definitions,
    EnvVar,
    PartitionsDefinition,
    load_asset_checks_from_modules,
    load_assets_from_modules,
)

import assets.atgardsprogram.assets as atgardsprogram_assets
import assets.avgifter.assets as avgifter_assets
import assets.delivery.assets as delivery_assets
import assets.disclosure_checks as disclosure_checks
import assets.franvaro.assets as franvaro_assets
import assets.protection.assets as protection_assets
import assets.skolplikt.assets as skolplikt_assets
import assets.sources.tables as source_tables
from assets.constants import TIMEZONE, attendance_partitions
from assets.sources.narvaro import narvaro_asset
from pipelines.freshness_checks import FRESHNESS_CHECKS, freshness_job, freshness_schedule
from pipelines.io import WarehouseIOManager
from pipelines.jobs import nightly_job
from pipelines.konsortium import konsortium_definitions
from pipelines.resources import Skyddsnat
from pipelines.schedules import build_schedule
from pipelines.sensors import build_sensor
from skyddsnat.konsortium import Konsortium, from_environment
from skyddsnat.layout import DataDir
from skyddsnat.policy import DEFAULT_POLICY_DIR, load_policy
from skyddsnat.rules.attendance_start import attendance_start

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = os.environ.get("SKYDDSNAT_DATA_DIR", str(ROOT / "demo" / "data"))
KEY_DIR = os.environ.get("SKYDDSNAT_KEY_DIR", str(ROOT / "demo" / "keys"))

# Every asset but the attendance, whose partitions depend on the data dir (`nodes`).
ASSET_MODULES = [source_tables, protection_assets, skolplikt_assets,
                 avgifter_assets, franvaro_assets, atgardsprogram_assets, delivery_assets]


def partitions_for(*places: tuple[str, str]) -> PartitionsDefinition:
    """Attendance partitions from the earliest first attendance day of the (data dir, policy
    dir) of each municipality."""
    today = datetime.now(ZoneInfo(TIMEZONE)).date()
    return attendance_partitions(min(attendance_start(DataDir(d), today, load_policy(p))
                                     for d, p in places))


def nodes(partitions: PartitionsDefinition) -> list:
    """The assets and, with them everywhere (one municipality or many), the board tables'
    blocking audits."""
    return [*load_assets_from_modules(ASSET_MODULES), narvaro_asset(partitions),
            *load_asset_checks_from_modules([disclosure_checks])]


def build_definitions(data_dir: str, key_dir: str,
                      konsortium: Konsortium | None = None) -> Definitions:
    """The code location for one data dir (or a consortium's): `skyddsnat run` and tests of
    past dates build their own, so their partitions cover the days their files have."""
    if konsortium:
        partitions = partitions_for(*((place.data_dir, place.policy_dir)
                                      for place in konsortium.kommuner))
        return konsortium_definitions(konsortium, nodes(partitions), partitions)
    partitions = partitions_for((data_dir, DEFAULT_POLICY_DIR))
    return Definitions(
        assets=nodes(partitions),
        asset_checks=FRESHNESS_CHECKS,
        jobs=[nightly_job(partitions), freshness_job],
        schedules=[build_schedule(data_dir, key_dir), freshness_schedule],
        sensors=[build_sensor(data_dir, key_dir)],
        resources={
            # EnvVar keeps the key location out of the stored run config when it is set.
            "skyddsnat": Skyddsnat(
                data_dir=data_dir,
                key_dir=EnvVar("SKYDDSNAT_KEY_DIR") if "SKYDDSNAT_KEY_DIR" in os.environ
                else key_dir),
            "warehouse": WarehouseIOManager(data_dir=data_dir),
        },
    )


KONSORTIUM = from_environment()  # SKYDDSNAT_KONSORTIUM: several municipalities, see there
defs = build_definitions(DATA_DIR, KEY_DIR, KONSORTIUM)
