"""Plausibility signals on childcare fees: patterns worth a second look, never an accusation.

Each signal says only that something "bör kontrolleras": there are ordinary explanations
(växelvis boende, a new partner, a late change of income). The descriptions carry counts,
never amounts of income, so a list row reveals no more than the check needs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skyddsnat.rules.income_check import BilledYear, billed_in_year, household_income, int_codes

OFORANDRAD_INKOMST_HOG_TAXERING = "oforandrad_inkomst_hog_taxering"
SAMMA_MEDBETALARE_FLERA_HUSHALL = "samma_medbetalare_flera_hushall"
BARN_I_FLERA_HUSHALL = "barn_i_flera_hushall"
SIGNAL_COLUMNS = ["hushall_id", "betalare", "signal", "beskrivning"]

DEFAULT_FAKTOR = 1.5
DEFAULT_MARGINAL_KR_PER_MANAD = 10_000


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in SIGNAL_COLUMNS})


def _household_month(billed: BilledYear, household: np.ndarray, month: np.ndarray):
    """One int64 per household and month; ascending over the rows, which are sorted by both."""
    return household * len(billed.months) + month


def _household_months(billed: BilledYear) -> np.ndarray:
    """The first row of each household and month."""
    key = _household_month(billed, billed.household, billed.month)
    return np.flatnonzero(np.diff(key, prepend=-1))


def _unchanged_income(
    billed: BilledYear, inkomster: pd.DataFrame, faktor: float, marginal: int
) -> pd.DataFrame:
    """Households billed 12 months on one unchanged reported income, far below the taxed one."""
    hm = _household_months(billed)  # each month's income is that of its first row's payer
    income = household_income(billed, inkomster)
    taxed_per_month = income.arsinkomst[hm] / 12  # a lower bound where one's data is missing
    anmald = billed.rows["anmald_inkomst"].array
    anmald_per_month = anmald[hm].to_numpy(dtype=float, na_value=np.nan)
    far_above = (
        income.nagon_kand[hm]
        & (taxed_per_month > faktor * anmald_per_month)
        & (taxed_per_month - anmald_per_month > marginal)
    )

    def per_household(household: np.ndarray) -> np.ndarray:
        return np.bincount(household, minlength=len(billed.households))

    amount, starts = anmald.to_numpy(dtype=np.int64, na_value=0), billed.household_starts
    twelve_months = per_household(billed.household[hm]) == 12
    all_reported = per_household(billed.household[anmald.isna()]) == 0
    one_value = np.minimum.reduceat(amount, starts) == np.maximum.reduceat(amount, starts)
    always_far_above = per_household(billed.household[hm][~far_above]) == 0
    hit = twelve_months & all_reported & one_value & always_far_above
    latest_month = hm[np.append(np.diff(billed.household[hm]) != 0, True)]
    text = (
        f"Anmäld inkomst är oförändrad alla 12 månader {billed.year} och väsentligt lägre än "
        "den fastställda inkomsten. Signal, bör kontrolleras."
    )
    return pd.DataFrame({
        "hushall_id": billed.households[hit],
        "betalare": billed.rows["betalare"].array[latest_month[hit]],
        "signal": OFORANDRAD_INKOMST_HOG_TAXERING, "beskrivning": text,
    })


def _shared_across_households(
    billed: BilledYear, row: np.ndarray, person: np.ndarray, in_role: np.ndarray,
    signal: str, text: str,
) -> pd.DataFrame:
    """Households in which some person appears in two or more households the same month.

    `row` (a billed row), `person` (its code, -1 = none) and `in_role` run in parallel, one
    entry per person and row; the person must hold the role in at least one of the
    households that month.
    """
    present = person >= 0
    row, person, in_role = row[present], person[present], in_role[present]
    if not len(row):
        return _empty()
    month, household = billed.month[row], billed.household[row]
    n_hh = len(billed.households)
    # A code per (month, person), then one entry per (month, person, household); the
    # products stay far below 2**63 (they are bounded by the squared row count).
    key, _ = int_codes(month * (person.max() + 1) + person)
    key_month = np.zeros(key.max() + 1, dtype=np.int64)
    key_month[key] = month
    key_in_role = np.bincount(key[in_role], minlength=len(key_month)) > 0
    pair_key, pair_household = np.divmod(pd.unique(key * n_hh + household), n_hh)
    n_households = np.bincount(pair_key)[pair_key]
    hit = (n_households >= 2) & key_in_role[pair_key]
    if not hit.any():
        return _empty()
    per_household = pd.DataFrame({
        "household": pair_household[hit], "month": key_month[pair_key[hit]],
        "n": n_households[hit],
    }).groupby("household", sort=True).agg(
        manader=("month", "nunique"), hushall=("n", "max"), senaste=("month", "max"),
    )
    latest = np.searchsorted(  # the first row of each household's latest month with a hit
        _household_month(billed, billed.household, billed.month),
        _household_month(billed, per_household.index.to_numpy(),
                         per_household["senaste"].to_numpy()))
    return pd.DataFrame({
        "hushall_id": billed.households[per_household.index],
        "betalare": billed.rows["betalare"].array[latest],
        "signal": signal,
        "beskrivning": [
            text.format(hushall=h, manader=m)
            for h, m in zip(per_household["hushall"], per_household["manader"], strict=True)
        ],
    })


def signals(
    avgifter: pd.DataFrame,
    inkomster: pd.DataFrame,
    year: int,
    faktor: float = DEFAULT_FAKTOR,
    marginal_kr_per_manad: int = DEFAULT_MARGINAL_KR_PER_MANAD,
) -> pd.DataFrame:
    """Signals for one year's billed months: DataFrame[hushall_id, betalare, signal, beskrivning].

    oforandrad_inkomst_hog_taxering: the same reported income in all 12 months while the
    fastställd household income per month is above `faktor` × it and more than
    `marginal_kr_per_manad` above it in every month. samma_medbetalare_flera_hushall: a
    co-payer who, the same month, is payer or co-payer in another household.
    barn_i_flera_hushall: a child billed in two or more households the same month.
    """
    return billed_signals(billed_in_year(avgifter, year), inkomster, faktor,
                          marginal_kr_per_manad)


def billed_signals(
    billed: BilledYear,
    inkomster: pd.DataFrame,
    faktor: float = DEFAULT_FAKTOR,
    marginal_kr_per_manad: int = DEFAULT_MARGINAL_KR_PER_MANAD,
) -> pd.DataFrame:
    """`signals` for rows already taken out with `billed_in_year`."""
    if len(billed) == 0:
        return _empty()
    year, rows = billed.year, np.arange(len(billed))
    parts = [
        _unchanged_income(billed, inkomster, faktor, marginal_kr_per_manad),
        _shared_across_households(
            billed, np.concatenate([rows, rows]),
            np.concatenate([billed.payer, billed.co_payer]),
            np.repeat([False, True], len(rows)), SAMMA_MEDBETALARE_FLERA_HUSHALL,
            "En medbetalare i hushållet finns i {hushall} hushåll samma månad under {manader} "
            f"månad(er) {year}. Signal, bör kontrolleras.",
        ),
        _shared_across_households(
            billed, rows, billed.children[0], np.ones(len(rows), dtype=bool),
            BARN_I_FLERA_HUSHALL,
            "Ett barn i hushållet debiteras i {hushall} hushåll samma månad under {manader} "
            f"månad(er) {year}. Kan ha en naturlig förklaring (t.ex. växelvis boende); "
            "signal, bör kontrolleras.",
        ),
    ]
    out = pd.concat([p for p in parts if not p.empty] or [_empty()], ignore_index=True)
    out = out.astype({c: "string" for c in SIGNAL_COLUMNS})
    return out.sort_values(["signal", "hushall_id"], kind="stable").reset_index(drop=True)
