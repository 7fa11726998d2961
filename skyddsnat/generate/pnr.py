"""Vectorised personnummer: unique valid numbers, the written forms exports use, and breakage.

The check digit is the same Luhn rule as `skyddsnat.personnummer.luhn_digit` (the tests
compare them), computed over whole arrays because Stockholm needs ~400 000 numbers.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

_WEIGHTS = np.array([2, 1, 2, 1, 2, 1, 2, 1, 2])


def _luhn_digits(nine: np.ndarray) -> np.ndarray:
    """Check digits for an (n, 9) array of digits YYMMDDNNN."""
    prod = nine * _WEIGHTS
    total = (prod - 9 * (prod > 9)).sum(axis=1)
    return (10 - total % 10) % 10


def make_unique(
    rng: np.random.Generator, birth: pd.Series, male: np.ndarray, samordning: np.ndarray
) -> np.ndarray:
    """Unique 12-digit numbers for birth dates and sexes; samordningsnummer get day + 60.

    The birth number's third digit is odd for men and even for women; duplicates are
    redrawn until none remain. Numbers are built as integers and turned into text once.
    """
    n = len(birth)
    birth = pd.to_datetime(pd.Series(birth).reset_index(drop=True))
    year = birth.dt.year.to_numpy().astype(np.int64)
    month = birth.dt.month.to_numpy().astype(np.int64)
    day = birth.dt.day.to_numpy().astype(np.int64) + 60 * samordning.astype(np.int64)
    male = np.asarray(male, dtype=np.int64)
    number = np.zeros(n, dtype=np.int64)
    todo = np.ones(n, dtype=bool)
    while todo.any():
        k = int(todo.sum())
        serial = rng.integers(0, 100, k) * 10 + rng.integers(0, 5, k) * 2 + male[todo]
        y, m, d = year[todo], month[todo], day[todo]
        nine = np.stack(
            [(y // 10) % 10, y % 10, m // 10, m % 10, d // 10, d % 10,
             serial // 100, (serial // 10) % 10, serial % 10],
            axis=1,
        )
        check = _luhn_digits(nine)
        number[todo] = y * 10**8 + m * 10**6 + d * 10**4 + serial * 10 + check
        todo = pd.Series(number).duplicated(keep="first").to_numpy()
    return pd.Series(number).astype(str).to_numpy(dtype=object)


def forms(pnr12: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three common export forms: YYYYMMDDNNNC, YYYYMMDD-NNNC, YYMMDD-NNNC."""
    s = pd.Series(pnr12, dtype=object).astype(str)
    dashed = s.str[:8] + "-" + s.str[8:]
    short = s.str[2:8] + "-" + s.str[8:]
    return s.to_numpy(dtype=object), dashed.to_numpy(dtype=object), short.to_numpy(dtype=object)


DEFAULT_MIX = (0.6, 0.25, 0.15)


def mixed(rng: np.random.Generator, pnr12: np.ndarray, p=DEFAULT_MIX,
          as_of: date | None = None) -> np.ndarray:
    """Each value written in one of the three forms, drawn per value. With `as_of`, the short
    form of someone 100 or older on that date is written YYMMDD+NNNC, as Skatteverket does."""
    codes, uniques = pd.factorize(pd.Series(pnr12, dtype=object))
    a, b, c = forms(np.asarray(uniques, dtype=object))
    if as_of is not None:
        c = _plus_for_centenarians(np.asarray(uniques, dtype=object), c, as_of)
    which = rng.choice(3, size=len(codes), p=p)
    return np.where(which == 0, a[codes], np.where(which == 1, b[codes], c[codes]))


def rewritten(rng: np.random.Generator, values: np.ndarray, p, as_of: date) -> np.ndarray:
    """Values written as 12 digits re-written in the mix `p`, one form drawn per distinct
    number (so an exact duplicate row stays exact); blanks and other forms left as they are."""
    s = pd.Series(values, dtype=object)
    twelve = s.str.fullmatch(r"\d{12}").fillna(False).to_numpy(dtype=bool)
    if not twelve.any():
        return np.asarray(values, dtype=object)
    codes, uniques = pd.factorize(s[twelve])
    u = np.asarray(uniques, dtype=object)
    a, b, c = forms(u)
    c = _plus_for_centenarians(u, c, as_of)
    which = rng.choice(3, size=len(u), p=p)
    out = s.to_numpy(dtype=object).copy()
    out[twelve] = np.where(which == 0, a, np.where(which == 1, b, c))[codes]
    return out


def _plus_for_centenarians(pnr12: np.ndarray, short: np.ndarray, as_of: date) -> np.ndarray:
    """The short form with '+' for those born 100 or more years before `as_of`
    (samordningsnummer: day - 60)."""
    if not len(pnr12):
        return short
    ymd = pd.Series(pnr12, dtype=object).str[:8].astype("int64").to_numpy()
    ymd = np.where(ymd % 100 > 60, ymd - 60, ymd)
    old = ymd + 1_000_000 <= int(as_of.strftime("%Y%m%d"))
    if not old.any():
        return short
    s = pd.Series(short, dtype=object)
    return np.where(old, s.str[:6] + "+" + s.str[7:], s).astype(object)


def break_check_digit(pnr12: str) -> str:
    """The same number with its control digit off by one: fails the Luhn check."""
    return pnr12[:-1] + str((int(pnr12[-1]) + 1) % 10)
