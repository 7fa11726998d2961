"""Every billed month recomputed with the fixed tax income, per household and year."""

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AssetOut, Output, multi_asset

from assets.constants import GROUP_AVGIFTER
from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from skyddsnat.fee_signals import signals
from skyddsnat.income_check import HOUSEHOLD_COLUMNS, MONTH_COLUMNS, income_check, years_to_check


@multi_asset(
    group_name=GROUP_AVGIFTER,
    outs={
        "inkomstkontroll_hushall": AssetOut(
            io_manager_key="warehouse", kinds={"pandas"},
            description="Per hushåll och inkomstår: debiterat, korrekt avgift, differens, åtgärd."),
        "inkomstkontroll_manader": AssetOut(
            io_manager_key="warehouse", kinds={"pandas"},
            description="Månad för månad per hushåll och barn, underlag för brev till hushållet."),
        "inkomstkontroll_signaler": AssetOut(
            io_manager_key="warehouse", kinds={"pandas"},
            description="Rimlighetssignaler som bör kontrolleras (ingen anklagelse)."),
        "inkomstkontroll_sammanfattning": AssetOut(
            io_manager_key="warehouse", kinds={"pandas"},
            description="Antal och summor per inkomstår, utan hushåll med skyddade personer."),
    },
    ins={"avgifter": AssetIn(), "inkomster": AssetIn(), "skyddade": AssetIn()},
)
@privacy_safe
def inkomstkontroll(context: AssetExecutionContext, skyddsnat: Skyddsnat, avgifter: pd.DataFrame,
                    inkomster: pd.DataFrame, skyddade: pd.DataFrame):
    fees = skyddsnat.policy().maxtaxa
    households, months, flags, summary = [], [], [], []
    for year in years_to_check(inkomster["inkomstar"].dropna().unique()):
        check = income_check(avgifter, inkomster, year, fees, skyddade["person_id"])
        households.append(check.households)
        months.append(check.months.assign(inkomstar=year))
        flags.append(signals(avgifter, inkomster, year, fees.signaler.faktor,
                             fees.signaler.marginal_kr_per_manad).assign(inkomstar=year))
        summary.extend({"inkomstar": year, "nyckel": k, "varde": str(v)}
                       for k, v in check.summary.items() if k != "inkomstar")
    yield Output(_concat(households, HOUSEHOLD_COLUMNS), output_name="inkomstkontroll_hushall")
    yield Output(_concat(months, [*MONTH_COLUMNS, "inkomstar"]),
                 output_name="inkomstkontroll_manader")
    yield Output(_concat(flags, ["hushall_id", "betalare", "signal", "beskrivning", "inkomstar"]),
                 output_name="inkomstkontroll_signaler")
    yield Output(pd.DataFrame(summary, columns=["inkomstar", "nyckel", "varde"]).astype(
        {"nyckel": "string", "varde": "string"}), output_name="inkomstkontroll_sammanfattning")


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in columns})
    return pd.concat(frames, ignore_index=True)
