"""Single-use rating links for registered transactions: signed, expiring, consumed by one rating.

The link carries ``[transaction id, expiry]`` signed with a key derived for this purpose (previous
secrets still verify, see :mod:`survey.secrets`). It holds nothing about the dossier. Signing is
deterministic, so re-sending a transaction returns the same link. The link is consumed by the
rating itself: ratings' ``transaction_ref`` (the dossier code) is unique, so of two racing
submissions the database stores one, whatever the timing.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

import segno
from flask import current_app, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import exists, select

from survey.extensions import db
from survey.models import Rating, Transaction
from survey.models._common import utcnow
from survey.secrets import derived_keys

PURPOSE = "rating-link"
EPOCH = datetime(1970, 1, 1)


def _serializer() -> URLSafeSerializer:
    # itsdangerous signs with the last key and verifies with any: current key last.
    return URLSafeSerializer(list(reversed(derived_keys(PURPOSE))), salt=PURPOSE)


def link_expiry(created_at: datetime, returned_at: datetime | None) -> datetime:
    """Links live ``RATING_LINK_DAYS`` from registration, or from the return of the result when later."""
    start = max(created_at, returned_at) if returned_at is not None else created_at
    return (start + timedelta(days=current_app.config["RATING_LINK_DAYS"])).replace(microsecond=0)


def link_token(transaction_id: int, expires_at: datetime) -> str:
    return _serializer().dumps([transaction_id, int((expires_at - EPOCH).total_seconds())])


def rating_link(transaction_id: int, expires_at: datetime) -> str:
    return url_for("link.rate_by_link", token=link_token(transaction_id, expires_at), _external=True)


def qr_svg(url: str) -> str:
    """The link as a QR code, a standalone SVG document."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=4, xmldecl=False, border=4)
    return buffer.getvalue().decode()


def qr_png(url: str) -> str:
    """The link as a QR code, a PNG image in base64 (for systems that print or show raster images)."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=8, border=4)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class LinkError(Exception):
    """Why a link cannot be used: ``forged``, ``expired`` or ``used``."""

    def __init__(self, code: str, dossier_code: str | None = None):
        super().__init__(code)
        self.code = code
        #: For ``used``: the dossier, so a resent form of the rating that used it can be recognised.
        self.dossier_code = dossier_code


@dataclass(frozen=True)
class Invitation:
    """A valid, unused link's transaction, as plain values."""

    transaction_id: int
    dossier_code: str
    office_id: int
    counter_id: int | None
    procedure_id: int | None
    expires_at: datetime


def open_invitation(token: str, *, now: datetime | None = None) -> Invitation:
    """The transaction behind ``token``, or a :class:`LinkError` (forged, expired or already used)."""
    try:
        payload = _serializer().loads(token)
    except BadSignature:
        raise LinkError("forged") from None
    if not (isinstance(payload, list) and len(payload) == 2 and all(type(v) is int for v in payload)):
        raise LinkError("forged")
    transaction_id, expiry_seconds = payload
    if not 0 < expiry_seconds < 10**11:
        raise LinkError("forged")
    expires_at = EPOCH + timedelta(seconds=expiry_seconds)
    if (now or utcnow()) >= expires_at:
        raise LinkError("expired")
    row = db.session.execute(
        select(Transaction.id, Transaction.dossier_code, Transaction.office_id, Transaction.counter_id,
               Transaction.procedure_id, exists().where(Rating.transaction_ref == Transaction.dossier_code))
        .where(Transaction.id == transaction_id)
    ).one_or_none()
    if row is None:
        raise LinkError("forged")  # signed by us, but no such transaction (e.g. another database)
    if row[5]:
        raise LinkError("used", row[1])
    return Invitation(row[0], row[1], row[2], row[3], row[4], expires_at)
