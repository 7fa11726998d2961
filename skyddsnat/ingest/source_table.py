"""One inbox file in, one pseudonymous table out, every row accounted for.

read -> parse (typed, first reason per row) -> pseudonymise personnummer columns (unique
values once) -> pandera (lazy) -> drop duplicate keys among valid rows -> accepted | quarantined.
Plaintext identities and quarantined rows are returned for the caller to encrypt; they
are never written by this module.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.compute as pc

from schemas.sources import schema
from skyddsnat.contract import SOURCES
from skyddsnat.ingest.catalog import entry, stored_column
from skyddsnat.ingest.income_year import refuse_future_income_rows
from skyddsnat.ingest.memo import PnrMemo
from skyddsnat.ingest.parse import NOT_FUTURE, parse_frame
from skyddsnat.ingest.reader import read_source
from skyddsnat.ingest.row_cache import RowCache, row_digester
from skyddsnat.personnummer import birth_dates, reading_changes
from skyddsnat.policy import Policy
from skyddsnat.privacy.pseudonym import pseudonymize_series
from skyddsnat.value_memo import ValueMemo, arrow_text

REASONS = ("ogiltigt_personnummer", "saknat_varde", "ogiltigt_format", "orimligt_varde",
           "okand_kod", "dubblett", "fel_antal_falt")


@dataclass
class IngestResult:
    source: str
    file: str
    encoding: str
    table: pd.DataFrame
    identities: pd.DataFrame
    quarantine: pd.DataFrame  # plaintext raw rows + rad + orsak: encrypt before storing
    rows_read: int
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    # Validation counts of `table` when already known (a cached file's stored result).
    checked: dict[str, object] | None = None
    # With a row cache: tonight's accepted rows and their digests, for tomorrow; which
    # rows of `table` were reused from last night (validated when first accepted).
    row_cache: pd.DataFrame | None = None
    rows_reused: int = 0
    reused: np.ndarray | None = None
    # With `horizon`: the night read on and the first later night that may read a number of
    # the file otherwise (personnummer.reading_changes); the file cache holds until then.
    read_on: date | None = None
    stable_until: date | None = None
    cache_key: str | None = None  # the file cache's key it was read or stored under
    # A file whose stored table was kept (run.py `kept`): its accepted rows, counted then.
    kept_rows: int | None = None
    # Pandera's failures on the rows of `table` parsed tonight, when the row-wise pass
    # decided them (`_pandera_reasons`): 0, as every row that failed was quarantined.
    pandera_failures: int | None = None

    @property
    def accepted(self) -> int:
        return len(self.table) if self.kept_rows is None else self.kept_rows

    @property
    def quarantined(self) -> int:
        return sum(self.quarantined_by_reason.values())

    def metadata(self) -> dict[str, object]:
        """Counts only: safe for Dagster metadata."""
        return {"fil": self.file, "teckenkodning": self.encoding, "rader_lasta": self.rows_read,
                "rader_godkanda": self.accepted, "rader_karantan": self.quarantined,
                **{f"karantan_{k}": v for k, v in sorted(self.quarantined_by_reason.items())}}


def stored_pnr_columns() -> set[str]:
    """Every stored column that holds a pseudonym of a personnummer, over all sources."""
    return {stored_column(c) for s in SOURCES.values() for c in s.pnr_columns}


def _reason_for_check(check: str) -> str:
    check = str(check)
    if check in REASONS:
        return check
    if check.startswith("isin"):
        return "okand_kod"
    if check.startswith(("str_matches", "str_fullmatch", "dtype", "coerce")):
        return "ogiltigt_format"
    if check.startswith("not_nullable"):
        return "saknat_varde"
    if check.startswith(("field_uniqueness", "unique")):
        return "dubblett"
    return "orimligt_varde"


def _pandera_reasons(model: pandera.DataFrameSchema, frame: pd.DataFrame
                     ) -> tuple[pd.Series, bool]:
    """Reason per failing row index (first failure wins), and whether every failure named a
    row; never raises on bad rows.

    Every rule of our schemas holds row by row, or for the frame's columns and types: when
    every failure names a row, the rows left once those are quarantined pass pandera whole
    (`IngestResult.pandera_failures`), so it need not run on them again."""
    try:
        model.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        rows = fc["index"].notna()
        fc = fc[rows]
        if fc.empty:
            raise RuntimeError(f"schemafel i {model.name} utan radindex") from None
        reasons = fc.assign(orsak=fc["check"].map(_reason_for_check))
        first = reasons.groupby("index", sort=False)["orsak"].first()
        first.index = first.index.astype(frame.index.dtype)
        return first.astype("string"), bool(rows.all())
    return pd.Series(dtype="string"), True


def _stable_until(raw: pd.DataFrame, columns: tuple[str, ...], reference: date,
                  changes: ValueMemo) -> date | None:
    """The first later night on which a number of these columns may read otherwise: decided
    once per written birth date and form (the last four digits do not matter), and once per
    run (`changes`, the run's memo: the same households month after month)."""
    heads = []
    for col in columns:
        text = arrow_text(raw[col])
        text = pc.replace_substring(pc.utf8_trim_whitespace(text), " ", "")
        text = text.filter(pc.fill_null(pc.greater_equal(pc.utf8_length(text), 10), False))
        heads.append(pc.utf8_slice_codeunits(text, 0, -4))
    if not heads:
        return None

    def decide(new: pa.Array) -> pa.Array:
        return pa.array([d.isoformat() if (d := reading_changes(h + "0000", reference))
                         else None for h in new.to_pylist()], type=pa.large_string())

    first = pc.min(changes.lookup(pa.concat_arrays(heads), decide)).as_py()
    return date.fromisoformat(first) if first else None


def first_named(ids: pd.Series, named: list[pd.Series]) -> np.ndarray:
    """Positions of the first row of each id that one of `named` holds, in row order: what
    `ids[ids.isin(concat(named))].drop_duplicates()` keeps, with one Arrow encoding of all
    the ids instead of a hash set and a second hash of the survivors."""
    arrays = [arrow_text(c) for c in (ids, *named)]
    encoded = pc.dictionary_encode(pa.concat_arrays(arrays))
    codes = encoded.indices.fill_null(-1).to_numpy()
    own, others = codes[:len(ids)], codes[len(ids):]
    is_named = np.zeros(len(encoded.dictionary) + 1, dtype=bool)  # the last: a missing id
    is_named[others[others >= 0]] = True
    kept = np.flatnonzero(is_named[own])
    _, first = np.unique(own[kept], return_index=True)
    return kept[np.sort(first)]


def _first_future(typed: pd.DataFrame, reference: date) -> date | None:
    """The earliest date after the reference in a column that may not lie in the future:
    its row is refused tonight and may be accepted from that day on (parse.NOT_FUTURE)."""
    ref = pd.Timestamp(reference)
    found = [typed[c][typed[c] > ref].min() for c in NOT_FUTURE if c in typed.columns]
    found = [d.date() for d in found if pd.notna(d)]
    return min(found, default=None)


def ingest_file(path: Path, source_name: str, policy: Policy, pseudonym_key: bytes,
                reference: date, known: RowCache | None = None,
                memo: PnrMemo | None = None, horizon: bool = False) -> IngestResult:
    """Ingest one file; with `known` (last night's rows of a snapshot) only new rows are parsed.

    `memo` carries personnummer decisions from the run's earlier files (memo.py); with
    `horizon`, the result says until which night it holds (a period file's cache)."""
    spec = entry(policy, source_name)
    # Columns the policy removes (`tas_bort`) are never parsed; a file may leave them out.
    source = replace(SOURCES[source_name], columns=tuple(
        c for c in SOURCES[source_name].columns if c.name not in spec.dropped))
    memo = (memo or PnrMemo()).scoped(reference, pseudonym_key)
    digester = (row_digester(known.key, reference, spec.pnr_columns) if known is not None
                else None)
    raw = read_source(path, SOURCES[source_name], spec.aliases(), digester,
                      optional=spec.dropped)
    reused, digests = pd.DataFrame(), None
    frame = raw.frame
    if known is not None:
        digests = pd.Series(raw.digests, index=raw.frame.index, dtype=object)
        reused, hit = known.match(digests.to_numpy(), raw.frame.index)
        frame = raw.frame[~hit]
    typed, reason = parse_frame(frame, source, reference, memo.normalized)

    if source_name == "inkomster":
        refuse_future_income_rows(raw.file, typed["inkomstar"][reason.isna()], reference)
    for col in source.columns:
        if col.filled:  # the birth date, when the register leaves it blank
            typed[col.name] = typed[col.name].fillna(birth_dates(typed["personnummer"]))
    pnr_cols = spec.pnr_columns
    identities = []
    for col in pnr_cols:
        ids = pseudonymize_series(pseudonym_key, typed[col], memo.pseudonyms)
        if col == "personnummer":
            ident = pd.DataFrame({"person_id": ids, "personnummer": typed[col]})
            for extra in spec.vault_fields:  # names and addresses: to the vault only
                # A blank field is a value ("" blanks the vault on merge); a missing
                # one (NA: a guardian only referenced) leaves the vault's value.
                ident[extra] = frame[extra].str.strip().fillna("")
            identities.append(ident)
        else:
            identities.append(pd.DataFrame({"person_id": ids, "personnummer": typed[col]}))
        typed[col] = ids
    typed = typed.rename(columns={"personnummer": stored_column("personnummer")})
    model = schema(policy, source_name)
    keep = list(model.columns)
    typed = typed[keep]

    clean = reason.isna()
    failing, by_row = _pandera_reasons(model, typed[clean])
    reason = reason.fillna(failing.reindex(reason.index))
    if len(reused):
        # Reused rows passed every row-wise rule last night; duplicates are decided below
        # over the whole file, in file order.
        if typed.empty:
            typed = typed.astype(reused.dtypes.to_dict())
        typed = pd.concat([typed, reused.astype(typed.dtypes.to_dict())]).sort_index()
        reason = reason.reindex(typed.index)
    key = list(spec.stored_key)
    clean = reason.isna()
    dup = typed[clean].duplicated(subset=key, keep="first")
    reason = reason.mask(clean & dup.reindex(reason.index, fill_value=False), "dubblett")

    accepted = reason.isna()
    # Only accepted rows are remembered: they are the ones pandera and GX see tonight.
    cache_rows = RowCache.table(typed[accepted], digests) if digests is not None else None
    reused_mask = (typed.index[accepted].isin(reused.index) if digests is not None
                   else None)
    table = typed[accepted].reset_index(drop=True)
    bad_lines = raw.frame.attrs.get("bad_field_count_lines", [])
    quarantine = raw.frame[~accepted].assign(orsak=reason[~accepted])
    if bad_lines:
        quarantine = pd.concat([quarantine, pd.DataFrame(
            {"orsak": "fel_antal_falt"}, index=pd.Index(bad_lines, name="rad"))])
    quarantine = quarantine.reset_index()
    counts = Counter(quarantine["orsak"].astype(str))

    # A quarantined row gives the vault nothing: not the name or address of a refused row,
    # nor a duplicate's over its accepted row (in file order the accepted one comes first;
    # dropped here, it cannot win either when that row was reused). A person it names who
    # is named by an accepted row too is staged from that row (a guardian: by number only).
    refused = reason.index[reason.notna().to_numpy(dtype=bool)]
    ident = (pd.concat([i[~i.index.isin(refused)] for i in identities], ignore_index=True)
             if identities else pd.DataFrame())
    if not ident.empty:
        named = first_named(ident["person_id"], [table[stored_column(c)] for c in pnr_cols])
        ident = ident.take(named).reset_index(drop=True)

    result = IngestResult(source_name, raw.file, raw.encoding, table, ident, quarantine,
                          raw.rows_read, dict(counts), row_cache=cache_rows,
                          rows_reused=len(reused), reused=reused_mask,
                          pandera_failures=0 if by_row else None)
    if horizon:
        result.read_on = reference
        if (known is not None and known.horizon and len(reused)
                and (known.stable_until is None or reference < known.stable_until)):
            # Reused rows read as on their night until its horizon: only new rows are read.
            read = [known.stable_until, _stable_until(frame, pnr_cols, reference, memo.changes)]
        else:
            read = [_stable_until(raw.frame, pnr_cols, reference, memo.changes)]
        changes = [d for d in (*read, _first_future(typed, reference)) if d is not None]
        result.stable_until = min(changes, default=None)
    if result.accepted + result.quarantined != result.rows_read:
        raise RuntimeError(f"{raw.file}: radräkningen går inte ihop")
    return result

