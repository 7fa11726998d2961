"""Source assets' side of skyddsnat/ingest/freshness.py: stop, or warn and record the basis."""

from __future__ import annotations

from datetime import date

from dagster import Failure, MetadataValue

from pipelines.resources import Skyddsnat
from skyddsnat.ingest.freshness import Basis, Finding, age_finding, record, source_dates


def age_findings(skyddsnat: Skyddsnat, source: str, as_of: date,
                 partitioned: bool = False) -> list[Finding]:
    """Missing or stale against the reference date: stops here, before any file is read.

    For a partitioned source (attendance) the days already stored count too: the lists
    rest on them."""
    rule = skyddsnat.policy().kallor.kallor[source]
    dates = source_dates(skyddsnat.data(), skyddsnat.policy(), source, as_of, partitioned)
    breaks = skyddsnat.policy().franvaro.lov if partitioned else ()
    found = [f for f in [age_finding(source, rule, dates, as_of, breaks)] if f]
    stop_if_any(skyddsnat, Basis(source, as_of.isoformat()), found)
    return found


def stop_if_any(skyddsnat: Skyddsnat, basis: Basis, findings: list[Finding]) -> None:
    stops = [f.message for f in findings if f.stops]
    if stops:
        basis.status = "stoppad"
        record(skyddsnat.data().state, basis)
        raise Failure(description="; ".join(stops),
                      metadata={"kalla": basis.source, "avvikelse": "; ".join(stops)})


def settle(context, skyddsnat: Skyddsnat, basis: Basis, findings: list[Finding]) -> dict:
    """Stop on any `stoppa` finding; otherwise record the basis with its warnings.

    Returns the basis as asset metadata (file, date, rows, warnings)."""
    stop_if_any(skyddsnat, basis, findings)
    basis.warnings = [f.message for f in findings]
    basis.status = "varning" if findings else "ok"
    for message in basis.warnings:
        context.log.warning(message)
    record(skyddsnat.data().state, basis)
    meta: dict[str, object] = {"underlag_fil": basis.file or "-",
                               "underlag_datum": basis.date or "-",
                               "underlag_status": basis.status}
    if basis.warnings:
        meta["varningar"] = MetadataValue.text("\n".join(basis.warnings))
    return meta
