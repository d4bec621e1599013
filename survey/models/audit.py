"""The audit log: every change a manager makes, written by the operation that makes it. Rows are
only ever added; the ORM refuses to change or delete one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.extensions import db
from survey.models._common import utcnow
from survey.models.units import Unit
from survey.models.users import User


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    #: Who did it; NULL for the command line (the operator of the server).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: What was done, verb-object: ``kiosk_registered``, ``kiosk_revoked``, ``user_created``.
    action: Mapped[str] = mapped_column(String(64))
    #: What it was done to: a table name and the row's id.
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(Integer)
    #: The unit the change belongs to, so administrators read the entries of their own scope.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    #: Details as JSON text (never secrets: a kiosk's token is not recorded, nor a password).
    data: Mapped[str | None] = mapped_column(Text)

    actor: Mapped[User | None] = relationship()
    unit: Mapped[Unit | None] = relationship()


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_changes(mapper, connection, target):
    raise ValueError("audit entries are never changed or deleted")
