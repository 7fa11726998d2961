"""Who is protected: flagged persons and, by association, everyone in their household.

A household is what links people in our sources: a child and its guardians (folkbokföring)
and the payer, co-payer and children of one fee household. The protected set is the union
of the connected components that contain a flagged person — over-protection is the safe
error, so links are followed transitively.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
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
        # Everyone in a fee household links to its hushall_id node.
        for col in ("betalare", "medbetalare", "barn"):
            # A year of invoices repeats each link every month: one edge per pair is enough.
            e = avgifter[[col, "hushall_id"]].dropna().drop_duplicates()
            e = e.assign(hushall_id="hushall:" + e["hushall_id"].astype(str))
            edges.append(e.set_axis(["a", "b"], axis=1))
    if not edges:
        return pd.DataFrame({"a": pd.Series(dtype="string"), "b": pd.Series(dtype="string")})
    return pd.concat(edges, ignore_index=True).astype("string")


def protected_persons(personer: pd.DataFrame, avgifter: pd.DataFrame | None,
                      markeringar: list[str], spridning: dict[str, bool]) -> pd.Series:
    """Person ids to seal: flagged persons and their connected households (sorted, unique)."""
    flagged = np.zeros(len(personer), dtype=bool)
    for col in markeringar:
        flagged |= personer[col].to_numpy(dtype=bool)
    seeds = personer.loc[flagged, "person_id"]
    links = household_links(personer, avgifter, spridning.get("vardnadshavare", True),
                            spridning.get("hushall_avgifter", True))
    nodes = pd.Index(pd.concat([personer["person_id"], links["a"], links["b"]]).dropna().unique())
    if len(nodes) == 0:
        return pd.Series([], dtype="string", name="person_id")
    a = nodes.get_indexer(links["a"])
    b = nodes.get_indexer(links["b"])
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(graph, directed=False)
    seed_labels = np.unique(labels[nodes.get_indexer(seeds)])
    members = nodes[np.isin(labels, seed_labels)]
    members = members[~members.str.startswith("hushall:")]
    return pd.Series(sorted(members), dtype="string", name="person_id")
