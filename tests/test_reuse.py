"""A night keeps what did not change, and only that (TINY profile, through the CLI).

Night 1 on DAY1; then copies of its data dir, each with a fresh Dagster instance (the
record that vouches for a kept result lives in the warehouse, not in an instance):
- DAY2, nothing but a new attendance day: the protected set, the income check and the
  school-duty list are kept (their files untouched), and every list — sealed ones
  opened — is identical to a night that recomputed everything (`--omrakna`);
- DAY2 with one invoice row corrected: the income check and the protected set (households
  come from the invoices too) are computed again, the school-duty list is still kept;
- DAY2 under a changed policy: both are computed again;
- DAY3 with the population register two days old: the night stops, nothing kept or delivered;
- DAY3, the day a newly registered child's grace period ends (no table changed): the
  school-duty list is computed again and the child is now `okand`, no longer `nyinflyttad`.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pytest
from dagster import AssetKey, DagsterInstance

from skyddsnat.lists.labels import to_code
from skyddsnat.personnummer import luhn_digit, normalize
from skyddsnat.policy import DEFAULT_POLICY_DIR, load_policy
from skyddsnat.privacy.keys import init_keys, load_officer_private
from tests.robust_helpers import (
    REPO,
    fast_tmp,
    list_contents,
    new_scenario,
    redate_snapshots,
    run,
)

pytestmark = pytest.mark.slow

DAY1 = date(2026, 11, 17)
DAY2, DAY3 = DAY1 + timedelta(days=1), DAY1 + timedelta(days=2)
GRACE = load_policy().skolplikt.grace_days
NEWCOMER = "20160505" + "123" + luhn_digit("160505123")  # grace period ends on DAY3
KEPT, COMPUTED = "återanvänd: indata oförändrade", "nej: beräknad"


def _add_newcomer(path: Path) -> None:
    """A child of school age registered GRACE − 2 days before DAY1, with no placement and
    no guardian, appended to a folkbokföring export in its own encoding."""
    raw = path.read_bytes()
    enc = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252"
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError:
        text, enc = raw.decode("utf-8"), "utf-8"
    nl = "\r\n" if "\r\n" in text else "\n"
    header = [c.strip().lower() for c in text.splitlines()[0].split(";")]
    values = {"personnummer": NEWCOMER, "fornamn": "Nils", "efternamn": "Nyberg",
              "fodelsedatum": "2016-05-05", "utdelningsadress": "Nygatan 1",
              "postnummer": "841 41", "postort": "ALBY",
              "kommunkod": load_policy().skolplikt.kommunkod,
              "folkbokford_datum": (DAY3 - timedelta(days=GRACE)).isoformat()}
    line = ";".join(values.get(c, "") for c in header)
    path.write_bytes((text.rstrip("\r\n") + nl + line + nl).encode(enc))


@pytest.fixture(scope="module")
def town():
    from skyddsnat.generate import TINY, generate

    base = fast_tmp("skyddsnat-reuse-")
    try:
        generate(TINY, base / "pristine", DAY3, seed=7)
        inbox = base / "pristine" / "inbox"
        for snap in inbox.glob(f"folkbokforing_{DAY3:%Y%m%d}.csv"):
            _add_newcomer(snap)
        redate_snapshots(inbox, DAY3, DAY1, DAY2)
        assert not any(NEWCOMER in normalize_all(p) for p in inbox.glob("elevregister_*"))
        init_keys(base / "keys", base / "officer.key")
        night1 = new_scenario(base, "night1", base / "pristine", base / "keys")
        ran = run(night1, DAY1)
        assert ran.returncode == 0, ran.output[-3000:]
        yield base, night1
    finally:
        shutil.rmtree(base, ignore_errors=True)


def normalize_all(path: Path) -> set[str]:
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    col = [c.strip().lower() for c in rows[0]].index("personnummer")
    out = set()
    for r in rows[1:]:
        try:
            out.add(normalize(r[col], DAY1))
        except (ValueError, IndexError):
            continue
    return out


def _copy(base: Path, night1, name: str):
    return new_scenario(base, name, night1.data, night1.keys)


def _night(s, day: date, *extra: str) -> dict[str, str]:
    """Run a night; return each watched asset's `återanvänd` metadata."""
    ran = subprocess.run([*s.run_cmd(day), *extra], env=s.env(), cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-3000:]
    said = next((line for line in ran.stdout.splitlines() if line.startswith("Återanvända")),
                "")
    with DagsterInstance.from_config(str(s.home)) as instance:
        out = {}
        for key in ("skyddade", "skolplikt_arenden", "inkomstkontroll_hushall",
                    "inkomstkontroll_manader"):
            event = instance.get_latest_materialization_event(AssetKey(key))
            out[key] = event.asset_materialization.metadata["återanvänd"].value
    # The summary line names the kept steps (and only them).
    assert ("inkomstkontroll" in said) == (out["inkomstkontroll_hushall"] == KEPT)
    assert ("skolplikt_arenden" in said) == (out["skolplikt_arenden"] == KEPT)
    return out


def _version(s, key: str) -> dict[str, str]:
    """The Dagster data version tags of an asset's latest materialization."""
    with DagsterInstance.from_config(str(s.home)) as instance:
        tags = instance.get_latest_materialization_event(AssetKey(key)).asset_materialization.tags
    return {k: v for k, v in tags.items() if "data_version" in k}


def _stamp(s, name: str) -> tuple[int, int]:
    st = (s.data / "warehouse" / f"{name}.parquet").stat()
    return st.st_ino, st.st_mtime_ns


def _orsak(s, day: date) -> str | None:
    """The newcomer's reason on the general skolplikt list of `day` (None: not listed)."""
    path = (s.outbox / day.isoformat()).resolve() / "skolpliktshandlaggare" / "skolplikt.xlsx"
    wb = openpyxl.load_workbook(path, read_only=True)
    ws = wb[[n for n in wb.sheetnames if n not in ("Sammanfattning", "Förklaring")][0]]
    rows = list(ws.iter_rows(values_only=True))
    wb.close()
    i = next(i for i, r in enumerate(rows) if "personnummer" in r)
    pnr, orsak = rows[i].index("personnummer"), rows[i].index("orsak")
    for r in rows[i + 1:]:
        if r[pnr] and normalize(str(r[pnr]), day) == NEWCOMER:
            return to_code(str(r[orsak]))
    return None


def test_an_unchanged_night_keeps_and_delivers_the_same_lists(town):
    base, night1 = town
    officer = load_officer_private(base / "officer.key")
    kept, fresh = _copy(base, night1, "kept"), _copy(base, night1, "fresh")
    before = {n: _stamp(kept, n) for n in ("skolplikt_arenden", "inkomstkontroll_hushall")}
    assert set(_night(kept, DAY2).values()) == {KEPT}
    assert {n: _stamp(kept, n) for n in before} == before  # not written again
    assert set(_night(fresh, DAY2, "--omrakna").values()) == {COMPUTED}
    assert list_contents(kept.outbox, DAY2, officer, kept.root) == \
        list_contents(fresh.outbox, DAY2, officer, fresh.root)
    assert _orsak(kept, DAY2) == "nyinflyttad"
    # Dagster is told: the sources' data versions (their stored tables) are last night's, and
    # the kept result records them as its inputs, so the UI shows nothing stale.
    source = _version(kept, "folkbokforing")
    assert source["dagster/data_version"] == _version(night1, "folkbokforing")[
        "dagster/data_version"] and source["dagster/data_version_is_user_provided"] == "true"
    assert _version(kept, "skyddade")["dagster/input_data_version/folkbokforing"] == \
        source["dagster/data_version"]


def _correct_one_invoice(s, pristine: Path) -> None:
    """The school office re-sends March's invoices with one child's fee raised by 100 kr."""
    src = next(iter(sorted(pristine.glob("avgifter_*03.csv"))))
    raw = src.read_bytes()
    enc = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252"
    lines = raw.decode(enc).splitlines(keepends=True)
    fields = lines[1].rstrip("\r\n").split(";")
    fields[-1] = str(int(fields[-1]) + 100)
    lines[1] = ";".join(fields) + lines[1][len(lines[1].rstrip("\r\n")):]
    (s.data / "inbox" / src.name).write_bytes("".join(lines).encode(enc))


def test_one_changed_invoice_row_recomputes_the_income_check_only(town):
    base, night1 = town
    s = _copy(base, night1, "invoice")
    _correct_one_invoice(s, base / "pristine" / "inbox")
    got = _night(s, DAY2)
    assert _version(s, "avgifter") != _version(night1, "avgifter")
    assert got["inkomstkontroll_hushall"] == got["inkomstkontroll_manader"] == COMPUTED
    assert got["skyddade"] == COMPUTED  # a household is also who is billed together
    assert got["skolplikt_arenden"] == KEPT


def test_a_policy_change_recomputes_both(town, tmp_path):
    base, night1 = town
    s = _copy(base, night1, "policy")
    policies = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, policies)
    fees = policies / "maxtaxa.yaml"
    fees.write_text(fees.read_text(encoding="utf-8").replace(
        "tolerans_kr_per_ar: 600", "tolerans_kr_per_ar: 601"), encoding="utf-8")
    assert load_policy(policies).maxtaxa.tolerans_kr_per_ar == 601
    assert set(_night(s, DAY2, "--policy-dir", str(policies)).values()) == {COMPUTED}


def test_the_day_a_grace_period_ends_recomputes_school_duty(town):
    base, night1 = town
    assert _orsak(night1, DAY1) == "nyinflyttad"
    s = _copy(base, night1, "grace")
    got = _night(s, DAY3)
    assert got["skolplikt_arenden"] == COMPUTED
    assert got["inkomstkontroll_hushall"] == got["skyddade"] == KEPT  # never look at dates
    assert _orsak(s, DAY3) == "okand"


def test_a_stale_feed_stops_the_night_before_anything_is_kept_or_delivered(town):
    """No silent holes: with the population register two days old on DAY3, the night stops at
    the source; the income check — whose inputs are unchanged — is neither kept nor delivered."""
    base, night1 = town
    s = _copy(base, night1, "stale")
    for day in (DAY2, DAY3):
        (s.data / "inbox" / f"folkbokforing_{day:%Y%m%d}.csv").unlink()
    ran = subprocess.run(s.run_cmd(DAY3), env=s.env(), cwd=REPO, capture_output=True,
                         text=True, timeout=600)
    assert ran.returncode != 0 and "folkbokforing" in ran.stdout + ran.stderr
    assert not (s.outbox / DAY3.isoformat()).exists()
    with DagsterInstance.from_config(str(s.home)) as instance:
        assert instance.get_latest_materialization_event(
            AssetKey("inkomstkontroll_hushall")) is None
