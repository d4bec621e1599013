"""Transactions (dossiers, hồ sơ) that provinces' one-stop systems register through the API.

Each one can be rated once, through its single-use link: the rating's ``transaction_ref`` is the
dossier code, unique among ratings. Officer codes are kept for the office's own use, never published.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.extensions import db
from survey.models._common import utcnow
from survey.models.units import Unit


class Transaction(db.Model):
    __tablename__ = "transactions"
    __table_args__ = (Index("ix_transactions_office_received", "office_id", "received_at"),
                      Index("ix_transactions_api_key_created", "api_key_id", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Dossier code in the Circular 01/2018 Art. 19 or the 2026 national format; unique nationally.
    dossier_code: Mapped[str] = mapped_column(String(40), unique=True)
    #: The receiving one-stop office.
    office_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    #: National procedure catalogue code (e.g. ``1.005169``) as sent; ``procedure_id`` when we know it.
    procedure_code: Mapped[str] = mapped_column(String(64))
    procedure_id: Mapped[int | None] = mapped_column(ForeignKey("procedures.id"))
    #: The officer who handled it, as the one-stop system names them: never published.
    officer_code: Mapped[str | None] = mapped_column(String(64))
    #: Times as naive UTC.
    received_at: Mapped[datetime] = mapped_column(DateTime)
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    returned_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: The key that registered it first (``None``: the command-line import).
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    office: Mapped[Unit] = relationship(foreign_keys=[office_id])
    counter: Mapped[Unit | None] = relationship(foreign_keys=[counter_id])


class TransactionImport(db.Model):
    """A CSV file of transactions an administrator uploaded, and how far its import has got: the
    counts are updated after each committed batch, so the page can show the progress."""

    __tablename__ = "transaction_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The uploader's unit: rows of offices outside it are refused; ``None`` for a national administrator.
    scope_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(200))
    #: The file itself until the import has finished (then emptied).
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: queued, running, done or failed (the file as a whole could not be read).
    state: Mapped[str] = mapped_column(String(16), default="queued")
    rows: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    #: JSON: the first refused lines as ``[{line, code, vi, en}]``, and a failed file's reason ``{code, vi, en}``.
    refused_lines: Mapped[str | None] = mapped_column(Text)
    failure: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    scope_unit: Mapped[Unit | None] = relationship()
