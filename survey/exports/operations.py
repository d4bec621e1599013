"""Large exports as background jobs: :func:`start_export` records the request, :func:`run_export` (the
job, run by ``survey.jobs``) writes the file under ``instance/exports/`` with owner-only permissions,
committing its progress (rows written of the total) after each batch, and :func:`delete_expired_exports`
(a periodic job) removes files older than ``EXPORT_KEEP_MINUTES``.

The rows are those of the streamed direct download (:mod:`survey.manager.exports`), with comments
masked in the requester's language; each batch is read by its own query, so memory stays flat and
the progress can be committed between batches.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from survey.extensions import db
from survey.manager import exports
from survey.models import ExportJob, Unit, User
from survey.models._common import utcnow
from survey.units.scope import scope_of

logger = logging.getLogger(__name__)

FORMATS = ("csv", "xlsx")


def exports_folder() -> Path:
    folder = Path(current_app.instance_path) / "exports"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def file_path(job: ExportJob) -> Path:
    return exports_folder() / f"{job.token}.{job.format}"


def start_export(user: User, unit: Unit | None, fmt: str, locale: str, *, now: datetime | None = None) -> ExportJob:
    """Record an export of ``user``'s scope (or of ``unit``, already loaded in that scope); the caller
    commits, then enqueues :func:`run_export` with the id."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    job = ExportJob(token=secrets.token_hex(16), user_id=user.id, unit_id=unit.id if unit else None, format=fmt,
                    locale=locale[:8], state="queued", rows_written=0, created_at=now or utcnow())
    db.session.add(job)
    db.session.flush()
    return job


def _labels(locale: str) -> dict[str, str]:
    with force_locale(locale):
        return {"email": _("[email address]"), "dossier": _("[dossier code]"),
                "citizen_id": _("[citizen ID number]"), "phone": _("[phone number]")}


def _progress(job: ExportJob, **values) -> None:
    for name, value in values.items():
        setattr(job, name, value)
    db.session.commit()


def run_export(export_id: int) -> dict:
    """The background job: write the export's file, committing the rows written after each batch."""
    job = db.session.get(ExportJob, export_id)
    if job is None or job.state != "queued":
        return {"export": export_id, "state": job.state if job else "missing"}
    user = db.session.get(User, job.user_id)
    scope = scope_of(user)
    unit = db.session.get(Unit, job.unit_id) if job.unit_id else None
    _progress(job, state="running", rows_total=exports.count_ratings(scope, unit=unit))
    path = file_path(job)
    batches = exports.batches_after(scope, unit=unit, labels=_labels(job.locale))
    try:
        if job.format == "csv":
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with io.open(descriptor, "w", encoding="utf-8", newline="") as stream:
                for written in exports.write_csv(stream, batches):
                    _progress(job, rows_written=job.rows_written + written)
        else:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))  # owner-only before any data
            for written in exports.write_xlsx(str(path), batches):
                _progress(job, rows_written=job.rows_written + written)
    except Exception:
        db.session.rollback()
        path.unlink(missing_ok=True)
        _progress(job, state="failed", finished_at=utcnow())
        raise
    now = utcnow()
    keep = timedelta(minutes=int(current_app.config["EXPORT_KEEP_MINUTES"]))
    _progress(job, state="finished", finished_at=now, expires_at=now + keep)
    return {"export": export_id, "state": "finished", "rows": job.rows_written}


def delete_expired_exports(*, now: datetime | None = None) -> int:
    """Delete the files of finished exports past their time (and of failed ones); returns how many."""
    now = now or utcnow()
    expired = db.session.scalars(select(ExportJob).where(
        (ExportJob.state == "finished") & (ExportJob.expires_at <= now) | (ExportJob.state == "failed"))).all()
    for job in expired:
        file_path(job).unlink(missing_ok=True)
        job.state = "expired"
    db.session.flush()
    return len(expired)
