"""Skolpliktsbevakning (skollagen 7 kap.): which resident children of school age are not
known to be in school, and why.

The home municipality must make sure that every resident child with skolplikt goes to
school (7:21). Läsår Y runs 1 July Y – 30 June Y+1; skolplikt starts in the autumn term of
the year the child turns 6 and lasts 10 years, so in läsår Y the skolpliktiga are the
children born in Y−15 … Y−6 and the expected årskurs is Y − birth year − 6.

Decisions made here, beyond DESIGN.md:
- A child without a birth date is not counted (ingest fills it from the personnummer, so
  a blank here means the row is unusable, not that the child is of school age).
- `nyinflyttad` means as_of − folkbokford_datum < grace_days days: registered exactly
  grace_days ago is no longer new. A registration date after as_of also counts as new.
- `dubbel_placering` means two or more active placement rows in skolplikt-fulfilling
  forms, at the same or different school units: either way the register is inconsistent.
- `placering_avslutad` needs a fulfilling placement that ended before as_of; a placement
  that has not started yet neither covers nor counts as ended.

Every function takes the `policy.skolplikt` model and works on whole columns.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from skyddsnat.arrow_strings import isin
from skyddsnat.policy import SchoolDuty
from skyddsnat.privacy.pseudonym import number_pseudonyms

ORSAKER = ("dubbel_placering", "nyinflyttad", "placering_avslutad", "okand")
FYND = ("narvaro_utan_placering", "placering_okand_person")
LASAR_START_MONTH = 7
SKOLPLIKT_FIRST_AGE = 6
SKOLPLIKT_YEARS = 10


def lasar_start(as_of: date) -> int:
    """The calendar year Y of the läsår (1 July Y – 30 June Y+1) that as_of falls in.

    >>> lasar_start(date(2025, 6, 30)), lasar_start(date(2025, 7, 1))
    (2024, 2025)
    """
    return as_of.year if as_of.month >= LASAR_START_MONTH else as_of.year - 1


def grade_label(grade: int, lasar: int, reform_lasar: int) -> str:
    """The årskurs label for grade index 0…9 (0 = first skolplikt year).

    Förskoleklass ("FK") is the first year until it is abolished from `reform_lasar`;
    from then on the same birth years are labelled åk 1 … 10.

    >>> grade_label(0, 2027, 2028), grade_label(3, 2027, 2028), grade_label(0, 2028, 2028)
    ('FK', '3', '1')
    """
    if lasar >= reform_lasar:
        return str(grade + 1)
    return "FK" if grade == 0 else str(grade)


def _grade_labels(grades: np.ndarray, lasar: int, reform_lasar: int) -> pd.array:
    """grade_label over an array of grade indexes 0…9, by lookup."""
    labels = pa.array([grade_label(g, lasar, reform_lasar) for g in range(SKOLPLIKT_YEARS)],
                      type=pa.large_string())
    return pd.StringDtype().__from_arrow__(labels.take(pa.array(grades)))


def _ts(as_of: date) -> pd.Timestamp:
    return pd.Timestamp(as_of)


def _active(start: pd.Series, end: pd.Series, as_of: date) -> pd.Series:
    """start ≤ as_of ≤ end, a blank end being open; a blank start is never active."""
    ts = _ts(as_of)
    return (start <= ts) & (end.isna() | (end >= ts))


def _born_between(born: pd.Series, first_year: int, last_year: int) -> np.ndarray:
    """first_year ≤ birth year ≤ last_year, on the datetime64 values; a blank date is not."""
    values = born.to_numpy(dtype="datetime64[ns]")
    return ((values >= np.datetime64(f"{first_year:04d}-01-01", "ns"))
            & (values < np.datetime64(f"{last_year + 1:04d}-01-01", "ns")))


def _resident_of_age(personer: pd.DataFrame, y: int, policy: SchoolDuty) -> pd.DataFrame:
    """Rows of resident children born in the skolplikt years of läsår y (duplicates kept)."""
    first_year = y - SKOLPLIKT_FIRST_AGE - (SKOLPLIKT_YEARS - 1)
    in_range = _born_between(personer["fodelsedatum"], first_year, y - SKOLPLIKT_FIRST_AGE)
    resident = (personer["kommunkod"] == policy.kommunkod).to_numpy(dtype=bool, na_value=False)
    return personer.loc[resident & in_range, ["person_id", "fodelsedatum", "folkbokford_datum"]]


def skolpliktiga(personer: pd.DataFrame, as_of: date, policy: SchoolDuty) -> pd.DataFrame:
    """Resident children with skolplikt in the läsår of as_of, with their expected årskurs.

    Returns person_id, fodelsedatum, forvantad_arskurs (label), folkbokford_datum.
    """
    y = lasar_start(as_of)
    kids = _resident_of_age(personer, y, policy)
    kids = kids.loc[_first_occurrences(number_pseudonyms(kids["person_id"])[0][0])]
    return _with_grades(kids, y, policy)


def _with_grades(kids: pd.DataFrame, y: int, policy: SchoolDuty) -> pd.DataFrame:
    born_year = kids["fodelsedatum"].to_numpy(dtype="datetime64[Y]").astype(np.int64) + 1970
    grade = y - born_year - SKOLPLIKT_FIRST_AGE
    out = pd.DataFrame({
        "person_id": kids["person_id"].astype("string"),
        "fodelsedatum": kids["fodelsedatum"],
        "forvantad_arskurs": _grade_labels(grade, y, policy.forskoleklass_avskaffas_lasar),
        "folkbokford_datum": kids["folkbokford_datum"],
    }, index=kids.index)
    return out.reset_index(drop=True)


def _first_occurrences(codes: np.ndarray) -> np.ndarray:
    first = np.zeros(len(codes), dtype=bool)
    if len(codes):
        first[np.unique(codes, return_index=True)[1]] = True
    return first


def _occurrences(ids: pd.Series, *groups: pd.Series) -> tuple[np.ndarray, list[np.ndarray]]:
    """The first occurrences among `ids`, and for each group how often each of `ids` occurs
    in it (0 if never): one numbering of all the pseudonyms, then counting by number (no
    index alignment of string keys)."""
    (head, *parts), n = number_pseudonyms(ids, *groups)
    counts = [np.where(head >= 0, np.bincount(part[part >= 0], minlength=n)[np.maximum(head, 0)],
                       0) for part in parts]
    return _first_occurrences(head), counts


def find_exceptions(
    personer: pd.DataFrame,
    placeringar: pd.DataFrame,
    beslut: pd.DataFrame,
    as_of: date,
    policy: SchoolDuty,
) -> pd.DataFrame:
    """The skolplikt exception list: one row and one reason per child not known in school.

    Reason precedence (DESIGN.md): dubbel_placering; covered (not reported); nyinflyttad;
    placering_avslutad; okand. Returns person_id, forvantad_arskurs, folkbokford_datum, orsak.
    """
    y, ts = lasar_start(as_of), _ts(as_of)
    candidates = _resident_of_age(personer, y, policy)

    fulfilling = placeringar["skolform"].isin(policy.skolformer_som_uppfyller).to_numpy()
    is_active = fulfilling & _active(placeringar["startdatum"], placeringar["slutdatum"],
                                     as_of).to_numpy(dtype=bool, na_value=False)
    ended = fulfilling & (placeringar["slutdatum"] < ts).to_numpy(dtype=bool, na_value=False)
    valid = (beslut["beslutstyp"].isin(policy.beslut_som_uppfyller).to_numpy()
             & _active(beslut["giltig_fran"], beslut["giltig_till"], as_of).to_numpy(
                 dtype=bool, na_value=False))
    pids = placeringar["person_id"]
    first, counts = _occurrences(candidates["person_id"], pids[is_active], pids[ended],
                                 beslut["person_id"][valid])
    kids = _with_grades(candidates.loc[first], y, policy)  # as skolpliktiga()
    aktiva, avslutade, beslut_n = (c[first] for c in counts)
    days_registered = (ts - kids["folkbokford_datum"]).dt.days
    newly = (days_registered < policy.grace_days).fillna(False).to_numpy(dtype=bool)

    conditions = [
        aktiva >= 2,
        (aktiva >= 1) | (beslut_n >= 1),
        newly,
        avslutade >= 1,
    ]
    choices = [1, 0, 2, 3]  # ranks in ORSAKER + 1; 0 = covered, not reported
    rank = np.select(conditions, choices, default=4)
    reported = rank > 0
    out = kids.drop(columns="fodelsedatum").loc[reported]
    out = out.assign(orsak=pd.array(np.array(ORSAKER, dtype=object)[rank[reported] - 1],
                                    dtype="string"))
    out = out.assign(_rank=rank[reported]).sort_values(["_rank", "person_id"], kind="stable")
    return out.drop(columns="_rank").reset_index(drop=True)


def data_quality_findings(
    personer: pd.DataFrame,
    placeringar: pd.DataFrame,
    narvaro_pupils: pd.DataFrame,
    as_of: date,
    policy: SchoolDuty,
) -> pd.DataFrame:
    """Register inconsistencies for the data engineers, never skolplikt exceptions.

    - narvaro_utan_placering: attendance at a school unit for a person with no active
      placement at all (any school form, any school unit).
    - placering_okand_person: an active placement (any school form) for a person who is not
      in the population register: children with right to education but no skolplikt
      (asylum seekers, undocumented) land here, and only here.

    `policy` is accepted for symmetry with the other functions; no parameter is used yet.
    Returns person_id, skolenhetskod, fynd; one row per person, school unit and finding.
    """
    del policy
    active = placeringar.loc[
        _active(placeringar["startdatum"], placeringar["slutdatum"], as_of),
        ["person_id", "skolenhetskod"],
    ]
    attending = narvaro_pupils[["person_id", "skolenhetskod"]]
    no_placement = attending.loc[~isin(attending["person_id"], active["person_id"])]
    unknown = active.loc[~isin(active["person_id"], personer["person_id"])]
    out = pd.concat(
        [no_placement.assign(fynd=FYND[0]), unknown.assign(fynd=FYND[1])], ignore_index=True
    ).drop_duplicates()
    out = out.astype({"person_id": "string", "skolenhetskod": "string", "fynd": "string"})
    return out.sort_values(["fynd", "skolenhetskod", "person_id"]).reset_index(drop=True)


def exception_schools(cases: pd.DataFrame, placeringar: pd.DataFrame, as_of: date,
                      policy: SchoolDuty) -> pd.Series:
    """The school units a skolpliktshandläggare contacts about each case ("" if none):
    for `dubbel_placering` the units of every active placement, for `placering_avslutad`
    the unit(s) of the placement that ended last. "code name" each, "; "-joined.

    Only the case's own child's placements are looked at, so the column says nothing of
    anyone else (a protected child's case goes to the sealed list with its row).
    """
    fulfilling = placeringar.loc[placeringar["skolform"].isin(policy.skolformer_som_uppfyller)]
    active = fulfilling.loc[_active(fulfilling["startdatum"], fulfilling["slutdatum"],
                                    as_of).to_numpy(dtype=bool, na_value=False)]
    ended = fulfilling.loc[(fulfilling["slutdatum"] < _ts(as_of)).to_numpy(dtype=bool,
                                                                           na_value=False)]
    ended = ended.loc[ended["slutdatum"] == ended.groupby("person_id", observed=True)[
        "slutdatum"].transform("max")]
    out = pd.Series("", index=cases.index, dtype="string")
    for orsak, pool in (("dubbel_placering", active), ("placering_avslutad", ended)):
        which = (cases["orsak"] == orsak).to_numpy(dtype=bool, na_value=False)
        persons = cases.loc[which, "person_id"]
        # Only these cases' children: a city's placements are 100 000 groups to join.
        named = _unit_names(pool.loc[isin(pool["person_id"], persons)])
        out[which] = persons.map(named).fillna("").to_numpy()
    return out


def _unit_names(placements: pd.DataFrame) -> pd.Series:
    """Per person: their placements' distinct school units as "code name", "; "-joined."""
    names = (placements["skolenhet_namn"].astype("string").fillna("")
             if "skolenhet_namn" in placements else "")
    label = (placements["skolenhetskod"].astype("string") + " " + names).str.strip()
    frame = pd.DataFrame({"person_id": placements["person_id"].astype("string"),
                          "enhet": label}).drop_duplicates()
    return frame.sort_values(["person_id", "enhet"]).groupby("person_id")["enhet"].agg("; ".join)


def turning_days(personer: pd.DataFrame, placeringar: pd.DataFrame, beslut: pd.DataFrame,
                 policy: SchoolDuty) -> np.ndarray:
    """The days on which, for these tables, the answers of `find_exceptions` and
    `exception_schools` can differ from the day before (sorted, unique): a placement or a
    decision starts (start ≤ as_of) or has ended (the day after its end), a registration
    stops being new (folkbokford_datum + grace_days). Between two such days, within one
    läsår, the reference date changes nothing — so a night may keep last night's list."""
    one = pd.Timedelta(days=1)
    days = [placeringar["startdatum"], placeringar["slutdatum"] + one,
            beslut["giltig_fran"], beslut["giltig_till"] + one,
            personer["folkbokford_datum"] + pd.Timedelta(days=policy.grace_days)]
    values = pd.concat([pd.Series(d, dtype="datetime64[ns]") for d in days], ignore_index=True)
    return np.unique(values.dropna().to_numpy(dtype="datetime64[D]"))


def date_part(as_of: date, turning: np.ndarray) -> str:
    """What of the reference date the school-duty answers depend on: its läsår (ages,
    expected årskurs) and how many turning days (`turning_days`) it has reached."""
    reached = int(np.searchsorted(turning, np.datetime64(as_of, "D"), side="right"))
    return f"lasar {lasar_start(as_of)}, vanddag {reached}"


# The order a skolpliktshandläggare works the list in: a child with no known school first,
# then one whose school ended, then register conflicts (the child likely goes to school),
# last the newly arrived (watch, not yet a breach). Not the order reasons are decided in.
WORK_ORDER = ("okand", "placering_avslutad", "dubbel_placering", "nyinflyttad")


def in_work_order(cases: pd.DataFrame) -> pd.DataFrame:
    """The cases in `WORK_ORDER`, then longest registered first (folkbokföring date)."""
    rank = cases["orsak"].map({o: i for i, o in enumerate(WORK_ORDER)}).fillna(len(WORK_ORDER))
    ordered = cases.assign(_rank=rank.to_numpy()).sort_values(
        ["_rank", "folkbokford_datum", "person_id"], kind="stable", na_position="last")
    return ordered.drop(columns="_rank").reset_index(drop=True)
