"""Each asset group materialized on its own, in the order data moves, with the test seams
bound at the boundary: `SeededKeys` (no key files) and `FixedClock` (no real date).

The same `Skyddsnat` resource runs the nights with the real implementations
(`KeyDirectory`, `StockholmClock`) when nothing is bound; here each group is a separate
`materialize`, reading what the groups before it stored, so a group that needs more than
its inputs (or writes what it should not) fails here on its own.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest
from dagster import AssetSelection, materialize

from pipelines.definitions import nodes, partitions_for
from pipelines.io import WarehouseIOManager
from pipelines.resources import (
    STOCKHOLM,
    FixedClock,
    KeyDirectory,
    SeededKeys,
    Skyddsnat,
    StockholmClock,
)
from skyddsnat.generate import TINY, generate
from skyddsnat.layout import DataDir
from skyddsnat.lists.restricted import unseal_file
from skyddsnat.policy import DEFAULT_POLICY_DIR
from skyddsnat.privacy.keys import init_keys

pytestmark = pytest.mark.slow

AS_OF = date(2026, 11, 20)
PROFILE = replace(TINY, name="grupper", inhabitants=400, children=150, own_school_units=2)
GROUPS = ("sources", "protection", "skolplikt", "avgifter", "franvaro", "atgardsprogram",
          "delivery")


def test_real_implementations_read_the_key_dir_and_the_stockholm_day(tmp_path):
    init_keys(tmp_path / "keys", tmp_path / "officer.key")
    keys = KeyDirectory(key_dir=str(tmp_path / "keys")).load()
    assert len(keys.pseudonym_key) == 32 and keys.vault_active == "v1"
    assert StockholmClock().today() in {datetime.now(STOCKHOLM).date()}
    assert FixedClock(day="2026-01-05").today() == date(2026, 1, 5)
    assert SeededKeys(seed=3).load() == SeededKeys(seed=3).load()
    assert SeededKeys(seed=3).load().pseudonym_key != SeededKeys(seed=4).load().pseudonym_key


@pytest.fixture(scope="module")
def town(tmp_path_factory):
    data = tmp_path_factory.mktemp("grupper") / "data"
    generate(PROFILE, data, AS_OF, seed=5)
    return data


def test_each_group_materializes_on_what_the_groups_before_it_stored(town):
    seeds = SeededKeys(seed=5)
    resources = {
        "skyddsnat": Skyddsnat(data_dir=str(town), policy_dir=str(DEFAULT_POLICY_DIR),
                               key_provider=seeds, clock=FixedClock(day=AS_OF.isoformat())),
        "warehouse": WarehouseIOManager(data_dir=str(town)),
    }
    assets = nodes(partitions_for((str(town), str(DEFAULT_POLICY_DIR))))
    data = DataDir(town)
    for group in GROUPS:
        day = {"partition_key": AS_OF.isoformat()} if group == "sources" else {}  # narvaro
        result = materialize(assets, selection=AssetSelection.groups(group),
                             resources=resources, **day)
        assert result.success, group
        materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
        assert materialized, group
        if group == "sources":
            assert data.table("folkbokforing").exists()
            assert data.partition("narvaro", AS_OF.isoformat()).exists()
            assert not (data.outbox / AS_OF.isoformat()).exists()
    delivery = data.outbox / AS_OF.isoformat()
    assert (delivery / "skolpliktshandlaggare" / "skolplikt.xlsx").is_file()
    # The sealed list opens with the test key set's private key: the seam is whole.
    opened = unseal_file(delivery / "restricted" / "skolplikt.sealed", seeds.officer_private(),
                         town.parent / "oppnade")
    assert opened
