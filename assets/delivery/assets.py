"""The nightly delivery to the outbox, its encrypted archive and retention."""

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, MaterializeResult, asset

from assets.constants import GROUP_DELIVERY
from assets.delivery.lists import income_lists, skolplikt_lists
from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from skyddsnat.archive import purge as purge_archive
from skyddsnat.delivery import deliver


@asset(
    group_name=GROUP_DELIVERY,
    description="Leveransen till utkorgen: Excel-listor per mottagare, förseglade listor för "
                "skyddade personer, manifest och revisionslogg – publicerad atomärt.",
    ins={
        "skolplikt_arenden": AssetIn(),
        "skolplikt_datakvalitet": AssetIn(),
        "inkomstkontroll_hushall": AssetIn(),
        "inkomstkontroll_manader": AssetIn(),
        "inkomstkontroll_signaler": AssetIn(),
        "skyddade": AssetIn(),
    },
    deps=["identitetsvalv"],
    kinds={"excel"},
)
@privacy_safe
def leverans(context: AssetExecutionContext, skyddsnat: Skyddsnat,
             skolplikt_arenden: pd.DataFrame, skolplikt_datakvalitet: pd.DataFrame,
             inkomstkontroll_hushall: pd.DataFrame, inkomstkontroll_manader: pd.DataFrame,
             inkomstkontroll_signaler: pd.DataFrame, skyddade: pd.DataFrame) -> MaterializeResult:
    policy, keys, data = skyddsnat.policy(), skyddsnat.key_material(), skyddsnat.data()
    as_of = skyddsnat.reference_date()
    protected = skyddade["person_id"]
    lists = {
        "skolplikt": skolplikt_lists(skolplikt_arenden, skolplikt_datakvalitet, protected),
        "inkomstkontroll": income_lists(inkomstkontroll_hushall, inkomstkontroll_manader,
                                        inkomstkontroll_signaler),
    }
    report = deliver(data, keys, policy, as_of, lists, [], protected)
    purged = purge_archive(data.archive, as_of, policy.gallring.arkiv_dagar)
    return MaterializeResult(metadata={
        "referensdag": as_of.isoformat(),
        "filer": len(report.manifest["files"]),
        **{f"rader_{k}": v for k, v in sorted(report.general_rows.items())},
        "arkivdagar_gallrade": len(purged),
        "policyversion": policy.version,
    })
