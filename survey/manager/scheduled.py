"""The manager accounts' periodic job (``create_app`` imports this module to register it)."""

from __future__ import annotations

from survey import jobs
from survey.extensions import db
from survey.manager.operations import prune_sessions


@jobs.periodic(seconds=3600)
def prune_user_sessions() -> int:
    """Every hour: delete the sign-in sessions that ended more than ``MANAGER_SESSION_KEEP_DAYS`` ago."""
    deleted = prune_sessions()
    db.session.commit()
    return deleted
