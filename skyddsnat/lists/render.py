"""Workbooks rendered for a delivery, by a helper process too when there are many.

A large city's delivery renders hundreds of small workbooks and draws the board's charts,
which is most of its time; on a machine with two cores a helper process takes part of that
while the delivery goes on preparing and rendering the rest. The helper only renders: it
gets a list's already re-identified and checked rows through a pipe and returns the
workbook's bytes and fingerprint; the delivery writes them into its staging directory.
The helper is the program's one kind of helper process (`skyddsnat.parallel`): it writes
no file, its output goes nowhere, and its errors cross back as a type name only.
"""

from __future__ import annotations

import io
import queue
from collections import deque
from collections.abc import Callable, Mapping

import pandas as pd

from skyddsnat.lists.catalog import ListSpec
from skyddsnat.lists.excel import render_list, write_table_xlsx
from skyddsnat.parallel import Helper, claim_warm, helper_count, receive

WORKERS_ENV = "SKYDDSNAT_DELIVERY_WORKERS"
MIN_JOBS = 40  # the helper costs ~1.5 s of imports; below this many workbooks it does not pay
# Codes and labels stay text in board tables (a school unit code may start with 0).
LABEL_COLUMNS = ("skolenhet", "skolenhetskod", "skolenhet_namn", "arskurs", "manad")


class RenderFailed(RuntimeError):
    """Rendering failed in the helper process (names the exception type, never a value)."""


def list_bytes(spec: ListSpec, rows: pd.DataFrame, summary: Mapping[str, object],
               extra: Mapping[str, pd.DataFrame]) -> tuple[bytes, str]:
    """A checked list's workbook (see `excel.check_list`) and its fingerprint."""
    buf = io.BytesIO()
    fingerprint = render_list(buf, spec, rows, summary, extra)
    return buf.getvalue(), fingerprint


def board_bytes(title: str, table: pd.DataFrame, summary: Mapping[str, object],
                charts: Mapping[str, object], page: Callable[[], str] | None,
                sheets: Mapping[str, pd.DataFrame] | None = None
                ) -> tuple[bytes, str, str | None]:
    """A board table's workbook (with `sheets` such as "Cellstatus" after the table), its
    fingerprint and, if asked for, its HTML page."""
    buf = io.BytesIO()
    fingerprint = write_table_xlsx(buf, title, numbers_as_numbers(table), summary, charts,
                                   sheets)
    return buf.getvalue(), fingerprint, page() if page is not None else None


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


def helpers(jobs: int) -> int:
    """Helper processes for a delivery of `jobs` workbooks: one on a machine with more than
    one core and enough work, else none (`SKYDDSNAT_DELIVERY_WORKERS`: working processes,
    this one included; 1 for none)."""
    return helper_count(jobs, MIN_JOBS // 2, WORKERS_ENV, most=1)


Job = tuple[Callable, tuple, Callable[[object], None]]


class Renderer:
    """Runs rendering jobs here or in the helper; `done` gets each result in this thread.

    The helper is handed a job only when it is idle, so the two share the work whatever
    its mix and nothing waits long for the other; `helper=True` jobs (the board's, with no
    personal data and slow charts) wait for the helper unless it is not ready by `finish`.
    A helper that fails to start or dies leaves its jobs to this process.
    """

    def __init__(self, helpers: int) -> None:
        self._inbox: queue.Queue = queue.Queue()
        # The run's warm helper (parallel.warm_start) has its imports done already.
        self._helper = self._started = (claim_warm(self._inbox) or Helper.start(self._inbox)
                                        if helpers > 0 else None)
        self._waiting: deque[Job] = deque()
        self._running: Job | None = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started is not None:
            self._started.stop()

    def submit(self, fn: Callable, args: tuple, done: Callable[[object], None], *,
               helper: bool = False) -> None:
        job = (fn, args, done)
        self._waiting.append(job)
        self._pump()
        if not helper and self._waiting and self._waiting[-1] is job:
            self._waiting.pop()
            done(fn(*args))

    def wait_for_helper(self) -> bool:
        """Wait until the helper has started (or failed to); whether it takes work."""
        while self._helper is not None and not self._helper.ready:
            self._pump(block=True, starting=True)
        return self._helper is not None

    def finish(self) -> None:
        """Render what is left and hand over every result."""
        while self._waiting or self._running is not None:
            self._pump()
            if self._waiting and (self._running is not None or not self._idle()):
                fn, args, done = self._waiting.pop()
                done(fn(*args))
            elif self._running is not None:
                self._pump(block=True)

    def _idle(self) -> bool:
        return self._helper is not None and self._helper.ready and self._running is None

    def _pump(self, block: bool = False, starting: bool = False) -> None:
        """Take the helper's messages; give it the oldest waiting job if it is idle."""
        while self._helper is not None:
            message = receive(self._inbox, [self._helper],
                              block and (starting or self._running is not None))
            if message is None:
                break
            block = False
            _, kind, value = message
            if kind == "ready":
                continue
            job, self._running = self._running, None
            if kind == "ok" and job is not None:
                job[2](value)
            elif kind == "error":
                raise RenderFailed(f"en arbetsbok kunde inte skapas i hjälpprocessen ({value})")
            else:  # the helper is gone: its job and all later ones are rendered here
                self._helper = None
                if job is not None:
                    job[2](job[0](*job[1]))
        if self._idle() and self._waiting:
            self._running = self._waiting.popleft()
            if not self._helper.send(self._running[:2]):
                self._waiting.appendleft(self._running)
                self._running = None
                self._helper = None
