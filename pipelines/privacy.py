"""Failures without personal data: what reaches Dagster's event log is safe to keep.

Our own errors name file, line, column or rule only. Any other exception (from pandas,
pyarrow, …) may quote a value, so it is replaced by its type and where it was raised, and
its chain is cut (`from None`) so no cause or context is serialised into the event log.
"""

from __future__ import annotations

import errno
import functools
import inspect
import os
import traceback
from collections.abc import Callable
from pathlib import Path

from dagster import Failure

from skyddsnat.delivery.outbox import OutboxProblem
from skyddsnat.ingest.errors import SourceFileError
from skyddsnat.lists.cases import CaseProblem
from skyddsnat.lists.excel import ListSpecError
from skyddsnat.lists.reidentify import ReidentificationRefused
from skyddsnat.policy import PolicyError
from skyddsnat.privacy.guard import PlaintextLeak
from skyddsnat.privacy.keys import KeyProblem
from skyddsnat.privacy.seal import SealBroken
from skyddsnat.privacy.vault import VaultTampered
from skyddsnat.rules.action_programmes import InvalidTerm
from skyddsnat.rules.maxtaxa import UncoveredMonth

# Exceptions whose messages are written to name a rule, file, line or column — never a value.
SAFE_ERRORS: tuple[type[BaseException], ...] = (
    SourceFileError, KeyProblem, PolicyError, SealBroken, PlaintextLeak, VaultTampered,
    ListSpecError, CaseProblem, OutboxProblem, ReidentificationRefused, UncoveredMonth,
    InvalidTerm)


class SafeError(RuntimeError):
    """An error whose message was written by us and holds no personal data."""


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/site-packages/" not in f.filename] or frames
    f = ours[-1] if ours else None
    return f"{Path(f.filename).name}:{f.lineno}" if f else "okänd plats"


def safe_message(exc: BaseException) -> str:
    if isinstance(exc, (*SAFE_ERRORS, SafeError)):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno:
        # The errno names the problem (disk full, no permission); the path is left out.
        code = errno.errorcode.get(exc.errno, str(exc.errno))
        return (f"{type(exc).__name__} [{code}: {os.strerror(exc.errno)}] i {_where(exc)} "
                "(sökväg utelämnad)")
    return (f"{type(exc).__name__} i {_where(exc)} "
            "(detaljer utelämnade: kan innehålla personuppgifter)")


def privacy_safe(fn: Callable) -> Callable:
    """Wrap an asset body so any failure is re-raised as a value-free dagster.Failure."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Failure:
                raise
            except Exception as exc:  # noqa: BLE001 - the point is to catch everything
                raise Failure(description=safe_message(exc)) from None

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Failure:
            raise
        except Exception as exc:  # noqa: BLE001
            raise Failure(description=safe_message(exc)) from None

    return wrapper
