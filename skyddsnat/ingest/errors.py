"""Errors about source files. They name the file, line and column — never a value."""

from __future__ import annotations


class SourceFileError(Exception):
    """A whole file is unusable (encoding, delimiter, columns, truncation, emptiness)."""

    names_no_value = True  # its message is built from file, line and column only (parallel.py)

    def __init__(self, file: str, reason: str, line: int | None = None, column: str | None = None):
        self.file, self.reason, self.line, self.column = file, reason, line, column
        where = file
        if line is not None:
            where += f", rad {line}"
        if column is not None:
            where += f", kolumn {column}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):
        # Picklable with its fields, so it crosses from a backfill's worker process intact.
        return (type(self), (self.file, self.reason, self.line, self.column))


class IngestRefused(SourceFileError):
    """A file, or a source's stored rows, cannot be accounted for; the message is ours and
    begins with the file's name."""

    def __init__(self, file: str, message: str):
        self.file, self.reason, self.line, self.column = file, message, None, None
        Exception.__init__(self, f"{file}{message}")

    def __reduce__(self):
        return (type(self), (self.file, self.reason))
