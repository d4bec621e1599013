"""The exports' periodic job (``create_app`` imports this module to register it)."""

from __future__ import annotations

from survey import jobs
from survey.exports.operations import delete_expired_exports
from survey.extensions import db


@jobs.periodic(seconds=300)
def delete_old_exports() -> int:
    """Every five minutes: delete the files of background exports past ``EXPORT_KEEP_MINUTES``."""
    deleted = delete_expired_exports()
    db.session.commit()
    return deleted
