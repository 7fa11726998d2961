"""Blocking checks: every table for the board is proven by the LP audit before delivery.

Each check reads the table as stored (what the delivery will publish), not the suppression's
bookkeeping, and fails with ERROR severity: `leverans` depends on these tables, so a failed
proof withholds the whole delivery.
"""

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, asset_check

from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from skyddsnat.lists.charts import page_figures
from skyddsnat.rules.action_programmes import BOARD_STRUCTURE
from skyddsnat.rules.disclosure_audit import (
    AuditError,
    ComponentMemo,
    TableStructure,
    audit,
    figure_problems,
)
from skyddsnat.rules.kommunbild import STRUCTURE as KOMMUNBILD
from skyddsnat.rules.suppression import STATUS_PREFIX, STATUSES, split_status

CHECK_AUDIT = "rojandekontroll"
CHECK_FIGURES = "diagram_ur_publicerade_celler"


def status_problems(table: pd.DataFrame, structure: TableStructure, symbol: str) -> list[str]:
    """The cell status sheet must say `publicerad` exactly where a number is shown."""
    _, sheet = split_status(table)
    if sheet is None:
        return ["cellstatus saknas"]
    problems = []
    for m in structure.measures:
        if m not in sheet:
            problems.append(f"cellstatus saknas för {m}")
            continue
        status = sheet[m].astype("string")
        if not status.isin(STATUSES).all():
            problems.append(f"okänd cellstatus för {m}")
        hidden = table[m].astype("string") == symbol
        if ((status == "publicerad") == hidden).any():
            problems.append(f"cellstatus för {m} stämmer inte med det publicerade")
    return problems


def _result(name: str, table: pd.DataFrame, structure: TableStructure, skyddsnat: Skyddsnat
            ) -> AssetCheckResult:
    u = skyddsnat.policy().undertryckning
    structure = structure.for_policy(u.komplement)
    published = table[[c for c in table.columns if not c.startswith(STATUS_PREFIX)]]
    try:
        # Last night's unchanged components (past months) are not solved again.
        memo = ComponentMemo(skyddsnat.data().warehouse / "_filcache" / CHECK_AUDIT
                             / f"{name}.json")
        report = audit(published, structure, u.k, u.symbol, memo=memo)
        memo.save()
    except AuditError as exc:
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.ERROR,
                                metadata={"fel": str(exc), "k": u.k})
    problems = report.problems + status_problems(table, structure, u.symbol)
    meta = {**report.summary(), "fel": "; ".join(problems) or "-", "k": u.k,
            "komplement": u.komplement}
    return AssetCheckResult(passed=report.passed and not problems,
                            severity=AssetCheckSeverity.ERROR, metadata=meta)


@asset_check(asset="kommunbild_tabell", name=CHECK_AUDIT, blocking=True,
             description="Röjandekontroll av kommunbilden som den publiceras: linjär-"
                         "programmering över alla celler, summor och nästlingen antal_20 ≤ "
                         "antal_15 ≤ antal_10 ≤ antal_elever visar att ingen undertryckt cell "
                         "kan räknas fram eller avgränsas till 1–k−1, och att inget antal "
                         "röjer en hel grupp. Underkänd kontroll stoppar leveransen.")
@privacy_safe
def kommunbild_rojandekontroll(skyddsnat: Skyddsnat, kommunbild_tabell: pd.DataFrame
                               ) -> AssetCheckResult:
    return _result("kommunbild_tabell", kommunbild_tabell, KOMMUNBILD, skyddsnat)


@asset_check(asset="kommunbild_tabell", name=CHECK_FIGURES, blocking=True,
             description="Nämndsidans diagram och tabell visar bara publicerade (granskade) "
                         "celler ur kommunbilden, och andelar bara där både antal och bas är "
                         "publicerade och basen är minst minsta_bas_andel elever. Underkänd "
                         "kontroll stoppar leveransen.")
@privacy_safe
def kommunbild_diagramkontroll(skyddsnat: Skyddsnat, kommunbild_tabell: pd.DataFrame
                               ) -> AssetCheckResult:
    u = skyddsnat.policy().undertryckning
    figures = page_figures(kommunbild_tabell, u.minsta_bas_andel)
    problems = figure_problems(figures, kommunbild_tabell, ["manad", "skolenhet", "arskurs"],
                               u.minsta_bas_andel, u.symbol)
    return AssetCheckResult(passed=not problems, severity=AssetCheckSeverity.ERROR,
                            metadata={"diagramvarden": len(figures),
                                      "fel": "; ".join(problems) or "-"})


@asset_check(asset="atgardsprogram_kommun", name=CHECK_AUDIT, blocking=True,
             description="Röjandekontroll av nämndens tabell över åtgärdsprogram och F per "
                         "skolenhet som den publiceras: linjärprogrammering över alla celler, "
                         "summan och sambanden (F utan program ≤ F; F med program ≤ elever med "
                         "program) visar att ingen undertryckt cell kan räknas fram eller "
                         "avgränsas till 1–k−1. Underkänd kontroll stoppar leveransen.")
@privacy_safe
def atgardsprogram_rojandekontroll(skyddsnat: Skyddsnat, atgardsprogram_kommun: pd.DataFrame
                                   ) -> AssetCheckResult:
    return _result("atgardsprogram_kommun", atgardsprogram_kommun, BOARD_STRUCTURE, skyddsnat)
