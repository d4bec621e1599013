"""The results' periodic jobs, registered with :func:`survey.jobs.periodic`.

``survey worker --with-scheduler`` runs them (once per period across every node with Redis; inline
without it). ``create_app`` imports this module, so every worker and scheduler knows them.
"""

from __future__ import annotations

from dataclasses import asdict

from survey import jobs
from survey.results import counts, snapshots

#: 01:00 in Vietnam (UTC+7) is 18:00 UTC: the day's ratings are in, nobody is at a counter.
PUBLISH_OFFSET_SECONDS = 18 * 3600


@jobs.periodic(seconds=60)
def refresh_counts() -> dict:
    """Every minute: add the ratings not yet counted to the count tables (exactly once)."""
    return asdict(counts.refresh_counts())


@jobs.periodic(seconds=86400, offset=PUBLISH_OFFSET_SECONDS)
def publish_due() -> list[dict]:
    """Every day at 01:00 Vietnam time: publish the last complete month, quarter and year at every
    level (a new revision only where the data changed)."""
    return [asdict(outcome) for outcome in snapshots.publish_due()]
