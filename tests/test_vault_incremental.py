"""The nightly vault step re-encrypts only what changed, and still reads back exactly."""

import pandas as pd

from skyddsnat.privacy.identity_store import (
    VAULT_FILE,
    merge_vault,
    read_identities,
    read_sealed,
    stage_identities,
)
from skyddsnat.privacy.keys import init_keys, load_keys, rotate_vault_key

P1, P2 = "a" * 32, "b" * 32


def _people(name2: str) -> pd.DataFrame:
    return pd.DataFrame({"person_id": [P1, P2], "personnummer": ["201001012386", "201002022381"],
                         "fornamn": ["Alva", name2], "efternamn": ["Berg", "Ek"]})


def _night(keys, vault, people) -> pd.DataFrame:
    stage_identities(keys, vault, "folkbokforing", people)
    merge_vault(keys, vault, pd.Series([], dtype="string"))
    return pd.read_parquet(vault / VAULT_FILE).set_index("person_id")


def test_unchanged_records_keep_their_ciphertext_and_changed_ones_are_rewritten(tmp_path):
    init_keys(tmp_path / "k", tmp_path / "o.key")
    keys, vault = load_keys(tmp_path / "k"), tmp_path / "vault"
    first = _night(keys, vault, _people("Bo"))
    written = (vault / VAULT_FILE).stat().st_mtime_ns
    second = _night(keys, vault, _people("Bo"))
    assert second.loc[P1, "ct"] == first.loc[P1, "ct"]
    assert second.loc[P2, "ct"] == first.loc[P2, "ct"]
    # Nothing changed: the vault file is not written again.
    assert (vault / VAULT_FILE).stat().st_mtime_ns == written
    third = _night(keys, vault, _people("Björn"))
    assert (vault / VAULT_FILE).stat().st_mtime_ns != written
    assert third.loc[P1, "ct"] == first.loc[P1, "ct"]
    assert third.loc[P2, "ct"] != first.loc[P2, "ct"]
    back = read_identities(keys, vault).set_index("person_id")
    assert back.loc[P2, "fornamn"] == "Björn" and back.loc[P1, "fornamn"] == "Alva"


def test_records_under_a_rotated_key_are_reencrypted_by_the_next_night(tmp_path):
    init_keys(tmp_path / "k", tmp_path / "o.key")
    vault = tmp_path / "vault"
    _night(load_keys(tmp_path / "k"), vault, _people("Bo"))
    rotate_vault_key(tmp_path / "k")
    keys = load_keys(tmp_path / "k")
    after = _night(keys, vault, _people("Bo"))
    assert set(after["key_id"]) == {keys.vault_active}
    assert len(read_identities(keys, vault)) == 2


def test_a_night_that_stages_only_changes_keeps_everyone_else(tmp_path):
    """Snapshots stage only new rows: the unstaged keep their record, a guardian staged with
    her number only keeps her name, and a person protected tonight is sealed unstaged."""
    init_keys(tmp_path / "k", tmp_path / "o.key")
    keys, vault = load_keys(tmp_path / "k"), tmp_path / "vault"
    P3 = "c" * 32
    first = _night(keys, vault, pd.concat([_people("Bo"), pd.DataFrame(
        {"person_id": [P3], "personnummer": ["198001012383"], "fornamn": ["Cilla"],
         "efternamn": ["Ås"]})], ignore_index=True))
    stage_identities(keys, vault, "elevregister",
                     pd.DataFrame({"person_id": [P1], "personnummer": ["201001012386"]}))
    merge_vault(keys, vault, pd.Series([P3], dtype="string"))
    after = pd.read_parquet(vault / VAULT_FILE).set_index("person_id")
    assert set(after.index) == {P1, P2}  # P3 left the AES vault for the sealed store
    assert after.loc[P1, "ct"] == first.loc[P1, "ct"]
    assert after.loc[P2, "ct"] == first.loc[P2, "ct"]
    assert read_identities(keys, vault).set_index("person_id").loc[P1, "fornamn"] == "Alva"
    assert list(read_sealed(vault)["person_id"]) == [P3]


def test_staging_accumulates_until_the_vault_step_merges_it(tmp_path):
    init_keys(tmp_path / "k", tmp_path / "o.key")
    keys, vault = load_keys(tmp_path / "k"), tmp_path / "vault"
    people = _people("Bo")
    stage_identities(keys, vault, "folkbokforing", people.iloc[[0]])
    stage_identities(keys, vault, "folkbokforing", people.iloc[[1]])  # the merge never ran
    merge_vault(keys, vault, pd.Series([], dtype="string"))
    assert set(read_identities(keys, vault)["fornamn"]) == {"Alva", "Bo"}
