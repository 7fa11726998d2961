"""A consortium file: which municipalities one deployment serves, and where each one's own
data dir, keys and policies are.

Optional: without it (no SKYDDSNAT_KONSORTIUM) the deployment serves the one municipality of
policies/. The file is reviewed like policies/, and checked as a whole: every error names the
file and key, never a value from a data dir. The checks are what keeps municipalities apart
on disk: no two share a data dir, a key dir or a key Secret, and none lies inside another's.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import Field, ValidationError

from skyddsnat.policy import DEFAULT_POLICY_DIR, PolicyError, Strict, load_policy

ENV_FILE = "SKYDDSNAT_KONSORTIUM"  # path of the consortium file; unset = one municipality
ENV_ROOT = "SKYDDSNAT_KONSORTIUM_ROT"  # relative paths resolve here; default the file's dir


class Kommun(Strict):
    namn: str = Field(min_length=1)
    datakatalog: str = Field(min_length=1)
    # Blank: keys from the run's environment, which only a Secret per municipality can fill
    # (nyckelhemlighet), never the deployment's shared environment.
    nyckelkatalog: str = ""
    nyckelhemlighet: str = ""
    policykatalog: str = ""  # blank: the policies/ of this code location
    volym: str = ""  # Kubernetes: the municipality's own volume, mounted at datakatalog


class KonsortiumFil(Strict):
    namn: str = Field(min_length=1)
    kommuner: dict[str, Kommun] = Field(min_length=1)
    schema_igang: bool = False
    inkorg_igang: bool = False
    inkorg_intervall_sekunder: int = Field(default=60, ge=1)
    inkorg_vila_sekunder: float = Field(default=30.0, ge=0)


@dataclass(frozen=True)
class KommunPlats:
    """One municipality with its paths resolved."""

    kommunkod: str
    namn: str
    data_dir: Path
    key_dir: Path | None
    key_secret: str
    policy_dir: Path
    volume: str = ""


@dataclass(frozen=True)
class Konsortium:
    namn: str
    kommuner: tuple[KommunPlats, ...]
    schema_igang: bool
    inkorg_igang: bool
    inkorg_intervall_sekunder: int
    inkorg_vila_sekunder: float
    version: str  # SHA-256 of the file, recorded on every run

    def kommun(self, kommunkod: str) -> KommunPlats:
        for k in self.kommuner:
            if k.kommunkod == kommunkod:
                return k
        raise KeyError(kommunkod)


def _nested(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def _resolve(root: Path, value: str) -> Path:
    p = Path(value)
    return (p if p.is_absolute() else root / p).resolve()


def load_konsortium(path: Path | str, root: Path | str | None = None) -> Konsortium:
    """Load and check a consortium file; raise PolicyError with every problem at once."""
    path = Path(path)
    fname = path.name
    if not path.is_file():
        raise PolicyError([(fname, "-", "filen saknas")])
    raw_bytes = path.read_bytes()
    try:
        doc = yaml.safe_load(raw_bytes.decode("utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        raise PolicyError([(fname, f"rad {mark.line + 1}" if mark else "-",
                            "ogiltig YAML")]) from None
    try:
        fil = KonsortiumFil.model_validate(doc)
    except ValidationError as exc:
        raise PolicyError([(fname, ".".join(str(p) for p in e["loc"]) or "-", e["msg"])
                           for e in exc.errors(include_input=False, include_url=False)]
                          ) from None
    root = Path(root or os.environ.get(ENV_ROOT) or path.parent).resolve()
    problems: list[tuple[str, str, str]] = []
    places: list[KommunPlats] = []
    for kod, k in fil.kommuner.items():
        key = f"kommuner.{kod}"
        if not (len(kod) == 4 and kod.isdigit()):
            problems.append((fname, key, "kommunkoden ska vara fyra siffror"))
        if bool(k.nyckelkatalog) == bool(k.nyckelhemlighet):
            problems.append((fname, key, "ange antingen nyckelkatalog eller nyckelhemlighet"))
        policy_dir = _resolve(root, k.policykatalog) if k.policykatalog else DEFAULT_POLICY_DIR
        try:
            load_policy(policy_dir)
        except PolicyError as exc:
            problems.extend((fname, f"{key}.policykatalog", f"{f}: {pk}: {m}")
                            for f, pk, m in exc.problems)
        places.append(KommunPlats(kod, k.namn, _resolve(root, k.datakatalog),
                                  _resolve(root, k.nyckelkatalog) if k.nyckelkatalog else None,
                                  k.nyckelhemlighet, policy_dir, k.volym))
    problems.extend(_separation_checks(fname, places))
    if problems:
        raise PolicyError(problems)
    return Konsortium(fil.namn, tuple(places), fil.schema_igang, fil.inkorg_igang,
                      fil.inkorg_intervall_sekunder, fil.inkorg_vila_sekunder,
                      hashlib.sha256(raw_bytes).hexdigest()[:16])


def _separation_checks(fname: str, places: list[KommunPlats]) -> list[tuple[str, str, str]]:
    """No directory or Secret of one municipality is, contains or lies in another's."""
    out = []
    for i, a in enumerate(places):
        key = f"kommuner.{a.kommunkod}"
        if a.key_dir and _nested(a.data_dir, a.key_dir):
            out.append((fname, f"{key}.nyckelkatalog", "nycklarna får inte ligga i datakatalogen"))
        for b in places[i + 1:]:
            other = f"kommunen {b.kommunkod}"
            if _nested(a.data_dir, b.data_dir):
                out.append((fname, f"{key}.datakatalog", f"delas med eller överlappar {other}"))
            for mine, theirs in ((a.key_dir, b.key_dir), (a.key_dir, b.data_dir),
                                 (a.data_dir, b.key_dir)):
                if mine and theirs and _nested(mine, theirs):
                    out.append((fname, f"{key}.nyckelkatalog",
                                f"nycklarna delas med eller överlappar {other}"))
                    break
            if a.key_secret and a.key_secret == b.key_secret:
                out.append((fname, f"{key}.nyckelhemlighet", f"delas med {other}"))
            if a.volume and a.volume == b.volume:
                out.append((fname, f"{key}.volym", f"delas med {other}"))
    return out


def from_environment() -> Konsortium | None:
    """The consortium this process serves, or None for a single municipality."""
    path = os.environ.get(ENV_FILE)
    return load_konsortium(path) if path else None


def explain_section(k: Konsortium):
    """The consortium as a section of the register of processing (`policy explain`)."""
    from skyddsnat.delivery.policy_explain import Section
    from skyddsnat.policy import policy_hash

    rows = [[p.kommunkod, p.namn, str(p.data_dir),
             str(p.key_dir) if p.key_dir else f"hemlighet {p.key_secret}",
             policy_hash(p.policy_dir)] for p in k.kommuner]
    on = {True: "igång", False: "stoppad"}
    return Section(f"Konsortium: {k.namn}", [
        f"Driftmiljön betjänar {len(k.kommuner)} kommuner (konsortiefil version {k.version}). "
        "Varje kommun har egen datakatalog, egna nycklar och egen policy: ingen tabell, "
        "nyckel, cache, ärendehistorik eller lista delas mellan kommunerna.",
        "Varje körning gäller en kommun och märks med dess kommunkod; högst en körning åt "
        "gången per kommun.",
        f"Nattschemat 02:00 är {on[k.schema_igang]}, inkorgsbevakningen {on[k.inkorg_igang]} "
        f"(var {k.inkorg_intervall_sekunder} s; en fil räknas när den varit oförändrad i "
        f"{k.inkorg_vila_sekunder:g} s).",
    ], [(["Kommunkod", "Kommun", "Datakatalog", "Nycklar", "Policyversion"], rows)])
