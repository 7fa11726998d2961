"""Every key of policies/ binds: changed in a copy of the YAML, it changes what the code does.

`BOUND` maps each key of the policy model (a path; `*` stands for a name the privacy
officer chooses: a source, a column, a role, a list) to the tests that change that key in a
copy of policies/ and observe its effect, through the rule that reads it or, end to end,
through `skyddsnat run --policy-dir`. `test_every_key_is_bound` fails when a key is added to
the policy without such a test, or a named test disappears. Keys whose only sound effect is
a refusal (they guard what may be done) are bound to `policy check` tests.
"""

from __future__ import annotations

import ast
import shutil
import types
import typing
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pydantic import BaseModel

from skyddsnat.delivery.policy_explain import explain_markdown
from skyddsnat.policy import SHIPPED_POLICY_DIR, Policy, PolicyError, load_policy
from skyddsnat.rules.absence import classify, pupil_metrics, recent_window, term_start
from skyddsnat.rules.income_check import income_check
from skyddsnat.rules.school_duty import find_exceptions, skolpliktiga
from tests import test_absence as absence_t
from tests import test_income_check as income_t
from tests import test_school_duty as duty_t

TESTS = Path(__file__).resolve().parent
PB, PK = "test_policy_binding.py", "test_policy_keys.py"
FR = "test_freshness.py"

BOUND: dict[str, list[str]] = {
    "klassning.*.*.klass": [f"{PK}::test_klass_limits_the_treatment"],
    "klassning.*.*.behandling": [f"{PK}::test_behandling_decides_what_is_stored",
                                 f"{PK}::test_behandling_refuses_what_the_rules_need"],
    "kallor.kallor.*.fil": [f"{PK}::test_fil_is_the_inbox_pattern"],
    "kallor.kallor.*.typ": [f"{PK}::test_typ_decides_snapshot_or_period_files"],
    "kallor.kallor.*.nyckel": [f"{PK}::test_nyckel_decides_duplicates"],
    "kallor.kallor.*.valfri": [f"{PK}::test_valfri_decides_whether_absence_stops"],
    "kallor.alias.*": [f"{PK}::test_alias_maps_a_vendor_column"],
    "maxtaxa.efterdebitering_obekraftad_taxa": [
        "test_income_check.py::"
        "test_an_unconfirmed_period_marks_the_household_and_holds_its_efterdebitering"],
    "franvaro.kommunbild_minsta_skoldagar": [
        "test_data_basis.py::test_a_month_of_one_school_day_is_left_out_of_the_board_and_said_so"],
    "kallor.kallor.*.max_alder_dagar": [
        f"{FR}::test_a_feed_is_stale_exactly_when_its_newest_usable_date_is_older_than_allowed",
        f"{FR}::test_policy_refuses_a_maximum_age_on_a_period_file",
        f"{FR}::test_the_register_of_processing_states_each_sources_freshness_rule"],
    "kallor.kallor.*.vid_avvikelse": [
        f"{FR}::test_vid_avvikelse_varna_turns_a_stop_into_a_warning",
        f"{FR}::test_varna_delivers_with_the_warning_on_every_affected_summary_sheet"],
    "kallor.kallor.*.min_rader": [f"{FR}::test_min_rader_refuses_a_header_only_snapshot"],
    "kallor.kallor.*.max_minskning_andel": [
        f"{FR}::test_a_snapshot_may_fall_by_at_most_the_policy_share"],
    "kallor.kallor.*.min_andel_elever": [
        f"{FR}::test_a_day_file_with_far_fewer_pupils_than_the_days_before_is_a_finding"],
    "kallor.kallor.*.jamforelsedagar": [
        f"{FR}::test_a_day_file_with_far_fewer_pupils_than_the_days_before_is_a_finding"],
    "mottagare.roller.*.beskrivning": [f"{PK}::test_role_texts_reach_the_register"],
    "mottagare.roller.*.identitet": [f"{PB}::test_widening_beyond_the_roles_ceiling_is_refused"],
    "mottagare.roller.*.andamal": [f"{PK}::test_role_texts_reach_the_register"],
    "mottagare.roller.*.rattslig_grund": [f"{PK}::test_role_texts_reach_the_register"],
    "mottagare.roller.*.forseglad": [f"{PK}::test_forseglad_guards_addresses"],
    "mottagare.listor.*.mottagare": [f"{PB}::test_moved_list_lands_under_its_new_role"],
    "mottagare.listor.*.identitet": [f"{PB}::test_narrowed_identity_drops_the_column"],
    "mottagare.listor.*.per_skolenhet": [
        f"{PB}::test_per_skolenhet_false_gives_one_list_naming_each_school"],
    "mottagare.listor.*.per_ar": [f"{PB}::test_per_ar_false_gives_one_income_list"],
    "mottagare.forseglad_mottagare": [f"{PK}::test_forseglad_mottagare_is_the_sealed_role"],
    "skydd.markeringar": [f"{PK}::test_markeringar_and_spridning_decide_who_is_protected"],
    "skydd.spridning": [f"{PK}::test_markeringar_and_spridning_decide_who_is_protected"],
    "undertryckning.k": [f"{PK}::test_k_and_symbol_decide_the_board"],
    "undertryckning.komplement": [
        "test_kommunbild.py::test_policy_komplement_decides_group_disclosure"],
    "undertryckning.minsta_bas_andel": [f"{PK}::test_minsta_bas_andel_decides_ratios"],
    "undertryckning.symbol": [f"{PK}::test_k_and_symbol_decide_the_board"],
    "gallring.arkiv_dagar": [f"{PK}::test_retention_days_decide_the_purges"],
    "gallring.arkiv_forvarare": [
        "test_policy.py::test_archive_custodian_must_be_a_sealed_role_with_a_key"],
    "gallring.arkiv_nyckel": ["test_archive.py::test_policy_names_the_custodian_key"],
    "gallring.utkorg_dagar": [f"{PK}::test_retention_days_decide_the_purges"],
    "gallring.revisionslogg_ar": [f"{PK}::test_retention_texts_reach_the_register"],
    "gallring.valv_dagar": ["test_vault_retention.py::test_a_longer_retention_keeps_them",
                            "test_policy.py::test_list_retention_keys_are_checked_and_explained"],
    "gallring.listor_dagar": [
        "test_outbox.py::test_person_lists_leave_the_outbox_after_their_kind_s_retention",
        "test_policy.py::test_list_retention_keys_are_checked_and_explained"],
    "gallring.listor_dagar_standard": [
        "test_outbox.py::test_person_lists_leave_the_outbox_after_their_kind_s_retention",
        "test_policy.py::test_list_retention_keys_are_checked_and_explained"],
    "gallring.hanteringsanvisning": [f"{PK}::test_retention_texts_reach_the_register"],
    "gallring.inkorg_rensas": [
        "test_inbox_cleanup.py::test_the_policy_decides_whether_the_inbox_is_cleaned"],
    "skolplikt.kommunkod": [f"{PK}::test_skolplikt_keys_decide_the_exceptions"],
    "skolplikt.grace_days": [f"{PK}::test_skolplikt_keys_decide_the_exceptions"],
    "skolplikt.skolformer_som_uppfyller": [f"{PK}::test_skolplikt_keys_decide_the_exceptions"],
    "skolplikt.beslut_som_uppfyller": [f"{PK}::test_skolplikt_keys_decide_the_exceptions"],
    "skolplikt.forskoleklass_avskaffas_lasar": [f"{PK}::test_reform_year_relabels_grades"],
    "franvaro.nivaer": [f"{PK}::test_absence_levels_follow_the_policy"],
    "franvaro.hog_sammanhangande_dagar": [f"{PK}::test_absence_levels_follow_the_policy"],
    "franvaro.ogiltig_flagga_procent": [f"{PK}::test_absence_levels_follow_the_policy"],
    "franvaro.senaste_dagar": [f"{PK}::test_absence_windows_follow_the_policy"],
    "franvaro.terminer": [f"{PK}::test_absence_windows_follow_the_policy"],
    "franvaro.lov[].fran": ["test_freshness.py::test_a_week_of_sportlov_does_not_stop_the_night"],
    "franvaro.lov[].till": ["test_freshness.py::test_a_week_of_sportlov_does_not_stop_the_night"],
    "franvaro.trappa_anmalan_steg": [f"{PK}::test_anmalan_step_follows_the_policy"],
    "franvaro.streck_franvaro_procent": [f"{PK}::test_streck_threshold_follows_the_policy"],
    "maxtaxa.tolerans_kr_per_ar": [f"{PK}::test_fee_keys_decide_the_income_check"],
    "maxtaxa.signaler.faktor": [f"{PK}::test_signal_keys_decide_the_signals"],
    "maxtaxa.signaler.marginal_kr_per_manad": [f"{PK}::test_signal_keys_decide_the_signals"],
    "maxtaxa.perioder[].fran": [f"{PK}::test_period_bounds_decide_coverage"],
    "maxtaxa.perioder[].till": [f"{PK}::test_period_bounds_decide_coverage"],
    "maxtaxa.perioder[].inkomsttak": [f"{PK}::test_fee_keys_decide_the_income_check"],
    "maxtaxa.perioder[].avdrag": [f"{PK}::test_fee_keys_decide_the_income_check"],
    "maxtaxa.perioder[].bekraftad": [f"{PK}::test_bekraftad_reaches_the_summary"],
    "maxtaxa.perioder[].procent": [f"{PK}::test_fee_keys_decide_the_income_check"],
    "maxtaxa.perioder[].tak": [f"{PK}::test_fee_keys_decide_the_income_check"],
}


def model_keys(annotation=Policy, prefix: str = "") -> list[str]:
    """Every key of the policy model as a path (what BOUND must cover)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [k for name, f in annotation.model_fields.items() if name != "version"
                for k in model_keys(f.annotation, f"{prefix}.{name}" if prefix else name)]
    if origin in (typing.Union, types.UnionType):
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        return model_keys(models[0], prefix) if models else [prefix]
    if origin is dict and args:
        key, value = args
        nested = (isinstance(value, type) and issubclass(value, BaseModel)) \
            or typing.get_origin(value) is dict
        if typing.get_origin(key) is typing.Literal or not nested:
            return [prefix]
        return model_keys(value, prefix + ".*")
    if origin is list and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return model_keys(args[0], prefix + "[]")
    return [prefix]


def _test_names(file: str) -> set[str]:
    tree = ast.parse((TESTS / file).read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def test_every_key_is_bound():
    keys = model_keys()
    assert "franvaro.nivaer" in keys and "kallor.kallor.*.fil" in keys
    unbound = [k for k in keys if k not in BOUND]
    assert not unbound, f"keys without a binding test: {unbound}"
    assert not set(BOUND) - set(keys), "BOUND names keys the policy no longer has"
    for key, tests in BOUND.items():
        for node in tests:
            file, name = node.split("::")
            assert name in _test_names(file), f"{key}: {node} does not exist"


# --- a changed copy of policies/ ------------------------------------------------------------

def changed(tmp_path: Path, fname: str | dict, change=None, name: str = "p") -> Policy:
    """policies/ copied to tmp_path/name with `change(doc)` applied to `fname` (or, with a
    dict, each file's change), loaded."""
    target = tmp_path / name
    shutil.copytree(SHIPPED_POLICY_DIR, target)
    for file, edit in (fname if isinstance(fname, dict) else {fname: change}).items():
        path = target / file
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        edit(doc)
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
    return load_policy(target)


def refused(tmp_path: Path, fname: str, change) -> set[tuple[str, str]]:
    with pytest.raises(PolicyError) as info:
        changed(tmp_path, fname, change)
    return {(f, k) for f, k, _ in info.value.problems}


SHIPPED = load_policy(SHIPPED_POLICY_DIR)


def _set(path: str, value):
    def change(doc):
        *head, last = path.split(".")
        for part in head:
            doc = doc[part]
        doc[last] = value
    return change


# --- skolplikt ------------------------------------------------------------------------------

def test_skolplikt_keys_decide_the_exceptions(tmp_path):
    as_of = duty_t.AS_OF
    kids = [duty_t.child(1), duty_t.child(2, folkbokford_datum=as_of - pd.Timedelta(days=10)),
            duty_t.child(3), duty_t.child(4)]
    plac = [{"person_id": duty_t.pid(3), "skolform": "GR"}]
    bes = [{"person_id": duty_t.pid(4), "beslutstyp": "utlandsvistelse"}]

    def reasons(policy: Policy) -> dict:
        out = find_exceptions(duty_t.personer(kids), duty_t.placeringar(plac),
                              duty_t.beslut(bes), as_of, policy.skolplikt)
        return dict(zip(out["person_id"], out["orsak"], strict=True))

    base = reasons(SHIPPED)
    assert base == {duty_t.pid(1): "okand", duty_t.pid(2): "nyinflyttad"}
    other = reasons(changed(tmp_path, "skolplikt.yaml", _set("kommunkod", "0180"), "a"))
    assert other == {}
    short = reasons(changed(tmp_path, "skolplikt.yaml", _set("grace_days", 5), "b"))
    assert short[duty_t.pid(2)] == "okand"
    no_gr = reasons(changed(tmp_path, "skolplikt.yaml",
                            _set("skolformer_som_uppfyller", ["FK", "GRAN", "SPEC", "SAM"]), "c"))
    assert no_gr[duty_t.pid(3)] == "okand"
    no_abroad = reasons(changed(tmp_path, "skolplikt.yaml", _set(
        "beslut_som_uppfyller", ["annat_satt", "uppskjuten_skolplikt", "skolplikt_upphord"]),
        "d"))
    assert no_abroad[duty_t.pid(4)] == "okand"


def test_reform_year_relabels_grades(tmp_path):
    pers = duty_t.personer([duty_t.child(1, born=date(2019, 5, 5))])  # FK in läsår 2025/26
    shipped = skolpliktiga(pers, duty_t.AS_OF, SHIPPED.skolplikt)["forvantad_arskurs"]
    early = changed(tmp_path, "skolplikt.yaml", _set("forskoleklass_avskaffas_lasar", 2025))
    assert list(shipped) == ["FK"]
    assert list(skolpliktiga(pers, duty_t.AS_OF, early.skolplikt)["forvantad_arskurs"]) == ["1"]


# --- frånvaro -------------------------------------------------------------------------------

def test_absence_levels_follow_the_policy(tmp_path):
    start, end = date(2025, 8, 1), date(2025, 12, 31)

    def level(policy: Policy, total: int, invalid: int = 0) -> tuple[str, bool]:
        m = classify(pupil_metrics(absence_t.one_pupil(total, invalid), start, end),
                     policy.franvaro)
        return str(m["niva"].iloc[0]), bool(m["ogiltig_flagga"].iloc[0])

    assert level(SHIPPED, 2_500) == ("hog", False)
    raised = changed(tmp_path, "franvaro.yaml", _set("nivaer", {
        "uppmarksamma": 10, "oroande": 15, "hog": 30}), "a")
    assert level(raised, 2_500) == ("oroande", False)
    assert level(SHIPPED, 1_000, invalid=400) == ("uppmarksamma", False)
    flag = changed(tmp_path, "franvaro.yaml", _set("ogiltig_flagga_procent", 4), "b")
    assert level(flag, 1_000, invalid=400) == ("uppmarksamma", True)
    t = absence_t
    present = [date(2025, 9, 15) + pd.Timedelta(days=i) for i in range(60)]
    run = t.rows(t.week([t.MON, t.TUE, t.WED, t.THU2]) + t.week(
        present, full=False))  # four full days in a row, then 60 present
    four = changed(tmp_path, "franvaro.yaml", _set("hog_sammanhangande_dagar", 4), "c")
    niva = [classify(pupil_metrics(run, start, end), p.franvaro)["niva"].iloc[0]
            for p in (SHIPPED, four)]
    assert niva[0] != "hog" and niva[1] == "hog"


def test_absence_windows_follow_the_policy(tmp_path):
    as_of = date(2025, 10, 15)
    assert recent_window(as_of, SHIPPED.franvaro.senaste_dagar)[0] == date(2025, 9, 17)
    two_weeks = changed(tmp_path, "franvaro.yaml", _set("senaste_dagar", 14), "a")
    assert recent_window(as_of, two_weeks.franvaro.senaste_dagar)[0] == date(2025, 10, 1)
    days = [date(2025, 8, 18), date(2025, 8, 19)]
    assert term_start(as_of, days, SHIPPED.franvaro.terminer) == date(2025, 8, 18)
    fixed = changed(tmp_path, "franvaro.yaml", _set("terminer", {"HT2025": "2025-08-25"}), "b")
    assert term_start(as_of, days, fixed.franvaro.terminer) == date(2025, 8, 25)


def test_anmalan_step_follows_the_policy(tmp_path):
    from skyddsnat.rules.absence import case_register_findings

    listed = pd.DataFrame({"person_id": pd.Series(["a" * 32], dtype="string"),
                           "skolenhetskod": pd.Series(["12345678"], dtype="string"),
                           "niva": pd.Series(["oroande"], dtype="string"),
                           "niva_4v": pd.Series([""], dtype="string")})
    register = pd.DataFrame({"person_id": pd.Series(["a" * 32], dtype="string"),
                             "steg": pd.array([4], dtype="Int64")})
    four = changed(tmp_path, "franvaro.yaml", _set("trappa_anmalan_steg", 4))
    assert case_register_findings(listed, register, SHIPPED.franvaro).empty
    found = case_register_findings(listed, register, four.franvaro)
    assert list(found["fynd"]) == ["anmalan_till_huvudman"]


def test_streck_threshold_follows_the_policy(tmp_path):
    from skyddsnat.rules.action_programmes import pupil_summary

    betyg = pd.DataFrame({"person_id": pd.Series(["a" * 32], dtype="string"),
                          "skolenhetskod": pd.Series(["12345678"], dtype="string"),
                          "termin": pd.Series(["HT2025"], dtype="string"),
                          "arskurs": pd.array([8], dtype="Int64"),
                          "amne": pd.Series(["MA"], dtype="string"),
                          "betyg": pd.Series(["-"], dtype="string")})
    programmes = pd.DataFrame({c: pd.Series(dtype="string") for c in
                               ("person_id", "skolenhetskod")}).assign(
        beslutsdatum=pd.Series(dtype="datetime64[ns]"),
        avslutad_datum=pd.Series(dtype="datetime64[ns]"))
    absence = betyg[["person_id", "skolenhetskod"]].assign(franvaro_procent=12.0)
    low = changed(tmp_path, "franvaro.yaml", _set("streck_franvaro_procent", 10))
    flags = [bool(pupil_summary(betyg, programmes, "HT2025", absence,
                                p.franvaro.streck_franvaro_procent)["streck_och_franvaro"][0])
             for p in (SHIPPED, low)]
    assert flags == [False, True]


# --- maxtaxa --------------------------------------------------------------------------------

def _income(policy: Policy, billed: int = 900, income: int = 360_000) -> dict:
    result = income_check(income_t.avgifter(income_t.year_of(billed)),
                          income_t.inkomster({income_t.PAYER: income}), 2024, policy.maxtaxa)
    return income_t.one_household(result)


def _period_2024(change):
    def edit(doc):
        period = next(p for p in doc["perioder"] if p["fran"] == "2024-01")
        change(period)
    return edit


def test_fee_keys_decide_the_income_check(tmp_path):
    assert _income(SHIPPED, billed=850)["atgard"] == "inom_tolerans"  # 600 kr over the year
    strict = changed(tmp_path, "maxtaxa.yaml", _set("tolerans_kr_per_ar", 500), "a")
    assert _income(strict, billed=850)["atgard"] == "efterdebitering"
    base = _income(SHIPPED)["korrekt_avgift"]
    for name, change in {
        "b": lambda p: p.update(procent={**p["procent"], "forskola": [2, 2, 1]}),
        "c": lambda p: p.update(avdrag=10_000),
        "d": lambda p: p.update(inkomsttak=20_000),
        "e": lambda p: p.update(tak={**p["tak"], "forskola": [500, 500, 500]}),
    }.items():
        policy = changed(tmp_path, "maxtaxa.yaml", _period_2024(change), name)
        assert _income(policy)["korrekt_avgift"] < base, name


def test_period_bounds_decide_coverage(tmp_path):
    from skyddsnat.rules.maxtaxa import UncoveredMonth

    late = changed(tmp_path, "maxtaxa.yaml", _period_2024(lambda p: p.update(fran="2024-02")),
                   "a")
    with pytest.raises(UncoveredMonth):
        _income(late)
    early = changed(tmp_path, "maxtaxa.yaml", _period_2024(lambda p: p.update(till="2024-11")),
                    "b")
    with pytest.raises(UncoveredMonth):
        _income(early)


def test_bekraftad_reaches_the_summary(tmp_path):
    result = income_check(income_t.avgifter(income_t.year_of(900)),
                          income_t.inkomster({income_t.PAYER: 360_000}), 2024, SHIPPED.maxtaxa)
    unconfirmed = changed(tmp_path, "maxtaxa.yaml",
                          _period_2024(lambda p: p.update(bekraftad=False)))
    other = income_check(income_t.avgifter(income_t.year_of(900)),
                         income_t.inkomster({income_t.PAYER: 360_000}), 2024,
                         unconfirmed.maxtaxa)
    assert result.summary != other.summary
    assert {k: v for k, v in result.summary.items() if "bekr" in k} != \
        {k: v for k, v in other.summary.items() if "bekr" in k}


def test_signal_keys_decide_the_signals(tmp_path):
    from skyddsnat.rules.fee_signals import billed_signals
    from skyddsnat.rules.income_check import billed_in_year

    billed = billed_in_year(income_t.avgifter(income_t.year_of(900, anmald=20_000)), 2024)
    incomes = income_t.inkomster({income_t.PAYER: 400_000})  # 33 333 a month

    def signals(policy: Policy) -> int:
        s = policy.maxtaxa.signaler
        return len(billed_signals(billed, incomes, s.faktor, s.marginal_kr_per_manad))

    assert signals(SHIPPED) == 1
    assert signals(changed(tmp_path, "maxtaxa.yaml", _set("signaler", {
        "faktor": 2.0, "marginal_kr_per_manad": 10_000}), "a")) == 0
    assert signals(changed(tmp_path, "maxtaxa.yaml", _set("signaler", {
        "faktor": 1.5, "marginal_kr_per_manad": 15_000}), "b")) == 0


# --- suppression ----------------------------------------------------------------------------

def test_k_and_symbol_decide_the_board(tmp_path):
    from skyddsnat.rules.disclosure_audit import audit
    from skyddsnat.rules.kommunbild import STRUCTURE, kommunbild
    from skyddsnat.rules.suppression import split_status
    from tests.test_kommunbild import town

    sums, pl = town(seed=3)
    counts = ["antal_elever", "antal_10", "antal_15", "antal_20"]

    def board(policy):
        return split_status(kommunbild(sums, pl, set(), policy))[0]

    low = board(SHIPPED)
    high_policy = changed(tmp_path, "undertryckning.yaml", _set("k", 9), "a")
    high = board(high_policy)
    hidden = [int((t[counts] == "..").to_numpy().sum()) for t in (low, high)]
    assert hidden[1] > hidden[0]
    assert audit(high, STRUCTURE, 9, "..").passed
    star = board(changed(tmp_path, "undertryckning.yaml", _set("symbol", "*"), "b"))
    assert (star[counts] == "*").to_numpy().sum() == hidden[0]
    assert not (star[counts] == "..").to_numpy().any()


def test_minsta_bas_andel_decides_ratios(tmp_path):
    from skyddsnat.lists.charts import page_figures
    from skyddsnat.rules.kommunbild import kommunbild
    from skyddsnat.rules.suppression import split_status
    from tests.test_kommunbild import town

    sums, pl = town(seed=4)
    table = split_status(kommunbild(sums, pl, set(), SHIPPED))[0]
    shown = page_figures(table, SHIPPED.undertryckning.minsta_bas_andel)
    big = changed(tmp_path, "undertryckning.yaml", _set("minsta_bas_andel", 1000))
    hidden = page_figures(table, big.undertryckning.minsta_bas_andel)
    shares = lambda f: f[f["bas"] == "antal_elever"]["varde"]  # noqa: E731
    assert shares(shown).notna().any()
    assert shares(hidden).isna().all()


# --- gallring -------------------------------------------------------------------------------

def test_retention_days_decide_the_purges(tmp_path):
    from skyddsnat.delivery.outbox import purge as purge_outbox
    from skyddsnat.privacy.archive import purge as purge_archive

    as_of = date(2026, 6, 1)
    short = changed(tmp_path, "gallring.yaml", lambda d: d.update(arkiv_dagar=10,
                                                                 utkorg_dagar=30))
    for policy, expect in ((SHIPPED, []), (short, ["2026-05-01"])):
        root = tmp_path / f"d{len(expect)}"
        (root / "archive" / "2026-05-01").mkdir(parents=True)
        (root / "outbox" / ".deliveries" / "2026-05-01-abc").mkdir(parents=True)
        (root / "outbox" / "2026-05-01").symlink_to(Path(".deliveries") / "2026-05-01-abc")
        assert purge_archive(root / "archive", as_of, policy.gallring.arkiv_dagar) == expect
        assert purge_outbox(root / "outbox", as_of, policy.gallring.utkorg_dagar) == expect


def test_retention_texts_reach_the_register(tmp_path):
    policy = changed(tmp_path, "gallring.yaml", lambda d: d.update(
        revisionslogg_ar=17, hanteringsanvisning="Kanariehantering: lås in listan."))
    text = explain_markdown(policy)
    assert "17 år" in text and "Kanariehantering: lås in listan." in text
    from skyddsnat.lists.catalog import list_spec
    from skyddsnat.lists.excel import build_summary

    rows = pd.DataFrame({"status": pd.Series(dtype="string")})
    summary = build_summary(list_spec("skolplikt", policy=policy), policy, date(2026, 1, 5),
                            rows)
    assert "Kanariehantering: lås in listan." in [str(v) for v in summary.values()]


# --- mottagare ------------------------------------------------------------------------------

def test_role_texts_reach_the_register(tmp_path):
    def change(doc):
        role = doc["roller"]["rektor"]
        role.update(beskrivning="Kanarierektor", andamal="Kanariesyfte",
                    rattslig_grund="Kanarielag 1 §")

    policy = changed(tmp_path, "mottagare.yaml", change)
    text = explain_markdown(policy)
    for canary in ("Kanarierektor", "Kanariesyfte", "Kanarielag 1 §"):
        assert canary in text
    from skyddsnat.lists.catalog import list_spec
    from skyddsnat.lists.excel import build_summary

    rows = pd.DataFrame({"status": pd.Series(dtype="string")})
    summary = build_summary(list_spec("franvaro", "12345678", policy=policy), policy,
                            date(2026, 1, 5), rows)
    values = [str(v) for v in summary.values()]
    assert "Kanarierektor" in values and "Kanariesyfte" in values


def test_forseglad_guards_addresses(tmp_path):
    def change(doc):
        doc["roller"]["skyddsbehorig"]["forseglad"] = False

    keys = refused(tmp_path, "mottagare.yaml", change)
    assert ("mottagare.yaml", "roller.skyddsbehorig.identitet") in keys
    assert ("mottagare.yaml", "forseglad_mottagare") in keys


def test_forseglad_mottagare_is_the_sealed_role(tmp_path):
    from skyddsnat.lists.catalog import ListCatalog

    def change(doc):
        doc["roller"]["registrator"] = {**doc["roller"]["skyddsbehorig"],
                                        "identitet": ["personnummer", "fornamn", "efternamn"]}
        doc["forseglad_mottagare"] = "registrator"

    policy = changed(tmp_path, {"mottagare.yaml": change,
                                "gallring.yaml": _set("arkiv_forvarare", "registrator")})
    assert ListCatalog(SHIPPED).sealed("skolplikt").role == "skyddsbehorig"
    sealed = ListCatalog(policy).sealed("skolplikt")
    assert sealed.role == "registrator"
    from skyddsnat.lists.reidentify import officer_fields

    assert officer_fields(policy) == ["personnummer", "fornamn", "efternamn"]


# --- skydd ----------------------------------------------------------------------------------

def test_markeringar_and_spridning_decide_who_is_protected(tmp_path):
    from skyddsnat.privacy.protection import protected_persons

    kid, mother, payer = "a" * 32, "b" * 32, "c" * 32
    personer = pd.DataFrame({
        "person_id": pd.Series([kid, mother], dtype="string"),
        "sekretessmarkering": [True, False], "skyddad_folkbokforing": [False, False],
        "vardnadshavare_1": pd.Series([mother, None], dtype="string"),
        "vardnadshavare_2": pd.Series([None, None], dtype="string")})
    avgifter = pd.DataFrame({"hushall_id": pd.Series(["H"], dtype="string"),
                             "betalare": pd.Series([payer], dtype="string"),
                             "medbetalare": pd.Series([None], dtype="string"),
                             "barn": pd.Series([kid], dtype="string")})

    def who(policy):
        s = policy.skydd
        return set(protected_persons(personer, avgifter, list(s.markeringar), dict(s.spridning)))

    assert who(SHIPPED) == {kid, mother, payer}
    only_skyddad = changed(tmp_path, "skydd.yaml",
                           _set("markeringar", ["skyddad_folkbokforing"]), "a")
    assert who(only_skyddad) == set()
    no_guardians = changed(tmp_path, "skydd.yaml", _set("spridning", {
        "vardnadshavare": False, "hushall_avgifter": True}), "b")
    assert who(no_guardians) == {kid, payer}
    no_fees = changed(tmp_path, "skydd.yaml", _set("spridning", {
        "vardnadshavare": True, "hushall_avgifter": False}), "c")
    assert who(no_fees) == {kid, mother}


# --- kallor and klassning -------------------------------------------------------------------

def _ingest(policy, path: Path, source: str):
    from skyddsnat.ingest.source_table import ingest_file
    from tests.test_bad_inputs import KEY, REF

    return ingest_file(path, source, policy, KEY, REF)


def test_klass_limits_the_treatment(tmp_path):
    def change(doc):
        doc["kallor"]["elevregister"]["skolenhet_namn"]["klass"] = "direkt_identifierare"

    assert ("klassning.yaml", "elevregister.skolenhet_namn") in refused(
        tmp_path, "klassning.yaml", change)


def test_behandling_decides_what_is_stored(tmp_path):
    from tests.test_bad_inputs import row, write

    path = write(tmp_path, "skolpliktsbeslut", [row("skolpliktsbeslut", 1)])
    kept = _ingest(SHIPPED, path, "skolpliktsbeslut").table
    policy = changed(tmp_path, "klassning.yaml", lambda d: d["kallor"]["skolpliktsbeslut"][
        "diarienummer"].update(behandling="tas_bort"), "a")
    dropped = _ingest(policy, path, "skolpliktsbeslut").table
    assert "diarienummer" in kept.columns and "diarienummer" not in dropped.columns
    folk = write(tmp_path, "folkbokforing", [row("folkbokforing", 1)])
    assert "postort" in _ingest(SHIPPED, folk, "folkbokforing").identities.columns
    no_town = changed(tmp_path, "klassning.yaml", lambda d: d["kallor"]["folkbokforing"][
        "postort"].update(behandling="tas_bort"), "b")
    assert "postort" not in _ingest(no_town, folk, "folkbokforing").identities.columns


def test_behandling_refuses_what_the_rules_need(tmp_path):
    def change(doc):
        doc["kallor"]["folkbokforing"]["kommunkod"]["behandling"] = "tas_bort"
        doc["kallor"]["elevregister"]["skolform"]["behandling"] = "pseudonymiseras"
        doc["kallor"]["narvaro"]["skolenhetskod"]["behandling"] = "valv"

    keys = refused(tmp_path, "klassning.yaml", change)
    assert {("klassning.yaml", "folkbokforing.kommunkod.behandling"),
            ("klassning.yaml", "elevregister.skolform.behandling"),
            ("klassning.yaml", "narvaro.skolenhetskod.behandling")} <= keys


def test_fil_is_the_inbox_pattern(tmp_path):
    from skyddsnat.ingest.catalog import entry
    from skyddsnat.ingest.inbox import newest_snapshot

    (tmp_path / "elever_20250915.csv").write_text("x\n")
    (tmp_path / "elevregister_20250914.csv").write_text("x\n")
    vendor = changed(tmp_path, "kallor.yaml", lambda d: d["kallor"]["elevregister"].update(
        fil="elever_{YYYYMMDD}.csv"), "a")
    day = date(2025, 9, 15)
    assert newest_snapshot(tmp_path, entry(SHIPPED, "elevregister"), day).name == \
        "elevregister_20250914.csv"
    assert newest_snapshot(tmp_path, entry(vendor, "elevregister"), day).name == \
        "elever_20250915.csv"
    assert ("kallor.yaml", "kallor.elevregister.fil") in refused(
        tmp_path / "r", "kallor.yaml",
        lambda d: d["kallor"]["elevregister"].update(fil="elever_{YYYYMM}.csv"))


def test_typ_decides_snapshot_or_period_files(tmp_path):
    from skyddsnat.ingest.catalog import entry

    shipped = entry(SHIPPED, "avgifter")
    whole = changed(tmp_path, "kallor.yaml", lambda d: d["kallor"]["avgifter"].update(
        typ="ogonblicksbild", fil="avgifter_{YYYYMMDD}.csv"), "a")
    assert not shipped.snapshot and entry(whole, "avgifter").snapshot
    assert ("kallor.yaml", "kallor.folkbokforing.typ") in refused(
        tmp_path / "r", "kallor.yaml",
        lambda d: d["kallor"]["folkbokforing"].update(typ="manatlig",
                                                     fil="folkbokforing_{YYYYMM}.csv"))


def test_nyckel_decides_duplicates(tmp_path):
    from tests.test_bad_inputs import row, write

    one, two = row("skolpliktsbeslut", 1), row("skolpliktsbeslut", 1, diarienummer="BUN 2")
    two["beslutstyp"] = "utlandsvistelse"
    path = write(tmp_path, "skolpliktsbeslut", [one, two])
    assert _ingest(SHIPPED, path, "skolpliktsbeslut").accepted == 2
    per_person = changed(tmp_path, "kallor.yaml", lambda d: d["kallor"]["skolpliktsbeslut"]
                         .update(nyckel=["personnummer"]))
    result = _ingest(per_person, path, "skolpliktsbeslut")
    assert (result.accepted, result.quarantined_by_reason) == (1, {"dubblett": 1})


def test_alias_maps_a_vendor_column(tmp_path):
    from skyddsnat.contract import SOURCES
    from tests.test_bad_inputs import row, write

    columns = ["Personnr" if c == "personnummer" else c
               for c in SOURCES["skolpliktsbeslut"].column_names]
    data = row("skolpliktsbeslut", 1)
    data["Personnr"] = data.pop("personnummer")
    path = write(tmp_path, "skolpliktsbeslut", [data], columns=columns)
    with pytest.raises(Exception, match="okänd kolumn"):
        _ingest(SHIPPED, path, "skolpliktsbeslut")
    vendor = changed(tmp_path, "kallor.yaml", lambda d: d["alias"].update(
        skolpliktsbeslut={"personnr": "personnummer"}))
    assert _ingest(vendor, path, "skolpliktsbeslut").accepted == 1


def run_source_asset(asset, root: Path, policy_dir: Path) -> tuple[bool, str]:
    """Materialize one source asset on an empty inbox; (success, failure texts)."""
    from dagster import DagsterEventType, materialize

    from pipelines.io import WarehouseIOManager
    from pipelines.resources import Skyddsnat
    from skyddsnat.privacy.keys import init_keys

    (root / "data" / "inbox").mkdir(parents=True)
    init_keys(root / "keys", root / "officer.key")
    result = materialize([asset], raise_on_error=False, resources={
        "skyddsnat": Skyddsnat(data_dir=str(root / "data"), key_dir=str(root / "keys"),
                               policy_dir=str(policy_dir), as_of="2025-09-15"),
        "warehouse": WarehouseIOManager(data_dir=str(root / "data"))})
    failures = [str(ev.event_specific_data.error.message) for ev in result.all_events
                if ev.event_type == DagsterEventType.STEP_FAILURE]
    return result.success, " ".join(failures)


def test_valfri_decides_whether_absence_stops(tmp_path):
    from assets.sources.tables import SOURCE_ASSETS

    asset = next(a for a in SOURCE_ASSETS if a.key.path[-1] == "franvaroarenden")
    assert run_source_asset(asset, tmp_path / "a", SHIPPED_POLICY_DIR)[0]
    changed(tmp_path, "kallor.yaml", lambda d: d["kallor"]["franvaroarenden"].update(
        valfri=False), "required")
    ok, why = run_source_asset(asset, tmp_path / "b", tmp_path / "required")
    assert not ok and "franvaroarenden" in why
