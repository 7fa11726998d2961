"""The unpartitioned source assets: snapshots, invoices, incomes, grades, case register."""


import json
from collections import Counter
from datetime import date
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, Failure, Output, asset

from assets.constants import GROUP_SOURCES
from assets.sources.basis import age_findings, settle
from assets.sources.ingest import CACHE_DIR, Tally, ingest_files, source_check_specs
from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from skyddsnat.ingest.catalog import SourceEntry, entry
from skyddsnat.ingest.freshness import Basis, last_accepted_rows, snapshot_volume_finding
from skyddsnat.ingest.inbox import files_for, newest_snapshot
from skyddsnat.ingest.inbox_cleanup import removed, removed_dates
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
ACCOUNT = "konto.json"  # a snapshot source's last ingested file and its row counts


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
        as_of, data = skyddsnat.reference_date(), skyddsnat.data()
        spec = entry(skyddsnat.policy(), source)
        findings = age_findings(skyddsnat, source, as_of)  # stops before any file is read
        files = _files(data.inbox, spec, as_of)
        gone = removed(data, source, as_of) if spec.snapshot else []
        account = data.warehouse / CACHE_DIR / source / ACCOUNT
        if not files and gone and data.table(source).exists() and account.exists():
            # The night's snapshot was processed, archived and removed (inbox_cleanup.py):
            # the source rests on the table stored from it, with that file's accounting.
            kept = json.loads(account.read_text(encoding="utf-8"))
            if kept["file"] == gone[-1]:
                context.log.info(f"{source} vilar på {gone[-1]} (behandlad, borttagen ur "
                                 "inkorgen)")
                tally = Tally(source, skyddsnat.policy(), [kept["file"]], kept["read"],
                              kept["accepted"], kept["quarantined"], kept["accepted"],
                              Counter(kept["reasons"]))
                basis = Basis(source, as_of.isoformat(), gone[-1],
                              removed_dates(data, source)[gone[-1]].isoformat(),
                              kept["accepted"])
                meta = settle(context, skyddsnat, basis, findings)
                yield Output(pd.read_parquet(data.table(source)), metadata={
                    **tally.metadata(skyddsnat.policy().version), "vilar_pa": gone[-1],
                    **meta})
                yield from tally.check_results(source)
                return
        if not files and not spec.valfri and not findings:
            raise Failure(description=f"ingen fil för {source} i inkorgen (på eller före {as_of})")
        # A snapshot is ingested row-incrementally against last night's; period files, which
        # rarely change once written, once per content.
        ingested = ingest_files(skyddsnat, source, files, as_of, cache=not spec.snapshot,
                                rows=spec.snapshot)
        table = ingested.table
        basis = Basis(source, as_of.isoformat(), rows=len(table))
        if files:
            basis.file = files[-1].name if len(files) == 1 else \
                f"{len(files)} filer: {files[0].name} … {files[-1].name}"
            basis.date = max(d for d, p in files_for(data.inbox, spec, as_of)
                             if p in files).isoformat()
        if spec.snapshot and files:
            rule = skyddsnat.policy().kallor.kallor[source]
            last = last_accepted_rows(data.state, source)
            volume = snapshot_volume_finding(source, rule, files[-1].name, len(table), last)
            findings += [volume] if volume else []
        meta = settle(context, skyddsnat, basis, findings)
        tally = Tally.of(ingested, len(table))
        if spec.snapshot and ingested.results:
            # What a night resting on this file after it left the inbox will account for.
            account.parent.mkdir(parents=True, exist_ok=True)
            account.write_text(json.dumps({
                "file": tally.files[-1], "read": tally.read, "accepted": tally.accepted,
                "quarantined": tally.quarantined, "reasons": dict(tally.reasons)}),
                encoding="utf-8")
        yield Output(table, metadata={**tally.metadata(skyddsnat.policy().version), **meta})
        yield from tally.check_results(source)

    return _source_asset


SOURCE_ASSETS = [build_source_asset(s) for s in DESCRIPTIONS]
