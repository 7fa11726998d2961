"""Turning the pseudonymous domain tables into list inputs for the delivery (no Dagster)."""

import pandas as pd

from skyddsnat.delivery import ListInput
from skyddsnat.excel import list_spec
from skyddsnat.income_check import LISTED


def skolplikt_lists(cases: pd.DataFrame, findings: pd.DataFrame,
                    skyddade: pd.Series) -> list[ListInput]:
    """One list; data-quality findings as counts per school unit (no protected persons)."""
    general = findings[~findings["person_id"].isin(set(skyddade))]
    dq = (general.groupby(["fynd", "skolenhetskod"]).size().rename("antal").reset_index()
          if len(general) else pd.DataFrame(columns=["fynd", "skolenhetskod", "antal"]))
    return [ListInput(list_spec("skolplikt"), cases, {"Datakvalitet": dq})]


def income_lists(households: pd.DataFrame, months: pd.DataFrame,
                 flags: pd.DataFrame) -> list[ListInput]:
    """One list per income year, with month-by-month detail and signals as extra sheets."""
    out = []
    for year in sorted(households["inkomstar"].dropna().unique()):
        rows = households[(households["inkomstar"] == year) & households["atgard"].isin(LISTED)]
        detail = months[months["inkomstar"] == year].drop(columns=["inkomstar"])
        signals = flags[flags["inkomstar"] == year][["hushall_id", "signal", "beskrivning"]]
        out.append(ListInput(list_spec("inkomstkontroll", int(year)), rows.reset_index(drop=True),
                             {"Månadsdetaljer": detail, "Signaler": signals},
                             extra_key="hushall_id"))
    return out


def own_school_units(elevregister: pd.DataFrame, *others: pd.Series) -> list[str]:
    """The municipality's own school units: every rektor gets a file, empty or not, so a
    school whose only cases are protected looks exactly like a school with none."""
    own = elevregister.loc[elevregister["huvudman"] == "kommunal", "skolenhetskod"]
    units = set(own.dropna())
    for s in others:
        units |= set(s.dropna())
    return sorted(units)


def per_school_lists(kind: str, rows: pd.DataFrame, schools: list[str]) -> list[ListInput]:
    return [ListInput(list_spec(kind, code),
                      rows[rows["skolenhetskod"] == code].reset_index(drop=True))
            for code in schools]
