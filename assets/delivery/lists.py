"""Turning the pseudonymous domain tables into list inputs for the delivery (no Dagster)."""

from functools import partial

import numpy as np
import pandas as pd

from skyddsnat.charts import board_html
from skyddsnat.delivery import BoardTable, ListInput
from skyddsnat.income_check import LISTED
from skyddsnat.layout import DataDir
from skyddsnat.lists.catalog import ListCatalog
from skyddsnat.suppression import split_status

CELL_STATUS_SHEET = "Cellstatus"

# Tables the delivery needs only a little of, read straight from the warehouse: the month
# rows of the listed households (out of a million) and the school unit codes of registers.
READ_IN_PART = ("inkomstkontroll_manader", "elevregister", "betyg", "franvaro_termin")


def delivery_inputs(data: DataDir, t: dict[str, pd.DataFrame], policy, as_of
                    ) -> tuple[dict[str, list[ListInput]], list[BoardTable]]:
    """Every list and board table of a delivery, from the loaded tables `t` and the parts
    of `READ_IN_PART` that are needed."""
    def read(name: str, **kw) -> pd.DataFrame:
        return pd.read_parquet(data.table(name), **kw)

    register = read("elevregister", columns=["huvudman", "skolenhetskod"])
    households = t["inkomstkontroll_hushall"]
    listed = sorted(households.loc[households["atgard"].isin(LISTED), "hushall_id"]
                    .dropna().unique())
    months = read("inkomstkontroll_manader", filters=[("hushall_id", "in", listed)]) \
        if listed else read("inkomstkontroll_manader").iloc[0:0]
    protected = t["skyddade"]["person_id"]
    catalog = ListCatalog(policy)
    lists = {
        "skolplikt": skolplikt_lists(catalog, t["skolplikt_arenden"],
                                     t["skolplikt_datakvalitet"], protected),
        "franvaro": per_school_lists(catalog, "franvaro", t["franvaro_elever"], own_school_units(
            register, read("franvaro_termin", columns=["skolenhetskod"])["skolenhetskod"])),
        "atgardsprogram": per_school_lists(catalog, "atgardsprogram",
                                           t["atgardsprogram_elever"],
                                           own_school_units(register, read(
                                               "betyg", columns=["skolenhetskod"])[
                                               "skolenhetskod"])),
        "inkomstkontroll": income_lists(catalog, households, months,
                                        t["inkomstkontroll_signaler"]),
    }
    programmes, programme_status = split_status(t["atgardsprogram_kommun"])
    boards = [kommunbild_board(t["kommunbild_tabell"], policy, as_of),
              BoardTable("atgardsprogram_kommun", "Åtgärdsprogram och F per skolenhet",
                         programmes, sheets=status_sheet(programme_status))]
    return lists, boards


def status_sheet(status: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """Each cell's status (publicerad / primär / sekundär / komplement) beside the table."""
    return {} if status is None else {CELL_STATUS_SHEET: status}


def kommunbild_board(table: pd.DataFrame, policy, as_of) -> BoardTable:
    """The board's table; its HTML page is drawn during the delivery (in its helper process
    when there is one: drawing a large city's charts takes seconds)."""
    u = policy.undertryckning
    table, status = split_status(table)
    page = partial(board_html, table, "Frånvaro i grundskolan – kommunbild", policy.version,
                   as_of, min_base=u.minsta_bas_andel, symbol=u.symbol, k=u.k)
    return BoardTable("kommunbild", "Frånvaro per skolenhet, årskurs och månad", table,
                      {"Röjandekontroll": f"Antal 1–{u.k - 1} visas som {u.symbol}, med "
                                          "sekundär undertryckning mot summorna och "
                                          "nästlingen, bevisad med linjärprogrammering före "
                                          "leverans; bladet Cellstatus visar varje cells "
                                          "status."},
                      page=page, sheets=status_sheet(status))


def skolplikt_lists(catalog: ListCatalog, cases: pd.DataFrame, findings: pd.DataFrame,
                    skyddade: pd.Series) -> list[ListInput]:
    """One list; data-quality findings as counts per school unit (no protected persons)."""
    general = findings[~findings["person_id"].isin(set(skyddade))]
    dq = (general.groupby(["fynd", "skolenhetskod"]).size().rename("antal").reset_index()
          if len(general) else pd.DataFrame(columns=["fynd", "skolenhetskod", "antal"]))
    return [ListInput(catalog.spec("skolplikt"), cases, {"Datakvalitet": dq})]


def income_lists(catalog: ListCatalog, households: pd.DataFrame, months: pd.DataFrame,
                 flags: pd.DataFrame) -> list[ListInput]:
    """One list per income year (or, if the policy says so, one for every year), with
    month-by-month detail and signals as extra sheets.

    `months` needs to hold only the listed households' rows: the delivery keeps no other.
    """
    listed = households[households["atgard"].isin(LISTED)]
    if not catalog.per_year("inkomstkontroll"):
        return [ListInput(catalog.spec("inkomstkontroll"), listed.reset_index(drop=True),
                          {"Månadsdetaljer": months,
                           "Signaler": flags[["hushall_id", "inkomstar", "signal",
                                              "beskrivning"]]},
                          extra_key="hushall_id")]
    out = []
    for year in sorted(households["inkomstar"].dropna().unique()):
        rows = listed[listed["inkomstar"] == year]
        detail = months.loc[months["inkomstar"] == year,
                            [c for c in months.columns if c != "inkomstar"]]
        signals = flags[flags["inkomstar"] == year][["hushall_id", "signal", "beskrivning"]]
        out.append(ListInput(catalog.spec("inkomstkontroll", int(year)),
                             rows.reset_index(drop=True),
                             {"Månadsdetaljer": detail, "Signaler": signals},
                             extra_key="hushall_id"))
    return out


def own_school_units(elevregister: pd.DataFrame, *others: pd.Series) -> list[str]:
    """The municipality's own school units: every rektor gets a file, empty or not, so a
    school whose only cases are protected looks exactly like a school with none."""
    own = elevregister.loc[elevregister["huvudman"] == "kommunal", "skolenhetskod"]
    units = set(own.dropna().unique())
    for s in others:
        units |= set(s.dropna().unique())
    return sorted(units)


def per_school_lists(catalog: ListCatalog, kind: str, rows: pd.DataFrame,
                     schools: list[str]) -> list[ListInput]:
    """One list per school, cut from one grouping of the rows (not one scan per school); or,
    if the policy does not cut the kind per school unit, one list of every school's rows."""
    if not catalog.per_school(kind):
        return [ListInput(catalog.spec(kind), rows.reset_index(drop=True))]
    groups = rows.groupby("skolenhetskod", sort=False, dropna=True).indices
    empty = np.array([], dtype=np.intp)
    return [ListInput(catalog.spec(kind, code),
                      rows.iloc[groups.get(code, empty)].reset_index(drop=True))
            for code in schools]
