"""The nightly delivery to the outbox, its encrypted archive and retention."""

import tempfile
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, MaterializeResult, asset

from assets.constants import GROUP_DELIVERY
from assets.delivery.lists import (
    income_lists,
    own_school_units,
    per_school_lists,
    skolplikt_lists,
)
from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from skyddsnat.archive import purge as purge_archive
from skyddsnat.charts import board_page
from skyddsnat.delivery import BoardTable, deliver

INPUTS = ("skolplikt_arenden", "skolplikt_datakvalitet", "inkomstkontroll_hushall",
          "inkomstkontroll_manader", "inkomstkontroll_signaler", "franvaro_elever",
          "franvaro_termin", "kommunbild_tabell", "atgardsprogram_elever",
          "atgardsprogram_kommun", "elevregister", "betyg", "skyddade")


def _kommunbild(table: pd.DataFrame, policy, as_of) -> BoardTable:
    u = policy.undertryckning
    with tempfile.TemporaryDirectory() as tmp:
        html = board_page(table, Path(tmp) / "kommunbild.html",
                          "Frånvaro i grundskolan – kommunbild", policy.version, as_of,
                          min_base=u.minsta_bas_andel, symbol=u.symbol, k=u.k).read_text(
                              encoding="utf-8")
    return BoardTable("kommunbild", "Frånvaro per skolenhet, årskurs och månad", table,
                      {"Röjandekontroll": f"Antal 1–{u.k - 1} visas som {u.symbol}, med "
                                          "sekundär undertryckning mot summorna."}, html=html)


@asset(
    group_name=GROUP_DELIVERY,
    description="Leveransen till utkorgen: Excel-listor per mottagare, förseglade listor för "
                "skyddade personer, nämndens tabeller, manifest och revisionslogg – publicerad "
                "atomärt.",
    ins={name: AssetIn() for name in INPUTS},
    deps=["identitetsvalv"],
    kinds={"excel"},
)
@privacy_safe
def leverans(context: AssetExecutionContext, skyddsnat: Skyddsnat, **tables: pd.DataFrame
             ) -> MaterializeResult:
    policy, keys, data = skyddsnat.policy(), skyddsnat.key_material(), skyddsnat.data()
    as_of = skyddsnat.reference_date()
    t = tables
    protected = t["skyddade"]["person_id"]
    absence_units = own_school_units(t["elevregister"], t["franvaro_termin"]["skolenhetskod"])
    grade_units = own_school_units(t["elevregister"], t["betyg"]["skolenhetskod"])
    lists = {
        "skolplikt": skolplikt_lists(t["skolplikt_arenden"], t["skolplikt_datakvalitet"],
                                     protected),
        "franvaro": per_school_lists("franvaro", t["franvaro_elever"], absence_units),
        "atgardsprogram": per_school_lists("atgardsprogram", t["atgardsprogram_elever"],
                                           grade_units),
        "inkomstkontroll": income_lists(t["inkomstkontroll_hushall"],
                                        t["inkomstkontroll_manader"],
                                        t["inkomstkontroll_signaler"]),
    }
    boards = [
        _kommunbild(t["kommunbild_tabell"], policy, as_of),
        BoardTable("atgardsprogram_kommun", "Åtgärdsprogram och F per skolenhet",
                   t["atgardsprogram_kommun"]),
    ]
    report = deliver(data, keys, policy, as_of, lists, boards, protected)
    purged = purge_archive(data.archive, as_of, policy.gallring.arkiv_dagar)
    return MaterializeResult(metadata={
        "referensdag": as_of.isoformat(),
        "filer": len(report.manifest["files"]),
        "rader_allmanna_listor": sum(report.general_rows.values()),
        "arkivdagar_gallrade": len(purged),
        "policyversion": policy.version,
    })
