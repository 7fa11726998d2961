"""Decode and split a `;`-separated inbox file into string columns, checking its structure.

Accepts UTF-8 (with or without BOM) and Windows-1252 exports. Rejects, naming file, line and
column: an empty or 0-byte file, undecodable bytes, NUL bytes, a header without `;`
(wrong delimiter), missing or unknown columns, a truncated last line, and rows whose field
count differs from the header. Values are never put into messages.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from skyddsnat.contract import SOURCES, Source
from skyddsnat.ingest.errors import SourceFileError

BOM = "\ufeff"
KNOWN_NAMES = frozenset(c for s in SOURCES.values() for c in s.column_names)


@dataclass
class RawTable:
    file: str
    encoding: str
    frame: pd.DataFrame  # all columns as strings, contract names; index = file line number
    rows_read: int
    digests: list[str] | None = None  # per frame row, when asked for (row_cache.py)


def decode(data: bytes, file: str) -> tuple[str, str]:
    if not data:
        raise SourceFileError(file, "filen är tom (0 byte)")
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise SourceFileError(file, "filen innehåller NUL-tecken (binär eller trasig fil)", line)
    try:
        text = data.decode("utf-8")
        return text.removeprefix(BOM), "utf-8-sig" if text.startswith(BOM) else "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SourceFileError(
            file, f"okänd teckenkodning (varken UTF-8 eller Windows-1252), tecken {col}", line
        ) from None


def _header_names(header: list[str]) -> list[str]:
    return [h.strip().lower() for h in header]


RowDigest = Callable[[list[str]], Callable[[list[pa.Array]], list[str]]]


def read_source(path: Path, source: Source, aliases: dict[str, str] | None = None,
                row_digest: RowDigest | None = None, optional: tuple[str, ...] = ()
                ) -> RawTable:
    """Read one inbox file for `source`, mapping vendor column names through `aliases`.

    `optional` columns (those the policy removes) may be absent from the file.

    `row_digest(header)` gives the function from the raw columns to each row's digest,
    applied while the raw fields are at hand as Arrow strings (cheaper than from the frame).
    """
    file = Path(path).name
    data = Path(path).read_bytes()
    text, encoding = decode(data, file)
    if not text or text.isspace():  # `not text.strip()` without copying the file
        raise SourceFileError(file, "filen är tom")
    first_line = text[:end] if (end := text.find("\n")) >= 0 else text
    if ";" not in first_line:
        hint = " (kommaseparerad?)" if "," in first_line else (
            " (tabbseparerad?)" if "\t" in first_line else "")
        raise SourceFileError(file, f"fel avgränsare: rubrikraden saknar ';'{hint}", 1)
    header = _header_names(next(csv.reader([first_line.rstrip("\r")], delimiter=";",
                                           quotechar='"')))
    alias = {k.lower(): v for k, v in (aliases or {}).items()}
    header = [alias.get(h, h) for h in header]
    expected = source.column_names
    seen: set[str] = set()
    for i, name in enumerate(header):
        if name in seen:
            raise SourceFileError(file, "kolumnnamnet förekommer två gånger", 1, str(i + 1))
        seen.add(name)
        if name not in expected:
            # Only contract names are echoed: a headerless file would put values here.
            raise SourceFileError(
                file, "okänd kolumn: den är inte klassad i policies/klassning.yaml", 1,
                f"{i + 1} ({name})" if name in KNOWN_NAMES else str(i + 1))
    missing = [c for c in expected if c not in seen and c not in optional]
    if missing:
        raise SourceFileError(file, "kolumn saknas", 1, ", ".join(missing))
    body = _plain_body(_utf8(data, text, encoding), header) or _line_body(text, header, file)
    digests = None
    if row_digest is not None:
        digest = row_digest(header)
        digests = digest(body.columns())
    frame = body.frame.reindex(columns=list(expected))
    frame.attrs["bad_field_count_lines"] = body.bad_lines
    return RawTable(file, encoding, frame, rows_read=len(frame) + len(body.bad_lines),
                    digests=digests)


@dataclass
class _Body:
    frame: pd.DataFrame  # the file's columns as strings, index = file line number
    columns: Callable[[], list[pa.Array]]  # the same rows' raw fields, column by column
    bad_lines: list[int]


def _line_body(text: str, header: list[str], file: str) -> _Body:
    """Line by line with `csv.reader`: quoting, blank lines and bad field counts decided."""
    body = list(csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"'))[1:]
    n_fields = len(header)
    truncated_tail = not text.endswith(("\n", "\r"))
    good: list[list[str]] = []
    lines: list[int] = []
    bad_lines: list[int] = []
    for lineno, row in enumerate(body, start=2):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if len(row) != n_fields:
            if lineno == len(body) + 1 and truncated_tail:
                raise SourceFileError(file, "sista raden är avkortad (filen är trunkerad)", lineno,
                                      f"{len(row)} av {n_fields} fält")
            bad_lines.append(lineno)
            continue
        good.append(row)
        lines.append(lineno)
    frame = pd.DataFrame(good, columns=header, dtype="string")
    frame.index = pd.Index(lines, name="rad")
    return _Body(frame, lambda: [pa.array([r[i] for r in good], pa.string())
                                 for i in range(n_fields)], bad_lines)


def _utf8(data: bytes, text: str, encoding: str) -> bytes:
    """The file in UTF-8: its own bytes when it is UTF-8 (a BOM lies in the header line,
    which the body's reader skips), else the decoded text encoded."""
    return data if encoding.startswith("utf-8") else text.encode("utf-8")


def _plain_body(raw: bytes, header: list[str]) -> _Body | None:
    """The body of a plain file read by Arrow's CSV reader, or None to read it line by line.

    Plain means: no quote character, no bare carriage return, and every line (no blank ones)
    with the header's number of fields, so file line numbers are row positions + 2 and the
    result is the one `csv.reader` gives. Anything else takes the line-by-line path, which
    decides blank lines, quoting and bad field counts; a large export is read ~6x faster.
    `raw` is the text in UTF-8, where these ASCII characters are the bytes searched for.
    """
    # Carriage returns are looked for once: most exports have none (then no CR can be bare
    # and no blank line can be CRLF), and counting them costs more than finding none.
    cr = b"\r" in raw
    if (b'"' in raw or b"\n\n" in raw
            or (cr and (raw.count(b"\r") != raw.count(b"\r\n") or b"\n\r\n" in raw))):
        return None
    lines = raw.count(b"\n") - 1 + (0 if raw.endswith(b"\n") else 1)
    if lines <= 0:
        return None
    irregular: list[int] = []

    def skip(row) -> str:  # a row with the wrong number of fields: read line by line
        irregular.append(1)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.py_buffer(raw),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=";", quote_char=False,
                                             newlines_in_values=False, ignore_empty_lines=False,
                                             invalid_row_handler=skip),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in header}, strings_can_be_null=False))
    except pa.ArrowInvalid:
        return None
    if irregular or table.num_rows != lines:
        return None
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
    frame.index = pd.RangeIndex(2, lines + 2, name="rad")
    return _Body(frame, lambda: table.columns, [])
