"""Secrets in logs: kiosk addresses (``/kiosk/<token>``) and single-use links (``/l/<token>``) are
credentials, so every log line the platform writes shows them as ``[redacted]``."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

#: A path segment after /kiosk/ or /l/ is a secret (a kiosk token, a single-use link token).
SECRET_PATH_SEGMENT = re.compile(r"(/(?:kiosk|l)/)[^/?#\s\"']+", re.IGNORECASE)
REDACTED = "[redacted]"


def redact_secret_paths(text: str) -> str:
    """``text`` with every secret path segment replaced by ``[redacted]``, also when percent-encoded."""
    redacted = SECRET_PATH_SEGMENT.sub(rf"\1{REDACTED}", text)
    if "%" in redacted:
        decoded = unquote(redacted)
        decoded_redacted = SECRET_PATH_SEGMENT.sub(rf"\1{REDACTED}", decoded)
        if decoded_redacted != decoded:  # a secret hidden behind percent-encoding
            return decoded_redacted
    return redacted


class SecretPathFilter(logging.Filter):
    """A logging filter that redacts secret path segments from the formatted message (Werkzeug's
    request log in ``survey demo``, Flask's "Exception on /kiosk/… [POST]")."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_secret_paths(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
