"""Suite-wide settings: tests run on two xdist workers already, so the attendance backfill
ingests serially unless a test asks for worker processes (tests/test_parallel_backfill.py)."""

import os

os.environ.setdefault("SKYDDSNAT_INGEST_WORKERS", "1")
