"""What a schedule or sensor tick writes to its tick log before it requests a night.

A run that will stop on a missing or stale feed says so already where the tick is shown
(skyddsnat/ingest/freshness.py decides, as the source assets will)."""

from __future__ import annotations

from datetime import date

from skyddsnat.ingest.freshness import night_findings
from skyddsnat.layout import DataDir
from skyddsnat.policy import DEFAULT_POLICY_DIR, PolicyError, load_policy


def log_findings(context, data_dir: str, as_of: date, policy_dir: str = "") -> list[str]:
    """Log each finding of the night as a warning in the tick log; return the lines."""
    try:
        policy = load_policy(policy_dir or DEFAULT_POLICY_DIR)
    except PolicyError as exc:
        lines = [f"policyfel – körningen kommer att stoppas: {len(exc.problems)} fel"]
    else:
        lines = [f"{'stoppar' if f.stops else 'varning'}: {f.message}"
                 for f in night_findings(DataDir(data_dir), policy, as_of)]
    for line in lines:
        context.log.warning(line)
    return lines
