"""A computing asset keeps last night's result when nothing that decides it has changed.

The decision is made inside the asset, from the fingerprint recorded beside its outputs in
the warehouse (`skyddsnat.privacy.provenance`): it works the same in `skyddsnat run` (in process,
with an ephemeral, fresh or persistent instance) and under the daemon, where Dagster's
own staleness is only as good as the instance's history. Dagster is told in its own terms:
the asset's `code_version` is the code digest, and each output's `DataVersion` is the
fingerprint of its inputs — so the UI shows a kept result as unchanged, and a changed input
or code as stale.

A kept output is yielded as `None`, which the warehouse IO manager does not write: the
stored file stays byte for byte what the record vouches for. Its upstream steps still ran
this night — their freshness and row checks passed, or this step would not run at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pandas as pd
from dagster import AssetExecutionContext, DataVersion, Output

from pipelines.resources import Skyddsnat
from skyddsnat.privacy.provenance import (
    code_digest,
    fingerprint,
    forget,
    key_epoch,
    remember,
    reusable,
    table_digest,
)

CODE_VERSION = code_digest()
KEPT = "återanvänd: indata oförändrade"


def night_fingerprint(skyddsnat: Skyddsnat, inputs: list[str], date_part: str = "") -> str:
    """Input tables, code, policy (with the run's kommunkod), pseudonym key and the part of
    the reference date the rule depends on ("" for a rule that never looks at it)."""
    data, policy = skyddsnat.data(), skyddsnat.policy()
    parts = {f"tabell:{name}": table_digest(data.table(name)) for name in inputs}
    parts.update(kod=CODE_VERSION, policy=policy.version, kommunkod=policy.skolplikt.kommunkod,
                 nyckel=key_epoch(skyddsnat.key_material().pseudonym_key), datum=date_part)
    return fingerprint(parts)


def kept_or_computed(context: AssetExecutionContext, skyddsnat: Skyddsnat, asset: str,
                     outputs: list[str], inputs: list[str],
                     compute: Callable[[], dict[str, tuple[pd.DataFrame, dict]]],
                     date_part: str = "", single: bool = False) -> Iterator[Output]:
    """Yield every output of `asset`: kept when its fingerprint and files are unchanged
    (and the run does not ask to recompute), else computed by `compute` — which returns
    each output's table and metadata — and the new fingerprint recorded after they are
    stored. `single`: a one-output @asset (its output is Dagster's "result")."""
    data = skyddsnat.data()
    paths = {name: data.table(name) for name in outputs}
    print_ = night_fingerprint(skyddsnat, inputs, date_part)
    version = DataVersion(print_)
    shown = {"fingeravtryck": print_, **({"datumdel": date_part} if date_part else {})}
    if not skyddsnat.omrakna and reusable(data.warehouse, asset, print_, paths):
        context.log.info(f"{asset}: {KEPT}")
        for name in outputs:
            yield Output(None, output_name="result" if single else name, data_version=version,
                         metadata={"återanvänd": KEPT, **shown,
                                   "policyversion": skyddsnat.policy().version})
        return
    forget(data.warehouse, asset)
    results = compute()
    for name in outputs:
        table, meta = results[name]
        yield Output(table, output_name="result" if single else name, data_version=version,
                     metadata={**meta, "återanvänd": "nej: beräknad", **shown})
    # Every output has been handed to the IO manager (Dagster stores each as it is yielded).
    remember(data.warehouse, asset, print_, paths)
