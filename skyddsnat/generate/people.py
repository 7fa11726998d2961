"""The population register: families of children 0-18 and their guardians.

Families come first (children, one or two guardians, one address, one move-in date), so
households, siblings and protected identity stay consistent across every other source.
A pool of outsiders (adults not in the register) serves as sambo co-payers and as the
valid-looking numbers of planted invalid rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from . import names, pnr
from .profiles import Profile

DAY = np.timedelta64(1, "D")
YEAR_DAYS = 365.25


@dataclass
class People:
    persons: pd.DataFrame  # one row per register person, index 0..n-1
    families: pd.DataFrame  # one row per family (household in the register)
    outsiders: pd.DataFrame  # adults outside the register: pnr, fornamn, efternamn
    anchors: dict[str, int] = field(default_factory=dict)  # role -> person index / family id

    @property
    def children(self) -> pd.DataFrame:
        return self.persons[self.persons.is_child]


def _years(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return (rng.uniform(lo, hi, n) * YEAR_DAYS).astype("int64") * DAY


def _family_children(rng, profile: Profile, as_of: date) -> pd.DataFrame:
    """Children grouped in families, siblings 1-4.5 years apart, ages 0-18 at as_of."""
    today = np.datetime64(as_of, "D")
    oldest_limit = np.datetime64(as_of.replace(year=as_of.year - 19), "D") + DAY
    n_fam = int(profile.children / 1.55) + 10
    size = rng.choice([1, 2, 3, 4], size=n_fam, p=[0.36, 0.42, 0.16, 0.06])
    span = (today - DAY - oldest_limit).astype(int)
    # Skewed towards older first-borns, so younger siblings do not crowd the youngest ages.
    first = oldest_limit + (span * rng.random(n_fam) ** 1.4).astype("int64") * DAY
    fam = np.repeat(np.arange(n_fam), size)
    order = np.concatenate([np.arange(k) for k in size])
    gaps = _years(rng, 1.2, 4.5, len(fam))
    gaps[order == 0] = 0
    cum = pd.Series(gaps.astype("int64")).groupby(fam).cumsum().to_numpy()
    birth = first[fam] + cum * DAY
    keep = birth < today
    kids = pd.DataFrame({"family": fam[keep], "birth": birth[keep]})
    # Just enough whole families to reach the target number of children.
    counts = kids.groupby("family").size()
    take = counts.index[counts.cumsum().to_numpy() <= profile.children]
    return kids[kids.family.isin(take)].reset_index(drop=True)


def _mark_protected(rng, persons, families, anchors, school_age, lasar, as_of) -> None:
    """About 0.5 % flagged, with anchors that put protected children on every list."""
    child = persons.is_child.to_numpy()
    resident = families.resident.to_numpy()[persons.family.to_numpy()]
    age_days = (np.datetime64(as_of, "D") - persons.fodelsedatum.to_numpy()
                .astype("datetime64[D]")).astype(int)
    by = persons.fodelsedatum.dt.year.to_numpy()
    used: set[int] = set()

    def anchor_child(mask: np.ndarray) -> int:
        fams = persons.family.to_numpy()
        cand = np.flatnonzero(mask & child & resident & ~np.isin(fams, list(used)))
        i = int(rng.choice(cand))
        used.add(int(fams[i]))
        return i

    sekr = np.zeros(len(persons), dtype=bool)
    skydd = np.zeros(len(persons), dtype=bool)
    fam_of = persons.family.to_numpy()
    # A: the child itself has sekretessmarkering (and will be an unknown child).
    a = anchor_child(school_age & (by >= lasar - 13))
    sekr[a] = True
    anchors["protected_okand"] = a
    # B: only a guardian has skyddad folkbokföring (the pupil is protected by association).
    b = anchor_child((by >= lasar - 15) & (by <= lasar - 13))
    g1 = families.g1.to_numpy()[fam_of[b]]
    skydd[g1] = True
    anchors["protected_pupil"] = b
    # C: the whole family has skyddad folkbokföring and a child in förskola.
    c = anchor_child((age_days > 2 * 365) & (age_days < 4 * 365))
    skydd[fam_of == fam_of[c]] = True
    anchors["protected_fee_child"] = c
    target = round(0.005 * len(persons))
    order = rng.permutation(len(families))
    for f in order:
        if sekr.sum() + skydd.sum() >= target:
            break
        if f in used:
            continue
        members = np.flatnonzero(fam_of == f)
        pattern = rng.integers(0, 3)
        if pattern == 0:
            skydd[members] = True
        elif pattern == 1:
            kids = members[child[members]]
            sekr[kids[: 1 + rng.integers(0, len(kids))]] = True
        else:
            sekr[families.g1.iat[f]] = True
    persons["sekretessmarkering"] = np.where(sekr, "J", "")
    persons["skyddad_folkbokforing"] = np.where(skydd, "J", "")


def build(rng: np.random.Generator, profile: Profile, as_of: date, lasar: int) -> People:
    kids = _family_children(rng, profile, as_of)
    n_fam = int(kids.family.max()) + 1
    kids["family"] = pd.factorize(kids.family, sort=True)[0]
    n_fam = int(kids.family.max()) + 1
    oldest = kids.groupby("family").birth.min().to_numpy()

    two = rng.random(n_fam) < 0.85
    mother_birth = oldest - _years(rng, 22, 40, n_fam)
    partner_birth = mother_birth - _years(rng, -2, 6, n_fam)
    single_is_father = (~two) & (rng.random(n_fam) < 0.25)
    g1_birth = np.where(single_is_father, partner_birth, mother_birth)
    g1_male = single_is_father.copy()
    swap = two & (rng.random(n_fam) < 0.4)  # vårdnadshavare 1 is not always the mother
    g1_birth = np.where(swap, partner_birth, g1_birth)
    g1_male = np.where(swap, True, g1_male)
    g2_birth = np.where(swap, mother_birth, partner_birth)
    g2_male = ~g1_male

    n_kids, n_g2 = len(kids), int(two.sum())
    births = np.concatenate([kids.birth.to_numpy(), g1_birth, g2_birth[two]])
    kid_male = rng.random(n_kids) < 0.51
    male = np.concatenate([kid_male, g1_male, g2_male[two]]).astype(int)
    n_out = max(60, n_fam // 15)
    out_birth = np.datetime64(as_of, "D") - _years(rng, 22, 60, n_out)
    k = min(profile.centenarians, n_out - 20)  # the first become sambo co-payers (fees)
    if k > 0:
        out_birth[:k] = np.datetime64(as_of, "D") - _years(rng, 100.1, 103, k)
    out_male = (rng.random(n_out) < 0.5).astype(int)
    all_birth = pd.Series(np.concatenate([births, out_birth]))
    all_male = np.concatenate([male, out_male])
    samord = rng.random(len(all_birth)) < 0.01
    numbers = pnr.make_unique(rng, all_birth, all_male, samord)

    fam = np.concatenate([kids.family.to_numpy(), np.arange(n_fam), np.flatnonzero(two)])
    is_child = np.arange(len(births)) < n_kids
    persons = pd.DataFrame({
        "pnr": numbers[: len(births)],
        "fodelsedatum": pd.to_datetime(births),
        "male": male.astype(bool),
        "family": fam,
        "is_child": is_child,
    })
    g1_idx = n_kids + np.arange(n_fam)
    g2_idx = np.full(n_fam, -1)
    g2_idx[two] = n_kids + n_fam + np.arange(n_g2)

    surname = names.pick(rng, names.SURNAMES, n_fam)
    own_surname = names.pick(rng, names.SURNAMES, len(persons))
    keeps = rng.random(len(persons)) < 0.7
    persons["efternamn"] = np.where(keeps | is_child, surname[fam], own_surname)
    first = np.empty(len(persons), dtype=object)
    for pool, mask in (
        (names.BOYS, is_child & persons.male), (names.GIRLS, is_child & ~persons.male),
        (names.MEN, ~is_child & persons.male), (names.WOMEN, ~is_child & ~persons.male),
    ):
        first[mask.to_numpy()] = names.pick(rng, pool, int(mask.sum()))
    persons["fornamn"] = first

    # One address per family.
    street = rng.choice(np.asarray(profile.streets, dtype=object), n_fam)
    number = rng.integers(1, 120, n_fam).astype(str)
    letter = np.where(rng.random(n_fam) < 0.1, rng.choice(list("ABC"), n_fam), "")
    flat = np.where(rng.random(n_fam) < (0.6 if profile.children > 20_000 else 0.2),
                    " lgh " + rng.integers(1001, 1604, n_fam).astype(str), "")
    post_i = rng.integers(0, len(profile.postorter), n_fam)
    prefix = np.array([p for p, _ in profile.postorter], dtype=object)[post_i]
    full = pd.Series(prefix + pd.Series(rng.integers(0, 1000, n_fam)).astype(str).str.zfill(3))
    full = full.str[:5]
    code = (full.str[:3] + " " + full.str[3:]).to_numpy(dtype=object)
    families = pd.DataFrame({
        "family": np.arange(n_fam),
        "g1": g1_idx, "g2": g2_idx,
        "utdelningsadress": street + " " + number + letter + flat,
        "postnummer": code,
        "postort": np.array([o for _, o in profile.postorter], dtype=object)[post_i],
    })

    # Residence and move-in dates; protected anchors first so newcomers never take them.
    by = persons.fodelsedatum.dt.year.to_numpy()
    school_age = is_child & (by >= lasar - 15) & (by <= lasar - 6)
    fam_has_school_child = np.zeros(n_fam, dtype=bool)
    fam_has_school_child[fam[school_age]] = True
    resident = rng.random(n_fam) >= profile.other_kommun_share
    if resident[fam_has_school_child].all():  # at least one moved-out school-age child
        resident[rng.choice(np.flatnonzero(fam_has_school_child))] = False
    families["resident"] = resident
    anchors: dict[str, int] = {}
    _mark_protected(rng, persons, families, anchors, school_age, lasar, as_of)
    anchor_fam = fam[list(anchors.values())]
    today = np.datetime64(as_of, "D")
    moved = today - rng.integers(61, 15 * 365, n_fam) * DAY
    native = rng.random(n_fam) < 0.7
    moved = np.where(native, oldest - rng.integers(200, 12 * 365, n_fam) * DAY, moved)
    cand = np.flatnonzero(resident & fam_has_school_child & ~np.isin(np.arange(n_fam), anchor_fam))
    k30 = profile.scaled(0.002, 2)
    k60 = profile.scaled(0.002, 2)
    recent = rng.choice(cand, k30 + k60, replace=False)
    moved[recent[:k30]] = today - rng.integers(1, 30, k30) * DAY
    moved[recent[k30:]] = today - rng.integers(31, 61, k60) * DAY
    families["moved_in"] = moved
    families["recent"] = ""
    families.loc[recent[:k30], "recent"] = "lt30"
    families.loc[recent[k30:], "recent"] = "31_60"

    birth_d = persons.fodelsedatum.to_numpy().astype("datetime64[D]")
    persons["folkbokford_datum"] = np.maximum(moved[fam], np.where(is_child, birth_d, moved[fam]))
    others = np.asarray(profile.other_kommunkoder, dtype=object)
    fam_kommun = np.where(resident, profile.kommunkod, rng.choice(others, n_fam))
    persons["kommunkod"] = fam_kommun[fam]
    vh1 = np.where(is_child, persons.pnr.to_numpy()[g1_idx[fam]], "")
    g2_of = g2_idx[fam]
    vh2 = np.where(is_child & (g2_of >= 0), persons.pnr.to_numpy()[np.maximum(g2_of, 0)], "")
    persons["vardnadshavare_1"] = vh1
    persons["vardnadshavare_2"] = vh2

    out_first = np.where(out_male == 1, names.pick(rng, names.MEN, n_out),
                         names.pick(rng, names.WOMEN, n_out))
    outsiders = pd.DataFrame({
        "pnr": numbers[len(births):],
        "fornamn": out_first,
        "efternamn": names.pick(rng, names.SURNAMES, n_out),
        "fodelsedatum": pd.to_datetime(out_birth),
    })
    return People(persons, families, outsiders, anchors)
