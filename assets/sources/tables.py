"""The unpartitioned source assets: snapshots, invoices, incomes, grades, case register."""


from datetime import date
from pathlib import Path

from dagster import AssetExecutionContext, Failure, Output, asset

from assets.constants import GROUP_SOURCES
from assets.sources.ingest import Tally, ingest_files, source_check_specs
from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from skyddsnat.inbox import SNAPSHOTS, files_for, newest_snapshot
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
REQUIRED = {"folkbokforing", "elevregister"}
# Sources of many files that rarely change once written: each file is ingested once.
CACHED = {"avgifter", "inkomster", "betyg"}


def _files(inbox: Path, source: str, as_of: date) -> list[Path]:
    if source == "inkomster":
        refuse_future_income_files(inbox, as_of)
    if source in SNAPSHOTS:
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
        as_of = skyddsnat.reference_date()
        files = _files(skyddsnat.data().inbox, source, as_of)
        if not files and source in REQUIRED:
            raise Failure(description=f"ingen fil för {source} i inkorgen (på eller före {as_of})")
        ingested = ingest_files(skyddsnat, source, files, as_of, cache=source in CACHED,
                                rows=source in SNAPSHOTS)
        table = ingested.table
        tally = Tally.of(ingested, len(table))
        yield Output(table, metadata=tally.metadata(skyddsnat.policy().version))
        yield from tally.check_results(source)

    return _source_asset


SOURCE_ASSETS = [build_source_asset(s) for s in DESCRIPTIONS]
