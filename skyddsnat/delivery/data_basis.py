"""What a list rests on, stated in the first rows of its summary sheet.

An administrator must see at a glance whether a list is built on tonight's data: the
warnings of every source the list rests on (policy `vid_avvikelse: varna`), the snapshot
dates, the last attendance day used and both absence windows, the grade term, the income
year and whether every maxtaxa period used is confirmed. Values are dates, terms and
file names only.
"""

from __future__ import annotations

from datetime import date

from skyddsnat.ingest.freshness import Basis, warnings_for

ABSENCE_KINDS = ("franvaro", "kommunbild", "atgardsprogram")


def _when(recorded: dict[str, Basis], source: str) -> str:
    b = recorded.get(source)
    return b.date if b is not None and b.date else "saknas"


def _span(window: tuple[date, date] | None) -> str:
    return f"{window[0]} – {window[1]}" if window else "-"


def summary_head(kind: str, recorded: dict[str, Basis], *,
                 term: tuple[date, date] | None = None,
                 recent: tuple[date, date] | None = None,
                 grade_term: str | None = None, income_year: int | None = None,
                 periods_confirmed: bool | None = None) -> dict[str, object]:
    """The warnings and data basis of one list kind, in the order they are shown."""
    out: dict[str, object] = {}
    for i, message in enumerate(warnings_for(kind, recorded), start=1):
        out[f"VARNING {i}"] = message
    if kind == "inkomstkontroll" and periods_confirmed is False:
        out["VARNING maxtaxa"] = ("kontrollen använder maxtaxa-perioder som inte är bekräftade "
                                  "mot Skolverkets besked (policies/maxtaxa.yaml); berörda "
                                  "rader är markerade")
    out["Folkbokföring per"] = _when(recorded, "folkbokforing")
    if kind != "inkomstkontroll":
        out["Elevregister per"] = _when(recorded, "elevregister")
    if kind == "skolplikt":
        out["Skolpliktsbeslut per"] = _when(recorded, "skolpliktsbeslut")
    if kind in ABSENCE_KINDS:
        out["Närvarodata t.o.m."] = _when(recorded, "narvaro")
        out["Terminen hittills"] = _span(term)
        out["Senaste 4 veckorna"] = _span(recent)
    if kind == "franvaro" and "franvaroarenden" in recorded:
        out["Frånvaroärenden per"] = _when(recorded, "franvaroarenden")
    if kind == "atgardsprogram":
        out["Betygstermin"] = grade_term or "inga betyg"
        out["Åtgärdsprogram per"] = _when(recorded, "atgardsprogram")
    if kind == "inkomstkontroll":
        if income_year is not None:
            out["Inkomstår"] = int(income_year)
        out["Maxtaxa bekräftad"] = {True: "ja, alla perioder som används",
                                    False: "nej, se varningen ovan",
                                    None: "-"}[periods_confirmed]
    return out


MONTHS = ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec")


def partial_months(school_days: list[date], minimum: int) -> dict[str, str]:
    """Months ("YYYY-MM") with fewer school days than `minimum`, each with what it holds
    ("t.o.m. 1 dec, 1 skoldag"): the board does not show a month of a single day as a trend
    point as if it were a whole month."""
    by_month: dict[str, list[date]] = {}
    for d in sorted(school_days):
        by_month.setdefault(f"{d:%Y-%m}", []).append(d)
    return {m: f"t.o.m. {ds[-1].day} {MONTHS[ds[-1].month - 1]}, {len(ds)} "
               f"skoldag{'' if len(ds) == 1 else 'ar'}"
            for m, ds in by_month.items() if len(ds) < minimum}


def partial_note(partial: dict[str, str], minimum: int) -> str:
    """The board's line about the months it leaves out (empty when none)."""
    if not partial:
        return ""
    months = "; ".join(f"{m} ({what})" for m, what in sorted(partial.items()))
    return (f"Redovisas inte: {months} – färre än {minimum} skoldagar i närvarodata; "
            "månaden redovisas när den har minst så många.")
