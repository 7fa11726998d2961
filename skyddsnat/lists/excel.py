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
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import xlsxwriter

from skyddsnat.lists.catalog import PERSON_ID_COLUMNS, ListSpec
from skyddsnat.lists.forklaring import forklaring
from skyddsnat.lists.labels import CODED_COLUMNS as CODED
from skyddsnat.lists.labels import MULTI_VALUED, codes, display, label
from skyddsnat.lists.sheet_rows import DataRows
from skyddsnat.policy import Policy
from skyddsnat.rules.absence import LEVELS
from skyddsnat.rules.action_programmes import SKAL as AP_SKAL
from skyddsnat.rules.income_check import LISTED
from skyddsnat.rules.school_duty import ORSAKER

SUMMARY_SHEET = "Sammanfattning"
LIST_SHEET = "Lista"
DATE_FORMAT = "yyyy-mm-dd"
SUPPRESSED = ".."
FORKLARING = "Förklaring"
# Values counted on the summary sheet even when none occurs (a zero is news too), worst first.
COUNT_VALUES: dict[str, tuple[str, ...]] = {
    "orsak": ORSAKER, "niva": LEVELS[::-1], "niva_4v": LEVELS[::-1], "atgard": LISTED,
    "skal": AP_SKAL}

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
    "taxa_bekraftad": "Maxtaxan bekräftad",
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
    "skal": "Skäl",
    "skolenheter": "Skolenhet(er)",
    "amnen_f": "Ämnen med F",
    "amnen_streck": "Ämnen med streck (-)",
    "termin": "Betygstermin",
    "varde": "Värde",
    "forklaring": "Betydelse och nästa steg",
}


class ListSpecError(ValueError):
    """A list's rows or extra sheets do not match its spec (names the rule, never a value)."""


def header(column: str) -> str:
    """The Swedish label a person reads for a column (the contract name if it has none)."""
    return HEADERS.get(column, column)


def build_summary(spec: ListSpec, policy: Policy, as_of: date | str, rows: pd.DataFrame,
                  avslutade: pd.DataFrame | None = None,
                  created: datetime | None = None, skyddade=(),
                  facts: Mapping[str, object] | None = None,
                  head: Mapping[str, object] | None = None,
                  explained: pd.DataFrame | None = None) -> dict[str, object]:
    """The summary sheet's content: what, for whom, when, counts, retention, handling note,
    and the "Förklaring" of every value the list can hold.

    `head` (warnings and data basis, skyddsnat/delivery/data_basis.py) comes first, after the title.

    `rows` are the general rows (protected persons already split off), and `facts` (shown
    after the counts: the school unit, the grade term, the income check's totals) must be
    computed without protected persons too. Closed cases of protected persons are dropped
    here (by `person_id` in `skyddade`) and person ids are never shown: a general list
    must not even tell that a protected person's case closed.
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
        **(head or {}),
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
            counts = _counts(rows[col], multi=col in MULTI_VALUED)
            for value in (*COUNT_VALUES.get(col, ()), *sorted(counts)):
                out.setdefault(f"{header(col)}: {label(value)}", int(counts.get(value, 0)))
    out.update(facts or {})
    out["Gallras senast"] = as_of_d + pd.Timedelta(days=policy.gallring.list_days(spec.kind))
    out["Hanteringsanvisning"] = policy.gallring.hanteringsanvisning
    if role is not None:
        out["Ändamål"] = role.andamal
    # `explained`: the kind's block made once for all its lists (`forklaring`), read only.
    out[FORKLARING] = explained if explained is not None else forklaring(spec.kind, policy)
    if avslutade is not None and len(avslutade):
        out["Avslutade ärenden"] = avslutade
    return out


def _counts(s: pd.Series, multi: bool = False) -> Counter:
    """Non-missing, non-empty values and how often each occurs (value_counts without pandas'
    overhead, which hundreds of small lists paid for several times each); `multi` counts
    each part of a ", "-joined value."""
    values = (v for v in s.to_numpy(dtype=object) if not _missing(v) and v != "")
    if multi:
        values = (p.strip() for v in values for p in str(v).split(",") if p.strip())
    return Counter(values)


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
    """The workbook of a list `check_list` accepted, to a path or a binary buffer.

    The fingerprint is taken over the codes, the workbook shows their display values.
    """
    columns = list(spec.columns)
    table = rows if list(rows.columns) == columns else rows.loc[:, columns]
    as_of = summary.get("Referensdatum")
    with _workbook(target, as_of, spec.title) as wb:
        _write_summary(wb, spec.title, summary, header)
        _write_table(wb, LIST_SHEET, table, header, spec.date_columns)
        for name, sheet in extra_sheets.items():
            _write_table(wb, name, sheet, header,
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
    _refuse_person_ids({**summary, LIST_SHEET: table})
    with _workbook(path, summary.get("Referensdatum"), title) as wb:
        _write_summary(wb, title, summary, header)
        _write_table(wb, LIST_SHEET, table, header,
                     tuple(c for c in table.columns if _is_datetime(table[c])))
        for name, sheet in (sheets or {}).items():
            _refuse_person_ids({name: sheet})
            _write_table(wb, name, sheet, header, ())
        if charts:
            ws = wb.add_worksheet("Diagram")
            _print_setup(ws)
            bold = wb.add_format({"bold": True})
            row = 0
            for caption, png in charts.items():
                ws.write_string(row, 0, caption, bold)
                ws.insert_image(row + 1, 0, str(png))
                row += 32
    return _fingerprint(title, table, summary, dict(sheets or {}))


def read_list(path: Path | str | BinaryIO, sheet: str = LIST_SHEET) -> pd.DataFrame:
    """A list sheet read back by the contract's column names, with codes instead of display
    values and True/False for "ja"/"nej": what a script sees of a delivered list.

    Row 1 holds the Swedish labels, row 2 the contract names, the data starts on row 3.
    Blank cells are None; numbers and dates keep their Excel types.
    """
    import openpyxl  # only readers need it

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        values = list(wb[sheet].iter_rows(min_row=HEADER_ROWS, values_only=True))
    finally:
        wb.close()
    names = [str(c) for c in values[0] if c is not None] if values else []
    body = [r[:len(names)] for r in values[1:]]
    frame = pd.DataFrame(body, columns=names, dtype=object)
    for col in frame.columns:
        found = {v for v in frame[col] if v is not None}
        if found and found <= {"ja", "nej"}:
            frame[col] = frame[col].map({"ja": True, "nej": False, None: None})
        else:
            frame[col] = codes(col, frame[col])
    return frame.astype(object).where(frame.notna(), None)


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


# Layout. Widths are in Excel's character units; a wrapped cell gets a row height for its
# lines, since LibreOffice does not grow a row that the file gives no height.
HEADER_ROWS = 2  # Swedish labels, then the contract's column names; data from row 3
LINE_HEIGHT = 15.0
MAX_WIDTH = 32  # a longer text wraps (its row gets the height) instead of widening
LABEL_WIDTH = 20  # a longer Swedish label wraps onto more lines instead of widening
NUMBER_LABEL_WIDTH = 11  # numbers are short: their labels wrap sooner
SMALL_NUMBER = 3  # digits: årskurs, days, counts are centred; amounts stay right-aligned
CHARS_PER_UNIT = 1.25  # characters of 11 pt text per unit of column width (Carlito, looked at)
SUMMARY_WIDTHS = (34, 70, 16, 16, 16)


def _print_setup(ws, repeat_rows: int = 0) -> None:
    """A4 landscape, as wide as one page, the header rows on every printed page."""
    ws.set_paper(9)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.5, right=0.5, top=0.6, bottom=0.6)
    ws.set_footer("&L&A&RSida &P av &N")
    if repeat_rows:
        ws.repeat_rows(0, repeat_rows - 1)


@lru_cache(maxsize=4096)  # every list of a kind repeats its summary's and Förklaring's texts
def _lines(text: str, width: float) -> int:
    """Lines a wrapped text takes in a column `width` characters wide (words kept whole)."""
    chars = max(int(width * CHARS_PER_UNIT) - 1, 1)
    lines = 0
    for paragraph in str(text).split("\n"):
        n, used = 1, 0
        for word in paragraph.split():
            need = len(word) + (1 if used else 0)
            if used and used + need > chars:
                n, used = n + 1, len(word)
            else:
                used += need
        lines += n
    return lines


def _write_summary(wb: xlsxwriter.Workbook, title: str, summary: Mapping[str, object],
                   header) -> None:
    ws = wb.add_worksheet(SUMMARY_SHEET)
    _print_setup(ws)
    fmt = _formats(wb)
    ws.write_string(0, 0, title, fmt["title"])
    row = 2
    tables = []
    for key, value in summary.items():
        if isinstance(value, pd.DataFrame):
            tables.append((key, value))
            continue
        ws.write_string(row, 0, str(key), fmt["bold"])
        if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
            ws.write_number(row, 1, int(value),  # beside its label, not far right
                            fmt["kronor"] if "(kr" in str(key) else fmt["count"])
        else:
            _write_cell(ws, row, 1, value, fmt)
        if isinstance(value, str):
            _fit_row(ws, row, [(str(key), SUMMARY_WIDTHS[0]), (value, SUMMARY_WIDTHS[1])])
        row += 1
    for key, frame in tables:
        row += 1
        ws.write_string(row, 0, str(key), fmt["section"])
        row += 1
        for j, col in enumerate(frame.columns):
            ws.write_string(row, j, header(col), fmt["header"])
        for values in frame.itertuples(index=False, name=None):
            row += 1
            cells = []
            for j, (col, value) in enumerate(zip(frame.columns, values, strict=True)):
                if col in CODED and isinstance(value, str):
                    value = label(value)
                _write_cell(ws, row, j, value, fmt)
                if isinstance(value, str):
                    cells.append((value, SUMMARY_WIDTHS[min(j, len(SUMMARY_WIDTHS) - 1)]))
            _fit_row(ws, row, cells)
        row += 1
    for j, width in enumerate(SUMMARY_WIDTHS):
        ws.set_column(j, j, width, fmt["summary"] if j < 2 else None)


def _fit_row(ws, row: int, cells: list[tuple[str, float]]) -> None:
    lines = max((_lines(text, width) for text, width in cells), default=1)
    if lines > 1:
        ws.set_row(row, LINE_HEIGHT * lines)


def _write_table(wb: xlsxwriter.Workbook, name: str, table: pd.DataFrame, header,
                 date_columns: tuple[str, ...]) -> None:
    """Row 1 the Swedish labels (for people), row 2 the contract names in small grey (for
    scripts), data from row 3 with codes shown as their display values."""
    ws = wb.add_worksheet(name)
    _print_setup(ws, repeat_rows=HEADER_ROWS)
    fmt = _formats(wb)
    labels = [header(c) for c in table.columns]
    widths, heights = [], {}
    rows = DataRows(ws, HEADER_ROWS)
    for j, (col, s) in enumerate(table.items()):
        rows.head(j, 0, labels[j], fmt["header"])
        rows.head(j, 1, str(col), fmt["contract"])  # shrinks to fit: for scripts
        if col in date_columns:
            s = pd.to_datetime(s, errors="coerce")
        s = display(str(col), s)
        numeric = pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
        longest_word = max((len(w) for w in labels[j].split()), default=0)
        label_width = min(len(labels[j]), NUMBER_LABEL_WIDTH if numeric else LABEL_WIDTH)
        amount = "(kr" in labels[j]  # kronor with a thousands separator: 19 260
        longest, texts = _write_column(rows, ws, j, s, {**fmt, "integer": fmt["amount"]}
                                       if amount else fmt)
        longest += 1 if amount and longest > 3 else 0
        width = max(label_width, longest_word, min(longest, MAX_WIDTH), 5) + 2
        widths.append(width)
        ws.set_column(j, j, width)
        for i, text in texts.items():
            if len(text) > width - 2:
                heights[i] = max(heights.get(i, 1), _lines(text, width - 1))
    rows.finish()
    head = max((_lines(lab, w - 1) for lab, w in zip(labels, widths, strict=True)), default=1)
    ws.set_row(0, LINE_HEIGHT * head)
    for i, n in heights.items():
        if n > 1:
            ws.set_row(i, LINE_HEIGHT * n)
    ws.freeze_panes(HEADER_ROWS, 0)
    ws.autofilter(HEADER_ROWS - 1, 0, HEADER_ROWS - 1 + max(len(table), 1),
                  max(len(labels) - 1, 0))


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or (not isinstance(v, str) and pd.isna(v) is True)


def _write_column(rows: DataRows, ws, j: int, s: pd.Series, fmt: dict
                  ) -> tuple[int, dict[int, str]]:
    """Write one column from row 3 (into `rows`, see `sheet_rows`); return its longest value
    as text (for the width) and the texts longer than `MAX_WIDTH` by sheet row (for their
    row heights).

    Works on the column's Python values, not cell by cell through pandas: hundreds of small
    lists spent more time in per-cell pandas checks than in writing. Empty cells are not
    written at all (an unformatted blank cell is not stored in the file anyway). Every
    cell is top-aligned, so a row made taller by one wrapped cell still reads as one row.
    """
    first = HEADER_ROWS
    if pd.api.types.is_datetime64_any_dtype(s):
        rows.dates(j, [None if _missing(v) else v.to_pydatetime()
                       for v in s.to_numpy(dtype=object)], fmt["date"])
        return 10, {}
    values = s.to_numpy(dtype=object)
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        longest = max((len(str(v)) for v in values if not _missing(v)), default=0)
        if pd.api.types.is_bool_dtype(s):
            rows.strings(j, [None if _missing(v) else "ja" if v else "nej" for v in values],
                         fmt["text"])
            return max(longest, 3), {}
        number = (fmt["decimal"] if pd.api.types.is_float_dtype(s)
                  else fmt["small"] if longest <= SMALL_NUMBER and fmt["integer"] is not
                  fmt["amount"] else fmt["integer"])
        floats = s.to_numpy(dtype=float, na_value=np.nan)
        rows.numbers(j, [v if v == v else None for v in floats.tolist()], number)  # NaN: none
        return longest, {}
    longest, long_texts = 0, {}
    text, wrap, suppressed = fmt["text"], fmt["wrap"], fmt["suppressed"]
    cells, formats, other = [], [], False
    for i, v in enumerate(values, start=first):
        if type(v) is str:
            n = len(v)
            if n > MAX_WIDTH:
                formats.append(wrap)
                long_texts[i] = v
            else:
                formats.append(suppressed if v == SUPPRESSED else text)
        else:  # a board's counts beside its ".." are centred like them
            other |= not _missing(v)
            formats.append(None)
            n = 0 if _missing(v) else len(str(v))
        cells.append(v)
        longest = max(longest, n)
    if other:
        small = {**fmt, "integer": fmt["small"]}
        rows.cells(j, cells, lambda i, j, v: ws.write_string(i, j, v, formats[i - first])
                   if type(v) is str else _write_cell(ws, i, j, v, small))
    else:
        rows.strings(j, [v if type(v) is str else None for v in cells], formats)
    return longest, long_texts


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
            "bold": wb.add_format({"bold": True, "valign": "top", "text_wrap": True}),
            "section": wb.add_format({"bold": True, "font_size": 12}),
            "header": wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1,
                                     "text_wrap": True, "valign": "top"}),
            "contract": wb.add_format({"font_size": 8, "font_color": "#7F7F7F",
                                       "bg_color": "#F2F2F2", "border": 1,
                                       "border_color": "#BFBFBF", "shrink": True}),
            "date": wb.add_format({"num_format": DATE_FORMAT, "align": "left",
                                   "valign": "top"}),
            "datetime": wb.add_format({"num_format": "yyyy-mm-dd hh:mm", "align": "left",
                                       "valign": "top"}),
            "integer": wb.add_format({"num_format": "0", "valign": "top"}),
            "small": wb.add_format({"num_format": "0", "valign": "top", "align": "center"}),
            "amount": wb.add_format({"num_format": "#,##0", "valign": "top"}),
            "kronor": wb.add_format({"num_format": "#,##0", "align": "left",
                                     "valign": "top"}),
            "decimal": wb.add_format({"num_format": "0.0", "valign": "top"}),
            "text": wb.add_format({"valign": "top", "indent": 1}),
            "suppressed": wb.add_format({"valign": "top", "align": "center"}),
            "wrap": wb.add_format({"text_wrap": True, "valign": "top", "indent": 1}),
            "summary": wb.add_format({"text_wrap": True, "valign": "top"}),
            "count": wb.add_format({"num_format": "0", "align": "left", "valign": "top"}),
        }
        wb._skyddsnat_formats = cached
    return cached


def _fingerprint(name: str, table: pd.DataFrame, summary: Mapping[str, object],
                 extra: Mapping[str, pd.DataFrame]) -> str:
    h = hashlib.sha256(name.encode())
    _digest_frame(h, table)
    stable = {k: (None if isinstance(v, pd.DataFrame) else str(v))
              for k, v in summary.items() if k != "Skapad"}
    h.update(json.dumps(stable, sort_keys=True, ensure_ascii=False).encode())
    for key in sorted(k for k, v in stable.items() if v is None):
        h.update(key.encode())
        _digest_frame(h, summary[key])
    for sheet_name in sorted(extra):
        h.update(sheet_name.encode())
        _digest_frame(h, extra[sheet_name])
    return h.hexdigest()


def _digest_frame(h, frame: pd.DataFrame) -> None:
    """A frame's column names and values (as text, row by row) into the hash `h`.

    One conversion of the whole frame: hundreds of small lists spent more in pandas' CSV
    writer (or in a pass per column) than in writing their workbooks' rows."""
    h.update(repr([str(c) for c in frame.columns]).encode())
    h.update(repr([str(v) for v in frame.to_numpy(dtype=object).ravel().tolist()]).encode())
