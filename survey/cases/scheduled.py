"""The complaint cases' periodic job (``create_app`` imports this module to register it)."""

from __future__ import annotations

from survey import jobs
from survey.cases.operations import open_cases
from survey.extensions import db


@jobs.periodic(seconds=60)
def open_complaint_cases() -> int:
    """Every minute: open a case for each new negative rating with a comment (exactly once)."""
    opened = open_cases()
    db.session.commit()
    return opened
