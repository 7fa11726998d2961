"""Pupils with F but no åtgärdsprogram, per school unit and term, and the board's table."""

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AssetOut, Output, multi_asset

from assets.constants import GROUP_ATGARDSPROGRAM
from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from skyddsnat.rules.action_programmes import (
    BOARD_STRUCTURE,
    MEASURES,
    pupil_summary,
    rektor_list,
    school_table,
)
from skyddsnat.rules.suppression import STATUS_PREFIX, TOTAL, suppress_table


def latest_term(betyg: pd.DataFrame) -> str | None:
    """The newest term in the grade files (VT before HT within a year)."""
    terms = betyg["termin"].dropna().unique().tolist()
    return max(terms, key=lambda t: (int(t[2:]), t[:2] == "HT")) if terms else None


def board_table(schools: pd.DataFrame, k: int, symbol: str, komplement: bool = True
                ) -> pd.DataFrame:
    """One row per school unit plus "Totalt", all measures suppressed together with their
    relations (`BOARD_STRUCTURE`); the shown strings and each cell's status leave here."""
    if schools.empty:
        return pd.DataFrame({c: pd.Series(dtype="string")
                             for c in ["skolenhet", *MEASURES,
                                       *(STATUS_PREFIX + m for m in MEASURES)]})
    inner = schools.rename(columns={"skolenhetskod": "skolenhet"})[["skolenhet", *MEASURES]]
    table = suppress_table(inner, BOARD_STRUCTURE, k, komplement=komplement,
                           symbol=symbol).with_status()
    order = (table["skolenhet"] == TOTAL).to_numpy()
    table = pd.concat([table[~order].sort_values("skolenhet"), table[order]])
    return table.astype("string").reset_index(drop=True)


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
    yield Output(board_table(schools, u.k, u.symbol, u.komplement),
                 output_name="atgardsprogram_kommun",
                 metadata={"termin": term or "-", "k": u.k})
