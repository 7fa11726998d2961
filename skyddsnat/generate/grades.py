"""Grades (betyg) for åk 6-9 in the previous term and action programmes (åtgärdsprogram),
with pupils who have an F but no programme planted for the rektor's list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd

from .school_calendar import Term
from .schools import Schools

SUBJECTS = ("SV", "EN", "MA", "BI", "FY", "KE", "GE", "HI", "RE", "SH", "TK", "BL", "HKK",
            "IDH", "MU", "SL", "M2")
_GRADES = np.array(["F", "E", "D", "C", "B", "A"], dtype=object)


@dataclass
class Grades:
    betyg: pd.DataFrame  # pnr, skolenhetskod, termin, arskurs, amne, betyg
    programmes: pd.DataFrame  # pnr, skolenhetskod, beslutsdatum, avslutad_datum
    term: Term
    planted: dict[str, set[str]] = field(default_factory=dict)


def build(rng, sch: Schools, cur: Term, prev: Term, protected_pupil: str) -> Grades:
    units = sch.units
    own = units[(units.huvudman == "kommunal") & (units.skolform == "GR")]
    pl = sch.placements
    gr = pl[(pl.huvudman == "kommunal") & (pl.skolform == "GR")]
    end = pd.Timestamp(prev.end)
    at_prev = gr[(gr.startdatum <= end) & (gr.slutdatum.isna() | (gr.slutdatum >= end))]
    current = gr[~gr.pnr.isin(at_prev.pnr)]
    shift = 1 if cur.kind == "HT" else 0
    pupils = pd.concat([at_prev.assign(ak=at_prev.arskurs - (shift if prev.lasar < cur.lasar
                                                                  else 0)),
                        current.assign(ak=current.arskurs - shift)])
    pupils = pupils.drop_duplicates("pnr").sort_values("pnr", kind="stable")
    pupils = pupils[(pupils.ak >= 6) & (pupils.ak <= 9)].reset_index(drop=True)
    # A pupil whose school does not teach that grade was at a school that does.
    lo = own.set_index("skolenhetskod").min_ak
    hi = own.set_index("skolenhetskod").max_ak
    ok = (pupils.skolenhetskod.map(lo) <= pupils.ak) & (pupils.skolenhetskod.map(hi) >= pupils.ak)
    for i in np.flatnonzero(~ok.to_numpy()):
        pool = own[(own.min_ak <= pupils.ak.iat[i]) & (own.max_ak >= pupils.ak.iat[i])]
        pupils.loc[i, "skolenhetskod"] = pool.skolenhetskod.iat[int(rng.integers(0, len(pool)))]

    n, k = len(pupils), len(SUBJECTS)
    ability = rng.normal(0, 1, n)
    struggling = rng.random(n) < 0.18
    pnrs = pupils.pnr.to_numpy()
    struggling[pnrs == protected_pupil] = True
    score = ability[:, None] + rng.normal(0, 0.8, (n, k))
    level = np.clip(np.digitize(score, [-1.3, -0.5, 0.4, 1.1, 1.8]), 0, 5)
    level = np.maximum(level, 1)
    p_f = np.where(struggling, 0.25, 0.005)
    is_f = rng.random((n, k)) < p_f[:, None]
    is_f[pnrs == protected_pupil, 2] = True  # the protected pupil fails mathematics
    grade = np.where(is_f, "F", _GRADES[level])
    dash = rng.random((n, k)) < 0.005
    dash[:, -1] |= rng.random(n) < 0.2  # no modern language
    grade = np.where(dash & ~is_f, "-", grade)
    betyg = pd.DataFrame({
        "pnr": np.repeat(pnrs, k), "skolenhetskod": np.repeat(pupils.skolenhetskod.to_numpy(), k),
        "termin": prev.label, "arskurs": np.repeat(pupils.ak.to_numpy(), k),
        "amne": np.tile(np.asarray(SUBJECTS, dtype=object), n), "betyg": grade.ravel(),
    })

    has_f = (grade == "F").any(axis=1)
    gets = np.where(has_f, rng.random(n) < 0.7, rng.random(n) < 0.03)
    planted: dict[str, set[str]] = {"skyddad_f_utan_program": {protected_pupil} & set(pnrs)}
    gets[pnrs == protected_pupil] = False
    cand = np.flatnonzero(has_f & gets)
    special = rng.choice(cand, min(2, len(cand)), replace=False) if len(cand) else []
    span = max(1, (prev.end - prev.start).days - 20)
    decided = [prev.start - timedelta(days=int(d)) + timedelta(days=int(s)) for d, s in
               zip(rng.integers(0, 300, n), rng.integers(0, span, n), strict=True)]
    rows = []
    for i in np.flatnonzero(gets):
        closed = None
        if rng.random() < 0.4:
            closed = prev.end + timedelta(days=int(rng.integers(10, 120)))
        rows.append((pnrs[i], pupils.skolenhetskod.iat[i], decided[i], closed))
    prog = pd.DataFrame(rows, columns=["pnr", "skolenhetskod", "beslutsdatum", "avslutad_datum"])
    if len(special) >= 1:  # a programme that ended before the term began
        i = special[0]
        sel = prog.pnr == pnrs[i]
        prog.loc[sel, "beslutsdatum"] = prev.start - timedelta(days=400)
        prog.loc[sel, "avslutad_datum"] = prev.start - timedelta(days=30)
        planted["program_avslutat_fore_terminen"] = {pnrs[i]}
    if len(special) >= 2:  # the programme stayed at the school the pupil left
        i = special[1]
        others = own[(own.skolenhetskod != pupils.skolenhetskod.iat[i])
                     & (own.max_ak >= pupils.ak.iat[i] - 1)]
        if len(others):
            prog.loc[prog.pnr == pnrs[i], "skolenhetskod"] = others.skolenhetskod.iat[0]
            planted["program_vid_tidigare_skola"] = {pnrs[i]}
    prog = prog.sort_values(["beslutsdatum", "pnr"], kind="stable").reset_index(drop=True)
    return Grades(betyg, prog, prev, planted)


def truth(g: Grades) -> tuple[set, set, set]:
    """(pnr, skolenhetskod) with an F, with a programme active during the term, F without."""
    b = g.betyg
    f = set(zip(b.pnr[b.betyg == "F"], b.skolenhetskod[b.betyg == "F"], strict=True))
    p = g.programmes
    closed = pd.to_datetime(p.avslutad_datum)
    active = (pd.to_datetime(p.beslutsdatum) <= pd.Timestamp(g.term.end)) & (
        closed.isna() | (closed >= pd.Timestamp(g.term.start)))
    with_prog = set(zip(p.pnr[active], p.skolenhetskod[active], strict=True))
    return f, with_prog, f - with_prog
