"""Every billed month recomputed with the fixed tax income, per household and year."""

import pandas as pd
from dagster import AssetExecutionContext, AssetOut, multi_asset

from assets.constants import GROUP_AVGIFTER
from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from pipelines.reuse import CODE_VERSION, kept_or_computed
from skyddsnat.policy import Fees
from skyddsnat.rules.fee_signals import SIGNAL_COLUMNS, billed_signals
from skyddsnat.rules.income_check import (
    HOUSEHOLD_COLUMNS,
    MONTH_COLUMNS,
    billed_in_year,
    check_billed,
    years_to_check,
)

INPUTS = ("avgifter", "inkomster", "skyddade")
OUTPUTS = ("inkomstkontroll_hushall", "inkomstkontroll_manader", "inkomstkontroll_signaler",
           "inkomstkontroll_sammanfattning")


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
    deps=list(INPUTS),
    code_version=CODE_VERSION,
)
@privacy_safe
def inkomstkontroll(context: AssetExecutionContext, skyddsnat: Skyddsnat):
    """Kept when no invoice, income or protection table (nor code, policy, key) changed: the
    check never looks at the reference date."""
    data = skyddsnat.data()

    def compute():
        avgifter, inkomster, skyddade = (pd.read_parquet(data.table(n)) for n in INPUTS)
        tables = check_all_years(avgifter, inkomster, skyddade["person_id"],
                                 skyddsnat.policy().maxtaxa)
        return {name: (table, {}) for name, table in tables.items()}

    yield from kept_or_computed(context, skyddsnat, "inkomstkontroll", list(OUTPUTS),
                                list(INPUTS), compute)


def check_all_years(avgifter: pd.DataFrame, inkomster: pd.DataFrame, skyddade: pd.Series,
                    fees: Fees) -> dict[str, pd.DataFrame]:
    """The check and the signals of every income year, one table per output.

    A year's billed rows are sorted and coded once (`billed_in_year`) and shared by the
    check and the signals.
    """
    households, months, flags, summary = [], [], [], []
    for year in years_to_check(inkomster["inkomstar"].dropna().unique()):
        billed = billed_in_year(avgifter, year)
        check = check_billed(billed, inkomster, fees, skyddade)
        households.append(check.households)
        months.append(check.months.assign(inkomstar=year))
        flags.append(billed_signals(billed, inkomster, fees.signaler.faktor,
                                    fees.signaler.marginal_kr_per_manad).assign(inkomstar=year))
        summary.extend({"inkomstar": year, "nyckel": k, "varde": str(v)}
                       for k, v in check.summary.items() if k != "inkomstar")
    return {
        "inkomstkontroll_hushall": _concat(households, HOUSEHOLD_COLUMNS),
        "inkomstkontroll_manader": _concat(months, [*MONTH_COLUMNS, "inkomstar"]),
        "inkomstkontroll_signaler": _concat(flags, [*SIGNAL_COLUMNS, "inkomstar"]),
        "inkomstkontroll_sammanfattning": pd.DataFrame(
            summary, columns=["inkomstar", "nyckel", "varde"]).astype(
            {"nyckel": "string", "varde": "string"}),
    }


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in columns})
    return pd.concat(frames, ignore_index=True)
