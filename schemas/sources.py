"""Pandera schemas of the pseudonymous tables that leave each source asset, derived from the
source catalogue (skyddsnat/ingest/catalog.py): the contract's kinds, codes and bounds, and
the policy's treatment of each column (only `pseudonymiseras` and `behalls` columns are
stored), so a rule is written once.

They run lazily on the typed, pseudonymised rows (never on plaintext identifiers, so their
failure cases can hold nothing but pseudonyms and codes). A failing row is quarantined with
the reason its check names: `isin` -> okand_kod, ranges -> orimligt_varde, nullability ->
saknat_varde, patterns -> ogiltigt_format; rules between columns carry their reason code as
their name.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

import schemas.checks  # noqa: F401 - registers the str_fullmatch check
from skyddsnat.contract import Rule
from skyddsnat.ingest.catalog import SourceEntry, StoredColumn, entry
from skyddsnat.policy import Policy

PSEUDONYM = r"[0-9a-f]{32}"
# Text columns are Arrow-backed strings, as everywhere in the program (arrow_strings.py); the
# storage is stated because pandera fixes what a bare StringDtype means when it is imported.
TEXT = pd.StringDtype("pyarrow")
# Patterns of the coded kinds, in RE2 syntax (str_fullmatch); the parser uses the same.
KIND_PATTERNS = {"code4": r"[0-9]{4}", "code8": r"[0-9]{8}",
                 "month": r"[0-9]{4}-(?:0[1-9]|1[0-2])", "term": r"(?:HT|VT)[0-9]{4}"}


def dtype_of(column: StoredColumn):
    kind = "pnr" if column.pseudonym else column.column.kind
    return {"date": "datetime64[ns]", "int": pd.Int64Dtype(), "flag": bool}.get(kind, TEXT)


def _checks(column: StoredColumn) -> list[pa.Check]:
    c = column.column
    if column.pseudonym:
        return [pa.Check.str_fullmatch(pattern=PSEUDONYM)]
    if c.kind in KIND_PATTERNS:
        return [pa.Check.str_fullmatch(pattern=KIND_PATTERNS[c.kind])]
    if c.codes:
        return [pa.Check.isin(list(c.codes))]
    if c.kind == "int" and c.min_value is not None and c.max_value is not None:
        return [pa.Check.in_range(c.min_value, c.max_value)]
    if c.kind == "int" and c.min_value is not None:
        return [pa.Check.ge(c.min_value)]
    return []


def _rule(rule: Rule) -> pa.Check:
    cols = rule.columns
    if rule.kind == "ordered":
        def holds(df: pd.DataFrame) -> pd.Series:
            return df[cols[1]].isna() | (df[cols[1]] >= df[cols[0]])
    elif rule.kind == "sum_at_most":
        def holds(df: pd.DataFrame) -> pd.Series:
            return sum(df[c] for c in cols[:-1]) <= df[cols[-1]]
    else:
        raise ValueError(f"okänd regel {rule.kind}")
    return pa.Check(holds, name="orimligt_varde")


def build_schema(source: SourceEntry) -> pa.DataFrameSchema:
    stored = {s.name for s in source.stored}
    rules = [_rule(r) for r in source.rules if all(
        (c if c != "personnummer" else "person_id") in stored for c in r.columns)]
    return pa.DataFrameSchema(
        {s.name: pa.Column(dtype_of(s), checks=_checks(s), nullable=s.nullable)
         for s in source.stored},
        checks=rules, strict=True, coerce=False, name=source.name)


_SCHEMAS: dict[SourceEntry, pa.DataFrameSchema] = {}


def schema(policy: Policy, source: str) -> pa.DataFrameSchema:
    """The pandera schema of a source's stored table under `policy` (built once per entry)."""
    e = entry(policy, source)
    if e not in _SCHEMAS:
        _SCHEMAS[e] = build_schema(e)
    return _SCHEMAS[e]


def empty(policy: Policy, source: str) -> pd.DataFrame:
    """A source's stored table with no rows (an absent optional source), correctly typed."""
    return pd.DataFrame({s.name: pd.Series(dtype=dtype_of(s))
                         for s in entry(policy, source).stored})
