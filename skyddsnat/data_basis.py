"""What a list rests on, stated in the first rows of its summary sheet.

An administrator must see at a glance whether a list is built on tonight's data: the
warnings of every source the list rests on (policy `vid_avvikelse: varna`), the snapshot
dates, the last attendance day used and both absence windows, the grade term, the income
year and whether every maxtaxa period used is confirmed. Values are dates, terms and
file names only.
"""

from __future__ import annotations

from datetime import date

from skyddsnat.freshness import Basis, warnings_for

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
