"""Resources: where the data dir and keys are, and which policy and reference date apply.

Keys are loaded and checked against the data dir in `setup_for_execution`, i.e. when the run
starts and before any asset opens a source file: a missing or wrong key fails the run there.
"""


from datetime import date, datetime
from zoneinfo import ZoneInfo

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from skyddsnat.keys import Keys, load_keys, verify_against_data
from skyddsnat.layout import DataDir
from skyddsnat.policy import DEFAULT_POLICY_DIR, Policy, load_policy

STOCKHOLM = ZoneInfo("Europe/Stockholm")


class Skyddsnat(ConfigurableResource):
    """The data dir, key dir, policy dir, reference date and municipality of a run."""

    data_dir: str
    key_dir: str = ""
    policy_dir: str = str(DEFAULT_POLICY_DIR)
    as_of: str = ""  # YYYY-MM-DD; blank = today in Europe/Stockholm
    kommunkod: str = ""  # blank = policies/skolplikt.yaml

    _keys: Keys | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        keys = load_keys(self.key_dir or None)
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
        return datetime.now(STOCKHOLM).date()
