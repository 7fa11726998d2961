"""The unpartitioned source assets: snapshots, invoices, incomes, grades, case register."""


from datetime import date
from pathlib import Path

from dagster import AssetExecutionContext, Failure, Output, asset

from assets.constants import GROUP_SOURCES
from assets.sources.ingest import Tally, ingest_files, source_check_specs
from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from skyddsnat.ingest.catalog import SourceEntry, entry
from skyddsnat.ingest.inbox import files_for, newest_snapshot
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


def _files(inbox: Path, source: SourceEntry, as_of: date) -> list[Path]:
    """A snapshot's newest file on or before the reference date, or every period file."""
    if source.name == "inkomster":
        refuse_future_income_files(inbox, source, as_of)
    if source.snapshot:
        newest = newest_snapshot(inbox, source, as_of)
        return [newest] if newest else []
    return [p for _, p in files_for(inbox, source, as_of)]


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
        as_of, spec = skyddsnat.reference_date(), entry(skyddsnat.policy(), source)
        files = _files(skyddsnat.data().inbox, spec, as_of)
        if not files and not spec.valfri:
            raise Failure(description=f"ingen fil för {source} i inkorgen (på eller före {as_of})")
        # A snapshot is ingested row-incrementally against last night's; period files, which
        # rarely change once written, once per content.
        ingested = ingest_files(skyddsnat, source, files, as_of, cache=not spec.snapshot,
                                rows=spec.snapshot)
        table = ingested.table
        tally = Tally.of(ingested, len(table))
        yield Output(table, metadata=tally.metadata(skyddsnat.policy().version))
        yield from tally.check_results(source)

    return _source_asset


SOURCE_ASSETS = [build_source_asset(s) for s in DESCRIPTIONS]
