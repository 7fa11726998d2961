"""The nightly delivery to the outbox, its encrypted archive and retention."""

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, MaterializeResult, asset

from assets.constants import GROUP_DELIVERY
from assets.delivery.lists import READ_IN_PART, delivery_inputs, list_heads
from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from skyddsnat.delivery.deliver import deliver
from skyddsnat.ingest.inbox_cleanup import clean
from skyddsnat.privacy.archive import purge as purge_archive
from skyddsnat.privacy.audit import AuditLog

INPUTS = ("skolplikt_arenden", "skolplikt_datakvalitet", "inkomstkontroll_hushall",
          "inkomstkontroll_signaler", "franvaro_elever", "kommunbild_tabell",
          "atgardsprogram_elever", "atgardsprogram_kommun", "skyddade",
          "inkomstkontroll_sammanfattning")


@asset(
    group_name=GROUP_DELIVERY,
    description="Leveransen till utkorgen: Excel-listor per mottagare, förseglade listor för "
                "skyddade personer, nämndens tabeller, manifest och revisionslogg – publicerad "
                "atomärt.",
    ins={name: AssetIn() for name in INPUTS},
    deps=["identitetsvalv", *READ_IN_PART],
    kinds={"excel"},
)
@privacy_safe
def leverans(context: AssetExecutionContext, skyddsnat: Skyddsnat, **tables: pd.DataFrame
             ) -> MaterializeResult:
    policy, keys, data = skyddsnat.policy(), skyddsnat.key_material(), skyddsnat.data()
    as_of = skyddsnat.reference_date()
    heads = list_heads(data, policy, as_of)
    lists, boards = delivery_inputs(data, tables, policy, as_of, heads)
    report = deliver(data, keys, policy, as_of, lists, boards, tables["skyddade"]["person_id"],
                     heads)
    purged = purge_archive(data.archive, as_of, policy.gallring.arkiv_dagar)
    return MaterializeResult(metadata={
        "referensdag": as_of.isoformat(),
        "filer": len(report.manifest["files"]),
        "rader_allmanna_listor": sum(report.general_rows.values()),
        "arkivdagar_gallrade": len(purged),
        "policyversion": policy.version,
    })


@asset(
    group_name=GROUP_DELIVERY,
    description="Inkorgen rensas: behandlade exporter som finns i det förseglade arkivet tas "
                "bort när körningen har lyckats (gallring.yaml inkorg_rensas).",
    deps=["leverans"],
    kinds={"python"},
)
@privacy_safe
def inkorg_rensning(context: AssetExecutionContext, skyddsnat: Skyddsnat) -> MaterializeResult:
    policy, data = skyddsnat.policy(), skyddsnat.data()
    removed = []
    if policy.gallring.inkorg_rensas == "efter_lyckad_korning":
        removed = clean(data, skyddsnat.reference_date(), AuditLog(data.audit), policy)
    return MaterializeResult(metadata={"filer_borttagna": len(removed),
                                       "policyversion": policy.version})
