"""Who is protected, and the vault that keeps every identity encrypted or sealed."""


import pandas as pd
from dagster import AssetExecutionContext, AssetIn, MaterializeResult, asset

from assets.constants import GROUP_PROTECTION
from assets.sources.tables import DESCRIPTIONS
from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from pipelines.reuse import CODE_VERSION, kept_or_computed
from skyddsnat.ingest.source_table import stored_pnr_columns
from skyddsnat.privacy.audit import AuditLog
from skyddsnat.privacy.identity_store import merge_vault
from skyddsnat.privacy.protection import protected_persons
from skyddsnat.privacy.vault_retention import named_in, purge_absent

PROTECTION_INPUTS = ("folkbokforing", "avgifter")


@asset(
    group_name=GROUP_PROTECTION,
    description="Personer med skyddade personuppgifter och alla i deras hushåll (pseudonymer). "
                "Återanvänds när folkbokföringen, avgifterna, policyn och nyckeln är "
                "oförändrade.",
    io_manager_key="warehouse",
    deps=list(PROTECTION_INPUTS),
    kinds={"pandas", "parquet"},
    code_version=CODE_VERSION,
)
@privacy_safe
def skyddade(context: AssetExecutionContext, skyddsnat: Skyddsnat):
    rules, data = skyddsnat.policy().skydd, skyddsnat.data()

    def compute():
        folkbokforing, avgifter = (pd.read_parquet(data.table(n)) for n in PROTECTION_INPUTS)
        ids = protected_persons(folkbokforing, avgifter, list(rules.markeringar),
                                dict(rules.spridning))
        # The count of protected persons is itself sensitive: it is not put in metadata.
        return {"skyddade": (pd.DataFrame({"person_id": ids}), {})}

    yield from kept_or_computed(context, skyddsnat, "skyddade", ["skyddade"],
                                list(PROTECTION_INPUTS), compute, single=True)


@asset(
    group_name=GROUP_PROTECTION,
    description="Identitetsvalvet: namn, adress och personnummer per pseudonym (AES-256-GCM); "
                "skyddade personer förseglas med HPKE till den särskilt behöriga handläggaren.",
    deps=list(DESCRIPTIONS),
    ins={"skyddade": AssetIn()},
    kinds={"python"},
)
@privacy_safe
def identitetsvalv(context: AssetExecutionContext, skyddsnat: Skyddsnat,
                   skyddade: pd.DataFrame) -> MaterializeResult:
    data, policy, keys = skyddsnat.data(), skyddsnat.policy(), skyddsnat.key_material()
    merge_vault(keys, data.vault, skyddade["person_id"])
    present = named_in([data.table(s) for s in DESCRIPTIONS], stored_pnr_columns(),
                       data.state)
    purge_absent(keys, data.vault, data.state, AuditLog(data.audit), present,
                 skyddsnat.reference_date(), policy.gallring.valv_dagar)
    # No counts: vault size against register size would approximate the protected count.
    return MaterializeResult(metadata={
        "nyckel_id": keys.vault_active,
        "policyversion": skyddsnat.policy().version,
    })
