"""`python -m bench.duck_e2e DATA_DIR --as-of D --params P.json`: the plain DuckDB script the
issue measures us against, end to end, in a process of its own (no skyddsnat import while timed).

It reads the inbox CSV files from scratch (every attendance day file up to D, the day's
snapshots, the fee and income files), normalises personnummer (digits only; the century of a
10-digit number is the one that makes the person at most 99 on D, '+' meaning 100 or older,
as skyddsnat.personnummer.normalize), drops rows a careful script would (bad number or check
digit, missing or negative amounts, exact duplicates), and computes the four core results:
school-duty exceptions, absence per pupil and school over the term and over the last 4
weeks, and the income check per household. It prints counts only, never a personnummer.

    python -m bench.duck_e2e DATA --as-of D --kommunkod K --write-params P.json   # untimed
    python -m bench.duck_e2e DATA --as-of D --params P.json [--out R.json]        # timed
    python -m bench.duck_e2e DATA --as-of D --params P.json --check KEYDIR        # equivalence

`--inbox DIR` (repeatable) reads the CSV files from there instead of DATA/inbox, which a
successful run of ours has cleaned.

`--check` pseudonymises DuckDB's keys with the run's pseudonym key and compares them with the
warehouse tables our run left in DATA (skolplikt_arenden, franvaro_termin, franvaro_elever,
inkomstkontroll_hushall); it reports agreement as counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from bench.duck_sql import ABSENCE_SQL, fee_sql, skolplikt_sql

# Helpers of the normalisation below, and the amount parsers.
MACROS = r"""
CREATE OR REPLACE MACRO year_of(yy, plus, refy) AS
  (CASE WHEN (refy // 100) * 100 + yy > refy THEN (refy // 100) * 100 + yy - 100
        ELSE (refy // 100) * 100 + yy END) - CASE WHEN plus THEN 100 ELSE 0 END;
CREATE OR REPLACE MACRO birth_md(mmdd) AS CASE WHEN mmdd % 100 > 60 THEN mmdd - 60 ELSE mmdd END;
CREATE OR REPLACE MACRO born(p12) AS try_cast(
  substr(p12, 1, 4) || '-' || substr(p12, 5, 2) || '-'
  || lpad(CAST(CAST(substr(p12, 7, 2) AS INT) % 60 AS VARCHAR), 2, '0') AS DATE);
CREATE OR REPLACE MACRO kr(raw) AS
  CAST(round(try_cast(replace(replace(replace(trim(raw), ' ', ''), '.', ''), ',', '.')
                      AS DOUBLE)) AS BIGINT);
CREATE OR REPLACE MACRO minutes(raw) AS try_cast(trim(raw) AS INTEGER);
CREATE OR REPLACE MACRO blank(raw) AS raw IS NULL OR trim(raw) = '';
"""

# Each distinct written personnummer (column v of {values}) and its 12-digit form p, NULL if
# not plainly valid: the century of a 10-digit form makes the person at most 99 on the
# reference date, '+' 100 or older (skyddsnat.personnummer.normalize). Columns are computed
# once in nested selects: a macro parameter is expanded wherever it is used.
NORMALISED = """
SELECT v, CASE WHEN NOT ok OR NOT coalesce(luhn_n(n), false) THEN NULL
               WHEN length(d) = 12 THEN CASE WHEN plus THEN NULL ELSE d END
               ELSE CAST((y - CASE WHEN y * 10000 + birth_md(md) > {ref} THEN 100 ELSE 0 END)
                         // 100 AS VARCHAR) || d END AS p
FROM (SELECT *, year_of(yy, plus, {refy}) AS y FROM (
  SELECT v, d, regexp_full_match(s, '([0-9]{{2}})?[0-9]{{6}}[-+]?[0-9]{{4}}') AS ok,
         contains(s, '+') AS plus, try_cast(right(d, 10) AS BIGINT) AS n,
         try_cast(substr(d, length(d) - 9, 2) AS INT) AS yy,
         try_cast(substr(d, length(d) - 7, 4) AS INT) AS md
  FROM (SELECT v, trim(v) AS s, replace(replace(trim(v), '-', ''), '+', '') AS d
        FROM ({values}) WHERE NOT blank(v))))
"""


def normalised_sql(values: str, as_of: date) -> str:
    """The select of NORMALISED over `values` (a query with a column v) at `as_of`."""
    return NORMALISED.format(values=values, ref=as_of.year * 10000 + as_of.month * 100
                             + as_of.day, refy=as_of.year)


def _luhn_macro() -> str:
    """Luhn over ten digits as plain integer arithmetic (a lambda per row is ~100x slower)."""
    terms = []
    for i in range(10):
        w = 2 - i % 2
        d = f"(n // {10 ** (9 - i)}) % 10 * {w}"
        terms.append(f"({d}) // 10 + ({d}) % 10")
    return "CREATE OR REPLACE MACRO luhn_n(n) AS (" + " + ".join(terms) + ") % 10 = 0;"


NORMALISE = MACROS + _luhn_macro()


def _normalised(con, name: str, source: str, pnr_cols: list[str], select: str, where: str,
                as_of: date) -> None:
    """Table `name` from `source` (a read_csv, read twice rather than held as text): each
    personnummer column normalised once per distinct written value (joined as n_<col>),
    rows with a bad number or value dropped, exact duplicates dropped."""
    values = " UNION ".join(f"SELECT DISTINCT {c} AS v FROM {source}" for c in pnr_cols)
    con.execute(f"CREATE OR REPLACE TEMP TABLE nr AS {normalised_sql(values, as_of)}")
    joins = " ".join(f"LEFT JOIN nr n_{c} ON n_{c}.v = raw.{c}" for c in pnr_cols)
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT DISTINCT {select} "
                f"FROM {source} raw {joins} WHERE {where}")
    con.execute("DROP TABLE nr")


# The contract's columns per source, in the order the exports write them (DESIGN.md).
COLUMNS = {
    "folkbokforing": "personnummer fornamn efternamn fodelsedatum utdelningsadress postnummer "
                     "postort kommunkod folkbokford_datum sekretessmarkering "
                     "skyddad_folkbokforing vardnadshavare_1 vardnadshavare_2",
    "elevregister": "personnummer skolenhetskod skolenhet_namn huvudman skolform arskurs "
                    "startdatum slutdatum",
    "skolpliktsbeslut": "personnummer beslutstyp giltig_fran giltig_till diarienummer",
    "narvaro": "datum personnummer skolenhetskod schemalagd_min giltig_franvaro_min "
               "ogiltig_franvaro_min",
    "avgifter": "faktura_manad hushall_id betalare medbetalare barn verksamhet barn_ordning "
                "anmald_inkomst debiterad_avgift",
    "inkomster": "inkomstar personnummer faststalld_inkomst",
}


def _csv(source: str, files: list[Path], encoding: str = "utf-8") -> str:
    """read_csv over the files with the contract's columns as text (no per-file sniffing:
    union_by_name over 180 day files costs DuckDB ~0.1 s a file)."""
    names = ", ".join(f"'{f}'" for f in files)
    cols = ", ".join(f"'{c}': 'VARCHAR'" for c in COLUMNS[source].split())
    return (f"read_csv([{names}], delim=';', header=true, auto_detect=false, quote='\"', "
            f"columns={{{cols}}}, encoding='{encoding}')")


def _glob(inboxes: list[Path], pattern: str) -> list[Path]:
    """Files matching in any of the inboxes, by name (a later inbox wins a name)."""
    found = {p.name: p for d in inboxes for p in sorted(d.glob(pattern))}
    return [found[n] for n in sorted(found)]


def _files(inboxes: list[Path], prefix: str, as_of: date) -> list[Path]:
    stamp = as_of.strftime("%Y%m%d")
    return [p for p in _glob(inboxes, f"{prefix}_*.csv") if p.stem[-8:] <= stamp]


def _latest(inboxes: list[Path], prefix: str, as_of: date) -> list[Path]:
    return _files(inboxes, prefix, as_of)[-1:]


def _encoding(path: Path) -> str:
    """UTF-8 (BOM allowed) or, failing that, Windows-1252 read as latin-1."""
    try:
        path.read_bytes().decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "latin-1"


def load(con: duckdb.DuckDBPyConnection, inbox: list[Path], as_of: date) -> dict[str, int]:
    """Every needed CSV read into a table, personnummer normalised, bad rows dropped."""
    con.execute(NORMALISE)
    fb = _latest(inbox, "folkbokforing", as_of)
    _normalised(con, "personer", _csv("folkbokforing", fb, _encoding(fb[0])), ["personnummer"], """
        n_personnummer.p AS person_id,
        coalesce(try_cast(fodelsedatum AS DATE), born(n_personnummer.p)) AS fodelsedatum,
        kommunkod, try_cast(folkbokford_datum AS DATE) AS folkbokford_datum""", f"""
        n_personnummer.p IS NOT NULL AND try_cast(folkbokford_datum AS DATE) <= DATE '{as_of}'
        AND coalesce(sekretessmarkering, '') IN ('', 'J')""", as_of)
    _normalised(con, "placeringar", _csv("elevregister", _latest(inbox, "elevregister", as_of)),
                ["personnummer"], """n_personnummer.p AS person_id, skolform,
        try_cast(startdatum AS DATE) AS startdatum, try_cast(slutdatum AS DATE) AS slutdatum""",
                "n_personnummer.p IS NOT NULL AND NOT blank(skolenhetskod)", as_of)
    _normalised(con, "beslut", _csv("skolpliktsbeslut", _latest(inbox, "skolpliktsbeslut", as_of)),
                ["personnummer"], """n_personnummer.p AS person_id, beslutstyp,
        try_cast(giltig_fran AS DATE) AS giltig_fran,
        try_cast(giltig_till AS DATE) AS giltig_till""",
                "n_personnummer.p IS NOT NULL AND NOT blank(beslutstyp)", as_of)
    days = _files(inbox, "narvaro", as_of)
    _normalised(con, "narvaro", _csv("narvaro", days), ["personnummer"], """
        try_cast(datum AS DATE) AS datum, n_personnummer.p AS person_id, skolenhetskod,
        minutes(schemalagd_min) AS schemalagd_min,
        minutes(giltig_franvaro_min) AS giltig_franvaro_min,
        minutes(ogiltig_franvaro_min) AS ogiltig_franvaro_min""", """
        n_personnummer.p IS NOT NULL AND try_cast(datum AS DATE) IS NOT NULL
        AND minutes(schemalagd_min) >= 0 AND minutes(giltig_franvaro_min) >= 0
        AND minutes(ogiltig_franvaro_min) >= 0""", as_of)
    _normalised(con, "avgifter", _csv("avgifter", _glob(inbox, "avgifter_??????.csv")),
                ["betalare", "medbetalare", "barn"], """faktura_manad, hushall_id,
        n_betalare.p AS betalare, n_medbetalare.p AS medbetalare, n_barn.p AS barn, verksamhet,
        kr(barn_ordning) AS barn_ordning, kr(anmald_inkomst) AS anmald_inkomst,
        kr(debiterad_avgift) AS debiterad_avgift""", """
        n_betalare.p IS NOT NULL AND n_barn.p IS NOT NULL
        AND (blank(medbetalare) OR n_medbetalare.p IS NOT NULL)
        AND kr(debiterad_avgift) >= 0 AND kr(barn_ordning) >= 1""", as_of)
    _normalised(con, "inkomster", _csv("inkomster", _glob(inbox, "inkomster_????.csv")),
                ["personnummer"], """kr(inkomstar) AS inkomstar,
        n_personnummer.p AS person_id, kr(faststalld_inkomst) AS faststalld_inkomst""",
                "n_personnummer.p IS NOT NULL AND kr(faststalld_inkomst) >= 0", as_of)
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("personer", "placeringar", "beslut", "narvaro", "avgifter", "inkomster")}


def _term_start(con, as_of: date, terminer: dict[str, str]) -> date:
    label = ("HT" if as_of.month >= 7 else "VT") + str(as_of.year)
    if label in terminer:
        return date.fromisoformat(terminer[label])
    boundary = date(as_of.year, 7 if as_of.month >= 7 else 1, 1)
    first = con.execute("SELECT min(datum) FROM narvaro WHERE datum BETWEEN $b AND $d",
                        {"b": boundary, "d": as_of}).fetchone()[0]
    return first or boundary


def compute(con: duckdb.DuckDBPyConnection, as_of: date, params: dict) -> dict:
    """The four results as tables res_skolplikt, res_termin, res_4v, res_hushall; counts."""
    sp = params["skolplikt"]
    con.execute("CREATE OR REPLACE TABLE res_skolplikt AS " + skolplikt_sql(
        "personer", "placeringar", "beslut", sp["first_age"], sp["years"]),
        {"y": sp["lasar"], "kommun": sp["kommunkod"], "d": as_of, "former": sp["former"],
         "beslut": sp["beslut"], "grace": sp["grace_days"], "reform": sp["reform"]})
    first = _term_start(con, as_of, params["terminer"])
    con.execute("CREATE OR REPLACE TABLE res_termin AS " + ABSENCE_SQL.format(narvaro="narvaro"),
                {"first": first, "last": as_of})
    recent = as_of - timedelta(days=params["senaste_dagar"])
    con.execute("CREATE OR REPLACE TABLE res_4v AS " + ABSENCE_SQL.format(narvaro="narvaro"),
                {"first": recent, "last": as_of})
    con.execute("CREATE OR REPLACE TABLE taxa AS SELECT * FROM read_json_auto($f)",
                {"f": params["taxa_file"]})
    year = con.execute("SELECT max(inkomstar) FROM inkomster").fetchone()[0]
    fee_sql(con, "avgifter", "inkomster", year, params["tolerans"])
    con.execute("CREATE OR REPLACE TABLE res_hushall AS SELECT * FROM res")
    orsak = dict(con.execute("SELECT orsak, count(*) FROM res_skolplikt GROUP BY 1 ORDER BY 1")
                 .fetchall())
    atgard = dict(con.execute("SELECT atgard, count(*) FROM res_hushall GROUP BY 1 ORDER BY 1")
                  .fetchall())
    n = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
         for t in ("res_skolplikt", "res_termin", "res_4v", "res_hushall")}
    return {"term_start": first.isoformat(), "inkomstar": year, "rows": n,
            "skolplikt_orsak": orsak, "inkomstkontroll_atgard": atgard}


# --- parameters (untimed, from our policy) ---------------------------------------------------

def write_params(path: Path, as_of: date, kommunkod: str | None) -> None:
    from bench.duck import taxa_table
    from skyddsnat.policy import load_policy
    from skyddsnat.rules.school_duty import SKOLPLIKT_FIRST_AGE, SKOLPLIKT_YEARS, lasar_start

    policy = load_policy().with_kommunkod(kommunkod or None)
    p = policy.skolplikt
    taxa = path.with_suffix(".taxa.json")
    taxa_table(policy).to_json(taxa, orient="records", lines=True)
    path.write_text(json.dumps({
        "skolplikt": {"lasar": lasar_start(as_of), "kommunkod": p.kommunkod,
                      "former": list(p.skolformer_som_uppfyller),
                      "beslut": list(p.beslut_som_uppfyller), "grace_days": p.grace_days,
                      "reform": p.forskoleklass_avskaffas_lasar,
                      "first_age": SKOLPLIKT_FIRST_AGE, "years": SKOLPLIKT_YEARS},
        "terminer": {k: v.isoformat() for k, v in policy.franvaro.terminer.items()},
        "senaste_dagar": policy.franvaro.senaste_dagar,
        "tolerans": policy.maxtaxa.tolerans_kr_per_ar,
        "taxa_file": str(taxa.resolve()),
    }, indent=1))


# --- the equivalence check (untimed) ---------------------------------------------------------

def check(con: duckdb.DuckDBPyConnection, data: Path, key_dir: Path) -> dict:
    """DuckDB's results, keys pseudonymised with the run's key, against our warehouse."""
    import pandas as pd

    from skyddsnat.privacy.keys import load_keys
    from skyddsnat.privacy.pseudonym import pseudonymize_series
    from skyddsnat.value_memo import ValueMemo

    chain = load_keys(key_dir).pseudonym_keys
    wh = data / "warehouse"
    memo = ValueMemo()

    def pseud(frame: pd.DataFrame, *cols: str) -> pd.DataFrame:
        for c in cols:
            frame[c] = pseudonymize_series(chain, frame[c].astype("string"), memo).astype(str)
        return frame

    out: dict[str, dict] = {}
    # School duty: the same children with the same reason.
    theirs = pseud(con.execute("SELECT person_id, orsak FROM res_skolplikt").df(), "person_id")
    ours = pd.read_parquet(wh / "skolplikt_arenden.parquet", columns=["person_id", "orsak"])
    a = set(zip(ours.person_id.astype(str), ours.orsak.astype(str), strict=True))
    b = set(zip(theirs.person_id, theirs.orsak, strict=True))
    out["skolplikt"] = {"ours": len(a), "duckdb": len(b), "common": len(a & b),
                        "same": a == b}
    # Absence over the term: same pupil × school keys, same days, minutes and longest run.
    cols = ["skoldagar", "schemalagd_min", "franvaro_min", "ogiltig_min",
            "langsta_sammanhangande_dagar"]
    theirs = pseud(con.execute("SELECT * FROM res_termin").df(), "person_id")
    ours = pd.read_parquet(wh / "franvaro_termin.parquet",
                           columns=["person_id", "skolenhetskod", *cols])
    out["franvaro_termin"] = _same_rows(ours, theirs, ["person_id", "skolenhetskod"], cols)
    # Last 4 weeks: our list carries the 4-week percentages of the pupils it lists.
    # (shown rounded down to one decimal, as the list does)
    theirs = pseud(con.execute("""SELECT person_id, skolenhetskod,
        (1000 * franvaro_min // schemalagd_min) / 10 AS franvaro_procent,
        (1000 * ogiltig_min // schemalagd_min) / 10 AS ogiltig_procent FROM res_4v""").df(),
                   "person_id")
    ours = pd.read_parquet(wh / "franvaro_elever.parquet")
    ours = ours[["person_id", "skolenhetskod", "franvaro_procent_4v", "ogiltig_procent_4v"]]
    ours = ours.rename(columns={"franvaro_procent_4v": "franvaro_procent",
                                "ogiltig_procent_4v": "ogiltig_procent"})
    ours = ours.dropna(subset=["franvaro_procent"])
    out["franvaro_4v"] = _same_rows(ours, theirs, ["person_id", "skolenhetskod"],
                                    ["franvaro_procent", "ogiltig_procent"], subset=True,
                                    tol=1e-6)
    # Income check: same households, same action and difference. Ours holds an
    # efterdebitering on an unconfirmed maxtaxa period (obekraftad_taxa), the SQL does not.
    theirs = con.execute("SELECT hushall_id, atgard, differens FROM res_hushall").df()
    ours = pd.read_parquet(wh / "inkomstkontroll_hushall.parquet",
                           columns=["hushall_id", "atgard", "differens"])
    ours["atgard"] = ours["atgard"].astype(str).replace({"obekraftad_taxa": "efterdebitering"})
    out["inkomstkontroll"] = _same_rows(ours, theirs, ["hushall_id"], ["atgard", "differens"])
    out["all_same"] = all(v.get("same", False) for v in out.values() if isinstance(v, dict))
    return out


def _same_rows(ours, theirs, keys: list[str], cols: list[str], subset: bool = False,
               tol: float = 0.0) -> dict:
    """Counts of keys in each, in both, and of rows whose values differ (numbers within tol).
    `subset`: ours need only be a subset of theirs (a list of some of the pupils)."""
    import pandas as pd

    a = ours.astype({k: str for k in keys}).set_index(keys)
    b = theirs.astype({k: str for k in keys}).set_index(keys)
    common = a.index.intersection(b.index)
    diff = 0
    for c in cols:
        x, y = a.loc[common, c], b.loc[common, c]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            xv = pd.to_numeric(x, errors="coerce").astype("float64")
            yv = pd.to_numeric(y, errors="coerce").astype("float64")
            bad = ~(((xv - yv).abs() <= tol + 1e-9) | (xv.isna() & yv.isna()))
        else:
            bad = x.astype(str).to_numpy() != y.astype(str).to_numpy()
        diff = max(diff, int(pd.Series(bad).sum()))
    keys_ok = len(common) == len(a) and (subset or len(common) == len(b))
    return {"ours": len(a), "duckdb": len(b), "common": len(common), "differing": diff,
            "same": bool(keys_ok and diff == 0)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.duck_e2e",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="a data dir whose inbox/ holds the CSV files")
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--params", type=Path, help="policy parameters (see --write-params)")
    ap.add_argument("--write-params", type=Path, help="write the parameters and exit")
    ap.add_argument("--kommunkod", default="")
    ap.add_argument("--inbox", type=Path, action="append",
                    help="read the CSV files here instead of DATA/inbox (repeatable)")
    ap.add_argument("--check", type=Path, metavar="KEYDIR",
                    help="also compare with the warehouse tables of our run in DATA")
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: its default)")
    ap.add_argument("--out", type=Path, help="write the result as JSON here")
    args = ap.parse_args(argv)
    as_of = date.fromisoformat(args.as_of)
    if args.write_params:
        write_params(args.write_params, as_of, args.kommunkod)
        return 0
    if not args.params:
        ap.error("--params is required (make it with --write-params)")
    params = json.loads(args.params.read_text())
    t0 = time.perf_counter()
    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    rows_in = load(con, args.inbox or [args.data / "inbox"], as_of)
    t1 = time.perf_counter()
    result = compute(con, as_of, params)
    t2 = time.perf_counter()
    result |= {"load_s": round(t1 - t0, 3), "compute_s": round(t2 - t1, 3), "rows_in": rows_in}
    if args.check:
        result["check"] = check(con, args.data, args.check)
    text = json.dumps(result, indent=1, default=str)
    if args.out:
        args.out.write_text(text)
    print(text, file=sys.stderr if args.out else sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
