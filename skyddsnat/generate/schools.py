"""School units, placements (elevregister) and school-duty decisions, with the school-duty
anomalies planted: unknown children, ended placements, newcomers, double placements,
decisions that cover a child and one that has expired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from .people import People
from .profiles import Profile
from .school_calendar import Term, school_days, term

SKOLPLIKT_FORMS = ("FK", "GR", "GRAN", "SPEC", "SAM")
_PREFIXES = (
    "Björk", "Ekbacks", "Hag", "Ängs", "Lund", "Ros", "Sol", "Kvarn", "Sjö", "Bergs", "Norr",
    "Söder", "Öster", "Väster", "Kyrkbacks", "Bäck", "Tall", "Gran", "Ljung", "Mo", "Hed",
    "Ås", "Bro", "Strand", "Park", "Lärk", "Alm", "Lind", "Äng", "Kastanj", "Furu", "Rönn",
    "Vik", "Näs", "Hov", "Gärdes", "Torps", "Skogs", "Älv", "Mal",
)


@dataclass
class Schools:
    units: pd.DataFrame  # skolenhetskod, skolenhet_namn, huvudman, skolform, min_ak, max_ak
    placements: pd.DataFrame  # elevregister rows plus person index
    decisions: pd.DataFrame  # skolpliktsbeslut rows
    planted: dict[str, set[str]] = field(default_factory=dict)  # role -> 12-digit pnr
    changed_school: set[str] = field(default_factory=set)


def _units(rng, profile: Profile) -> pd.DataFrame:
    rows: list[tuple[str, str, str, int, int]] = []
    areas = [o.title() for _, o in profile.postorter]

    def name(i: int) -> str:
        base = _PREFIXES[i % len(_PREFIXES)] + "skolan"
        return base if i < len(_PREFIXES) else f"{base} {areas[(i // len(_PREFIXES)) % len(areas)]}"

    spans = [(0, 9), (0, 6), (7, 9), (0, 6)]
    for i in range(profile.own_school_units):
        lo, hi = spans[i % 4]
        rows.append((name(i), "kommunal", "GR", lo, hi))
    for i in range(max(1, profile.own_school_units // 25)):
        rows.append((f"{name(i + 7)}s anpassade grundskola", "kommunal", "GRAN", 1, 9))
    for i in range(profile.own_gy_units):
        rows.append((f"{areas[i % len(areas)]} gymnasium {i + 1}".replace(" 1", "")
                     if i == 0 else f"{name(i + 13)} gymnasium", "kommunal", "GY", 1, 3))
    rows.append(("Gymnasiesärskolan", "kommunal", "GYAN", 1, 4))
    chains = ("Internationella Engelska Skolan", "Kunskapsskolan", "Vittra", "Montessoriskolan",
              "Friskolan")
    for i in range(max(2, profile.own_school_units // 3)):
        place = areas[i % len(areas)] if i < len(chains) else _PREFIXES[i % len(_PREFIXES)]
        rows.append((f"{chains[i % len(chains)]} {place}", "fristaende", "GR", 0, 9))
    for i in range(max(1, profile.own_gy_units // 2)):
        rows.append((f"Praktiska Gymnasiet {areas[i % len(areas)]}", "fristaende", "GY", 1, 3))
    for i, nb in enumerate(profile.neighbour_names):
        rows.append((f"{_PREFIXES[(3 * i + 5) % len(_PREFIXES)]}skolan, {nb}", "annan_kommun",
                     "GR", 0, 9))
        rows.append((f"{nb} gymnasium", "annan_kommun", "GY", 1, 3))
    rows += [("Manillaskolan", "statlig", "SPEC", 1, 10), ("Östervångsskolan", "statlig",
             "SPEC", 1, 10), ("Sameskolan i Jokkmokk", "statlig", "SAM", 0, 6)]
    units = pd.DataFrame(rows, columns=["skolenhet_namn", "huvudman", "skolform", "min_ak",
                                        "max_ak"])
    codes = rng.choice(np.arange(10_000_000, 100_000_000), len(units), replace=False)
    units.insert(0, "skolenhetskod", codes.astype(str))
    return units


def _start_dates(lasar: int, years_back: np.ndarray) -> np.ndarray:
    """HT start of läsår lasar - years_back, as datetime64[D]."""
    starts = {y: np.datetime64(term("HT", y).start) for y in np.unique(lasar - years_back)}
    return np.array([starts[y] for y in lasar - years_back], dtype="datetime64[D]")


def build(rng, profile: Profile, people: People, as_of: date, lasar: int, cur: Term) -> Schools:
    persons = people.persons
    units = _units(rng, profile)
    today = np.datetime64(as_of, "D")
    fam = people.families
    resident = fam.resident.to_numpy()[persons.family.to_numpy()]
    klass = lasar - persons.fodelsedatum.dt.year.to_numpy() - 6
    child = persons.is_child.to_numpy()
    duty = child & (klass >= 0) & (klass <= 9)
    gy_age = child & (klass >= 10) & (klass <= 12)
    recent = fam.recent.to_numpy()[persons.family.to_numpy()]
    fam_ord = pd.Series(persons.family).map(
        {f: i for i, f in enumerate(fam.index[fam.recent != ""])}).fillna(-1).to_numpy()

    used = np.zeros(len(persons), dtype=bool)
    planted: dict[str, set[str]] = {}

    def take(role: str, mask: np.ndarray, k: int) -> np.ndarray:
        cand = np.flatnonzero(mask & ~used)
        chosen = np.sort(rng.choice(cand, min(k, len(cand)), replace=False))
        used[chosen] = True
        planted[role] = set(persons.pnr.to_numpy()[chosen])
        return chosen

    anchors = people.anchors
    for role in ("protected_okand", "protected_pupil", "protected_fee_child"):
        used[anchors[role]] = True
    # Newcomer families: every other one has not been placed yet.
    for key in ("lt30", "31_60"):
        m = duty & (recent == key)
        unplaced = m & (fam_ord % 2 == 0)
        used[unplaced] = True
        planted[f"nyinflyttad_{key}_utan_placering"] = set(persons.pnr[unplaced])
        planted[f"nyinflyttad_{key}_placerad"] = set(persons.pnr[m & ~unplaced])
    base = duty & resident & (recent == "")
    okand = take("okand", base, profile.scaled(0.002, 2))
    avslutad = take("placering_avslutad", base & (klass >= 1), profile.scaled(0.001, 1))
    dubbel = take("dubbel_placering", base, profile.scaled(0.001, 1))
    dec_roles = {
        "annat_satt": take("annat_satt", base, profile.scaled(0.0003, 1)),
        "utlandsvistelse": take("utlandsvistelse", base, profile.scaled(0.002, 1)),
        "uppskjuten_skolplikt": take("uppskjuten_skolplikt", base & (klass == 0),
                                     profile.scaled(0.001, 1)),
        "skolplikt_upphord": take("skolplikt_upphord", base & (klass >= 8),
                                  profile.scaled(0.0005, 1)),
    }
    expired = take("beslut_utgatt", base, profile.scaled(0.0005, 1))
    own_grades = units[(units.huvudman == "kommunal") & (units.skolform == "GR")]
    multi = np.array([((own_grades.min_ak <= k) & (own_grades.max_ak >= k)).sum() >= 2
                      for k in range(10)])
    changer = take("bytt_skola", base & multi[np.clip(klass, 0, 9)] & (klass >= 1),
                   profile.scaled(0.001, 1))
    moved_out = take("utflyttad", duty & ~resident, profile.scaled(0.0005, 1))
    unplaced = np.zeros(len(persons), dtype=bool)
    for arr in (okand, expired, *dec_roles.values()):
        unplaced[arr] = True
    unplaced[anchors["protected_okand"]] = True
    for key in ("lt30", "31_60"):
        unplaced[duty & (recent == key) & (fam_ord % 2 == 0)] = True
    unplaced[~resident] = True  # moved-out families: only the planted ended placement

    # Regular placements.
    n = len(persons)
    kind = np.full(n, "", dtype=object)
    u = rng.random(n)
    gran, spec, sam, annan = 0.015, 0.003, 0.002, 0.03
    frist = 1 - profile.own_share - gran - spec - sam - annan
    cuts = np.cumsum([profile.own_share, gran, frist, annan, spec, sam])
    labels = np.array(["own", "gran", "frist", "annan", "spec", "sam", "own"], dtype=object)
    kind[duty] = labels[np.searchsorted(cuts, u[duty])]
    kind[duty & (klass == 0) & np.isin(kind, ["gran", "spec"])] = "own"
    kind[duty & (klass > 6) & (kind == "sam")] = "own"
    forced_own = np.concatenate([avslutad, dubbel, changer, [anchors["protected_pupil"]]])
    kind[forced_own] = "own"
    kind[unplaced] = ""
    gy = gy_age & resident & (rng.random(n) < 0.93)
    kind[gy] = np.where(rng.random(int(gy.sum())) < 0.01, "gyan", "gy")

    unit_pick = np.full(n, -1)
    arskurs = np.where(kind == "gy", klass - 9, np.where(kind == "gyan", klass - 9, klass))
    held_back = duty & (klass >= 2) & (rng.random(n) < 0.005)
    arskurs = np.where(held_back, arskurs - 1, arskurs)

    def assign(mask: np.ndarray, pool: pd.DataFrame) -> None:
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return
        lo, hi = pool.min_ak.to_numpy(), pool.max_ak.to_numpy()
        ak = arskurs[idx]
        ok = (lo[None, :] <= ak[:, None]) & (hi[None, :] >= ak[:, None])
        score = rng.random(ok.shape) + ok * 2.0
        unit_pick[idx] = pool.index.to_numpy()[score.argmax(axis=1)]

    for k, hm, form in (("own", "kommunal", "GR"), ("gran", "kommunal", "GRAN"),
                        ("frist", "fristaende", "GR"), ("annan", "annan_kommun", "GR"),
                        ("spec", "statlig", "SPEC"), ("sam", "statlig", "SAM"),
                        ("gy", None, "GY"), ("gyan", "kommunal", "GYAN")):
        pool = units[units.skolform == form]
        if hm:
            pool = pool[pool.huvudman == hm]
        assign(kind == k, pool)
    placed = np.flatnonzero(unit_pick >= 0)
    uinfo = units.loc[unit_pick[placed]].reset_index(drop=True)
    ak = arskurs[placed]
    form = uinfo.skolform.to_numpy().copy()
    form[(form == "GR") & (ak == 0)] = "FK"
    years_back = np.clip(ak - uinfo.min_ak.to_numpy(), 0, 12)
    start = _start_dates(lasar, years_back)
    start = np.maximum(start, persons.folkbokford_datum.to_numpy().astype("datetime64[D]")[placed]
                       + np.timedelta64(5, "D"))
    start = np.minimum(start, today)
    pl = pd.DataFrame({
        "person": placed, "skolenhetskod": uinfo.skolenhetskod, "skolenhet_namn":
        uinfo.skolenhet_namn, "huvudman": uinfo.huvudman, "skolform": form,
        "arskurs": ak, "startdatum": start, "slutdatum": np.datetime64("NaT", "D"),
    })

    days = school_days(cur, as_of, profile.sportlov_week)
    extra = []
    # Ended placements: the last one ended a few weeks ago, no new one.
    ended = np.datetime64(as_of - timedelta(days=int(rng.integers(10, 40))), "D")
    pl.loc[pl.person.isin(avslutad), "slutdatum"] = ended
    # Double placement: also active at a fristående school.
    frist_units = units[(units.huvudman == "fristaende") & (units.skolform == "GR")]
    for p in dubbel:
        row = pl[pl.person == p].iloc[0].copy()
        f = frist_units.iloc[int(rng.integers(0, len(frist_units)))]
        row.skolenhetskod, row.skolenhet_namn, row.huvudman = (
            f.skolenhetskod, f.skolenhet_namn, "fristaende")
        row.startdatum = np.datetime64(as_of - timedelta(days=int(rng.integers(20, 90))), "D")
        extra.append(row)
    # Changed school mid-term: the old placement ends, the new one starts the next day.
    changed: set[str] = set()
    if len(days) >= 4:
        for p in changer:
            i = pl.index[pl.person == p][0]
            d = days[int(rng.integers(len(days) // 4, max(len(days) // 4 + 1, len(days) - 2)))]
            row = pl.loc[i].copy()
            pl.loc[i, "slutdatum"] = np.datetime64(d, "D")
            pool = own_grades[(own_grades.min_ak <= row.arskurs)
                              & (own_grades.max_ak >= row.arskurs)
                              & (own_grades.skolenhetskod != row.skolenhetskod)]
            new = pool.iloc[int(rng.integers(0, len(pool)))]
            row.skolenhetskod, row.skolenhet_namn = new.skolenhetskod, new.skolenhet_namn
            row.startdatum = np.datetime64(d + timedelta(days=1), "D")
            extra.append(row)
            changed.add(persons.pnr.iat[p])
    # Moved out: an own placement that ended when the family left.
    own_units = own_grades.reset_index(drop=True)
    for p in moved_out:
        u_row = own_units.iloc[int(rng.integers(0, len(own_units)))]
        extra.append(pd.Series({
            "person": p, "skolenhetskod": u_row.skolenhetskod, "skolenhet_namn":
            u_row.skolenhet_namn, "huvudman": "kommunal", "skolform": "GR" if klass[p] else "FK",
            "arskurs": klass[p], "startdatum": _start_dates(lasar, np.array([1]))[0],
            "slutdatum": np.datetime64(as_of - timedelta(days=int(rng.integers(40, 120))), "D"),
        }))
    if extra:
        pl = pd.concat([pl, pd.DataFrame(extra)], ignore_index=True)
    pl["pnr"] = persons.pnr.to_numpy()[pl.person.to_numpy()]
    pl = pl.sort_values(["pnr", "startdatum"], kind="stable").reset_index(drop=True)

    decisions = _decisions(rng, profile, persons, dec_roles, expired, pl, as_of)
    return Schools(units, pl, decisions, planted, changed)


def _decisions(rng, profile, persons, roles, expired, placements, as_of: date) -> pd.DataFrame:
    rows = []
    for kind_, idx in roles.items():
        for p in idx:
            start = as_of - timedelta(days=int(rng.integers(30, 400)))
            end = None
            if kind_ in ("utlandsvistelse", "annat_satt"):
                end = as_of + timedelta(days=int(rng.integers(30, 300)))
            rows.append((p, kind_, start, end))
    for p in expired:
        rows.append((p, "utlandsvistelse", as_of - timedelta(days=int(rng.integers(300, 500))),
                     as_of - timedelta(days=int(rng.integers(5, 60)))))
    # Old decisions for children who are back in school: covered by their placement.
    placed = placements.person.unique()
    for p in rng.choice(placed, min(len(placed), profile.scaled(0.001, 1)), replace=False):
        back = int(rng.integers(500, 900))
        rows.append((int(p), "utlandsvistelse", as_of - timedelta(days=back),
                     as_of - timedelta(days=back - int(rng.integers(90, 300)))))
    df = pd.DataFrame(rows, columns=["person", "beslutstyp", "giltig_fran", "giltig_till"])
    df["pnr"] = persons.pnr.to_numpy()[df.person.to_numpy()]
    df = df.sort_values(["giltig_fran", "pnr"], kind="stable").reset_index(drop=True)
    years = pd.to_datetime(df.giltig_fran).dt.year.to_numpy()
    serial = np.arange(len(df)) * 7 + 101
    df["diarienummer"] = [f"{profile.diarie_prefix} {y}/{s}" for y, s in
                          zip(years, serial, strict=True)]
    return df


def skolplikt_truth(people: People, sch: Schools, kommunkod: str, as_of: date, lasar: int,
                    grace_days: int = 30) -> dict[str, str]:
    """The expected exception list by the DESIGN rule, from the valid rows only."""
    p = people.persons
    by = p.fodelsedatum.dt.year
    pop = p[p.is_child & (p.kommunkod == kommunkod) & (by >= lasar - 15) & (by <= lasar - 6)]
    today = pd.Timestamp(as_of)
    pl = sch.placements
    active_pl = pl[(pl.startdatum <= today) & (pl.slutdatum.isna() | (pl.slutdatum >= today))
                   & pl.skolform.isin(SKOLPLIKT_FORMS)]
    n_active = active_pl.groupby("pnr").size()
    d = sch.decisions
    active_dec = set(d.pnr[(pd.to_datetime(d.giltig_fran) <= today)
                           & (pd.to_datetime(d.giltig_till).isna()
                              | (pd.to_datetime(d.giltig_till) >= today))])
    had = set(pl.pnr[pl.skolform.isin(SKOLPLIKT_FORMS)])
    out: dict[str, str] = {}
    for pnr_, fbd in zip(pop.pnr, pop.folkbokford_datum, strict=True):
        n = int(n_active.get(pnr_, 0))
        if n >= 2:
            out[pnr_] = "dubbel_placering"
        elif n == 1 or pnr_ in active_dec:
            continue
        elif (today - fbd).days < grace_days:
            out[pnr_] = "nyinflyttad"
        elif pnr_ in had:
            out[pnr_] = "placering_avslutad"
        else:
            out[pnr_] = "okand"
    return out
