"""The board's page: a self-contained HTML file with charts of the published kommunbild.

Everything shown is one of `page_figures`, read from the published kommunbild table: a count
is a published cell, a share is drawn only when its numerator and base are both published and
the base is at least `min_base` pupils (a ratio follows its suppressed count); otherwise the
page shows the symbol. The audit checks the same figures against the proven table
(`skyddsnat.rules.disclosure_audit.figure_problems`) before anything is delivered.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from skyddsnat.rules.suppression import TOTAL

LEVEL_COLUMNS = {"antal_10": "≥ 10 %", "antal_15": "≥ 15 %", "antal_20": "≥ 20 %"}

READING_NOTE = (
    "Siffrorna gäller elever i kommunens skolenheter med schemalagd tid under månaden. "
    "Andelen är elever med minst 10, 15 respektive 20 % total frånvaro (giltig och ogiltig) "
    "den månaden, av alla elever. Elever med skyddade personuppgifter ingår inte. "
    "Antal 1–{kmin} visas aldrig: de och de celler som annars skulle kunna räknas fram visas "
    "som ”{symbol}”. Andelar av färre än {min_base} elever visas också som ”{symbol}”. "
    "En saknad punkt i diagrammet betyder ”{symbol}”, inte noll."
)


def published(shown: pd.Series) -> pd.Series:
    """The published numbers of a kommunbild column; suppressed cells become NaN."""
    return pd.to_numeric(shown.astype("string"), errors="coerce").astype("float64")


def shares(frame: pd.DataFrame, min_base: int) -> pd.DataFrame:
    """Share (%) per level, NaN where the count or base is suppressed or the base is small."""
    base = published(frame["antal_elever"])
    out = pd.DataFrame(index=frame.index)
    for col in LEVEL_COLUMNS:
        share = 100.0 * published(frame[col]) / base
        out[col] = share.where(base >= min_base)
    return out


FIGURE_COLUMNS = ["del", "manad", "skolenhet", "arskurs", "matt", "bas", "varde"]


def page_figures(kommunbild_df: pd.DataFrame, min_base: int) -> pd.DataFrame:
    """Every number the page shows, with the published cells it comes from: `del` trend (the
    municipality per month, shares per level) or skola (each school unit in the latest month:
    its counts and its share ≥ 10 %); `matt` the count, `bas` the base of a share ("" for a
    count); `varde` the number shown, NaN where the page shows the symbol."""
    df = kommunbild_df
    parts = []
    total = df[(df["skolenhet"] == TOTAL) & (df["arskurs"] == TOTAL)].sort_values("manad")
    share = shares(total, min_base)
    for col in LEVEL_COLUMNS:
        parts.append(pd.DataFrame({"del": "trend", "manad": total["manad"],
                                   "skolenhet": TOTAL, "arskurs": TOTAL, "matt": col,
                                   "bas": "antal_elever", "varde": share[col]}))
    months = sorted(df["manad"].dropna().unique().tolist())
    latest = months[-1] if months else ""
    schools = df[(df["skolenhet"] != TOTAL) & (df["arskurs"] == TOTAL) & (df["manad"] == latest)]
    for col in ("antal_elever", *LEVEL_COLUMNS):
        parts.append(pd.DataFrame({"del": "skola", "manad": schools["manad"],
                                   "skolenhet": schools["skolenhet"], "arskurs": TOTAL,
                                   "matt": col, "bas": "", "varde": published(schools[col])}))
    parts.append(pd.DataFrame({"del": "skola", "manad": schools["manad"],
                               "skolenhet": schools["skolenhet"], "arskurs": TOTAL,
                               "matt": "antal_10", "bas": "antal_elever",
                               "varde": shares(schools, min_base)["antal_10"]}))
    out = pd.concat(parts, ignore_index=True)[FIGURE_COLUMNS]
    return out.astype({c: "string" for c in FIGURE_COLUMNS if c != "varde"})


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _percent(value: float, symbol: str) -> str:
    return symbol if pd.isna(value) else f"{value:.1f} %".replace(".", ",")


def _figure(**kw):
    """A matplotlib Figure, imported when a chart is drawn: a large city's page is drawn by
    the delivery's helper process, so the run itself need not pay matplotlib's import.
    No pyplot: no global figure state, no GUI backend."""
    from matplotlib.figure import Figure

    return Figure(**kw)


def _trend_chart(total: pd.DataFrame, share: pd.DataFrame, symbol: str) -> str:
    fig = _figure(figsize=(8, 3.6))
    ax = fig.subplots()
    months = total["manad"].tolist()
    x = np.arange(len(months))
    for col, label in LEVEL_COLUMNS.items():
        y = share[col].to_numpy()
        ax.plot(x, y, marker="o", label=f"Andel elever {label}")
        for xi, yi in zip(x, y, strict=True):
            if np.isnan(yi):
                ax.annotate(symbol, (xi, 0), ha="center", va="bottom")
    ax.set_xticks(x, months, rotation=45, ha="right")
    ax.set_ylabel("Andel av eleverna (%)")
    ax.set_ylim(bottom=0)
    ax.set_title("Hela kommunen per månad")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    return _png(fig)


def _school_chart(schools: pd.DataFrame, share: pd.Series, month: str, symbol: str) -> str:
    labels = schools["skolenhet_namn"].fillna(schools["skolenhet"]).tolist()
    values = share.to_numpy()
    order = np.argsort(np.nan_to_num(values, nan=-1.0))
    fig = _figure(figsize=(8, max(2.5, 0.28 * len(labels) + 1)))
    ax = fig.subplots()
    y = np.arange(len(order))
    shown = np.nan_to_num(values[order], nan=0.0)
    ax.barh(y, shown, color="#3b6ea5")
    for yi, v in zip(y, values[order], strict=True):
        if np.isnan(v):
            ax.annotate(symbol, (0, yi), va="center", ha="left")
    ax.set_yticks(y, [labels[i] for i in order], fontsize="small")
    ax.set_xlabel("Andel elever med minst 10 % frånvaro (%)")
    ax.set_title(f"Skolenheter, {month}")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def board_page(kommunbild_df: pd.DataFrame, out_html: Path, title: str, policy_version: str,
               as_of: date, *, min_base: int = 10, symbol: str = "..", k: int = 5) -> Path:
    """Write the board's HTML page (charts as embedded PNGs, one table of published counts)."""
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(board_html(kommunbild_df, title, policy_version, as_of,
                                   min_base=min_base, symbol=symbol, k=k), encoding="utf-8")
    return out_html


def board_html(kommunbild_df: pd.DataFrame, title: str, policy_version: str, as_of: date, *,
               min_base: int = 10, symbol: str = "..", k: int = 5, note: str = "") -> str:
    """The board's HTML page as text (drawing its charts takes seconds for a large city, so
    the delivery may run this in its helper process: the table holds no personal data).
    `note` says which months are left out (too few school days), as the workbook does."""
    df = kommunbild_df
    fig = page_figures(df, min_base)
    trend = fig[fig["del"] == "trend"]
    total = trend.pivot(index="manad", columns="matt", values="varde").sort_index()
    total = total.reset_index()
    counts = fig[(fig["del"] == "skola") & (fig["bas"] == "")]
    counts = counts.pivot(index="skolenhet", columns="matt", values="varde").reindex(
        columns=["antal_elever", *LEVEL_COLUMNS])  # a night without attendance has none
    rate = fig[(fig["del"] == "skola") & (fig["bas"] != "")].set_index("skolenhet")["varde"]
    latest = str(fig.loc[fig["del"] == "skola", "manad"].max()) if len(counts) else ""
    names = (df[df["skolenhet"] != TOTAL].drop_duplicates("skolenhet")
             .set_index("skolenhet")["skolenhet_namn"])
    schools = pd.DataFrame({"skolenhet": counts.index.astype(str)})
    schools["skolenhet_namn"] = schools["skolenhet"].map(names)
    school_share = pd.DataFrame({"antal_10": rate.reindex(schools["skolenhet"]).to_numpy()})
    for col in ("antal_elever", *LEVEL_COLUMNS):
        schools[col] = [symbol if pd.isna(v) else str(int(v)) for v in counts[col]]

    parts = [
        "<!DOCTYPE html><html lang='sv'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
        "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.2em .5em}"
        "td.n{text-align:right}.note{background:#f3f3f3;padding:.8em}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Avser: {html.escape(str(as_of))}. Policyversion: {html.escape(policy_version)}.</p>",
        "<div class='note'><h2>Så läser du sidan</h2><p>"
        + html.escape(READING_NOTE.format(kmin=k - 1, symbol=symbol, min_base=min_base))
        + "</p></div>",
    ]
    if note:
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
    if len(total):
        img = _trend_chart(total, total, symbol)
        parts.append("<h2>Frånvaro över tid</h2>"
                     f"<img alt='Andel elever med hög frånvaro per månad' "
                     f"src='data:image/png;base64,{img}'>")
    if len(schools):
        img = _school_chart(schools, school_share["antal_10"], latest, symbol)
        parts.append(f"<h2>Skolenheter {html.escape(latest)}</h2>"
                     f"<img alt='Andel elever med minst 10 % frånvaro per skolenhet' "
                     f"src='data:image/png;base64,{img}'>")
        parts.append(_school_table(schools, school_share, symbol))
    parts.append("</body></html>")
    return "\n".join(parts)


def _school_table(schools: pd.DataFrame, share: pd.DataFrame, symbol: str) -> str:
    head = ["Skolenhet", "Antal elever", "Antal ≥ 10 %", "Antal ≥ 15 %", "Antal ≥ 20 %",
            "Andel ≥ 10 %"]
    rows = ["<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for i, school in schools.iterrows():  # one row per school unit: a few hundred at most
        name = school["skolenhet_namn"] if pd.notna(school["skolenhet_namn"]) else ""
        cells = [html.escape(str(name or school["skolenhet"]))]
        cells += [html.escape(str(school[c])) for c in ("antal_elever", *LEVEL_COLUMNS)]
        cells.append(html.escape(_percent(share.loc[i, "antal_10"], symbol)))
        rows.append("<tr><td>" + cells[0] + "</td>"
                    + "".join(f"<td class='n'>{c}</td>" for c in cells[1:]) + "</tr>")
    rows.append("</tbody></table>")
    return "".join(rows)
