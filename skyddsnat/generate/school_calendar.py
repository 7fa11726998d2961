"""School terms and school days: where attendance rows exist and which term came before.

HT starts the Monday nearest 18 August and ends the last weekday on or before 20 December;
VT starts on 8 January (the next Monday if that is a weekend) and ends the last weekday
on or before 12 June. Lov: höstlov week 44, sportlov (week by profile), påsklov (Good
Friday and the week after Easter Sunday), plus 1 May, Ascension Day and 6 June.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Term:
    kind: str  # "HT" or "VT"
    year: int
    start: date
    end: date

    @property
    def label(self) -> str:
        return f"{self.kind}{self.year}"

    @property
    def lasar(self) -> int:
        """Läsår Y runs 1 July Y - 30 June Y+1."""
        return self.year if self.kind == "HT" else self.year - 1


def easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    n = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * n) // 451
    month, day = divmod(h + n - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _last_weekday_on_or_before(d: date) -> date:
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


def term(kind: str, year: int) -> Term:
    if kind == "HT":
        anchor = date(year, 8, 18)
        start = anchor - timedelta(days=anchor.weekday())
        if anchor.weekday() >= 4:  # Fri-Sun: the next Monday is nearer
            start += timedelta(days=7)
        return Term("HT", year, start, _last_weekday_on_or_before(date(year, 12, 20)))
    start = date(year, 1, 8)
    while start.weekday() >= 5:
        start += timedelta(days=1)
    return Term("VT", year, start, _last_weekday_on_or_before(date(year, 6, 12)))


def current_term(as_of: date) -> Term:
    """The term containing as_of, or the last one that started before it (during a lov)."""
    ht = term("HT", as_of.year)
    if as_of >= ht.start:
        return ht
    vt = term("VT", as_of.year)
    if as_of >= vt.start:
        return vt
    return term("HT", as_of.year - 1)


def previous_term(t: Term) -> Term:
    return term("VT", t.year) if t.kind == "HT" else term("HT", t.year - 1)


def lasar_start_term(t: Term) -> Term:
    """The HT that opened the läsår of t."""
    return t if t.kind == "HT" else term("HT", t.year - 1)


def holidays(year: int, sportlov_week: int) -> set[date]:
    e = easter(year)
    days = {e - timedelta(days=2), e + timedelta(days=39), date(year, 5, 1), date(year, 6, 6)}
    days |= {e + timedelta(days=k) for k in range(1, 6)}  # påsklov
    for week in (44, sportlov_week):
        monday = date.fromisocalendar(year, week, 1)
        days |= {monday + timedelta(days=k) for k in range(5)}
    return days


def school_days(t: Term, until: date, sportlov_week: int) -> list[date]:
    """Mon-Fri school days of term t from its start up to and including `until`."""
    off = holidays(t.year, sportlov_week)
    out, d = [], t.start
    last = min(t.end, until)
    while d <= last:
        if d.weekday() < 5 and d not in off:
            out.append(d)
        d += timedelta(days=1)
    return out
