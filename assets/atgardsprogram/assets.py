"""Pupils with F but no åtgärdsprogram, per school unit and term, and the board's table."""

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AssetOut, Output, multi_asset

from assets.constants import GROUP_ATGARDSPROGRAM
from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from skyddsnat.action_programmes import pupil_summary, rektor_list, school_table
from skyddsnat.suppression import suppress


def latest_term(betyg: pd.DataFrame) -> str | None:
    """The newest term in the grade files (VT before HT within a year)."""
    terms = betyg["termin"].dropna().unique().tolist()
    return max(terms, key=lambda t: (int(t[2:]), t[:2] == "HT")) if terms else None


MEASURES = ["elever_med_f", "elever_med_atgardsprogram", "f_utan_atgardsprogram",
            "elever_med_streck"]


def board_table(schools: pd.DataFrame, k: int, symbol: str) -> pd.DataFrame:
    """One row per school unit plus "Totalt"; each measure suppressed (primary and secondary)
    on its own against the municipal total. Only the shown strings leave this function."""
    columns = {"skolenhet": pd.Series(dtype="string")}
    if schools.empty:
        return pd.DataFrame({**columns, **{m: pd.Series(dtype="string") for m in MEASURES}})
    wide = None
    for measure in MEASURES:
        long = schools[["skolenhetskod"]].assign(matt=measure, antal=schools[measure])
        shown = suppress(long, "skolenhetskod", "matt", "antal", k).frame(symbol)
        shown = shown[shown["col"] == measure][["row", "shown"]]
        shown = shown.rename(columns={"row": "skolenhet", "shown": measure})
        wide = shown if wide is None else wide.merge(shown, on="skolenhet", how="outer")
    return wide.fillna("0").astype("string").reset_index(drop=True)


@multi_asset(
    group_name=GROUP_ATGARDSPROGRAM,
    outs={
        "atgardsprogram_elever": AssetOut(
            io_manager_key="warehouse", kinds={"pandas"},
            description="Elever med F utan åtgärdsprogram på skolenheten, och elever med '-' "
                        "och frånvaro ≥ 15 %, senaste betygsterminen."),
        "atgardsprogram_kommun": AssetOut(
            io_manager_key="warehouse", kinds={"pandas"},
            description="Per skolenhet: elever med F, med åtgärdsprogram, F utan program och "
                        "'-', undertryckt för nämnden (utan skyddade elever)."),
    },
    ins={"betyg": AssetIn(), "atgardsprogram": AssetIn(), "franvaro_termin": AssetIn(),
         "skyddade": AssetIn()},
)
@privacy_safe
def atgardsprogram_kontroll(context: AssetExecutionContext, skyddsnat: Skyddsnat,
                            betyg: pd.DataFrame, atgardsprogram: pd.DataFrame,
                            franvaro_termin: pd.DataFrame, skyddade: pd.DataFrame):
    policy = skyddsnat.policy()
    term = latest_term(betyg)
    if term is None:
        pupils = pupil_summary(betyg, atgardsprogram, "HT2000")
    else:
        absence = franvaro_termin.assign(
            franvaro_procent=100 * franvaro_termin["franvaro_min"]
            / franvaro_termin["schemalagd_min"].where(franvaro_termin["schemalagd_min"] > 0))
        pupils = pupil_summary(betyg, atgardsprogram, term, absence,
                               policy.franvaro.streck_franvaro_procent)
    listed = rektor_list(pupils)
    schools = school_table(pupils, skyddade["person_id"])
    u = policy.undertryckning
    yield Output(listed, output_name="atgardsprogram_elever",
                 metadata={"termin": term or "-", "policyversion": policy.version})
    yield Output(board_table(schools, u.k, u.symbol), output_name="atgardsprogram_kommun",
                 metadata={"termin": term or "-", "k": u.k})
