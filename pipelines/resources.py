"""Resources: where the data dir and keys are, and which policy and reference date apply.

Keys are loaded and checked against the data dir in `setup_for_execution`, i.e. when the run
starts and before any asset opens a source file: a missing or wrong key fails the run there.
"""


from datetime import date, datetime
from zoneinfo import ZoneInfo

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from skyddsnat.layout import DataDir
from skyddsnat.policy import DEFAULT_POLICY_DIR, Policy, load_policy
from skyddsnat.privacy.keys import (
    Keys,
    load_keys,
    seeded_keys,
    seeded_officer_private,
    verify_against_data,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")


class KeyProvider(ConfigurableResource):
    """Where a run's keys come from (the seam the tests use); `load` raises KeyProblem."""

    def load(self) -> Keys:
        raise NotImplementedError


class KeyDirectory(KeyProvider):
    """The real keys: a key directory, or with none the environment (SKYDDSNAT_*)."""

    key_dir: str = ""

    def load(self) -> Keys:
        return load_keys(self.key_dir or None)


class SeededKeys(KeyProvider):
    """Tests only: a complete key set derived from a seed, so a test needs no key files (and
    can open its sealed lists with `officer_private`)."""

    seed: int = 1

    def load(self) -> Keys:
        return seeded_keys(self.seed)

    def officer_private(self):
        return seeded_officer_private(self.seed)


class Clock(ConfigurableResource):
    """What day it is for a run without a fixed reference date (the other seam)."""

    def today(self) -> date:
        raise NotImplementedError


class StockholmClock(Clock):
    """The real clock: today in Europe/Stockholm, where the schedule runs."""

    def today(self) -> date:
        return datetime.now(STOCKHOLM).date()


class FixedClock(Clock):
    """Tests only: always the same day."""

    day: str

    def today(self) -> date:
        return date.fromisoformat(self.day)


class Skyddsnat(ConfigurableResource):
    """The data dir, key dir, policy dir, reference date and municipality of a run.

    `key_provider` and `clock` are the seams: unset, keys come from `key_dir` (or the
    environment) and the reference date from `as_of` or the Stockholm clock; tests bind
    `SeededKeys` and `FixedClock` instead."""

    data_dir: str
    key_dir: str = ""
    policy_dir: str = str(DEFAULT_POLICY_DIR)
    as_of: str = ""  # YYYY-MM-DD; blank = today by the clock
    kommunkod: str = ""  # blank = policies/skolplikt.yaml
    omrakna: bool = False  # recompute every asset, keep no stored result (run --omrakna)
    key_provider: KeyProvider | None = None
    clock: Clock | None = None

    _keys: Keys | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        keys = (self.key_provider or KeyDirectory(key_dir=self.key_dir)).load()
        verify_against_data(keys, self.data().state)
        self._keys = keys

    def key_material(self) -> Keys:
        if self._keys is None:
            raise RuntimeError("nycklarna är inte inlästa")
        return self._keys

    def data(self) -> DataDir:
        return DataDir(self.data_dir)

    def policy(self) -> Policy:
        return load_policy(self.policy_dir).with_kommunkod(self.kommunkod or None)

    def reference_date(self) -> date:
        if self.as_of:
            return date.fromisoformat(self.as_of)
        return (self.clock or StockholmClock()).today()
