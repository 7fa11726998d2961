"""Worker processes for ingesting many files at once (a backfill, a first night).

One process per core (SKYDDSNAT_INGEST_WORKERS overrides; 1 means none), and none unless
each worker gets enough files to pay for its start-up (~3 s of imports). Workers are
spawned, not forked: the run process has threads (Dagster's), and a fork copies their locks.
Results cross back through a pipe, in memory; workers write only what the run itself would.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context

ENV = "SKYDDSNAT_INGEST_WORKERS"


def workers_for(n_files: int, per_worker: int) -> int:
    configured = os.environ.get(ENV)
    workers = int(configured) if configured else (os.cpu_count() or 1)
    return max(1, min(workers, n_files // per_worker))


@contextmanager
def mapped(fn: Callable, jobs: list[tuple], workers: int) -> Iterator[Iterable]:
    """fn over jobs, in order: in `workers` processes, or here when workers is 1."""
    if workers <= 1 or not jobs:
        yield (fn(*job) for job in jobs)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        yield pool.map(fn, *zip(*jobs, strict=True))
