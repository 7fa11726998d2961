"""The unpartitioned source assets: snapshots, invoices, incomes, grades, case register."""


from datetime import date
from pathlib import Path

from dagster import AssetExecutionContext, Output, asset

from assets.constants import GROUP_SOURCES
from assets.sources.basis import age_findings, settle
from assets.sources.ingest import Tally, ingest_files, source_check_specs
from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from skyddsnat.freshness import Basis, last_accepted_rows, snapshot_volume_finding
from skyddsnat.inbox import SNAPSHOTS, files_for
from skyddsnat.ingest.income_year import refuse_future_income_files

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
# Sources of many files that rarely change once written: each file is ingested once.
CACHED = {"avgifter", "inkomster", "betyg"}


def _files(inbox: Path, source: str, as_of: date) -> list[tuple[date, Path]]:
    """A snapshot's newest file on or before as_of; every file of a period source."""
    if source == "inkomster":
        refuse_future_income_files(inbox, as_of)
    dated = files_for(inbox, source, as_of)
    return dated[-1:] if source in SNAPSHOTS else dated


def build_source_asset(source: str):
    @asset(
        name=source,
        group_name=GROUP_SOURCES,
        description=DESCRIPTIONS[source],
        io_manager_key="warehouse",
        kinds={"pandas", "parquet"},
        check_specs=source_check_specs(source),
        tags={"skyddsnat/lager": "kalla"},
    )
    @privacy_safe
    def _source_asset(context: AssetExecutionContext, skyddsnat: Skyddsnat):
        as_of = skyddsnat.reference_date()
        findings = age_findings(skyddsnat, source, as_of)  # stops before any file is read
        dated = _files(skyddsnat.data().inbox, source, as_of)
        files = [p for _, p in dated]
        ingested = ingest_files(skyddsnat, source, files, as_of, cache=source in CACHED,
                                rows=source in SNAPSHOTS)
        table = ingested.table
        basis = Basis(source, as_of.isoformat(), rows=len(table))
        if files:
            basis.file = files[-1].name if len(files) == 1 else \
                f"{len(files)} filer: {files[0].name} … {files[-1].name}"
            basis.date = dated[-1][0].isoformat()
        if source in SNAPSHOTS and files:
            rule = skyddsnat.policy().kallor.kallor[source]
            last = last_accepted_rows(skyddsnat.data().state, source)
            volume = snapshot_volume_finding(source, rule, files[-1].name, len(table), last)
            findings += [volume] if volume else []
        meta = settle(context, skyddsnat, basis, findings)
        tally = Tally.of(ingested, len(table))
        yield Output(table, metadata={**tally.metadata(skyddsnat.policy().version), **meta})
        yield from tally.check_results(source)

    return _source_asset


SOURCE_ASSETS = [build_source_asset(s) for s in DESCRIPTIONS]
