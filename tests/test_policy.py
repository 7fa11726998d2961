"""Policies: the real ones load; `policy check` names file and key for every error it finds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from skyddsnat.cli import app
from skyddsnat.contract import SOURCES
from skyddsnat.delivery.policy_explain import explain_html, explain_markdown
from skyddsnat.policy import DEFAULT_POLICY_DIR, PolicyError, load_policy, policy_hash

RUNNER = CliRunner()


@pytest.fixture
def pdir(tmp_path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, target)
    return target


def edit(pdir: Path, fname: str, change) -> None:
    path = pdir / fname
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def check(pdir: Path):
    return RUNNER.invoke(app, ["policy", "check", "--policy-dir", str(pdir)])


def problems(pdir: Path) -> list[tuple[str, str, str]]:
    with pytest.raises(PolicyError) as info:
        load_policy(pdir)
    return info.value.problems


def test_real_policies_load_and_cover_the_contract():
    p = load_policy()
    assert set(p.klassning) == set(SOURCES)
    for name, source in SOURCES.items():
        assert set(p.klassning[name]) == set(source.column_names)
        assert p.klassning[name]["personnummer" if "personnummer" in source.column_names
                                 else source.pnr_columns[0]].behandling == "pseudonymiseras"
    assert p.undertryckning.k >= 3
    assert p.version == policy_hash()
    result = check(DEFAULT_POLICY_DIR)
    assert result.exit_code == 0, result.output
    assert p.version in result.output


def test_unknown_column_in_klassning(pdir):
    edit(pdir, "klassning.yaml", lambda d: d["kallor"]["elevregister"].update(
        {"favoritfarg": {"klass": "operativ", "behandling": "behalls"}}))
    result = check(pdir)
    assert result.exit_code != 0
    assert "klassning.yaml: elevregister.favoritfarg: okänd kolumn" in result.output


def test_unclassified_contract_column(pdir):
    edit(pdir, "klassning.yaml", lambda d: d["kallor"]["narvaro"].pop("ogiltig_franvaro_min"))
    result = check(pdir)
    assert result.exit_code != 0
    assert "klassning.yaml: narvaro.ogiltig_franvaro_min: kolumnen är oklassad" in result.output


def test_unknown_role_in_listor(pdir):
    edit(pdir, "mottagare.yaml", lambda d: d["listor"]["skolplikt"].update(
        {"mottagare": "vaktmastare"}))
    result = check(pdir)
    assert result.exit_code != 0
    assert "mottagare.yaml: listor.skolplikt.mottagare: okänd roll vaktmastare" in result.output


def test_address_routed_to_a_general_list(pdir):
    edit(pdir, "mottagare.yaml", lambda d: d["listor"]["franvaro"]["identitet"].append(
        "utdelningsadress"))
    result = check(pdir)
    assert result.exit_code != 0
    assert "mottagare.yaml: listor.franvaro.identitet: utdelningsadress" in result.output


def test_address_given_to_a_general_role(pdir):
    edit(pdir, "mottagare.yaml", lambda d: d["roller"]["rektor"]["identitet"].append("postort"))
    result = check(pdir)
    assert result.exit_code != 0
    assert "mottagare.yaml: roller.rektor.identitet: postort får bara lämnas" in result.output


def test_identity_field_the_role_lacks(pdir):
    edit(pdir, "mottagare.yaml", lambda d: d["listor"]["kommunbild"].update(
        {"identitet": ["personnummer"]}))
    result = check(pdir)
    assert result.exit_code != 0
    assert "mottagare.yaml: listor.kommunbild.identitet: personnummer" in result.output
    assert "namnd" in result.output


@pytest.mark.parametrize("k,ok", [(2, False), (3, True), (0, False)])
def test_suppression_threshold_at_least_three(pdir, k, ok):
    edit(pdir, "undertryckning.yaml", lambda d: d.update({"k": k}))
    result = check(pdir)
    assert (result.exit_code == 0) is ok, result.output
    if not ok:
        assert "undertryckning.yaml: k:" in result.output


def test_overlapping_maxtaxa_periods(pdir):
    def overlap(d):
        d["perioder"][3]["fran"] = "2024-12"
    edit(pdir, "maxtaxa.yaml", overlap)
    result = check(pdir)
    assert result.exit_code != 0
    assert "maxtaxa.yaml: perioder.3: överlappar period 2" in result.output


def test_adjacent_maxtaxa_periods_do_not_overlap(pdir):
    edit(pdir, "maxtaxa.yaml", lambda d: d["perioder"][3].update({"fran": "2025-01"}))
    assert check(pdir).exit_code == 0


def test_open_period_followed_by_another_overlaps(pdir):
    def open_end(d):
        d["perioder"][4]["till"] = None
    edit(pdir, "maxtaxa.yaml", open_end)
    assert "perioder.5: överlappar period 4" in check(pdir).output


def test_reports_several_errors_at_once(pdir):
    edit(pdir, "klassning.yaml", lambda d: d["kallor"]["betyg"].pop("amne"))
    edit(pdir, "mottagare.yaml", lambda d: d["listor"]["skolplikt"].update({"mottagare": "x"}))
    edit(pdir, "maxtaxa.yaml", lambda d: d["perioder"][1].update({"fran": "2022-06"}))
    result = check(pdir)
    assert result.exit_code != 0
    for expected in ("klassning.yaml: betyg.amne", "mottagare.yaml: listor.skolplikt.mottagare",
                     "maxtaxa.yaml: perioder.1"):
        assert expected in result.output
    assert "3 fel i policyerna" in result.output


def test_schema_and_cross_file_errors_reported_together(pdir):
    edit(pdir, "undertryckning.yaml", lambda d: d.update({"k": 1}))
    edit(pdir, "klassning.yaml", lambda d: d["kallor"]["betyg"].pop("amne"))
    found = {(f, k) for f, k, _ in problems(pdir)}
    assert ("undertryckning.yaml", "k") in found
    assert ("klassning.yaml", "betyg.amne") in found


def test_missing_file_and_broken_yaml(pdir):
    (pdir / "skydd.yaml").unlink()
    (pdir / "gallring.yaml").write_text("arkiv_dagar: [1, 2\n", encoding="utf-8")
    found = {(f, m) for f, _k, m in problems(pdir)}
    assert ("skydd.yaml", "filen saknas") in found
    assert ("gallring.yaml", "ogiltig YAML") in found


def test_personnummer_must_be_pseudonymised(pdir):
    edit(pdir, "klassning.yaml", lambda d: d["kallor"]["inkomster"]["personnummer"].update(
        {"behandling": "behalls"}))
    msgs = [f"{f}: {k}" for f, k, _ in problems(pdir)]
    assert "klassning.yaml: inkomster.personnummer" in msgs


def test_policy_hash_changes_with_any_byte(pdir):
    before = policy_hash(pdir)
    assert before == policy_hash(DEFAULT_POLICY_DIR)
    path = pdir / "franvaro.yaml"
    path.write_bytes(path.read_bytes() + b" ")
    after = policy_hash(pdir)
    assert after != before
    assert load_policy(pdir).version == after
    path.write_bytes(path.read_bytes()[:-1])
    assert policy_hash(pdir) == before


@pytest.mark.parametrize("fname", ["klassning.yaml", "mottagare.yaml", "maxtaxa.yaml",
                                   "skolplikt.yaml"])
def test_policy_hash_covers_every_file(pdir, fname):
    before = policy_hash(pdir)
    path = pdir / fname
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))
    assert policy_hash(pdir) != before


def test_explain_names_every_role_and_the_retention(tmp_path):
    p = load_policy()
    md = explain_markdown(p)
    page = explain_html(p)
    assert md.startswith("# Registerförteckning")
    assert '<html lang="sv">' in page
    for doc in (md, page):
        assert "Lagringstid (gallring)" in doc
        assert f"{p.gallring.arkiv_dagar} dagar" in doc
        assert f"{p.gallring.utkorg_dagar} dagar" in doc
        assert p.version in doc
        for role_name, role in p.mottagare.roller.items():
            if role_name == p.mottagare.forseglad_mottagare:
                continue  # named in the protected-identity section, not as a list recipient
            assert role.beskrivning in doc
        for source in SOURCES:
            assert f"Källa: {source}" in doc
    assert p.mottagare.roller[p.mottagare.forseglad_mottagare].beskrivning.lower() in md.lower()
    out = tmp_path / "register.html"
    result = RUNNER.invoke(app, ["policy", "explain", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == page
    result = RUNNER.invoke(app, ["policy", "explain"])
    assert result.exit_code == 0
    assert "Mottagare, ändamål och rättslig grund" in result.output


def test_explain_follows_the_policy(pdir):
    edit(pdir, "gallring.yaml", lambda d: d.update({"arkiv_dagar": 47}))
    result = RUNNER.invoke(app, ["policy", "explain", "--policy-dir", str(pdir)])
    assert "gallras efter 47 dagar" in result.output


def test_a_long_period_overlapping_two_later_ones_reports_both(pdir):
    edit(pdir, "maxtaxa.yaml", lambda d: d["perioder"][0].update({"till": "2024-06"}))
    found = {(k, m) for _f, k, m in problems(pdir)}
    assert ("perioder.1", "överlappar period 0") in found
    assert ("perioder.2", "överlappar period 0") in found


def test_archive_custodian_must_be_a_sealed_role_with_a_key(pdir):
    """gallring.arkiv_forvarare / arkiv_nyckel: validated, and shown in the register."""
    edit(pdir, "gallring.yaml", lambda d: d.update({"arkiv_forvarare": "rektor"}))
    assert ("gallring.yaml", "arkiv_forvarare",
            "arkivets förvarare måste vara en förseglad roll") in problems(pdir)
    edit(pdir, "gallring.yaml", lambda d: d.update({"arkiv_forvarare": "okand"}))
    assert any(k == "arkiv_forvarare" for _f, k, _m in problems(pdir))

    def registrar(d):
        d["roller"]["registrator"] = {"beskrivning": "Registrator på kommunarkivet",
                                      "identitet": [], "andamal": "Arkivvård.",
                                      "rattslig_grund": "Arkivlagen.", "forseglad": True}
    edit(pdir, "mottagare.yaml", registrar)
    edit(pdir, "gallring.yaml", lambda d: d.update({"arkiv_forvarare": "registrator"}))
    assert any(k == "arkiv_nyckel" for _f, k, _m in problems(pdir))
    edit(pdir, "gallring.yaml", lambda d: d.update({"arkiv_nyckel": "inte-base64!"}))
    assert any(k == "arkiv_nyckel" for _f, k, _m in problems(pdir))
    import base64
    import hashlib
    raw = bytes(range(32))
    edit(pdir, "gallring.yaml", lambda d: d.update({"arkiv_nyckel": base64.b64encode(raw)
                                                    .decode()}))
    md = explain_markdown(load_policy(pdir))
    assert "registrator på kommunarkivet" in md
    assert hashlib.sha256(raw).hexdigest()[:16] in md


def test_list_retention_keys_are_checked_and_explained(pdir):
    """gallring.listor_dagar / listor_dagar_standard / valv_dagar."""
    edit(pdir, "gallring.yaml", lambda d: d["listor_dagar"].update({"okand_lista": 3}))
    assert ("gallring.yaml", "listor_dagar.okand_lista", "okänd listtyp") in problems(pdir)
    edit(pdir, "gallring.yaml", lambda d: (d["listor_dagar"].pop("okand_lista"),
                                           d["listor_dagar"].update({"franvaro": 400})))
    assert ("gallring.yaml", "listor_dagar.franvaro",
            "ska vara 1 till utkorg_dagar dagar") in problems(pdir)
    edit(pdir, "gallring.yaml", lambda d: d["listor_dagar"].update({"franvaro": 9}))
    edit(pdir, "gallring.yaml", lambda d: d.update({"valv_dagar": 33,
                                                    "listor_dagar_standard": 8}))
    p = load_policy(pdir)
    assert p.gallring.list_days("franvaro") == 9 and p.gallring.list_days("x") == 8
    md = explain_markdown(p)
    assert "franvaro: 9 dagar" in md and "(övriga listor 8 dagar)" in md
    assert "nämnt på 33 dagar" in md
