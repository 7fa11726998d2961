"""Suppression and LP audit of the board's kommunbild at Stockholm's shape (issue 18).

`python -m bench.disclosure` builds a synthetic table of the stockholm profile's shape
(190 municipal grundskola units, F-6 / F-9 / 7-9, about 60 pupils per grade, a läsår's
10 months, the four counts), without generating the city: the audit's cost follows the
table's shape and its share of small cells, not the pupils behind it. Then it times the
suppression (which proves as it goes, given the truth) and the blocking check's audit (from
the published strings alone), and prints the figures for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from skyddsnat.rules.action_programmes import BOARD_STRUCTURE, MEASURES
from skyddsnat.rules.disclosure_audit import audit
from skyddsnat.rules.kommunbild import BLOCKS, COUNT_COLUMNS, STRUCTURE
from skyddsnat.rules.suppression import STATUSES, suppress_table

SPANS = ((0, 6), (0, 9), (7, 9))  # F-6, F-9, 7-9
MONTHS = ("2025-08", "2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02",
          "2026-03", "2026-04", "2026-05")


def stockholm_shape(units: int = 190, seed: int = 18) -> pd.DataFrame:
    """Inner kommunbild rows: per unit its grades, per grade ~60 pupils (a few tiny ones and a
    pupil or two of unknown grade), monthly absence levels nested as in the city."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(units):
        lo, hi = SPANS[rng.integers(0, len(SPANS))]
        size = rng.integers(20, 100)
        grades = [str(g) for g in range(lo, hi + 1)] + (["okänd"] if rng.random() < 0.1 else [])
        for g in grades:
            base = 2 if g == "okänd" else size
            for m in MONTHS:
                n = max(1, int(rng.poisson(base)))
                share = rng.beta(2, 9, n)  # each pupil's absence share this month
                a10 = int((share >= 0.10).sum() * rng.uniform(0.6, 1.0))
                a15 = int(min(a10, (share >= 0.15).sum() * rng.uniform(0.6, 1.0)))
                a20 = int(min(a15, (share >= 0.20).sum() * rng.uniform(0.5, 1.0)))
                rows.append((m, f"{1_000_0000 + u}", g, n, a10, a15, a20))
    return pd.DataFrame(rows, columns=["manad", "skolenhet", "arskurs", *COUNT_COLUMNS])


def programmes_shape(units: int = 190, seed: int = 18) -> pd.DataFrame:
    """The board's action-programme table: per unit pupils with F, with a programme, F
    without one and '-', consistent with each other."""
    rng = np.random.default_rng(seed)
    f = rng.poisson(25, units)
    f_without = rng.binomial(f, 0.3)
    programmes = (f - f_without) + rng.poisson(8, units)
    return pd.DataFrame({"skolenhet": [f"{1_000_0000 + u}" for u in range(units)],
                         "elever_med_f": f, "elever_med_atgardsprogram": programmes,
                         "f_utan_atgardsprogram": f_without,
                         "elever_med_streck": rng.poisson(3, units)})[["skolenhet", *MEASURES]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--units", type=int, default=190)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--exact", action="store_true",
                    help="also every suppressed cell's interval by its own min/max LPs")
    args = ap.parse_args()
    inner = stockholm_shape(args.units)
    t0 = time.perf_counter()
    result = suppress_table(inner, STRUCTURE, args.k, blocks=BLOCKS)
    t_suppress = time.perf_counter() - t0
    published = result.published()
    t0 = time.perf_counter()
    report = audit(published, STRUCTURE, args.k)
    t_audit = time.perf_counter() - t0
    status = pd.Series(result.status[COUNT_COLUMNS].to_numpy().ravel()).value_counts()
    print(f"maskin: {platform.node()} {platform.machine()}, {os.cpu_count()} kärnor, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"tabell: {len(published)} rader × {len(COUNT_COLUMNS)} mått = "
          f"{len(published) * len(COUNT_COLUMNS)} celler ({len(inner)} inre rader, "
          f"{inner['skolenhet'].nunique()} skolenheter, {len(MONTHS)} månader)")
    print("cellstatus: " + ", ".join(f"{s} {int(status.get(s, 0))}" for s in STATUSES))
    print(f"undertryckning (med bevis, sanningen som vittne): {t_suppress:.1f} s")
    print(f"röjandekontroll (från publicerade strängar): {t_audit:.1f} s, "
          f"{report.lps} LP-lösningar, bevisad: {report.passed}")
    print(report.summary())
    if args.exact:
        t0 = time.perf_counter()
        exact = audit(published, STRUCTURE, args.k, exact=True)
        print(f"exakt röjandekontroll: {time.perf_counter() - t0:.1f} s, {exact.lps} LP-lösningar, "
              f"bevisad: {exact.passed}")
    t0 = time.perf_counter()
    board = suppress_table(programmes_shape(args.units), BOARD_STRUCTURE, args.k)
    t_board = time.perf_counter() - t0
    t0 = time.perf_counter()
    board_report = audit(board.published(), BOARD_STRUCTURE, args.k)
    print(f"åtgärdsprogramtabellen: {len(board.values)} rader, undertryckning {t_board:.2f} s, "
          f"röjandekontroll {time.perf_counter() - t0:.2f} s, bevisad: {board_report.passed}")


if __name__ == "__main__":
    main()
