"""Absence per pupil (term to date, last 4 weeks), built incrementally, and the kommunbild.

The term state is kept settled through the day before the reference date: each night folds
only the days since, and the reference day itself is folded on top without being stored, so
re-running a night (or a corrected file for that day) gives exactly the same numbers. A past
day stored again after the state was folded (a corrected or late day file) rebuilds it.
The last-weeks window is kept the same way (assets/franvaro/window.py): a night reads the
new day and the days that fell out, not the four weeks.
"""

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AssetOut, Output, asset, multi_asset

from assets.constants import GROUP_FRANVARO
from assets.franvaro.days import day_before, read_between, rewritten_since, stored_days
from assets.franvaro.window import settled_window
from pipelines.privacy import privacy_safe
from pipelines.resources import Skyddsnat
from skyddsnat.delivery.data_basis import partial_months
from skyddsnat.ingest.caches import CACHE_DIR
from skyddsnat.rules.absence import (
    case_register_findings,
    classify,
    fold_days,
    metrics_from_state,
    metrics_from_window,
    needs_rebuild,
    pupil_metrics,
    recent_window,
    rektor_list,
    slide_window,
    term_start,
    with_findings,
)
from skyddsnat.rules.kommunbild import combine_month_sums, kommunbild, month_sums
from skyddsnat.rules.suppression import BlockMemo
from skyddsnat.rules.term_batches import fold_in_batches

STATE = "franvaro_tillstand"
MONTHS = "franvaro_manadssummor"


def _previous(data, name: str) -> pd.DataFrame | None:
    path = data.table(name)
    return pd.read_parquet(path) if path.exists() else None


def _corrected(data, days: list, state: pd.DataFrame) -> bool:
    held = pd.Timestamp(state["vikt_till"].max())
    return not pd.isna(held) and rewritten_since(data, days, held.date(), data.table(STATE))


MAX_WINDOW = 61  # a window's days are bits of one int64, the reference day included


@multi_asset(
    group_name=GROUP_FRANVARO,
    outs={
        STATE: AssetOut(io_manager_key="warehouse", kinds={"pandas"},
                        description="Terminens frånvaro per elev och skolenhet, summerad t.o.m. "
                                    "dagen före referensdagen (inkrementellt)."),
        MONTHS: AssetOut(io_manager_key="warehouse", kinds={"pandas"},
                         description="Schemalagda och frånvarande minuter per elev, skolenhet "
                                     "och månad, t.o.m. dagen före referensdagen."),
    },
    deps=["narvaro"],
)
@privacy_safe
def franvaro_tillstand(context: AssetExecutionContext, skyddsnat: Skyddsnat):
    data, policy, as_of = skyddsnat.data(), skyddsnat.policy(), skyddsnat.reference_date()
    settled = day_before(as_of)
    days = stored_days(data, as_of)
    start = term_start(as_of, days, policy.franvaro.terminer)
    state, months = _previous(data, STATE), _previous(data, MONTHS)
    rebuild = (state is None or months is None or needs_rebuild(state, start)
               or pd.Timestamp(state["vikt_till"].max()) > pd.Timestamp(settled)
               or _corrected(data, days, state))
    if rebuild:
        state, months = None, None
        first = start
    else:
        first = pd.Timestamp(state["vikt_till"].max()).date() + pd.Timedelta(days=1)
    wanted = [d for d in days if max(first, start) <= d <= settled]
    state, months, read = fold_in_batches(data, wanted, state, months, start, policy)
    meta = {"terminsstart": start.isoformat(), "omraknad": rebuild, "dagar_lasta": read}
    yield Output(state, output_name=STATE, metadata=meta)
    yield Output(months, output_name=MONTHS, metadata=meta)


@multi_asset(
    group_name=GROUP_FRANVARO,
    outs={
        "franvaro_elever": AssetOut(
            io_manager_key="warehouse", kinds={"pandas"},
            description="Elever med frånvaro på nivå uppmärksamma/oroande/hög (terminen eller "
                        "senaste 4 veckorna) eller ogiltig frånvaro ≥ 5 %, med utredningsplikt "
                        "och fynd mot ärenderegistret."),
        "franvaro_termin": AssetOut(
            io_manager_key="warehouse", kinds={"pandas"},
            description="Terminens frånvaromått för alla elever (underlag för åtgärdsprogram)."),
    },
    ins={STATE: AssetIn(), "elevregister": AssetIn(), "franvaroarenden": AssetIn()},
    deps=["narvaro"],
)
@privacy_safe
def franvaro_elever(context: AssetExecutionContext, skyddsnat: Skyddsnat,
                    franvaro_tillstand: pd.DataFrame, elevregister: pd.DataFrame,
                    franvaroarenden: pd.DataFrame):
    data, policy, as_of = skyddsnat.data(), skyddsnat.policy(), skyddsnat.reference_date()
    rules = policy.franvaro
    days = stored_days(data, as_of)
    start = term_start(as_of, days, rules.terminer)
    today = read_between(data, days, as_of, as_of, policy)
    term = classify(metrics_from_state(fold_days(franvaro_tillstand, today, start)), rules)
    first, last = recent_window(as_of, rules.senaste_dagar)
    length = (last - first).days  # the window's days before the reference day
    settled = (settled_window(data, days, day_before(as_of), length, policy)
               if 1 <= length <= MAX_WINDOW else None)
    window = (None if settled is None else
              slide_window(settled, day_before(as_of), as_of, length + 1, added=today,
                           length_before=length))
    if window is not None:
        recent = classify(metrics_from_window(window, length + 1), rules)
    else:  # a pupil with two rows at one school on one day: summed whole
        recent_days = read_between(data, days, first, last, policy)
        recent = classify(pupil_metrics(recent_days, first, last), rules)
    listed = rektor_list(term, recent, elevregister, as_of)
    register = franvaroarenden if len(franvaroarenden) else None
    listed = with_findings(listed, case_register_findings(listed, register, rules))
    # No counts per level here: they would include protected pupils.
    yield Output(listed, output_name="franvaro_elever",
                 metadata={"terminsstart": start.isoformat(), "policyversion": policy.version})
    yield Output(term, output_name="franvaro_termin")


@asset(
    group_name=GROUP_FRANVARO,
    description="Kommunbilden för nämnden: per skolenhet × årskurs × månad antal elever och "
                "antal med frånvaro ≥ 10/15/20 %, med primär och sekundär röjandekontroll.",
    io_manager_key="warehouse",
    ins={MONTHS: AssetIn(), "elevregister": AssetIn(), "skyddade": AssetIn()},
    deps=["narvaro"],
    kinds={"pandas"},
)
@privacy_safe
def kommunbild_tabell(context: AssetExecutionContext, skyddsnat: Skyddsnat,
                      franvaro_manadssummor: pd.DataFrame, elevregister: pd.DataFrame,
                      skyddade: pd.DataFrame) -> Output:
    data, policy, as_of = skyddsnat.data(), skyddsnat.policy(), skyddsnat.reference_date()
    days = stored_days(data, as_of)
    today = read_between(data, days, as_of, as_of, policy)
    sums = combine_month_sums(franvaro_manadssummor, month_sums(today))
    # A month of too few school days is left out before anything is counted or suppressed.
    partial = partial_months(days, policy.franvaro.kommunbild_minsta_skoldagar)
    sums = sums[~sums["manad"].isin(list(partial))].reset_index(drop=True)
    # Past months unchanged since last night keep their statuses (rules/suppression.py).
    memo = BlockMemo(data.warehouse / CACHE_DIR / "undertryckning" / "kommunbild_tabell.json")
    table = kommunbild(sums, elevregister, skyddade["person_id"], policy, memo=memo)
    memo.save()
    return Output(table, metadata={"rader": len(table), "k": policy.undertryckning.k,
                                   "ofullstandiga_manader": ", ".join(sorted(partial)) or "-",
                                   "policyversion": policy.version})
