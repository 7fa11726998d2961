"""The core computations as DuckDB SQL, shared by the in-memory comparison (bench/duck.py)
and the end-to-end script over the inbox CSVs (bench/duck_e2e.py). No skyddsnat import, so the
end-to-end script's process is DuckDB's alone."""

from __future__ import annotations

SKOLPLIKT_SQL = """
WITH kids AS (
  SELECT DISTINCT ON (person_id) person_id, folkbokford_datum,
         CAST($y - year(fodelsedatum) - {first_age} AS BIGINT) AS grade
  FROM {personer}
  WHERE kommunkod = $kommun AND year(fodelsedatum) BETWEEN $y - {first_age} - {span}
        AND $y - {first_age}
), ful AS (SELECT person_id, startdatum, slutdatum FROM {placeringar}
           WHERE skolform IN (SELECT unnest($former))),
act AS (SELECT person_id, count(*) AS n FROM ful
        WHERE startdatum <= $d AND (slutdatum IS NULL OR slutdatum >= $d) GROUP BY ALL),
ended AS (SELECT person_id, count(*) AS n FROM ful WHERE slutdatum < $d GROUP BY ALL),
dec AS (SELECT person_id, count(*) AS n FROM {beslut}
        WHERE beslutstyp IN (SELECT unnest($beslut)) AND giltig_fran <= $d
          AND (giltig_till IS NULL OR giltig_till >= $d) GROUP BY ALL),
cls AS (
  SELECT k.person_id, k.grade, k.folkbokford_datum,
    CASE WHEN coalesce(a.n, 0) >= 2 THEN 'dubbel_placering'
         WHEN coalesce(a.n, 0) >= 1 OR coalesce(dc.n, 0) >= 1 THEN ''
         WHEN date_diff('day', k.folkbokford_datum, $d) < $grace THEN 'nyinflyttad'
         WHEN coalesce(e.n, 0) >= 1 THEN 'placering_avslutad'
         ELSE 'okand' END AS orsak
  FROM kids k LEFT JOIN act a USING (person_id) LEFT JOIN ended e USING (person_id)
       LEFT JOIN dec dc USING (person_id))
SELECT person_id,
       CASE WHEN $y >= $reform THEN CAST(grade + 1 AS VARCHAR)
            WHEN grade = 0 THEN 'FK' ELSE CAST(grade AS VARCHAR) END AS forvantad_arskurs,
       folkbokford_datum, orsak
FROM cls WHERE orsak <> ''
ORDER BY list_position(['dubbel_placering', 'nyinflyttad', 'placering_avslutad', 'okand'],
                       orsak), person_id
"""


def skolplikt_sql(personer: str, placeringar: str, beslut: str, first_age: int,
                  years: int) -> str:
    return SKOLPLIKT_SQL.format(personer=personer, placeringar=placeringar, beslut=beslut,
                                first_age=first_age, span=years - 1)


ABSENCE_SQL = """
WITH d AS (
  SELECT person_id, skolenhetskod, datum, schemalagd_min AS s,
         giltig_franvaro_min + ogiltig_franvaro_min AS f, ogiltig_franvaro_min AS o,
         giltig_franvaro_min + ogiltig_franvaro_min >= schemalagd_min AS hel
  FROM {narvaro} WHERE schemalagd_min > 0 AND datum BETWEEN $first AND $last
), g AS (
  SELECT *, sum(CASE WHEN hel THEN 0 ELSE 1 END) OVER (
           PARTITION BY person_id, skolenhetskod ORDER BY datum
           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS island
  FROM d
), runs AS (
  SELECT person_id, skolenhetskod, count(*) FILTER (WHERE hel) AS run
  FROM g GROUP BY person_id, skolenhetskod, island
), longest AS (
  SELECT person_id, skolenhetskod, max(run) AS langsta FROM runs GROUP BY ALL
), sums AS (
  SELECT person_id, skolenhetskod, count(*) AS skoldagar, sum(s) AS schemalagd_min,
         sum(f) AS franvaro_min, sum(o) AS ogiltig_min FROM d GROUP BY ALL
)
SELECT person_id, skolenhetskod, skoldagar, schemalagd_min, franvaro_min, ogiltig_min,
       100.0 * franvaro_min / schemalagd_min AS franvaro_procent,
       100.0 * ogiltig_min / schemalagd_min AS ogiltig_procent,
       langsta AS langsta_sammanhangande_dagar
FROM sums JOIN longest USING (person_id, skolenhetskod)
ORDER BY person_id, skolenhetskod
"""

ABSENCE_SUMS_SQL = """
SELECT person_id, skolenhetskod, count(*) AS skoldagar, sum(schemalagd_min) AS schemalagd_min,
       sum(giltig_franvaro_min + ogiltig_franvaro_min) AS franvaro_min,
       sum(ogiltig_franvaro_min) AS ogiltig_min,
       100.0 * sum(giltig_franvaro_min + ogiltig_franvaro_min) / sum(schemalagd_min) AS pct
FROM {narvaro} WHERE schemalagd_min > 0 AND datum BETWEEN $first AND $last GROUP BY ALL
"""


FEE_MONTHS_SQL = """
WITH inc AS (SELECT person_id, faststalld_inkomst AS ink FROM {inkomster} WHERE inkomstar = $y),
r AS (
  SELECT a.*, (p.ink IS NULL) OR (a.medbetalare IS NOT NULL AND c.ink IS NULL) AS saknas,
         coalesce(p.ink, 0) + coalesce(c.ink, 0) AS arsinkomst,
         CAST(substr(a.faktura_manad, 1, 4) AS INT) * 12
           + CAST(substr(a.faktura_manad, 6, 2) AS INT) - 1 AS midx
  FROM {avgifter} a LEFT JOIN inc p ON p.person_id = a.betalare
       LEFT JOIN inc c ON c.person_id = a.medbetalare
  WHERE starts_with(a.faktura_manad, CAST($y AS VARCHAR) || '-')
), f AS (
  SELECT r.*, (2 * arsinkomst + 12) // 24 AS manad, t.bp, t.cap, t.avdrag, t.inkomsttak
  FROM r JOIN taxa t ON r.midx BETWEEN t.fran AND t.till AND t.verksamhet = r.verksamhet
                    AND t.slot = least(r.barn_ordning, 3)
)
SELECT hushall_id, faktura_manad, betalare, medbetalare, barn, verksamhet, barn_ordning,
       anmald_inkomst, CASE WHEN saknas THEN NULL ELSE manad END AS hushallsinkomst_manad,
       debiterad_avgift, saknas,
       CASE WHEN saknas AND anmald_inkomst IS NOT NULL THEN NULL
            WHEN barn_ordning >= 4 THEN 0
            WHEN anmald_inkomst IS NULL THEN cap
            ELSE least((2 * bp * least(greatest(manad - avdrag, 0), inkomsttak) + 10000)
                       // 20000, cap) END AS korrekt_avgift
FROM f
"""

FEE_HOUSEHOLDS_SQL = """
SELECT hushall_id, last(betalare ORDER BY faktura_manad, barn_ordning, barn) AS betalare,
       last(medbetalare ORDER BY faktura_manad, barn_ordning, barn) AS medbetalare,
       sum(debiterad_avgift) AS debiterat,
       CASE WHEN bool_or(saknas) THEN NULL ELSE sum(coalesce(korrekt_avgift, 0)) END AS korrekt,
       korrekt - debiterat AS differens,
       CASE WHEN bool_or(saknas) THEN 'saknar_inkomstuppgift'
            WHEN korrekt - debiterat > $tol THEN 'efterdebitering'
            WHEN korrekt - debiterat < -$tol THEN 'aterbetalning'
            ELSE 'inom_tolerans' END AS atgard
FROM fee_months GROUP BY hushall_id ORDER BY hushall_id
"""


def fee_sql(con, avgifter: str, inkomster: str, year: int, tol: int) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE fee_months AS "
                + FEE_MONTHS_SQL.format(avgifter=avgifter, inkomster=inkomster), {"y": year})
    con.execute("CREATE OR REPLACE TEMP TABLE res AS " + FEE_HOUSEHOLDS_SQL, {"tol": tol})
