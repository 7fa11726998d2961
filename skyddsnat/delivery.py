"""One delivery per reference date: every list through the same re-identification step.

For each list: case ids and statuses (against the previous delivery), then the split —
protected persons to one sealed list per kind, everyone else re-identified with only the
fields the recipient may have — then Excel, the manifest, the atomic publish, the audit
entries and the case history. Board tables carry no identities at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from skyddsnat.audit import AuditLog
from skyddsnat.cases import empty_history, load_history, save_history, track_cases
from skyddsnat.excel import (
    PERSON_ID_COLUMNS,
    ListSpec,
    build_summary,
    list_spec,
    write_list_xlsx,
    write_table_xlsx,
)
from skyddsnat.identity_store import read_identities, read_sealed
from skyddsnat.keys import Keys
from skyddsnat.layout import DataDir
from skyddsnat.outbox import purge, record_delivery, staged_delivery
from skyddsnat.policy import Policy
from skyddsnat.reidentify import officer_fields, split_and_reidentify
from skyddsnat.restricted import restricted_path, write_sealed_list

HISTORY_FILE = "arenden.parquet"
# Codes and labels stay text in board tables (a school unit code may start with 0).
LABEL_COLUMNS = ("skolenhet", "skolenhetskod", "skolenhet_namn", "arskurs", "manad")


@dataclass
class ListInput:
    """Pseudonymous rows of one list file, and extra sheets keyed by the same subject."""

    spec: ListSpec
    rows: pd.DataFrame
    extra_sheets: dict[str, pd.DataFrame] = field(default_factory=dict)
    extra_key: str | None = None  # column linking extra-sheet rows to list rows


@dataclass
class BoardTable:
    """An aggregate for the board, already suppressed; no person ids allowed."""

    name: str
    title: str
    table: pd.DataFrame
    summary: dict[str, object] = field(default_factory=dict)
    charts: dict[str, Path] = field(default_factory=dict)
    html: str | None = None


@dataclass
class DeliveryReport:
    manifest: dict
    general_rows: dict[str, int]


def _subjects(inputs: list[ListInput]) -> set[str]:
    ids: set[str] = set()
    for inp in inputs:
        if len(inp.rows):
            ids |= set(inp.rows[inp.spec.subject].dropna().astype(str))
    return ids


def _general_extra(inp: ListInput, kept: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Extra sheets restricted to the general rows' keys, with person ids dropped."""
    out = {}
    for name, sheet in inp.extra_sheets.items():
        if inp.extra_key and inp.extra_key in sheet.columns:
            sheet = sheet[sheet[inp.extra_key].isin(set(kept[inp.extra_key]))]
        out[name] = sheet.drop(columns=[c for c in PERSON_ID_COLUMNS if c in sheet.columns])
    return out


def numbers_as_numbers(table: pd.DataFrame) -> pd.DataFrame:
    """Board tables are stored as text ("12" or ".."); Excel should get real numbers."""
    out = table.copy()
    for col in out.columns:
        if col in LABEL_COLUMNS:
            continue
        s = out[col].astype("string")
        digits = s.str.fullmatch(r"\d+").fillna(False)
        if digits.any() and ((digits | ~s.str.contains(r"\d", regex=True).fillna(True)).all()):
            out[col] = [int(v) if d else v for v, d in zip(s.astype(object), digits,
                                                            strict=True)]
    return out


def deliver(data: DataDir, keys: Keys, policy: Policy, as_of: date,
            lists: dict[str, list[ListInput]], boards: list[BoardTable],
            skyddade: pd.Series) -> DeliveryReport:
    """Write, seal, publish and audit the whole delivery for `as_of`."""
    history_path = data.state / HISTORY_FILE
    history = load_history(history_path)
    # Each list's history is tracked on its own slice: hundreds of school lists must not
    # each copy and sort the whole municipality's history.
    by_list = {name: part for name, part in history.groupby("lista", sort=False)}
    all_inputs = [i for inputs in lists.values() for i in inputs]
    identities = read_identities(keys, data.vault, _subjects(all_inputs))
    sealed = read_sealed(data.vault)
    fields = officer_fields(policy)
    reidentified: list[dict] = []
    general_rows: dict[str, int] = {}
    with staged_delivery(data.outbox, as_of, policy.version) as d:
        for kind, inputs in lists.items():
            restricted_parts, closed_parts = [], []
            for inp in inputs:
                own = by_list.get(inp.spec.name, empty_history())
                rows, closed, by_list[inp.spec.name] = track_cases(
                    own, inp.spec, inp.rows, keys.pseudonym_key, as_of)
                mine = identities.loc[identities["person_id"].isin(
                    set(rows[inp.spec.subject].dropna()))] if len(rows) else identities.iloc[0:0]
                general, restricted = split_and_reidentify(rows, inp.spec, mine, skyddade,
                                                           policy)
                kept = rows.loc[general.index] if len(general) else rows.iloc[0:0]
                summary = build_summary(inp.spec, policy, as_of, general, avslutade=closed,
                                        skyddade=skyddade)
                rel = f"{inp.spec.role}/{inp.spec.name}.xlsx"
                fp = write_list_xlsx(d.path(rel), inp.spec, general, summary,
                                     _general_extra(inp, kept))
                d.record(rel, len(general), fp)
                general_rows[inp.spec.name] = len(general)
                reidentified.append({"list": inp.spec.name, "role": inp.spec.role,
                                     "count": len(general), "policy_version": policy.version,
                                     "file": rel})
                restricted_parts.append(restricted)
                if closed is not None and "person_id" in closed.columns:
                    closed_parts.append(closed[closed["person_id"].isin(set(skyddade))])
            spec = list_spec(kind)
            restricted_rows = (pd.concat(restricted_parts, ignore_index=True)
                               if restricted_parts else pd.DataFrame())
            write_sealed_list(d.path(restricted_path(kind)), spec, restricted_rows, sealed,
                              keys.officer_public, as_of, policy.version, fields,
                              avslutade=pd.concat(closed_parts, ignore_index=True)
                              if closed_parts else None)
        for board in boards:
            rel = f"namnd/{board.name}.xlsx"
            summary = {"Referensdatum": as_of, "Policyversion": policy.version, **board.summary}
            fp = write_table_xlsx(d.path(rel), board.title, numbers_as_numbers(board.table),
                                  summary, board.charts)
            d.record(rel, len(board.table), fp)
            if board.html is not None:
                d.path(f"namnd/{board.name}.html").write_text(board.html, encoding="utf-8")
    parts = [p for p in by_list.values() if len(p)]
    save_history(history_path, pd.concat(parts, ignore_index=True).sort_values(
        ["lista", "arende_id", "first_seen"], ignore_index=True) if parts else empty_history())
    record_delivery(AuditLog(data.audit), as_of, d.manifest, reidentified)
    purge(data.outbox, as_of, policy.gallring.utkorg_dagar)
    return DeliveryReport(d.manifest, general_rows)
