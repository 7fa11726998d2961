"""The one re-identification step every list goes through.

Rows that touch a protected person in any person-id column (the subject, a co-payer, a
child, a guardian) leave the general path untouched and pseudonymous; they are only ever
delivered sealed. The other rows get identity columns, and only those the policy lets
both the list and its role have: a column outside that set is never filled, and a spec
that asks for one is refused before any identity is read.
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd

from skyddsnat.arrow_strings import isin
from skyddsnat.lists.catalog import PERSON_ID_COLUMNS, ListSpec
from skyddsnat.policy import Policy


class ReidentificationRefused(PermissionError):
    """A list asked for an identity field its recipient may not have."""


def allowed_fields(spec: ListSpec, policy: Policy) -> set[str]:
    """Identity fields the list may carry: the list's route ∩ the receiving role's fields."""
    route = policy.mottagare.listor.get(spec.kind)
    if route is None:
        raise ReidentificationRefused(f"listan {spec.kind} saknas i mottagare.yaml")
    if route.mottagare != spec.role:
        raise ReidentificationRefused(
            f"listan {spec.kind} går enligt policyn till {route.mottagare}, inte {spec.role}")
    role = policy.mottagare.roller[spec.role]
    return set(route.identitet) & set(role.identitet)


def officer_fields(policy: Policy) -> list[str]:
    """Identity fields of the protected-identity officer (may include addresses)."""
    return list(policy.mottagare.roller[policy.mottagare.forseglad_mottagare].identitet)


def person_columns(rows: pd.DataFrame, spec: ListSpec) -> list[str]:
    cols = [spec.subject] + [c for c in PERSON_ID_COLUMNS if c != spec.subject]
    return [c for c in cols if c in rows.columns]


def protected_mask(rows: pd.DataFrame, spec: ListSpec, skyddade) -> pd.Series:
    """True for rows where any person-id column holds a protected person."""
    protected = _as_index(skyddade)
    mask = pd.Series(False, index=rows.index)
    for c in person_columns(rows, spec):
        mask |= isin(rows[c], protected)
    return mask


def split_and_reidentify(rows: pd.DataFrame, spec: ListSpec, identities: pd.DataFrame,
                         skyddade, policy: Policy) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (general rows with identities in `spec.columns` order, restricted rows).

    `identities`: person_id plus the decrypted vault fields. Restricted rows are returned
    unchanged (pseudonymous). Raises ReidentificationRefused if the spec asks for an
    identity column the policy does not give its role.
    """
    general, mask = reidentify_general(rows, spec, identities, skyddade, policy)
    return general, rows[mask.to_numpy()].reset_index(drop=True)


def reidentify_general(rows: pd.DataFrame, spec: ListSpec, identities: pd.DataFrame,
                       skyddade, policy: Policy) -> tuple[pd.DataFrame, pd.Series]:
    """The general rows re-identified (in order, index reset) and the protected-row mask.

    The mask lets a caller that re-identified many lists' rows in one go cut the result
    back into its lists (`rows[~mask]` lines up with the general rows).
    """
    allowed = allowed_fields(spec, policy)
    _refuse_unallowed(spec, allowed)
    if spec.subject not in rows.columns:
        raise ReidentificationRefused(f"listan {spec.name} saknar kolumnen {spec.subject}")
    mask = protected_mask(rows, spec, skyddade)
    return attach_identities(rows[~mask.to_numpy()], spec, identities, allowed), mask


def attach_identities(rows: pd.DataFrame, spec: ListSpec, identities: pd.DataFrame,
                      allowed: Collection[str]) -> pd.DataFrame:
    """Fill the spec's identity columns from `identities`, keep `spec.columns`, drop ids."""
    _refuse_unallowed(spec, set(allowed))
    wanted = spec.identity_columns()
    fields = sorted({f for need in wanted.values() for f in need})
    missing = [f for f in fields if f not in identities.columns]
    if missing:
        raise ReidentificationRefused(f"identitetsuppgifterna saknar fälten {missing}")
    ident = identities[["person_id", *fields]].drop_duplicates("person_id")
    ident = ident.set_index(ident["person_id"].astype("string"))
    subject = rows[spec.subject].astype("string")
    looked_up = ident.reindex(subject.to_numpy())
    out = rows.copy()
    for col, need in wanted.items():
        if need == ("personnummer",):
            values = format_personnummer(looked_up["personnummer"])
        elif len(need) == 2:
            first = looked_up[need[0]].astype("string").fillna("")
            last = looked_up[need[1]].astype("string").fillna("")
            values = (first + " " + last).str.strip().replace("", pd.NA)
        else:
            values = looked_up[need[0]].astype("string")
        out[col] = values.to_numpy()
    absent = [c for c in spec.columns if c not in out.columns]
    if absent:
        raise ReidentificationRefused(f"listan {spec.name} saknar kolumnerna {absent}")
    return out.loc[:, list(spec.columns)].reset_index(drop=True)


def format_personnummer(values: pd.Series) -> pd.Series:
    """12 digits (any separators) -> YYYYMMDD-NNNN, as text."""
    digits = values.astype("string").str.replace(r"\D", "", regex=True)
    return (digits.str.slice(0, 8) + "-" + digits.str.slice(8, 12)).astype("string")


def _refuse_unallowed(spec: ListSpec, allowed: set[str]) -> None:
    for col, need in spec.identity_columns().items():
        refused = [f for f in need if f not in allowed]
        if refused:
            raise ReidentificationRefused(
                f"kolumnen {col} i listan {spec.name} kräver {refused}, som rollen "
                f"{spec.role} inte får enligt policyn")


def _as_index(skyddade) -> pd.Index:
    if isinstance(skyddade, pd.DataFrame):
        skyddade = skyddade["person_id"]
    return pd.Index(pd.Series(list(skyddade) if isinstance(skyddade, set | frozenset)
                              else skyddade, dtype="string").dropna().unique())
