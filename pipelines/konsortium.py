"""The code location of a consortium: per municipality its own job, schedule and sensor.

Dagster 1.13 gives an asset job one partitions definition, and the nightly job's is the
attendance day (runs carry a day range), so the municipality is not a second partition
dimension of the same job: each kommunkod gets its own job over the same assets, its run
config (data dir, key dir, policy dir, kommunkod) and the tag `skyddsnat/kommunkod` fixed in
the job. A run launched from the UI, a schedule or a sensor can only ever read and write that
municipality's directories, and the queued run coordinator's tag limit lets one run per
municipality go at a time. The resources bound to the assets outside those jobs point at no
municipality: an ad hoc materialisation without a municipality's config fails before it reads
anything.
"""

from __future__ import annotations

import json

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    EnvVar,
    PartitionsDefinition,
    define_asset_job,
    in_process_executor,
)

from pipelines.io import WarehouseIOManager
from pipelines.jobs import JOB_NAME, KOMMUN_TAG, run_config
from pipelines.resources import Skyddsnat
from pipelines.schedules import build_schedule
from pipelines.sensors import build_sensor
from skyddsnat.konsortium import KommunPlats, Konsortium

VERSION_TAG = "skyddsnat/konsortium"
# Never set: the assets' default resources belong to no municipality.
NO_MUNICIPALITY = "SKYDDSNAT_KONSORTIUM_VALJ_KOMMUNENS_JOBB"


def job_name(kommunkod: str) -> str:
    return f"{JOB_NAME}_{kommunkod}"


def kommun_tags(k: KommunPlats, version: str) -> dict[str, str]:
    tags = {KOMMUN_TAG: k.kommunkod, VERSION_TAG: version}
    # On Kubernetes the run pod gets this municipality's Secret and volume, and no other's.
    container, pod = {}, {}
    if k.key_secret:
        container["env_from"] = [{"secret_ref": {"name": k.key_secret}}]
    if k.volume:
        container["volume_mounts"] = [{"name": "kommundata", "mount_path": str(k.data_dir)}]
        pod["volumes"] = [{"name": "kommundata",
                           "persistent_volume_claim": {"claim_name": k.volume}}]
    if container:
        tags["dagster-k8s/config"] = json.dumps(
            {"container_config": container, **({"pod_spec_config": pod} if pod else {})})
    return tags


def _kommun_config(k: KommunPlats) -> dict:
    return run_config(str(k.data_dir), str(k.key_dir or ""), None, k.kommunkod, str(k.policy_dir))


def kommun_job(k: KommunPlats, version: str, partitions_def: PartitionsDefinition):
    return define_asset_job(
        job_name(k.kommunkod), selection=AssetSelection.all(),
        partitions_def=partitions_def, config=_kommun_config(k),
        tags=kommun_tags(k, version),
        # One process per municipality and night: municipalities run side by side, and no
        # step pays a fresh interpreter's imports (the same as `skyddsnat run`).
        executor_def=in_process_executor,
        description=f"Nattkörningen för {k.namn} ({k.kommunkod}): bara kommunens egna "
                    "kataloger, nycklar och policy.")


def konsortium_definitions(k: Konsortium, assets,
                           partitions_def: PartitionsDefinition) -> Definitions:
    """`assets` with their attendance partitions `partitions_def` (they start at the first
    attendance day of any of the municipalities)."""
    jobs, schedules, sensors = [], [], []
    for place in k.kommuner:
        job = kommun_job(place, k.version, partitions_def)
        paths = dict(kommunkod=place.kommunkod, policy_dir=str(place.policy_dir), job=job)
        key_dir = str(place.key_dir or "")
        jobs.append(job)
        schedules.append(build_schedule(
            str(place.data_dir), key_dir, name=f"nattlig_schema_{place.kommunkod}",
            default_status=(DefaultScheduleStatus.RUNNING if k.schema_igang
                            else DefaultScheduleStatus.STOPPED), **paths))
        sensors.append(build_sensor(
            str(place.data_dir), key_dir, k.inkorg_vila_sekunder,
            name=f"inkorg_sensor_{place.kommunkod}",
            minimum_interval_seconds=k.inkorg_intervall_sekunder,
            default_status=(DefaultSensorStatus.RUNNING if k.inkorg_igang
                            else DefaultSensorStatus.STOPPED), **paths))
    return Definitions(
        assets=assets, jobs=jobs, schedules=schedules, sensors=sensors,
        resources={"skyddsnat": Skyddsnat(data_dir=EnvVar(NO_MUNICIPALITY)),
                   "warehouse": WarehouseIOManager(data_dir=EnvVar(NO_MUNICIPALITY))})
