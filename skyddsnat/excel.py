"""Exception lists as Excel files in Swedish: how a list the catalogue describes is written.

What a list holds, and for whom, is the list catalogue's (`skyddsnat.lists.catalog`); this
module only writes workbooks (and refuses rows or sheets that do not match their spec).
Workbooks are written with xlsxwriter with every cell typed
explicitly (strings are never turned into formulas or numbers, so a name starting with "="
stays text), and with the workbook's created date set to the reference date so the bytes
depend only on the content.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import xlsxwriter

from skyddsnat.lists.catalog import PERSON_ID_COLUMNS, ListSpec
from skyddsnat.policy import Policy

SUMMARY_SHEET = "Sammanfattning"
LIST_SHEET = "Lista"
DATE_FORMAT = "yyyy-mm-dd"
SUPPRESSED = ".."

HEADERS: dict[str, str] = {
    "arende_id": "Ärende-id",
    "personnummer": "Personnummer",
    "fornamn": "Förnamn",
    "efternamn": "Efternamn",
    "namn": "Namn",
    "utdelningsadress": "Utdelningsadress",
    "postnummer": "Postnummer",
    "postort": "Postort",
    "forvantad_arskurs": "Förväntad årskurs",
    "folkbokford_datum": "Folkbokförd datum",
    "orsak": "Orsak",
    "status": "Status",
    "skolenhetskod": "Skolenhetskod",
    "skolenhet": "Skolenhet",
    "arskurs": "Årskurs",
    "franvaro_procent": "Frånvaro %",
    "ogiltig_procent": "Ogiltig frånvaro %",
    "langsta_sammanhangande_dagar": "Längsta sammanhängande frånvaro (dagar)",
    "niva": "Nivå",
    "antal_f": "Antal F",
    "hushall_id": "Hushålls-id",
    "betalare_personnummer": "Betalarens personnummer",
    "betalare_namn": "Betalarens namn",
    "betalare_utdelningsadress": "Betalarens utdelningsadress",
    "betalare_postnummer": "Betalarens postnummer",
    "betalare_postort": "Betalarens postort",
    "inkomstar": "Inkomstår",
    "debiterat": "Debiterat (kr)",
    "korrekt_avgift": "Korrekt avgift (kr)",
    "differens": "Differens (kr)",
    "atgard": "Åtgärd",
    "manad": "Månad",
    "antal_elever": "Antal elever",
    "antal_10": "Antal ≥ 10 %",
    "antal_15": "Antal ≥ 15 %",
    "antal_20": "Antal ≥ 20 %",
    "dagar_oppet": "Dagar öppet",
    "forst_sedd": "Först med",
    "avslutad": "Avslutat",
    "fynd": "Fynd",
    "franvaro_procent_4v": "Frånvaro % senaste 4 v",
    "ogiltig_procent_4v": "Ogiltig frånvaro % senaste 4 v",
    "langsta_sammanhangande_dagar_4v": "Längsta sammanhängande frånvaro senaste 4 v (dagar)",
    "niva_4v": "Nivå senaste 4 v",
    "utredningsplikt": "Utredningsplikt (7 kap. 19 a §)",
    "antal_streck": "Antal streck (-)",
    "streck_och_franvaro": "Streck och frånvaro ≥ 15 %",
    "elever_med_f": "Elever med F",
    "elever_med_atgardsprogram": "Elever med åtgärdsprogram",
    "f_utan_atgardsprogram": "Elever med F utan åtgärdsprogram",
    "elever_med_streck": "Elever med streck (-)",
    "skolenhet_namn": "Skolenhetens namn",
    "antal": "Antal",
    "faktura_manad": "Fakturamånad",
    "verksamhet": "Verksamhet",
    "barn_ordning": "Barnets ordning",
    "anmald_inkomst": "Anmäld inkomst (kr/mån)",
    "hushallsinkomst_manad": "Fastställd hushållsinkomst (kr/mån)",
    "debiterad_avgift": "Debiterad avgift (kr)",
    "signal": "Signal",
    "beskrivning": "Beskrivning",
}


class ListSpecError(ValueError):
    """A list's rows or extra sheets do not match its spec (names the rule, never a value)."""


def header(column: str) -> str:
    """The Swedish label a person reads for a column (the contract name if it has none)."""
    return HEADERS.get(column, column)


def build_summary(spec: ListSpec, policy: Policy, as_of: date | str, rows: pd.DataFrame,
                  avslutade: pd.DataFrame | None = None,
                  created: datetime | None = None, skyddade=()) -> dict[str, object]:
    """The summary sheet's content: what, for whom, when, counts, retention, handling note.

    `rows` are the general rows (protected persons already split off). Closed cases of
    protected persons are dropped here (by `person_id` in `skyddade`) and person ids are
    never shown: a general list must not even tell that a protected person's case closed.
    """
    if avslutade is not None and len(avslutade):
        shown = [c for c in avslutade.columns if c not in PERSON_ID_COLUMNS]
        keep = (~protected_members(avslutade["person_id"], skyddade)
                if "person_id" in avslutade.columns else slice(None))
        avslutade = avslutade.loc[keep, shown]
    as_of_d = pd.Timestamp(as_of).date()
    role = policy.mottagare.roller.get(spec.role)
    statuses = _counts(rows["status"]) if "status" in rows else {}
    out: dict[str, object] = {
        "Lista": spec.title,
        "Fil": spec.name,
        "Mottagare": role.beskrivning if role else spec.role,
        "Referensdatum": as_of_d,
        "Skapad": (created or datetime.now()).replace(microsecond=0),
        "Policyversion": policy.version,
        "Antal ärenden": len(rows),
        "varav nya": int(statuses.get("ny", 0)),
        "varav kvarstående": int(statuses.get("kvarstar", 0)),
        "Avslutade sedan förra leveransen": 0 if avslutade is None else len(avslutade),
    }
    for col in spec.count_by:
        if col in rows:
            counts = _counts(rows[col])
            for value in sorted(counts):
                out[f"{header(col)}: {value}"] = counts[value]
    out["Gallras senast"] = as_of_d + pd.Timedelta(days=policy.gallring.utkorg_dagar)
    out["Hanteringsanvisning"] = policy.gallring.hanteringsanvisning
    if role is not None:
        out["Ändamål"] = role.andamal
    if avslutade is not None and len(avslutade):
        out["Avslutade ärenden"] = avslutade
    return out


def _counts(s: pd.Series) -> Counter:
    """Non-missing values and how often each occurs (value_counts without pandas' overhead,
    which hundreds of small lists paid for several times each)."""
    return Counter(v for v in s.to_numpy(dtype=object) if not _missing(v))


def protected_members(person_ids: pd.Series, skyddade) -> np.ndarray:
    """Which of (a few) person ids are protected; `skyddade` best a frozenset of ids.

    A delivery asks this once per list: building a lookup of every protected person each
    time cost more than the lists themselves.
    """
    if not isinstance(skyddade, frozenset | set):
        skyddade = frozenset(pd.Series(list(skyddade), dtype="string").dropna())
    return np.fromiter((p in skyddade for p in person_ids.to_numpy(dtype=object)),
                       dtype=bool, count=len(person_ids))


def general_rows_check(spec: ListSpec, rows: pd.DataFrame) -> None:
    missing = [c for c in spec.columns if c not in rows.columns]
    if missing:
        raise ListSpecError(f"listan {spec.name} saknar kolumnerna {missing}")


def write_list_xlsx(path: Path | str | BinaryIO, spec: ListSpec, rows: pd.DataFrame,
                    summary: Mapping[str, object],
                    extra_sheets: Mapping[str, pd.DataFrame] | None = None) -> str:
    """Write one list; return a fingerprint of its content (stable across re-runs).

    Only `spec.columns` are written. Extra sheets must be named in the spec and may not
    carry person ids. The fingerprint leaves out the "Skapad" timestamp, so a re-run with
    the same content has the same fingerprint (used for idempotent audit entries).
    """
    extra_sheets = check_list(spec, rows, summary, extra_sheets)
    return render_list(path, spec, rows, summary, extra_sheets)


def check_list(spec: ListSpec, rows: pd.DataFrame, summary: Mapping[str, object],
               extra_sheets: Mapping[str, pd.DataFrame] | None) -> dict[str, pd.DataFrame]:
    """Refuse what a list may not hold (before any rendering); return its extra sheets."""
    extra_sheets = dict(extra_sheets or {})
    general_rows_check(spec, rows)
    _refuse_person_ids(summary)
    for name, sheet in extra_sheets.items():
        if name not in spec.extra_sheets:
            raise ListSpecError(f"bladet {name} är inte tillåtet i listan {spec.name}")
        leaking = [c for c in sheet.columns if c in PERSON_ID_COLUMNS]
        if leaking:
            raise ListSpecError(f"bladet {name} innehåller person-id-kolumner {leaking}")
    return extra_sheets


def render_list(target: Path | str | BinaryIO, spec: ListSpec, rows: pd.DataFrame,
                summary: Mapping[str, object], extra_sheets: Mapping[str, pd.DataFrame]) -> str:
    """The workbook of a list `check_list` accepted, to a path or a binary buffer."""
    columns = list(spec.columns)
    table = rows if list(rows.columns) == columns else rows.loc[:, columns]
    headers = [header(c) for c in spec.columns]
    as_of = summary.get("Referensdatum")
    with _workbook(target, as_of, spec.title) as wb:
        _write_summary(wb, spec.title, summary, spec)
        _write_table(wb, LIST_SHEET, table, headers, spec.date_columns)
        for name, sheet in extra_sheets.items():
            _write_table(wb, name, sheet, [header(c) for c in sheet.columns],
                         tuple(c for c in sheet.columns if _is_datetime(sheet[c])))
    return _fingerprint(spec.name, table, summary, extra_sheets)


def write_table_xlsx(path: Path | str | BinaryIO, title: str, table: pd.DataFrame,
                     summary: Mapping[str, object],
                     charts: Mapping[str, Path | str] | None = None,
                     sheets: Mapping[str, pd.DataFrame] | None = None) -> str:
    """A board table (kommunbild): numbers as numbers, suppressed cells ("..") as text.

    `charts` maps a caption to a PNG file placed on a sheet "Diagram"; `sheets` are further
    sheets written after the table (e.g. "Cellstatus": each cell's suppression status).
    """
    headers = [header(c) for c in table.columns]
    _refuse_person_ids({**summary, LIST_SHEET: table})
    with _workbook(path, summary.get("Referensdatum"), title) as wb:
        _write_summary(wb, title, summary, None)
        _write_table(wb, LIST_SHEET, table, headers,
                     tuple(c for c in table.columns if _is_datetime(table[c])))
        for name, sheet in (sheets or {}).items():
            _refuse_person_ids({name: sheet})
            _write_table(wb, name, sheet, [HEADERS.get(c, c) for c in sheet.columns], ())
        if charts:
            ws = wb.add_worksheet("Diagram")
            bold = wb.add_format({"bold": True})
            row = 0
            for caption, png in charts.items():
                ws.write_string(row, 0, caption, bold)
                ws.insert_image(row + 1, 0, str(png))
                row += 32
    return _fingerprint(title, table, summary, dict(sheets or {}))


def _refuse_person_ids(sheets: Mapping[str, object]) -> None:
    for name, value in sheets.items():
        if isinstance(value, pd.DataFrame) and any(c in PERSON_ID_COLUMNS for c in value):
            raise ListSpecError(f"{name} innehåller person-id-kolumner")


class _workbook:
    """xlsxwriter Workbook with safe cell typing and a created date fixed to the reference."""

    def __init__(self, path: Path | str | BinaryIO, as_of: object, title: str) -> None:
        if isinstance(path, str | Path):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            path = str(path)
        # The sheets' XML (names, personnummer) is assembled in memory: no temp file of
        # plaintext is ever written (xlsxwriter's default stages each part as a temp file),
        # and hundreds of lists no longer pay for creating and removing them.
        self.wb = xlsxwriter.Workbook(path, {
            "in_memory": True,
            "strings_to_numbers": False, "strings_to_formulas": False,
            "strings_to_urls": False, "nan_inf_to_errors": True,
            "default_date_format": DATE_FORMAT})
        created = pd.Timestamp(as_of).to_pydatetime() if as_of is not None else datetime(2000, 1, 1)
        self.wb.set_properties({"title": title, "author": "Skyddsnät",
                                "created": created})
        self.wb.set_calc_mode("auto")

    def __enter__(self) -> xlsxwriter.Workbook:
        return self.wb

    def __exit__(self, *exc: object) -> None:
        self.wb.close()


def _is_datetime(s: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(s) or (
        s.dtype == object and s.map(lambda v: isinstance(v, date)).any())


def _write_summary(wb: xlsxwriter.Workbook, title: str, summary: Mapping[str, object],
                   spec: ListSpec | None) -> None:
    ws = wb.add_worksheet(SUMMARY_SHEET)
    fmt = _formats(wb)
    ws.write_string(0, 0, title, fmt["title"])
    row = 2
    tables = []
    for label, value in summary.items():
        if isinstance(value, pd.DataFrame):
            tables.append((label, value))
            continue
        ws.write_string(row, 0, str(label), fmt["bold"])
        _write_cell(ws, row, 1, value, fmt)
        row += 1
    for label, frame in tables:
        row += 1
        ws.write_string(row, 0, str(label), fmt["bold"])
        row += 1
        for j, col in enumerate(frame.columns):
            ws.write_string(row, j, header(col), fmt["header"])
        for values in frame.itertuples(index=False, name=None):
            row += 1
            for j, value in enumerate(values):
                _write_cell(ws, row, j, value, fmt)
        row += 1
    ws.set_column(0, 0, 34)
    ws.set_column(1, 1, 60, fmt["wrap"])
    ws.set_column(2, 4, 14)


def _write_table(wb: xlsxwriter.Workbook, name: str, table: pd.DataFrame, headers: list[str],
                 date_columns: tuple[str, ...]) -> None:
    ws = wb.add_worksheet(name)
    fmt = _formats(wb)
    # The header row holds the contract's column names (what scripts and the recipient's own
    # tools read); the Swedish display label rides along as the header cell's note.
    for j, (col, label) in enumerate(zip(table.columns, headers, strict=True)):
        ws.write_string(0, j, str(col), fmt["header"])
        if label != str(col):
            ws.write_comment(0, j, label, {"x_scale": 1.5})
    for j, (col, s) in enumerate(table.items()):
        if col in date_columns:
            s = pd.to_datetime(s, errors="coerce")
        longest = _write_column(ws, j, s, fmt)
        ws.set_column(j, j, float(min(max(len(headers[j]) * 0.9, longest, 6) + 2, 50)))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(len(table), 1), max(len(headers) - 1, 0))


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or (not isinstance(v, str) and pd.isna(v) is True)


def _write_column(ws, j: int, s: pd.Series, fmt: dict) -> int:
    """Write one column from row 1; return its longest value as text (for the width).

    Works on the column's Python values, not cell by cell through pandas: hundreds of small
    lists spent more time in per-cell pandas checks than in writing. Empty cells are not
    written at all (an unformatted blank cell is not stored in the file anyway).
    """
    if pd.api.types.is_datetime64_any_dtype(s):
        for i, v in enumerate(s.to_numpy(dtype=object), start=1):
            if not _missing(v):
                ws.write_datetime(i, j, v.to_pydatetime(), fmt["date"])
        return 10
    values = s.to_numpy(dtype=object)
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        longest = max((len(str(v)) for v in values if not _missing(v)), default=0)
        if pd.api.types.is_bool_dtype(s):
            for i, v in enumerate(values, start=1):
                if not _missing(v):
                    ws.write_string(i, j, "ja" if v else "nej")
            return longest
        number = fmt["decimal"] if pd.api.types.is_float_dtype(s) else fmt["integer"]
        floats = s.to_numpy(dtype=float, na_value=np.nan)
        for i, v in enumerate(floats.tolist(), start=1):
            if v == v:  # not NaN
                ws.write_number(i, j, v, number)
        return longest
    longest = 0
    for i, v in enumerate(values, start=1):
        if type(v) is str:
            ws.write_string(i, j, v)
            longest = max(longest, len(v))
        else:
            _write_cell(ws, i, j, v, fmt)
            if not _missing(v):
                longest = max(longest, len(str(v)))
    return longest


def _write_cell(ws, i: int, j: int, v: object, fmt: dict) -> None:
    if v is None or (not isinstance(v, str | bytes) and pd.api.types.is_scalar(v) and pd.isna(v)):
        ws.write_blank(i, j, None)
    elif isinstance(v, bool | np.bool_):
        ws.write_string(i, j, "ja" if v else "nej")
    elif isinstance(v, int | np.integer):
        ws.write_number(i, j, int(v), fmt["integer"])
    elif isinstance(v, float | np.floating):
        ws.write_number(i, j, float(v), fmt["decimal"])
    elif isinstance(v, pd.Timestamp | datetime):
        v = pd.Timestamp(v)
        if v == v.normalize():
            ws.write_datetime(i, j, v.to_pydatetime(), fmt["date"])
        else:
            ws.write_datetime(i, j, v.to_pydatetime(), fmt["datetime"])
    elif isinstance(v, date):
        ws.write_datetime(i, j, datetime(v.year, v.month, v.day), fmt["date"])
    else:
        ws.write_string(i, j, str(v))


def _formats(wb: xlsxwriter.Workbook) -> dict:
    cached = getattr(wb, "_skyddsnat_formats", None)
    if cached is None:
        cached = {
            "title": wb.add_format({"bold": True, "font_size": 14}),
            "bold": wb.add_format({"bold": True, "valign": "top"}),
            "header": wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1,
                                     "text_wrap": True, "valign": "top"}),
            "date": wb.add_format({"num_format": DATE_FORMAT, "align": "left"}),
            "datetime": wb.add_format({"num_format": "yyyy-mm-dd hh:mm", "align": "left"}),
            "integer": wb.add_format({"num_format": "0"}),
            "decimal": wb.add_format({"num_format": "0.0"}),
            "wrap": wb.add_format({"text_wrap": True, "valign": "top"}),
        }
        wb._skyddsnat_formats = cached
    return cached


def _fingerprint(name: str, table: pd.DataFrame, summary: Mapping[str, object],
                 extra: Mapping[str, pd.DataFrame]) -> str:
    h = hashlib.sha256(name.encode())
    h.update(table.to_csv(index=False).encode())
    stable = {k: (v.to_csv(index=False) if isinstance(v, pd.DataFrame) else str(v))
              for k, v in summary.items() if k != "Skapad"}
    h.update(json.dumps(stable, sort_keys=True, ensure_ascii=False).encode())
    for sheet_name in sorted(extra):
        h.update(sheet_name.encode() + extra[sheet_name].to_csv(index=False).encode())
    return h.hexdigest()
