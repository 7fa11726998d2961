"""The unpartitioned source assets: snapshots, invoices, incomes, grades, case register."""


from dagster import AssetExecutionContext, DataVersion, Failure, Output, asset

from assets.constants import GROUP_SOURCES
from assets.sources.basis import age_findings, settle
from assets.sources.ingest import check_results, source_check_specs
from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from pipelines.reuse import CODE_VERSION
from skyddsnat.ingest.catalog import entry
from skyddsnat.ingest.freshness import Basis, last_accepted_rows, snapshot_volume_finding
from skyddsnat.ingest.inbox import files_for
from skyddsnat.ingest.inbox_cleanup import removed_dates
from skyddsnat.ingest.run import (
    ingest_source,
    keep_account,
    resting,
    source_files,
    store_table,
)

KEPT = "tabellen behålls: samma filer som senast, lästa likadant i kväll"

DESCRIPTIONS = {
    "folkbokforing": "Folkbokföringen (barn 0–18 och vårdnadshavare), pseudonymiserad; namn och "
                     "adresser ligger bara i identitetsvalvet.",
    "elevregister": "Elevregistrets placeringar, pseudonymiserade.",
    "skolpliktsbeslut": "Beslut om skolplikt (annat sätt, utlandsvistelse, uppskjuten, upphörd).",
    "avgifter": "Fakturerade barnomsorgsavgifter per barn och månad, alla månadsfiler.",
    "inkomster": "Fastställda inkomster från Skatteverket per person och inkomstår.",
    "atgardsprogram": "Åtgärdsprogram per elev och skolenhet.",
    "betyg": "Betyg per elev och ämne, alla terminsfiler.",
    "franvaroarenden": "Frånvaroärenden (trappan steg 1–5); valfri källa.",
}


def build_source_asset(source: str):
    @asset(
        name=source,
        group_name=GROUP_SOURCES,
        description=DESCRIPTIONS[source],
        io_manager_key="warehouse",
        kinds={"pandas", "parquet"},
        check_specs=source_check_specs(source),
        tags={"skyddsnat/lager": "kalla"},
        code_version=CODE_VERSION,
    )
    @privacy_safe
    def _source_asset(context: AssetExecutionContext, skyddsnat: Skyddsnat):
        as_of, data, policy = skyddsnat.reference_date(), skyddsnat.data(), skyddsnat.policy()
        spec = entry(policy, source)
        findings = age_findings(skyddsnat, source, as_of)  # stops before any file is read
        files = source_files(data.inbox, spec, as_of)
        kept = resting(source, policy, data, as_of) if spec.snapshot and not files else None
        if kept is not None:
            context.log.info(f"{source} vilar på {kept.rests_on} (behandlad, borttagen ur "
                             "inkorgen)")
            basis = Basis(source, as_of.isoformat(), kept.rests_on,
                          removed_dates(data, source)[kept.rests_on].isoformat(),
                          kept.tally.accepted)
            meta = settle(context, skyddsnat, basis, findings)
            yield _stored(data, kept, {**kept.tally.metadata(policy.version),
                                       "vilar_pa": kept.rests_on, **meta})
            yield from check_results(kept.tally, source)
            return
        if not files and not spec.valfri and not findings:
            raise Failure(description=f"ingen fil för {source} i inkorgen (på eller före {as_of})")
        keys = skyddsnat.key_material()
        ingested = ingest_source(files, source, keys, policy, data, as_of)
        rows = ingested.tally.stored
        basis = Basis(source, as_of.isoformat(), rows=rows)
        if files:
            basis.file = files[-1].name if len(files) == 1 else \
                f"{len(files)} filer: {files[0].name} … {files[-1].name}"
            basis.date = max(d for d, p in files_for(data.inbox, spec, as_of)
                             if p in files).isoformat()
        if spec.snapshot and files:
            rule = policy.kallor.kallor[source]
            last = last_accepted_rows(data.state, source)
            volume = snapshot_volume_finding(source, rule, files[-1].name, rows, last)
            findings += [volume] if volume else []
        meta = settle(context, skyddsnat, basis, findings)
        if ingested.kept:
            context.log.info(f"{source}: {KEPT}")
        output = _stored(data, ingested, {**ingested.tally.metadata(policy.version), **meta})
        keep_account(data, ingested)
        yield output
        yield from check_results(ingested.tally, source)

    return _source_asset


def _stored(data, outcome, metadata: dict) -> Output:
    """The table stored here, not by the IO manager (which skips None), so its SHA-256 is
    known: the source's DataVersion, what the downstream reuse records read as its input,
    and what a night given the same files keeps (skyddsnat/ingest/run.py `kept`)."""
    digest = store_table(data, outcome)
    return Output(None, data_version=DataVersion(digest),
                  metadata={**metadata, "kolumner": outcome.columns})


SOURCE_ASSETS = [build_source_asset(s) for s in DESCRIPTIONS]
