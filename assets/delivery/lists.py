"""Turning the pseudonymous domain tables into list inputs for the delivery (no Dagster)."""

from dataclasses import replace
from functools import partial

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from assets.atgardsprogram.assets import latest_term
from assets.franvaro.days import stored_days
from skyddsnat.delivery.data_basis import partial_months, partial_note, summary_head
from skyddsnat.delivery.deliver import BoardTable, ListInput
from skyddsnat.ingest.freshness import LIST_SOURCES, bases
from skyddsnat.layout import DataDir
from skyddsnat.lists.catalog import ListCatalog, ListSpec
from skyddsnat.lists.charts import board_html
from skyddsnat.lists.forklaring import forklaring
from skyddsnat.lists.labels import label
from skyddsnat.rules.absence import recent_window, term_start
from skyddsnat.rules.income_check import INOM_TOLERANS, LISTED
from skyddsnat.rules.suppression import TOTAL, split_status

CELL_STATUS_SHEET = "Cellstatus"

# Tables the delivery needs only a little of, read straight from the warehouse: the month
# rows of the listed households (out of a million) and the school unit codes of registers.
READ_IN_PART = ("inkomstkontroll_manader", "elevregister", "betyg", "franvaro_termin")


def list_heads(data: DataDir, policy, as_of) -> dict[str, dict[str, object]]:
    """Each list kind's warnings and data basis, for the first rows of its summary sheet
    (the income check's per year: `income_head`)."""
    recorded = bases(data.state, as_of)
    grades = data.table("betyg")
    grade_term = (latest_term(pd.read_parquet(grades, columns=["termin"]))
                  if grades.exists() and "termin" in pq.read_schema(grades).names else None)
    days = stored_days(data, as_of)
    windows = {"term": (term_start(as_of, days, policy.franvaro.terminer), as_of),
               "recent": recent_window(as_of, policy.franvaro.senaste_dagar)}
    heads = {kind: summary_head(kind, recorded, **windows, grade_term=grade_term)
             for kind in LIST_SOURCES}
    minimum = policy.franvaro.kommunbild_minsta_skoldagar
    note = partial_note(partial_months(days, minimum), minimum)
    if note:
        heads["kommunbild"]["Ofullständiga månader"] = note
    return heads


def income_head(recorded: dict, summary: pd.DataFrame, year: int | None
                ) -> dict[str, object]:
    """The income list of one year (None: of every year): its year and whether every maxtaxa
    period used is confirmed."""
    rows = summary[summary["nyckel"] == "alla_perioder_bekraftade"]
    if year is not None:
        rows = rows[rows["inkomstar"].astype("Int64") == int(year)]
    confirmed = None if rows.empty else bool((rows["varde"] == "True").all())
    return summary_head("inkomstkontroll", recorded, income_year=year,
                        periods_confirmed=confirmed)


def _year(name: str) -> int | None:
    tail = name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def delivery_inputs(data: DataDir, t: dict[str, pd.DataFrame], policy, as_of,
                    heads: dict | None = None
                    ) -> tuple[dict[str, list[ListInput]], list[BoardTable]]:
    """Every list and board table of a delivery, from the loaded tables `t` and the parts
    of `READ_IN_PART` that are needed; each list opens with its kind's head (`list_heads`)."""
    def read(name: str, **kw) -> pd.DataFrame:
        return pd.read_parquet(data.table(name), **kw)

    register = read("elevregister", columns=["huvudman", "skolenhetskod", "skolenhet_namn"])
    names = school_names(register)
    grades = read("betyg", columns=["skolenhetskod", "termin"])
    term = latest_term(grades)
    heads = heads or list_heads(data, policy, as_of)
    households = t["inkomstkontroll_hushall"]
    listed = sorted(households.loc[households["atgard"].isin(LISTED), "hushall_id"]
                    .dropna().unique())
    months = read("inkomstkontroll_manader", filters=[("hushall_id", "in", listed)]) \
        if listed else read("inkomstkontroll_manader").iloc[0:0]
    protected = t["skyddade"]["person_id"]
    catalog = ListCatalog(policy)
    lists = {
        "skolplikt": skolplikt_lists(catalog, t["skolplikt_arenden"],
                                     t["skolplikt_datakvalitet"], protected, names),
        "franvaro": per_school_lists(catalog, "franvaro", t["franvaro_elever"], own_school_units(
            register, read("franvaro_termin", columns=["skolenhetskod"])["skolenhetskod"]),
            names),
        "atgardsprogram": per_school_lists(catalog, "atgardsprogram",
                                           t["atgardsprogram_elever"],
                                           own_school_units(register, grades["skolenhetskod"]),
                                           names, {"Betygstermin": term or "inga betyg"}),
        "inkomstkontroll": income_lists(catalog, households, months,
                                        t["inkomstkontroll_signaler"],
                                        t["inkomstkontroll_sammanfattning"]),
    }
    recorded = bases(data.state, as_of)
    for kind, inputs in lists.items():
        for inp in inputs:
            inp.head = (income_head(recorded, t["inkomstkontroll_sammanfattning"],
                                    _year(inp.spec.name))
                        if kind == "inkomstkontroll" else heads[kind])
    programmes, programme_status = split_status(t["atgardsprogram_kommun"])
    title = "Åtgärdsprogram och F per skolenhet"
    boards = [kommunbild_board(t["kommunbild_tabell"], policy, as_of, heads["kommunbild"]),
              BoardTable("atgardsprogram_kommun", title, name_first(programmes, names),
                         board_summary("atgardsprogram_kommun", policy,
                                       {"Betygstermin": term or "inga betyg"}),
                         sheets=status_sheet(programme_status, names))]
    return lists, boards


def school_names(elevregister: pd.DataFrame) -> dict[str, str]:
    """School unit code -> its name, as the register last spells it (the name of a school,
    not of anyone in it)."""
    if "skolenhet_namn" not in elevregister.columns:
        return {}
    named = elevregister[["skolenhetskod", "skolenhet_namn"]].dropna()
    named = named[named["skolenhet_namn"].astype("string").str.strip() != ""]
    return dict(named.drop_duplicates("skolenhetskod", keep="last").itertuples(index=False))


def name_first(table: pd.DataFrame, names: dict[str, str] | None = None) -> pd.DataFrame:
    """A board table with the school unit's name as its first column (a reader looks for
    the school by name); `names` fills it in when the table has only the code."""
    if "skolenhet_namn" not in table.columns:
        mapped = table["skolenhet"].map(names or {})
        table = table.assign(skolenhet_namn=mapped.where(table["skolenhet"] != TOTAL,
                                                         "Hela kommunen").astype("string"))
    return table[["skolenhet_namn", *[c for c in table.columns if c != "skolenhet_namn"]]]


def board_summary(name: str, policy, extra: dict[str, object]) -> dict[str, object]:
    """A board workbook's summary lines beside what every summary has, and its Förklaring."""
    role = policy.mottagare.roller.get(ListCatalog(policy).board_role(name))
    return {"Mottagare": role.beskrivning if role else name, **extra,
            "Förklaring": forklaring(name, policy)}


def with_school_name(spec: ListSpec, names: dict[str, str]) -> ListSpec:
    """The school unit's name beside its code in a per-school list's title."""
    code = spec.name.rsplit("_", 1)[-1]
    return replace(spec, title=f"{spec.title} {names[code]}") if code in names else spec


def status_sheet(status: pd.DataFrame | None, names: dict[str, str] | None = None
                 ) -> dict[str, pd.DataFrame]:
    """Each cell's status (publicerad / primär / sekundär / komplement) beside the table,
    in the table's layout (the school's name first)."""
    return {} if status is None else {CELL_STATUS_SHEET: name_first(status, names)}


def kommunbild_board(table: pd.DataFrame, policy, as_of, head: dict | None = None
                     ) -> BoardTable:
    """The board's table; its HTML page is drawn during the delivery (in its helper process
    when there is one: drawing a large city's charts takes seconds)."""
    u = policy.undertryckning
    table, status = split_status(table)
    page = partial(board_html, table, "Frånvaro i grundskolan – kommunbild", policy.version,
                   as_of, min_base=u.minsta_bas_andel, symbol=u.symbol, k=u.k,
                   note=str((head or {}).get("Ofullständiga månader", "")))
    return BoardTable("kommunbild", "Frånvaro per skolenhet, årskurs och månad",
                      name_first(table),
                      board_summary("kommunbild", policy, {
                          **(head or {}),
                          "Röjandekontroll": f"Antal 1–{u.k - 1} visas som {u.symbol}, med "
                                             "sekundär undertryckning mot summorna och "
                                             "nästlingen, bevisad med linjärprogrammering "
                                             "före leverans; bladet Cellstatus visar varje "
                                             "cells status."}),
                      page=page, sheets=status_sheet(status))


def skolplikt_lists(catalog: ListCatalog, cases: pd.DataFrame, findings: pd.DataFrame,
                    skyddade: pd.Series, names: dict[str, str] | None = None
                    ) -> list[ListInput]:
    """One list; data-quality findings as counts per school unit, named (no protected
    persons)."""
    general = findings[~findings["person_id"].isin(set(skyddade))]
    dq = (general.groupby(["fynd", "skolenhetskod"]).size().rename("antal").reset_index()
          if len(general) else pd.DataFrame(columns=["fynd", "skolenhetskod", "antal"]))
    dq.insert(2, "skolenhet_namn", dq["skolenhetskod"].map(names or {}).astype("string"))
    return [ListInput(catalog.spec("skolplikt"), cases, {"Datakvalitet": dq})]


def income_facts(summary: pd.DataFrame, year: int) -> dict[str, object]:
    """The income check's totals for a year's summary sheet: every count the contract
    names (inom tolerans too, which is not listed) and the sums in kronor. The summary
    table is computed without protected households (`income_check._summary`)."""
    rows = summary[summary["inkomstar"].astype("Int64") == int(year)]
    value = dict(zip(rows["nyckel"], rows["varde"], strict=True))

    def number(key: str) -> int:
        return int(value.get(key, 0) or 0)

    return {  # after the list's own counts of the listed actions (the same households)
        f"Åtgärd: {label(INOM_TOLERANS)} (står inte på listan)": number(
            f"antal_{INOM_TOLERANS}"),
        "Hushåll i kontrollen": number("antal_hushall"),
        "Summa efterdebitering (kr)": number("summa_efterdebitering"),
        "Summa återbetalning (kr)": number("summa_aterbetalning"),
        "Tolerans (kr per år)": number("tolerans_kr_per_ar"),
    }


def income_lists(catalog: ListCatalog, households: pd.DataFrame, months: pd.DataFrame,
                 flags: pd.DataFrame, summary: pd.DataFrame | None = None
                 ) -> list[ListInput]:
    """One list per income year (or, if the policy says so, one for every year), with
    month-by-month detail and signals as extra sheets, and the year's totals
    (`income_facts`) on its summary sheet.

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
                             extra_key="hushall_id",
                             facts={} if summary is None else income_facts(summary, year)))
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
                     schools: list[str], names: dict[str, str] | None = None,
                     facts: dict[str, object] | None = None) -> list[ListInput]:
    """One list per school, cut from one grouping of the rows (not one scan per school) and
    named by the school unit's code and name; or, if the policy does not cut the kind per
    school unit, one list of every school's rows."""
    if not catalog.per_school(kind):
        return [ListInput(catalog.spec(kind), rows.reset_index(drop=True),
                          facts=dict(facts or {}))]
    groups = rows.groupby("skolenhetskod", sort=False, dropna=True).indices
    # One take of every school's rows, each school's together in their order, then a slice
    # per school: hundreds of takes from Arrow-backed columns cost seconds.
    order = [groups.get(code, np.array([], dtype=np.intp)) for code in schools]
    bounds = np.cumsum([0, *(len(o) for o in order)])
    cut = rows.take(np.concatenate(order)).reset_index(drop=True) if schools else rows
    names = names or {}
    return [ListInput(with_school_name(catalog.spec(kind, code), names),
                      cut.iloc[bounds[i]:bounds[i + 1]].reset_index(drop=True),
                      facts={"Skolenhet": f"{code} {names.get(code, '')}".strip(),
                             **(facts or {})})
            for i, code in enumerate(schools)]
