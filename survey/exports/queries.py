"""Loading a background export: only its requester may see or download it."""

from __future__ import annotations

from flask import abort
from sqlalchemy import select

from survey.extensions import db
from survey.models import ExportJob, User


def export_of_user_or_404(export_id, user: User) -> ExportJob:
    """The export with this id if ``user`` asked for it; 404 otherwise (also for ids that are not numbers)."""
    try:
        ident = int(export_id)
    except (TypeError, ValueError):
        abort(404)
    if not 0 < ident < 2**63:
        abort(404)
    job = db.session.scalar(select(ExportJob).where(ExportJob.id == ident, ExportJob.user_id == user.id))
    if job is None:
        abort(404)
    return job
