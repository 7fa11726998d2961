"""One delivery per reference date: every list through the same re-identification step.

For each list: case ids and statuses (against the previous delivery), then the split —
protected persons to one sealed list per kind, everyone else re-identified with only the
fields the recipient may have — then Excel, the manifest, the atomic publish, the audit
entries and the case history. Board tables carry no identities at all.

A large city has hundreds of lists of a kind (one per school): they are tracked and
re-identified together in one pass, and their workbooks rendered by this process and, when
there are many, a helper process (`skyddsnat.lists.render`), so the delivery's time follows its
rows rather than its number of lists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from skyddsnat.delivery.outbox import Delivery, purge_outbox, record_delivery, staged_delivery
from skyddsnat.layout import DataDir
from skyddsnat.lists.cases import load_history, save_history, track_lists
from skyddsnat.lists.catalog import PERSON_ID_COLUMNS, ListCatalog, ListSpec
from skyddsnat.lists.excel import build_summary, check_list, protected_members
from skyddsnat.lists.forklaring import forklaring
from skyddsnat.lists.reidentify import officer_fields, reidentify_general
from skyddsnat.lists.render import Renderer, board_bytes, helpers, list_bytes
from skyddsnat.lists.restricted import restricted_path, write_sealed_list
from skyddsnat.policy import Policy
from skyddsnat.privacy.audit import AuditLog
from skyddsnat.privacy.identity_store import read_identities, read_sealed
from skyddsnat.privacy.keys import Keys

HISTORY_FILE = "arenden.parquet"


@dataclass
class ListInput:
    """Pseudonymous rows of one list file, and extra sheets keyed by the same subject."""

    spec: ListSpec
    rows: pd.DataFrame
    extra_sheets: dict[str, pd.DataFrame] = field(default_factory=dict)
    extra_key: str | None = None  # column linking extra-sheet rows to list rows
    facts: dict[str, object] = field(default_factory=dict)  # summary lines after the counts
    head: dict[str, object] = field(default_factory=dict)  # first lines: warnings, data basis
    # (school unit, grade term, totals); never about protected persons


@dataclass
class BoardTable:
    """An aggregate for the board, already suppressed; no person ids allowed."""

    name: str
    title: str
    table: pd.DataFrame
    summary: dict[str, object] = field(default_factory=dict)
    charts: dict[str, Path] = field(default_factory=dict)
    html: str | None = None
    page: Callable[[], str] | None = None  # renders the HTML page (picklable: may run in
    # the delivery's helper process)
    sheets: dict[str, pd.DataFrame] = field(default_factory=dict)  # e.g. "Cellstatus"


@dataclass
class DeliveryReport:
    manifest: dict
    general_rows: dict[str, int]


@dataclass
class _Batch:
    """Lists of one kind and one shape (same spec columns, same row columns), in order.

    Case tracking and re-identification run once over all their rows: hundreds of school
    lists must not each pay for a pass over the history, the identities and the policy.
    """

    inputs: list[ListInput]
    rows: pd.DataFrame
    lists: np.ndarray  # position in `inputs` of each row's list (ascending)


def _shape(inp: ListInput) -> tuple:
    s = inp.spec
    return (s.kind, s.role, s.subject, s.columns, s.identity_prefix, s.case_key(),
            tuple((str(c), str(t)) for c, t in inp.rows.dtypes.items()))


def _batches(inputs: list[ListInput]) -> list[_Batch]:
    """Consecutive inputs of the same shape, each group's rows concatenated once."""
    groups: list[list[ListInput]] = []
    for inp in inputs:
        if groups and _shape(groups[-1][0]) == _shape(inp):
            groups[-1].append(inp)
        else:
            groups.append([inp])
    return [_Batch(g, pd.concat([i.rows for i in g], ignore_index=True) if len(g) > 1
                   else g[0].rows,
                   np.repeat(np.arange(len(g)), [len(i.rows) for i in g]))
            for g in groups]


def _subjects(batches: list[_Batch]) -> set[str]:
    ids: set[str] = set()
    for b in batches:
        if len(b.rows):
            ids |= set(b.rows[b.inputs[0].spec.subject].dropna().astype(str))
    return ids


def _general_extra(inp: ListInput, kept: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Extra sheets restricted to the general rows' keys, with person ids dropped.

    `kept` are the list's general rows before re-identification (protected rows removed),
    so a protected household's details never reach a general list's extra sheets.
    """
    out = {}
    for name, sheet in inp.extra_sheets.items():
        if inp.extra_key and inp.extra_key in sheet.columns:
            sheet = sheet[sheet[inp.extra_key].isin(set(kept[inp.extra_key]))]
        out[name] = sheet.drop(columns=[c for c in PERSON_ID_COLUMNS if c in sheet.columns])
    return out


def _cut(frame: pd.DataFrame, lists: np.ndarray, n: int) -> list[pd.DataFrame]:
    """Split rows ordered by list position into one frame per list (positions kept)."""
    bounds = np.searchsorted(lists, np.arange(n + 1))
    return [frame.iloc[bounds[i]:bounds[i + 1]] for i in range(n)]


def deliver(data: DataDir, keys: Keys, policy: Policy, as_of: date,
            lists: dict[str, list[ListInput]], boards: list[BoardTable],
            skyddade: pd.Series, heads: dict[str, dict[str, object]] | None = None
            ) -> DeliveryReport:
    """Write, seal, publish and audit the whole delivery for `as_of`.

    `heads` are the first summary rows of each kind's sealed list (its data basis)."""
    catalog = ListCatalog(policy)
    history_path = data.state / HISTORY_FILE
    history = load_history(history_path)
    batches = {kind: _batches(inputs) for kind, inputs in lists.items()}
    jobs = sum(len(inputs) for inputs in lists.values()) + len(boards)
    with Renderer(helpers(jobs)) as render:
        identities = read_identities(keys, data.vault,
                                     _subjects([b for bs in batches.values() for b in bs]))
        sealed = read_sealed(data.vault)
        protected = frozenset(pd.Series(list(skyddade), dtype="string").dropna())
        with staged_delivery(data.outbox, as_of, policy.version) as d:
            run = _Run(d, render, keys, policy, as_of, identities, protected)
            for board in boards:  # first: the helper can draw the charts meanwhile
                summary = {"Lista": board.title, "Fil": board.name, "Referensdatum": as_of,
                           "Policyversion": policy.version, **board.summary}
                render.submit(board_bytes, (board.title, board.table, summary, board.charts,
                                            board.page, board.sheets),
                              partial(_store_board, d, board, catalog.board_role(board.name)),
                              helper=True)
            for kind, kind_batches in batches.items():
                restricted, closed = [], []
                for batch in kind_batches:
                    history = run.lists(history, batch, restricted, closed)
                _seal_kind(d, catalog.sealed(kind), restricted, closed, protected, sealed, keys,
                           policy, as_of,
                           (heads or {}).get(kind))
            render.finish()
    save_history(history_path, history.sort_values(["lista", "arende_id", "first_seen"],
                                                   ignore_index=True))
    record_delivery(AuditLog(data.audit), as_of, d.manifest, run.reidentified)
    purge_outbox(data.outbox, as_of, policy.gallring, AuditLog(data.audit))
    return DeliveryReport(d.manifest, run.general_rows)


@dataclass
class _Run:
    """What every list of one delivery shares, and what the delivery records of them."""

    d: Delivery
    render: Renderer
    keys: Keys
    policy: Policy
    as_of: date
    identities: pd.DataFrame
    protected: frozenset
    reidentified: list[dict] = field(default_factory=list)
    general_rows: dict[str, int] = field(default_factory=dict)
    explained: dict[str, pd.DataFrame] = field(default_factory=dict)  # Förklaring per kind

    def lists(self, history: pd.DataFrame, batch: _Batch, restricted: list[pd.DataFrame],
              closed: list[pd.DataFrame]) -> pd.DataFrame:
        """Track, split, re-identify and render a batch's lists; return the new history.

        Protected rows and every list's closed cases are added to `restricted` and `closed`
        for the kind's sealed list.
        """
        t = track_lists(history, [i.spec for i in batch.inputs], batch.rows, batch.lists,
                        self.keys.pseudonym_key, self.as_of)
        general, mask = reidentify_general(t.rows, batch.inputs[0].spec, self.identities,
                                           self.protected, self.policy)
        mask = mask.to_numpy()
        restricted.append(t.rows[mask])
        n = len(batch.inputs)
        kept = (_cut(t.rows[~mask], t.lists[~mask], n)
                if any(i.extra_sheets for i in batch.inputs) else [None] * n)
        for inp, rows, own, gone in zip(batch.inputs, _cut(general, t.lists[~mask], n), kept,
                                        t.closed, strict=True):
            spec = inp.spec
            if spec.kind not in self.explained:
                self.explained[spec.kind] = forklaring(spec.kind, self.policy)
            summary = build_summary(spec, self.policy, self.as_of, rows, avslutade=gone,
                                    skyddade=self.protected, facts=inp.facts,
                                    head=inp.head, explained=self.explained[spec.kind])
            extra = check_list(spec, rows, summary, _general_extra(inp, own))
            rel = f"{spec.role}/{spec.name}.xlsx"
            self.render.submit(list_bytes, (spec, rows, summary, extra),
                               partial(_store_list, self.d, rel, len(rows)))
            self.general_rows[spec.name] = len(rows)
            self.reidentified.append({"list": spec.name, "role": spec.role, "count": len(rows),
                                      "policy_version": self.policy.version, "file": rel})
            closed.append(gone)
        return t.history


def _store_list(d: Delivery, rel: str, rows: int, rendered: tuple[bytes, str]) -> None:
    content, fingerprint = rendered
    d.path(rel).write_bytes(content)
    d.record(rel, rows, fingerprint)


def _store_board(d: Delivery, board: BoardTable, role: str,
                 rendered: tuple[bytes, str, str | None]) -> None:
    content, fingerprint, page = rendered
    rel = f"{role}/{board.name}.xlsx"
    d.path(rel).write_bytes(content)
    d.record(rel, len(board.table), fingerprint)
    for text in (board.html, page):
        if text is not None:
            d.path(f"{role}/{board.name}.html").write_text(text, encoding="utf-8")


def _seal_kind(d: Delivery, spec: ListSpec, restricted_parts: list[pd.DataFrame],
               closed_parts: list[pd.DataFrame], protected: frozenset, sealed: pd.DataFrame,
               keys: Keys, policy: Policy, as_of: date,
               head: dict[str, object] | None = None) -> None:
    """The kind's one sealed list: its protected rows, and its protected closed cases."""
    rows = (pd.concat(restricted_parts, ignore_index=True) if restricted_parts
            else pd.DataFrame())
    closed = pd.concat(closed_parts, ignore_index=True) if closed_parts else None
    if closed is not None:
        closed = closed[protected_members(closed["person_id"], protected)]
        closed = closed.reset_index(drop=True)
    write_sealed_list(d.path(restricted_path(spec.kind)), spec, rows, sealed,
                      keys.officer_public, as_of, policy.version, officer_fields(policy),
                      summary=head, avslutade=closed,
                      forklaring=forklaring(spec.kind, policy))
