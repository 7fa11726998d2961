"""Children of school age unknown to the school authority, and data-quality findings."""

from datetime import timedelta

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, Output, asset

from assets.constants import GROUP_SKOLPLIKT
from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from pipelines.reuse import CODE_VERSION, kept_or_computed
from skyddsnat.ingest.day_reads import day_pupils
from skyddsnat.rules.school_duty import (
    data_quality_findings,
    date_part,
    exception_schools,
    find_exceptions,
    in_work_order,
    turning_days,
)

INPUTS = ("folkbokforing", "elevregister", "skolpliktsbeslut")
# The columns that say on which days the answer can turn (school_duty.turning_days).
DATE_COLUMNS = {"folkbokforing": ["folkbokford_datum"],
                "elevregister": ["startdatum", "slutdatum"],
                "skolpliktsbeslut": ["giltig_fran", "giltig_till"]}


@asset(
    group_name=GROUP_SKOLPLIKT,
    description="Skolpliktiga barn folkbokförda i kommunen som saknar placering eller beslut, "
                "med orsak (okand, placering_avslutad, nyinflyttad, dubbel_placering) och de "
                "skolenheter som ligger bakom en dubbel eller avslutad placering. Återanvänds "
                "när registren, policyn och det av referensdagen som regeln beror på (läsår, "
                "passerade start-, slut- och inflyttningsdagar) är oförändrade.",
    io_manager_key="warehouse",
    deps=list(INPUTS),
    kinds={"pandas"},
    code_version=CODE_VERSION,
)
@privacy_safe
def skolplikt_arenden(context: AssetExecutionContext, skyddsnat: Skyddsnat):
    data, policy = skyddsnat.data(), skyddsnat.policy()
    as_of = skyddsnat.reference_date()

    def read(name: str, columns: list[str] | None = None) -> pd.DataFrame:
        return pd.read_parquet(data.table(name), columns=columns)

    turning = turning_days(*(read(n, DATE_COLUMNS[n]) for n in INPUTS), policy.skolplikt)

    def compute():
        personer, placeringar, beslut = (read(n) for n in INPUTS)
        cases = find_exceptions(personer, placeringar, beslut, as_of, policy.skolplikt)
        cases["skolenheter"] = exception_schools(cases, placeringar, as_of, policy.skolplikt)
        return {"skolplikt_arenden": (in_work_order(cases), {
            "kommunkod": policy.skolplikt.kommunkod, "policyversion": policy.version})}

    yield from kept_or_computed(context, skyddsnat, "skolplikt_arenden", ["skolplikt_arenden"],
                                list(INPUTS), compute, date_part(as_of, turning), single=True)


@asset(
    group_name=GROUP_SKOLPLIKT,
    description="Datakvalitet: närvaro i våra skolor utan placering, och placeringar hos andra "
                "huvudmän för personer som inte finns i folkbokföringen.",
    io_manager_key="warehouse",
    ins={"folkbokforing": AssetIn(), "elevregister": AssetIn()},
    deps=["narvaro"],
    kinds={"pandas"},
)
@privacy_safe
def skolplikt_datakvalitet(context: AssetExecutionContext, skyddsnat: Skyddsnat,
                           folkbokforing: pd.DataFrame, elevregister: pd.DataFrame) -> Output:
    policy = skyddsnat.policy()
    as_of = skyddsnat.reference_date()
    window = policy.franvaro.senaste_dagar
    days = [as_of - timedelta(days=i) for i in range(window + 1)]
    pupils = day_pupils(skyddsnat.data(), days, policy)
    findings = data_quality_findings(folkbokforing, elevregister, pupils, as_of, policy.skolplikt)
    # Pupils from other municipalities in our own schools are known pupils, not findings.
    own_units = set(elevregister.loc[elevregister["huvudman"] == "kommunal", "skolenhetskod"])
    unknown_person = findings["fynd"] == "placering_okand_person"
    findings = findings[~(unknown_person & findings["skolenhetskod"].isin(own_units))]
    return Output(findings.reset_index(drop=True), metadata={"policyversion": policy.version})
