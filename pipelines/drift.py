"""A Dagster deployment on one machine, as production runs it: a code server, the daemon
and the webserver as separate processes over one instance (PostgreSQL or SQLite storage, the
queued run coordinator), and a local PostgreSQL server of its own.

Used by `make konsortium` (bench/konsortium.py) and by the daemon test. Every process is
started in its own session and recorded in <root>/pids, so `stop()` (or `make
konsortium-stop` after an interrupted run) ends exactly those processes and their children.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from pipelines.jobs import KOMMUN_TAG

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOCATION = "skyddsnat"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None,
                  what: str = "tjänsten") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} avslutades med kod {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"{what} svarade inte på port {port} inom {timeout:.0f} s")


def instance_yaml(max_concurrent_runs: int, postgres: dict | None = None) -> dict:
    """dagster.yaml: queued runs, at most one per kommunkod; PostgreSQL storage if given."""
    doc = {
        "telemetry": {"enabled": False},
        "run_coordinator": {"module": "dagster.core.run_coordinator",
                            "class": "QueuedRunCoordinator",
                            "config": {"max_concurrent_runs": max_concurrent_runs,
                                       "dequeue_interval_seconds": 1,
                                       "tag_concurrency_limits": [{
                                           "key": KOMMUN_TAG,
                                           "value": {"applyLimitPerUniqueValue": True},
                                           "limit": 1}]}},
    }
    if postgres:
        doc["storage"] = {"postgres": {"postgres_db": {
            # SQLAlchemy 2.1 would pick psycopg 3; dagster-postgres ships psycopg2.
            "scheme": "postgresql+psycopg2",
            "hostname": "127.0.0.1", "port": postgres["port"], "db_name": postgres["db"],
            "username": postgres["user"], "password": {"env": "DAGSTER_PG_PASSWORD"}}}}
    return doc


class Postgres:
    """A PostgreSQL cluster of our own under <root>/pg, on 127.0.0.1 only, with a password.

    Debian's server binaries (the `postgresql` package); as root they run as the `postgres`
    user, since the server refuses to run as root."""

    USER, DB = "dagster", "dagster"

    def __init__(self, root: Path):
        self.root = Path(root)
        self.data = self.root / "pg"
        self.sock = self.root / "pg-sock"
        self.secret = self.root / "pg-losenord"
        self.port_file = self.root / "pg-port"

    @staticmethod
    def bindir() -> Path:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if found:
            return Path(found[-1]).parent
        if shutil.which("initdb"):
            return Path(shutil.which("initdb")).resolve().parent
        raise RuntimeError("PostgreSQL saknas: installera Debians paket postgresql "
                           "(make konsortium gör det)")

    def _as_server_user(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")

    def password(self) -> str:
        return self.secret.read_text().strip()

    def port(self) -> int:
        return int(self.port_file.read_text())

    def start(self) -> dict:
        bindir, run_as = self.bindir(), self._as_server_user()
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.data / "PG_VERSION").exists():
            shutil.rmtree(self.data, ignore_errors=True)
            self.data.mkdir(mode=0o700)
            self._own(self.data)
            fd = os.open(self.secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(24))
            pwfile = self.data.parent / ".pg-pw-init"
            pwfile.write_text(self.password())
            self._own(pwfile)
            try:
                subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(self.data),
                                "-U", self.USER, f"--pwfile={pwfile}", "-E", "UTF8",
                                "--no-locale", "--auth-local=trust",
                                "--auth-host=scram-sha-256"],
                               check=True, capture_output=True, text=True)
            finally:
                pwfile.unlink(missing_ok=True)
            self.port_file.write_text(str(free_port()))
        self.sock.mkdir(exist_ok=True)
        self._own(self.sock)
        log = self.root / "logs" / "postgres.log"
        log.parent.mkdir(exist_ok=True)
        log.touch()
        self._own(log)
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(self.data), "-l", str(log),
                        "-w", "-t", "60", "-o",
                        f"-p {self.port()} -k {self.sock} -c listen_addresses=127.0.0.1",
                        "start"], check=True, capture_output=True, text=True)
        have = subprocess.run([*run_as, str(bindir / "psql"), "-h", str(self.sock), "-p",
                               str(self.port()), "-U", self.USER, "-d", "postgres", "-tAc",
                               f"SELECT 1 FROM pg_database WHERE datname='{self.DB}'"],
                              check=True, capture_output=True, text=True).stdout.strip()
        if have != "1":
            subprocess.run([*run_as, str(bindir / "createdb"), "-h", str(self.sock), "-p",
                            str(self.port()), "-U", self.USER, self.DB], check=True,
                           capture_output=True, text=True)
        return {"port": self.port(), "db": self.DB, "user": self.USER}

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run([*self._as_server_user(), str(self.bindir() / "pg_ctl"), "-D",
                            str(self.data), "-m", "fast", "-w", "stop"], capture_output=True)


class Deployment:
    """DAGSTER_HOME, a workspace on one code server, and the processes serving them."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root = Path(root)
        self.home = self.root / "dagster_home"
        self.logs = self.root / "logs"
        self.pids = self.root / "pids"
        self.env = {**os.environ, **env, "DAGSTER_HOME": str(self.home),
                    "GX_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}
        self.procs: dict[str, subprocess.Popen] = {}
        self.code_port = free_port()
        self.web_port = 0

    def write_instance(self, doc: dict) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dagster.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        (self.root / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [{
            "grpc_server": {"host": "127.0.0.1", "port": self.code_port,
                            "location_name": LOCATION}}]}))

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (kept open for the child)
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        log.close()
        self.procs[name] = proc
        recorded = json.loads(self.pids.read_text()) if self.pids.exists() else {}
        recorded[name] = proc.pid
        self.pids.write_text(json.dumps(recorded))
        return proc

    def start(self, webserver: bool = False, timeout: float = 180) -> None:
        code = self._spawn("code-server", [
            str(BIN / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p",
            str(self.code_port), "-m", "pipelines.definitions", "-d", str(ROOT),
            "--location-name", LOCATION])
        wait_for_port(self.code_port, timeout, code, "kodservern")
        ws = str(self.root / "workspace.yaml")
        self._spawn("dagster-daemon", [str(BIN / "dagster-daemon"), "run", "-w", ws])
        if webserver:
            self.web_port = free_port()
            web = self._spawn("dagster-webserver", [
                str(BIN / "dagster-webserver"), "-w", ws, "-h", "127.0.0.1", "-p",
                str(self.web_port)])
            wait_for_port(self.web_port, timeout, web, "webbservern")

    def stop(self) -> None:
        stop_recorded(self.root)
        self.procs.clear()


def stop_recorded(root: Path, grace: float = 20) -> list[str]:
    """End every process recorded under root (its whole session: run workers too)."""
    pids_file = Path(root) / "pids"
    if not pids_file.exists():
        return []
    recorded = json.loads(pids_file.read_text())
    stopped = []
    for name, pid in recorded.items():
        try:
            os.killpg(pid, signal.SIGTERM)
            stopped.append(name)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + grace
    for pid in recorded.values():
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                break
            _reap(pid)
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        _reap(pid)
    pids_file.unlink()
    return stopped


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
