"""Helper processes: the one way the program spreads work over cores (ingest and rendering).

A helper is `python -m skyddsnat.parallel`, not a multiprocessing child: those import the
parent's main module again, which is slow under Dagster and dangerous from a script. It gets
pickled jobs (a module-level function and its arguments) on its stdin and sends each result
back through a pipe, in memory; it writes no file of its own (a killed run leaves nothing of
it behind: it ends when its pipe closes) and its output goes nowhere. An error crosses back
by its type name only — an exception's text could carry a value — unless its type declares
that its message names no value (`names_no_value = True`, as a source file error naming file,
line and column does): then it is raised here as it was raised there.

A run may start one helper early (`warm_start`), which imports the heavy modules a night
will need (GX, the workbook writer) on the second core while this process imports Dagster;
`on_warm` runs a job there, `mapped` borrows it as its first helper, and the delivery's
renderer takes it over (`claim_warm`).
"""

from __future__ import annotations

import contextlib
import heapq
import importlib
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence

PATIENCE = 600  # seconds to wait for one job before the helpers count as hung
# Jobs a helper holds at once: its next job already waits in its pipe when it finishes one,
# instead of arriving only when this process, busy with a job of its own, next looks. Only
# for small jobs (paths and settings, ~12 KB): a queued job larger than the pipe's 64 KiB
# blocks this process in `send` until the helper reads it (the delivery's workbooks, which
# carry their rows, are handed over one at a time for that reason: lists/render.py).
DEPTH = 2


class HelperFailed(RuntimeError):
    """A job failed in a helper process (names the exception type, never a value)."""


def helper_count(jobs: int, per_process: int, env: str, most: int | None = None) -> int:
    """Helper processes for `jobs` jobs beside this one: one process per core, but none
    that would get fewer than `per_process` jobs (a helper costs ~1.5–3 s of imports).
    The environment variable `env` sets the number of working processes, this one included
    (1: no helper)."""
    configured = os.environ.get(env)
    if configured:
        processes = min(int(configured), jobs)
    else:
        processes = min(os.cpu_count() or 1, jobs // max(1, per_process))
    helpers = max(0, processes - 1)
    return helpers if most is None else min(helpers, most)


Message = tuple["Helper", str, object]  # ("ready" | "ok" | "error" | "gone", value)


class Helper:
    """One helper process; a thread puts its messages on `inbox` (the pipe never fills)."""

    def __init__(self, proc: subprocess.Popen, results: int, inbox: queue.Queue) -> None:
        self.proc = proc
        self.ready = False
        self._inbox = inbox
        self._moving = threading.Lock()  # held while the messages move to another inbox
        self._reader = threading.Thread(target=self._read, args=(results,), daemon=True)
        self._reader.start()

    @classmethod
    def start(cls, inbox: queue.Queue, imports: Sequence[str] = ()) -> Helper | None:
        """A new helper; it says "ready" once it has imported `imports`."""
        read, write = os.pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "skyddsnat.parallel", str(write), *imports],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=(write,), env=env)
        except (OSError, ValueError):
            os.close(read)
            return None
        finally:
            os.close(write)
        return cls(proc, read, inbox)

    def _read(self, fd: int) -> None:
        with open(fd, "rb") as results:
            while True:
                try:
                    kind, value = pickle.load(results)
                except Exception:  # EOF or a broken message: the helper is gone
                    kind, value = "gone", None
                with self._moving:
                    self._inbox.put((self, kind, value))
                if kind == "gone":
                    return

    def rehome(self, inbox: queue.Queue) -> None:
        """Send this helper's messages to `inbox` from now on, those waiting included."""
        with self._moving:
            old, self._inbox = self._inbox, inbox
            while True:
                try:
                    inbox.put(old.get_nowait())
                except queue.Empty:
                    return

    def send(self, job: tuple[Callable, tuple]) -> bool:
        """Hand a job over; False if it cannot be pickled or the helper is gone."""
        try:
            data = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except Exception:
            return False
        return True

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        self.proc.kill()
        self.proc.wait()
        self._reader.join(timeout=5)


def receive(inbox: queue.Queue, helpers: Iterable[Helper], block: bool) -> Message | None:
    """The next message from any helper, or None if none waits; a helper that says nothing
    for PATIENCE seconds while it has work is killed (its "gone" follows)."""
    try:
        message = inbox.get(block=block, timeout=PATIENCE if block else None)
    except queue.Empty:
        if block:
            for helper in helpers:
                helper.proc.kill()
        return None
    if message[1] == "ready":
        message[0].ready = True
    return message


WARM_ENV = "SKYDDSNAT_WARM_HELPER"
_WARM: dict[str, object] = {}
_WARM_LOCK = threading.Lock()


def warm_start(imports: Sequence[str]) -> None:
    """Start this process's warm helper (if none is running), importing `imports` at once.

    Only on a machine with more than one core: on one, its imports would only compete
    with this process's. `SKYDDSNAT_WARM_HELPER=0` turns it off."""
    if _WARM or (os.cpu_count() or 1) < 2 or os.environ.get(WARM_ENV) == "0":
        return
    inbox: queue.Queue = queue.Queue()
    helper = Helper.start(inbox, imports)
    if helper is not None:
        _WARM.update(helper=helper, inbox=inbox)


def on_warm(fn: Callable, args: tuple) -> object:
    """fn(*args) in the warm helper if there is one (waiting for its imports), else here;
    a helper that is gone leaves the job, and later ones, to this process."""
    with _WARM_LOCK:
        helper = _WARM.get("helper")
        if helper is not None and _wait_ready(helper) and helper.send((fn, args)):
            message = receive(_WARM["inbox"], [helper], block=True)
            if message is not None and message[1] == "ok":
                return message[2]
            if message is not None and message[1] == "error":
                raise_error(message[2])
        if helper is not None:
            _drop_warm()
    return fn(*args)


def _give_back(helper: Helper, idle: bool) -> None:
    """A warm helper lent to `mapped` is the run's warm one again if it is idle and alive
    (else stopped); while lent, `on_warm` ran its jobs here."""
    with _WARM_LOCK:
        if idle and helper.proc.poll() is None and not _WARM:
            inbox: queue.Queue = queue.Queue()
            helper.rehome(inbox)
            _WARM.update(helper=helper, inbox=inbox)
            return
    helper.stop()


def claim_warm(inbox: queue.Queue) -> Helper | None:
    """Take the warm helper over (its messages now go to `inbox`); the caller stops it."""
    with _WARM_LOCK:
        helper = _WARM.pop("helper", None)
        _WARM.pop("inbox", None)
        if helper is not None:
            helper.rehome(inbox)
        return helper


def _wait_ready(helper: Helper) -> bool:
    while not helper.ready:
        message = receive(_WARM["inbox"], [helper], block=True)
        if message is None or message[1] == "gone":
            return False
    return True


def _drop_warm() -> None:
    helper = _WARM.pop("helper", None)
    _WARM.pop("inbox", None)
    if helper is not None:
        helper.stop()


def stop_warm() -> None:
    """Stop the warm helper if it is still this process's."""
    with _WARM_LOCK:
        _drop_warm()


def raise_error(value: object) -> None:
    """Raise a helper's error here: as it was if its type names no value, else by type."""
    if isinstance(value, BaseException):
        raise value
    raise HelperFailed(f"ett jobb misslyckades i hjälpprocessen ({value})")


@contextlib.contextmanager
def mapped(fn: Callable, jobs: Sequence[tuple], helpers: int) -> Iterator[Iterable]:
    """fn over jobs with results in order, here and in `helpers` helper processes.

    This process takes the earliest job nobody has yet whenever it is free, so nothing
    waits for a helper's start-up and this process never idles while jobs wait; a helper
    holds its next job while it works on one (DEPTH); jobs run at most a few ahead of the
    one due (their results wait in memory until their turn); a helper that fails to start or dies
    leaves its jobs to this process. The run's warm helper, if any, is the first helper
    (no start-up, GX imported) and is the warm one again afterwards.
    """
    if helpers <= 0 or len(jobs) <= 1:
        yield (fn(*job) for job in jobs)
        return
    inbox: queue.Queue = queue.Queue()
    lent = claim_warm(inbox)
    started = [h for h in (Helper.start(inbox) for _ in range(helpers - (lent is not None)))
               if h is not None]
    running: dict[Helper, deque[int]] = {}  # each helper's jobs, in the order it got them
    finished: list[bool] = []
    try:
        yield _spread(fn, list(jobs), [*([lent] if lent else []), *started], inbox, running,
                      finished)
    finally:
        for helper in started:
            helper.stop()
        if lent is not None:
            _give_back(lent, bool(finished) and lent not in running)


def _spread(fn: Callable, jobs: list[tuple], helpers: list[Helper], inbox: queue.Queue,
            running: dict[Helper, deque[int]], finished: list[bool]) -> Iterator[object]:
    window = (DEPTH + 1) * len(helpers) + 2
    results: dict[int, object] = {}
    waiting = list(range(len(jobs)))  # a heap: the earliest job first
    room = {h: DEPTH for h in helpers if h.ready}  # jobs a helper can take (a lent one is up)

    def handle(message: Message) -> None:
        helper, kind, value = message
        if kind == "error":
            raise_error(value)
        if kind == "gone":
            for job in running.pop(helper, ()):
                heapq.heappush(waiting, job)
            room.pop(helper, None)
        elif kind == "ready":
            room[helper] = DEPTH
        elif kind == "ok" and running.get(helper):
            results[running[helper].popleft()] = value  # a helper answers in order
            if not running[helper]:
                del running[helper]
            if helper in room:
                room[helper] += 1

    def hand_out(i: int) -> None:
        for helper in [h for h, n in room.items() if n > 0]:
            while room.get(helper, 0) > 0 and waiting and waiting[0] < i + window:
                job = heapq.heappop(waiting)
                if not helper.send((fn, jobs[job])):  # it cannot take jobs: none more
                    heapq.heappush(waiting, job)
                    del room[helper]
                    break
                running.setdefault(helper, deque()).append(job)
                room[helper] -= 1

    for i in range(len(jobs)):
        while i not in results:
            while (message := receive(inbox, (), block=False)) is not None:
                handle(message)
            hand_out(i)
            if i in results:
                break
            if waiting and waiting[0] < i + window:
                # This process works too: the next job nobody has (job i itself, or one
                # after it while a helper has i) rather than waiting for the helper.
                job = heapq.heappop(waiting)
                results[job] = fn(*jobs[job])
            else:
                message = receive(inbox, running, block=True)
                if message is not None:
                    handle(message)
        if i == len(jobs) - 1:
            finished.append(True)
        yield results.pop(i)


def _serve(fd: int, imports: Sequence[str] = ()) -> None:
    """The helper: import `imports`, then run jobs from stdin until it closes; results to the
    pipe `fd`."""
    with open(fd, "wb") as results, sys.stdin.buffer as jobs:
        for name in imports:
            with contextlib.suppress(Exception):  # a job that needs it will say why
                importlib.import_module(name)
        pickle.dump(("ready", None), results)
        results.flush()
        while True:
            try:
                fn, args = pickle.load(jobs)
            except EOFError:
                return
            try:
                message = ("ok", fn(*args))
            except Exception as exc:
                whole = getattr(type(exc), "names_no_value", False)
                message = ("error", exc if whole else type(exc).__name__)
            pickle.dump(message, results, protocol=pickle.HIGHEST_PROTOCOL)
            results.flush()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2:])
