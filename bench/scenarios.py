"""The data a benchmark runs on: one generated inbox, and work dirs built from it.

The generated inbox is never touched: each scenario gets a work dir whose inbox holds hard
links to the generated files (the pipeline only reads the inbox), plus, for the nightly
increment, the next day's files made by copying today's with the date changed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from skyddsnat.generate.school_calendar import current_term, school_days
from skyddsnat.ingest.catalog import catalog
from skyddsnat.ingest.inbox import files_for
from skyddsnat.policy import load_policy

ROOT = Path(__file__).resolve().parent.parent


def generate(profile, out: Path, as_of: date, seed: int = 1, kommunkod: str = "") -> dict:
    """Generate once; a summary file marks a complete generation."""
    summary = out / "generator_summary.json"
    if summary.exists():
        return json.loads(summary.read_text(encoding="utf-8"))
    from dataclasses import replace

    from skyddsnat.generate import generate as gen
    from skyddsnat.generate.profiles import resolve

    prof = resolve(profile)
    if kommunkod:
        prof = replace(prof, kommunkod=kommunkod, name=f"{prof.name}_{kommunkod}")
    gen(prof, out, as_of, seed=seed, progress=sys.stderr.isatty(), overwrite=True)
    return json.loads(summary.read_text(encoding="utf-8"))


def ensure_keys(key_dir: Path) -> Path:
    if not (key_dir / "pseudonym.key").exists() and not any(key_dir.glob("*")):
        subprocess.run([sys.executable, "-m", "skyddsnat.cli", "keys", "init", "--key-dir",
                        str(key_dir), "--officer-key-out", str(key_dir.parent / "officer.key")],
                       check=True, cwd=ROOT, capture_output=True)
    return key_dir


def work_dir(generated: Path, work: Path) -> Path:
    """A fresh data dir whose inbox hard-links the generated files."""
    if work.exists():
        shutil.rmtree(work)
    (work / "inbox").mkdir(parents=True)
    for f in sorted((generated / "inbox").iterdir()):
        os.link(f, work / "inbox" / f.name)
    return work


def restock(generated: Path, work: Path) -> list[str]:
    """Link back the generated files a successful run removed from the inbox (the cleanup),
    so the next day can be made from today's files and DuckDB can read the CSVs."""
    made = []
    for f in sorted((generated / "inbox").iterdir()):
        if not (work / "inbox" / f.name).exists():
            os.link(f, work / "inbox" / f.name)
            made.append(f.name)
    return made


def next_school_day(as_of: date, sportlov_week: int = 9) -> date:
    term = current_term(as_of)
    later = [d for d in school_days(term, term.end, sportlov_week) if d > as_of]
    return later[0] if later else as_of + timedelta(days=1)


MOVED_EVERY = 200  # one person in 200 gets a new address overnight (folkbokföring)


def add_next_day(inbox: Path, as_of: date, nxt: date, moves: bool = True,
                 out: Path | None = None) -> list[str]:
    """Today's snapshots copied with tomorrow's date, and tomorrow's attendance file made from
    today's with the datum column changed (the file's bytes and encoding otherwise as is).

    With `moves`, snapshots change overnight: every MOVED_EVERY-th person in the folkbokföring
    gets a new street address, so the night ingests, stages and re-encrypts real changes.
    Without, every snapshot is re-delivered byte for byte under the new date (the common
    night: one new attendance day, nothing else changed). The files are written to `out`
    (default: the inbox they are made from)."""
    out = inbox if out is None else out
    out.mkdir(parents=True, exist_ok=True)
    old, new = as_of.strftime("%Y%m%d"), nxt.strftime("%Y%m%d")
    made = []
    snapshots = [e for e in catalog(load_policy()).values() if e.snapshot]
    for source in snapshots:
        for d, p in files_for(inbox, source, as_of):
            if d == as_of:
                target = out / p.name.replace(old, new)
                if moves and source.name == "folkbokforing":
                    target.write_bytes(_moves(p.read_bytes(), new))
                else:
                    shutil.copyfile(p, target)
                made.append(target.name)
    src = inbox / f"narvaro_{old}.csv"
    raw = src.read_bytes()
    # datum is the first field of every line: only line starts are rewritten.
    pattern = re.compile(rb"(^|\n)(\xef\xbb\xbf)?" + re.escape(as_of.isoformat().encode()))
    fixed = pattern.sub(lambda m: m.group(1) + (m.group(2) or b"") + nxt.isoformat().encode(),
                        raw)
    target = out / f"narvaro_{new}.csv"
    target.write_bytes(fixed)
    made.append(target.name)
    return made


def _moves(raw: bytes, stamp: str) -> bytes:
    """Every MOVED_EVERY-th data line's utdelningsadress (5th field) gets a new number."""
    lines = raw.split(b"\n")
    for i in range(1 + MOVED_EVERY // 2, len(lines), MOVED_EVERY):
        fields = lines[i].split(b";")
        if len(fields) > 4:
            fields[4] = b"Flyttgatan " + stamp[-3:].encode()
            lines[i] = b";".join(fields)
    return b"\n".join(lines)


def source_rows(inbox: Path) -> dict[str, int]:
    """Data rows per source over every file in the inbox (header lines excluded)."""
    counts: dict[str, int] = {}
    for f in sorted(inbox.iterdir()):
        source = f.name.split("_")[0]
        with open(f, "rb") as fh:
            n = sum(buf.count(b"\n") for buf in iter(lambda fh=fh: fh.read(1 << 20), b""))
        counts[source] = counts.get(source, 0) + max(0, n - 1)
    return counts
