"""Helpers for the whole-pipeline robustness tests: scenarios, CLI runs, kills, checks.

Scenarios live on tmpfs (/dev/shm) when there is one: Dagster's SQLite event log commits
(and fsyncs) on every event, which on a disk makes a tiny run three times slower.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import openpyxl

from skyddsnat.lists.restricted import unseal_file
from skyddsnat.privacy.audit import AuditLog
from skyddsnat.privacy.keys import ENV_KEYRING, ENV_OFFICER_PUBLIC, ENV_PSEUDONYM
from tests.canary import files_under, personnummer_in, read_text

REPO = Path(__file__).resolve().parent.parent
CANARY = "Kanarie"  # every surname and street in folkbokföring starts with it
SUMMARY_SHEET, CREATED = "Sammanfattning", "Skapad"


def fast_tmp(prefix: str) -> Path:
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def plant_canaries(inbox: Path) -> int:
    """Give every person in folkbokföring a canary surname and street (found if leaked)."""
    path = next(inbox.glob("folkbokforing_*.csv"))
    raw = path.read_bytes()
    enc = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError:
        enc, text = "cp1252", raw.decode("cp1252")
    nl = "\r\n" if "\r\n" in text else "\n"
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    h = [c.strip().lower() for c in rows[0]]
    i_en, i_adr = h.index("efternamn"), h.index("utdelningsadress")
    for n, row in enumerate(rows[1:], 1):
        if len(row) == len(h):
            row[i_en], row[i_adr] = f"{CANARY}son{n:04d}", f"{CANARY}gatan {n}"
    buf = io.StringIO()
    csv.writer(buf, delimiter=";", lineterminator=nl).writerows(rows)
    path.write_bytes(buf.getvalue().encode(enc))
    return len(rows) - 1


@dataclass
class Scenario:
    """One data dir with its own DAGSTER_HOME and temp dir; keys shared unless replaced."""

    root: Path
    keys: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def outbox(self) -> Path:
        return self.data / "outbox"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in (ENV_PSEUDONYM, ENV_KEYRING, ENV_OFFICER_PUBLIC)}
        env.update(DAGSTER_HOME=str(self.home), GX_ANALYTICS_ENABLED="False",
                   TMPDIR=str(self.tmp), PYTHONPATH=str(REPO))
        return env

    def run_cmd(self, day: date, prefix: tuple[str, ...] = (),
                module: tuple[str, ...] = ("-m", "skyddsnat.cli")) -> list[str]:
        return [*prefix, sys.executable, *module, "run", "--data-dir",
                str(self.data), "--key-dir", str(self.keys), "--as-of", day.isoformat()]


def new_scenario(parent: Path, name: str, source: Path | None, keys: Path) -> Scenario:
    s = Scenario(parent / name, keys)
    s.root.mkdir()
    if source is not None:
        shutil.copytree(source, s.data, symlinks=True)
    s.home.mkdir()
    (s.home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    s.tmp.mkdir()
    return s


@dataclass
class Ran:
    returncode: int
    output: str  # stdout + stderr
    seconds: float
    killed: bool = False


def cli(s: Scenario, *args: str) -> Ran:
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "skyddsnat.cli", *args], env=s.env(), cwd=REPO,
                       capture_output=True, text=True, timeout=600)
    return Ran(r.returncode, r.stdout + r.stderr, time.monotonic() - t0)


def run(s: Scenario, day: date, prefix: tuple[str, ...] = (),
        kill_when: float | Callable[[], bool] | None = None,
        module: tuple[str, ...] = ("-m", "skyddsnat.cli")) -> Ran:
    """`skyddsnat run` as a subprocess; SIGKILL it after a time or when a condition holds."""
    out = s.root / f"run-{time.monotonic_ns()}.log"
    t0 = time.monotonic()
    with open(out, "w") as fh:
        proc = subprocess.Popen(s.run_cmd(day, prefix, module), env=s.env(), cwd=REPO, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
        killed = False
        try:
            if kill_when is None:
                proc.wait(timeout=600)
            elif isinstance(kill_when, float):
                try:
                    proc.wait(timeout=kill_when)
                except subprocess.TimeoutExpired:
                    killed = _kill(proc)
            else:
                while proc.poll() is None:
                    if kill_when():
                        killed = _kill(proc)
                        break
                    time.sleep(0.002)
        finally:
            if proc.poll() is None:
                _kill(proc)
    text = out.read_text(errors="replace")
    out.unlink()
    return Ran(proc.returncode, text, time.monotonic() - t0, killed)


def _kill(proc: subprocess.Popen) -> bool:
    """SIGKILL the run's own process group (it was started in a new session)."""
    if proc.poll() is not None:
        return False
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return True


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_state(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
    """(mtime_ns, size) of every file and directory: to show a run wrote nothing."""
    out = {}
    if not root.exists():
        return out
    for p in [root, *root.rglob("*")]:
        rel = p.relative_to(root).as_posix()
        if any(rel == s or rel.startswith(s + "/") for s in skip):
            continue
        st = p.lstat()
        out[rel] = (st.st_mtime_ns, st.st_size)
    return out


def check_delivery(outbox: Path, day: date) -> dict | None:
    """outbox/<day> is absent, or a complete delivery: every manifest file with its sha256,
    nothing unlisted, no temporary file, every workbook opens. Returns the manifest."""
    link = outbox / day.isoformat()
    if not link.exists():
        assert not link.is_symlink(), "outbox/<date> is a dangling link"
        return None
    root = link.resolve()
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert present - {"manifest.json"} == set(listed), "files and manifest disagree"
    for rel, digest in listed.items():
        assert sha256(root / rel) == digest, f"{rel} is not what the manifest says"
    odd = [p.name for p in root.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".")
           or p.name.startswith("tmp")]
    assert not odd, odd
    for p in root.rglob("*.xlsx"):
        openpyxl.load_workbook(p, read_only=True).close()
    return manifest


def delivery_files(outbox: Path, day: date) -> dict[str, str]:
    root = (outbox / day.isoformat()).resolve()
    return {p.relative_to(root).as_posix(): sha256(p) for p in root.rglob("*") if p.is_file()}


def workbook_cells(path: Path) -> dict[str, list[tuple]]:
    """Every cell of every sheet; the summary sheet's "Skapad" row is left out."""
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return {ws.title: [r for r in ws.iter_rows(values_only=True)
                           if not (ws.title == SUMMARY_SHEET and r and r[0] == CREATED)]
                for ws in wb.worksheets}
    finally:
        wb.close()


def list_contents(outbox: Path, day: date, officer_key, work: Path) -> dict[str, object]:
    """The lists of a delivery cell by cell; sealed lists are opened with the officer's key."""
    root = (outbox / day.isoformat()).resolve()
    out: dict[str, object] = {}
    for p in sorted(root.rglob("*.xlsx")):
        out[p.relative_to(root).as_posix()] = workbook_cells(p)
    for p in sorted(root.rglob("*.sealed")):
        opened = work / f"unsealed-{time.monotonic_ns()}"
        for x in unseal_file(p, officer_key, opened):
            out[f"{p.name}:{x.name}"] = workbook_cells(x)
        shutil.rmtree(opened)
    for p in sorted(root.rglob("*.html")):
        out[p.relative_to(root).as_posix()] = p.read_text(encoding="utf-8")
    return out


def audit_entries(data: Path) -> list[dict]:
    return AuditLog(data / "audit").entries()


def leftovers(outbox: Path, day: date) -> list[str]:
    """Unpublished delivery material of a date: staging dirs, temp links, orphan deliveries."""
    found = [p.name for p in (outbox / ".staging").glob(f"{day.isoformat()}-*")]
    found += [p.name for p in outbox.glob(f".{day.isoformat()}-*")]
    link = outbox / day.isoformat()
    current = link.resolve().name if link.exists() else None
    found += [p.name for p in (outbox / ".deliveries").glob(f"{day.isoformat()}-*")
              if p.name != current]
    return found


def known_personnummer(inbox: Path, day: date) -> set[str]:
    """Every personnummer the inbox holds, in any form: the ones that must never leak."""
    return set().union(*(personnummer_in(read_text(p), day) for p in inbox.glob("*.csv")))


def personal_data_in(named_texts: dict[str, str], day: date, known: set[str]
                     ) -> dict[str, str]:
    """Where a known personnummer (any written form) or a canary name/street appears.

    Only the municipality's own numbers count: a run id or timestamp can look like a valid
    personnummer by chance.
    """
    found = {}
    for where, text in named_texts.items():
        pnrs = personnummer_in(text, day) & known
        if pnrs or CANARY in text:
            found[where] = f"{len(pnrs)} personnummer, kanarie={CANARY in text}"
    return found


def texts_under(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {str(p): read_text(p) for p in files_under(root, skip=skip)} if root.exists() else {}


def no_personal_data(s: Scenario, ran_output: str, day: date, known: set[str]
                     ) -> dict[str, str]:
    """Scan a failed or killed run's leftovers: its output, DAGSTER_HOME, its temp dir and
    the data dir outside the inbox and the published deliveries (plaintext by design)."""
    texts = {"output": ran_output}
    texts.update(texts_under(s.home))
    texts.update(texts_under(s.tmp))
    texts.update(texts_under(s.data, skip=("inbox", "outbox/.deliveries")))
    return personal_data_in(texts, day, known)


def redate_snapshots(inbox: Path, day: date, *days: date) -> None:
    """Every snapshot export of `day` (all but attendance) copied under each of `days`: the
    same snapshots, exported daily."""
    for snap in inbox.glob(f"*_{day:%Y%m%d}.csv"):
        if not snap.name.startswith("narvaro"):
            for other in days:
                shutil.copy(snap, snap.with_name(snap.name.replace(f"{day:%Y%m%d}",
                                                                   f"{other:%Y%m%d}")))


def first_night(prefix: str, seed: int, day1: date, day2: date):
    """A tiny municipality generated for `day2` whose first night ran on `day1` (with
    yesterday's snapshots): yields (base dir, that scenario); removed afterwards."""
    from skyddsnat.generate import TINY, generate
    from skyddsnat.privacy.keys import init_keys

    base = fast_tmp(prefix)
    try:
        generate(TINY, base / "pristine", day2, seed=seed)
        redate_snapshots(base / "pristine" / "inbox", day2, day1)  # night 1: yesterday's
        init_keys(base / "keys", base / "officer.key")
        night1 = new_scenario(base, "night1", base / "pristine", base / "keys")
        ran = run(night1, day1)
        assert ran.returncode == 0, ran.output[-3000:]
        yield base, night1
    finally:
        shutil.rmtree(base, ignore_errors=True)
