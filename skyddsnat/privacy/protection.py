"""Who is protected: flagged persons and, by association, everyone in their household.

A household is what links people in our sources: a child and its guardians (folkbokföring)
and the payer, co-payer and children of one fee household. The protected set is the union
of the connected components that contain a flagged person — over-protection is the safe
error, so links are followed transitively.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def household_links(personer: pd.DataFrame, avgifter: pd.DataFrame | None,
                    via_guardians: bool = True, via_fees: bool = True) -> pd.DataFrame:
    """Edges (a, b) between person ids that share a household."""
    edges = []
    if via_guardians:
        for col in ("vardnadshavare_1", "vardnadshavare_2"):
            e = personer[["person_id", col]].dropna()
            edges.append(e.set_axis(["a", "b"], axis=1))
    if via_fees and avgifter is not None and not avgifter.empty:
        # A year of invoices repeats each link every month: one edge per pair is enough.
        members = _distinct(avgifter, ["hushall_id", "betalare", "medbetalare", "barn"])
        # Everyone in a fee household links to its hushall_id node.
        for col in ("betalare", "medbetalare", "barn"):
            e = members[[col, "hushall_id"]].dropna().drop_duplicates()
            e = e.assign(hushall_id="hushall:" + e["hushall_id"].astype(str))
            edges.append(e.set_axis(["a", "b"], axis=1))
    if not edges:
        return pd.DataFrame({"a": pd.Series(dtype="string"), "b": pd.Series(dtype="string")})
    return pd.concat(edges, ignore_index=True).astype("string")


def _distinct(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Distinct rows of string columns, hashed in Arrow (a year of invoices is 1–2 M rows)."""
    table = pa.table({c: pa.array(frame[c].astype("string").array, type=pa.large_string())
                      for c in columns})
    return table.group_by(columns).aggregate([]).to_pandas().astype("string")[columns]


def protected_persons(personer: pd.DataFrame, avgifter: pd.DataFrame | None,
                      markeringar: list[str], spridning: dict[str, bool]) -> pd.Series:
    """Person ids to seal: flagged persons and their connected households (sorted, unique)."""
    flagged = np.zeros(len(personer), dtype=bool)
    for col in markeringar:
        flagged |= personer[col].to_numpy(dtype=bool)
    links = household_links(personer, avgifter, spridning.get("vardnadshavare", True),
                            spridning.get("hushall_avgifter", True))
    # One factorisation numbers every node: persons first, then both ends of every link.
    codes, nodes = pd.factorize(pd.concat([personer["person_id"], links["a"], links["b"]],
                                          ignore_index=True))
    if len(nodes) == 0:
        return pd.Series([], dtype="string", name="person_id")
    n_persons, n_links = len(personer), len(links)
    a = codes[n_persons:n_persons + n_links]
    b = codes[n_persons + n_links:]
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(graph, directed=False)
    seeds = codes[:n_persons][flagged]
    seed_labels = np.unique(labels[seeds[seeds >= 0]])
    members = pd.Index(nodes[np.isin(labels, seed_labels)], dtype="string")
    members = members[~members.str.startswith("hushall:")]
    return pd.Series(sorted(members), dtype="string", name="person_id")
