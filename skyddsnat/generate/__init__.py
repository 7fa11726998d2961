"""Synthetic municipality: writes an inbox per the source contracts in DESIGN.md, with
realistic people, schools, attendance, fees and grades, planted anomalies and planted
invalid rows, and returns the truth the pipeline must reproduce.

Pure Python (numpy/pandas, no Dagster). Deterministic for a seed: every part draws from
its own child of one `SeedSequence`, so changing one part does not reshuffle the others.

>>> report = generate("ange", Path("/tmp/ange"), date(2026, 3, 16))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from . import attendance, fees, grades, people, pnr, schools, sources
from .profiles import PROFILES, TINY, Profile, resolve
from .report import GenerationReport, Truth
from .school_calendar import current_term, lasar_start_term, previous_term, school_days
from .writer import write_csv

__all__ = ["PROFILES", "TINY", "GenerationReport", "Profile", "Truth", "generate"]

_PREFIXES = ("folkbokforing_", "elevregister_", "skolpliktsbeslut_", "narvaro_", "avgifter_",
             "inkomster_", "atgardsprogram_", "betyg_", "franvaroarenden_")

# Per file prefix, the personnummer columns the test mix writes in 12 digits.
_TWELVE_DIGIT_COLUMNS = {
    "folkbokforing": ("personnummer", "vardnadshavare_1", "vardnadshavare_2"),
    "skolpliktsbeslut": ("personnummer",), "inkomster": ("personnummer",),
    "atgardsprogram": ("personnummer",), "betyg": ("personnummer",),
    "franvaroarenden": ("personnummer",),
}


def _protected(ppl: people.People, fee: fees.Fees) -> tuple[set[str], set[str], set[str]]:
    """Flagged persons, everyone sharing a household with one (to a fixpoint), and the
    fee households concerned."""
    p = ppl.persons
    flagged = set(p.pnr[(p.sekretessmarkering == "J") | (p.skyddad_folkbokforing == "J")])
    groups = [pd.DataFrame({"g": "f" + p.family.astype(str), "pnr": p.pnr})]
    b = fee.billing
    for col in ("betalare", "medbetalare", "barn"):
        groups.append(pd.DataFrame({"g": "h" + b.hushall_id, "pnr": b[col]}))
    g = pd.concat(groups).query("pnr != ''").drop_duplicates()
    prot = set(flagged)
    while True:
        hit = set(g.g[g.pnr.isin(prot)])
        grown = prot | set(g.pnr[g.g.isin(hit)])
        if grown == prot:
            break
        prot = grown
    households = {x[1:] for x in g.g[g.pnr.isin(prot)] if x.startswith("h")}
    return flagged, prot - flagged, households


def generate(profile: str | Profile, out_dir: Path, as_of: date, seed: int = 1,
             progress: bool = False, attendance_span: str = "lasar",
             overwrite: bool = False) -> GenerationReport:
    """Write `out_dir/inbox/` for a profile at reference date `as_of`.

    attendance_span "lasar" writes attendance from the first school day of the läsår (a
    school year in VT, as DESIGN asks for Stockholm); "term" from the current term only.
    """
    t0 = time.perf_counter()
    prof = resolve(profile)
    out_dir = Path(out_dir)
    inbox = out_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    old = [f for f in inbox.iterdir() if f.name.startswith(_PREFIXES)]
    if old and not overwrite:
        raise FileExistsError(f"{inbox} already holds generated files; pass overwrite=True")
    for f in old:
        f.unlink()

    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    cur = current_term(as_of)
    prev = previous_term(cur)
    lasar = cur.lasar
    stamp = as_of.strftime("%Y%m%d")

    ppl = people.build(rngs[0], prof, as_of, lasar)
    sch = schools.build(rngs[1], prof, ppl, as_of, lasar, cur)
    pnr_of = ppl.persons.pnr.to_numpy()
    protected_pupil = pnr_of[ppl.anchors["protected_pupil"]]
    avoid = set().union(*sch.planted.values()) | set(sch.changed_school)
    avoid |= {pnr_of[i] for i in ppl.anchors.values()}

    first = lasar_start_term(cur) if attendance_span == "lasar" else cur
    days = school_days(first, as_of, prof.sportlov_week)
    if first is not cur:
        days += school_days(cur, as_of, prof.sportlov_week)
    att = attendance.build(rngs[2], sch, days, as_of, cur.start, protected_pupil, avoid)
    plan = attendance.plant_invalid_rows(rngs[2], att)
    levels, ogiltig = {}, {}
    for window, start in (("termin", cur.start), ("4_veckor", as_of - timedelta(days=28))):
        levels[window], ogiltig[window] = attendance.truth(att, start, as_of)
    hog = {k[0] for k, v in levels["termin"].items() if v == "hog"}
    worried = sorted({k[0] for k, v in levels["termin"].items() if v == "oroande"})
    scale = max(1, len(att.roll) // 2000)
    cases = attendance.cases(rngs[3], hog, worried, protected_pupil, as_of, scale)

    fee = fees.build(rngs[4], ppl, as_of, prof.median_income)
    atgard, diff = fees.income_check_truth(fee)
    gr = grades.build(rngs[5], sch, cur, prev, protected_pupil)
    f_students, with_prog, f_without = grades.truth(gr)

    # Pupils with one whole-term own placement and no planted role carry the invalid copies.
    roll = att.roll
    single = roll.pnr.map(roll.pnr.value_counts()) == 1
    steady = roll[single & roll.slutdatum.isna() & ~roll.pnr.isin(avoid)]
    quiet = sorted(set(steady.pnr) - set().union(*att.planted.values()))
    pool = (quiet + sorted(set(steady.pnr) - set(quiet)))[:5]
    covered = [pool[i % len(pool)] for i in range(5)]  # a tiny town may repeat one

    inv: sources.Invalid = defaultdict(Counter)
    fakes = sources.Fakes(ppl.outsiders)
    rep = GenerationReport(prof.name, as_of, seed, out_dir)
    rng_w = rngs[6]

    forms = prof.pnr_forms
    rng_f = rngs[7]

    def put(name: str, df: pd.DataFrame, encoding: str = "utf-8") -> None:
        if forms is not None:  # the columns written in 12 digits, in the profile's mix too
            for col in _TWELVE_DIGIT_COLUMNS.get(name.split("_")[0], ()):
                df[col] = pnr.rewritten(rng_f, df[col].to_numpy(), forms, as_of)
        rep.files[name] = write_csv(inbox / name, df, encoding)

    name = f"folkbokforing_{stamp}.csv"
    put(name, sources.folkbokforing(rng_w, ppl, fakes, inv, name), "cp1252")
    name = f"elevregister_{stamp}.csv"
    put(name, sources.elevregister(rng_w, sch, covered, inv, name, as_of, forms), "utf-8-sig")
    name = f"skolpliktsbeslut_{stamp}.csv"
    put(name, sources.skolpliktsbeslut(sch, covered, inv, name, as_of))
    narvaro = sources.NarvaroDays(rng_w, att, plan, forms, as_of)
    day_iter = range(len(days))
    if progress:
        from tqdm import tqdm

        day_iter = tqdm(day_iter, desc=f"narvaro {prof.name}", unit="dag")
    for d in day_iter:
        name = f"narvaro_{days[d].strftime('%Y%m%d')}.csv"
        put(name, narvaro.frame(d, inv, name), "utf-8-sig" if d % 4 == 1 else "utf-8")
    months = fees.billing_months(as_of)
    last = f"avgifter_{months[-1].strftime('%Y%m')}.csv"
    for i, (name, df) in enumerate(sorted(sources.avgifter(rng_w, fee, fakes, inv, last, forms,
                                                          as_of).items())):
        put(name, df, "utf-8-sig" if i % 3 == 2 else "utf-8")
    name = f"inkomster_{fee.income_year}.csv"
    put(name, sources.inkomster(fee, fakes, inv, name))
    name = f"atgardsprogram_{stamp}.csv"
    put(name, sources.atgardsprogram(gr, fakes, inv, name), "utf-8-sig")
    name = f"betyg_{prev.label}.csv"
    put(name, sources.betyg(gr, fakes, inv, name))
    name = f"franvaroarenden_{stamp}.csv"
    put(name, sources.franvaroarenden(cases, fakes, inv, name))
    rep.invalid = {k: dict(sorted(v.items())) for k, v in sorted(inv.items())}

    flagged, associated, prot_hh = _protected(ppl, fee)
    p = ppl.persons
    rep.truth = Truth(
        kommunkod=prof.kommunkod,
        skolplikt=schools.skolplikt_truth(ppl, sch, prof.kommunkod, as_of, lasar),
        skolplikt_planted={**sch.planted,
                           "skyddad_okand": {pnr_of[ppl.anchors["protected_okand"]]}},
        not_resident_children=set(p.pnr[p.is_child & (p.kommunkod != prof.kommunkod)]),
        franvaro_levels=levels,
        franvaro_ogiltig=ogiltig,
        franvaro_planted=att.planted,
        changed_school=set(sch.changed_school),
        hog_without_case=hog - set(cases.pnr),
        case_step5=set(cases.pnr[cases.steg == 5]),
        inkomstar=fee.income_year,
        inkomstkontroll=atgard,
        inkomstkontroll_diff=diff,
        fee_planted=fee.planted,
        shared_copayer=fee.shared_copayer,
        child_in_two_households=fee.child_in_two,
        betyg_termin=prev.label,
        f_students=f_students,
        programme_students=with_prog,
        f_without_programme=f_without,
        grades_planted=gr.planted,
        protected_flagged=flagged,
        protected_associated=associated,
        protected_households=prot_hh,
    )
    rep.seconds = time.perf_counter() - t0
    summary = rep.summary()
    (out_dir / "generator_summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return rep
