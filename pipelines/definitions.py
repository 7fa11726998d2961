"""The one place that assembles the code location: assets, checks, job, schedule, sensor.

The data dir and key dir come from the environment (SKYDDSNAT_DATA_DIR, SKYDDSNAT_KEY_DIR);
without them the demo's folders are used, so `make ui` shows the demo municipality.
With SKYDDSNAT_KONSORTIUM (a consortium file) it serves several, see pipelines/konsortium.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions, EnvVar, load_asset_checks_from_modules, load_assets_from_modules

import assets.atgardsprogram.assets as atgardsprogram_assets
import assets.avgifter.assets as avgifter_assets
import assets.delivery.assets as delivery_assets
import assets.disclosure_checks as disclosure_checks
import assets.franvaro.assets as franvaro_assets
import assets.protection.assets as protection_assets
import assets.skolplikt.assets as skolplikt_assets
import assets.sources.narvaro as narvaro_assets
import assets.sources.tables as source_tables
from pipelines.io import WarehouseIOManager
from pipelines.jobs import nightly_job
from pipelines.konsortium import konsortium_definitions
from pipelines.resources import Skyddsnat
from pipelines.schedules import build_schedule
from pipelines.sensors import build_sensor
from skyddsnat.konsortium import from_environment

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = os.environ.get("SKYDDSNAT_DATA_DIR", str(ROOT / "demo" / "data"))
KEY_DIR = os.environ.get("SKYDDSNAT_KEY_DIR", str(ROOT / "demo" / "keys"))

ASSET_MODULES = [source_tables, narvaro_assets, protection_assets, skolplikt_assets,
                 avgifter_assets, franvaro_assets, atgardsprogram_assets, delivery_assets]

# The board tables' blocking audits go with the assets everywhere (one municipality or many).
NODES = [*load_assets_from_modules(ASSET_MODULES),
         *load_asset_checks_from_modules([disclosure_checks])]

KONSORTIUM = from_environment()  # SKYDDSNAT_KONSORTIUM: several municipalities, see there

defs = konsortium_definitions(KONSORTIUM, NODES) if KONSORTIUM else Definitions(
    assets=NODES,
    jobs=[nightly_job],
    schedules=[build_schedule(DATA_DIR, KEY_DIR)],
    sensors=[build_sensor(DATA_DIR, KEY_DIR)],
    resources={
        # EnvVar keeps the key location out of the stored run config when it is set.
        "skyddsnat": Skyddsnat(
            data_dir=DATA_DIR,
            key_dir=EnvVar("SKYDDSNAT_KEY_DIR") if "SKYDDSNAT_KEY_DIR" in os.environ
            else KEY_DIR),
        "warehouse": WarehouseIOManager(data_dir=DATA_DIR),
    },
)
