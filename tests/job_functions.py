"""Jobs the job tests enqueue: module-level functions that a worker in another process can import."""

from __future__ import annotations

import time
import uuid

from survey.extensions import db
from survey.models import Procedure


def add_procedure(code: str) -> int:
    """Store a procedure (committing, as a job does) and return its id."""
    procedure = Procedure(code=code, name_vi=f"Thủ tục {code}", name_en=f"Procedure {code}")
    db.session.add(procedure)
    db.session.commit()
    return procedure.id


def fail_on_purpose() -> None:
    raise RuntimeError("this job fails on purpose")


def record_tick() -> None:
    """One row per run: the time it ran, and (under RQ) the time it was enqueued."""
    from rq import get_current_job

    job = get_current_job()
    enqueued = f"{job.enqueued_at.timestamp():.6f}" if job is not None else None
    db.session.add(Procedure(code=f"TICK-{uuid.uuid4().hex[:12]}", name_vi=f"{time.time():.6f}", name_en=enqueued))
    db.session.commit()
