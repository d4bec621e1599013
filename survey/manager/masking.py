"""Personal data in citizens' comments, masked before any manager sees or exports a comment.

A comment is free text; citizens write their phone number, citizen ID, e-mail address or dossier
code in it to be called back. :func:`mask_personal_data` replaces each with a label, in this order
(so a longer pattern is consumed before a shorter one could take part of it):

1. e-mail addresses (also ``name @ host.vn`` with spaces around the ``@``);
2. dossier codes of the one-stop systems (Circular 01/2018 ``000.00.15.H26-240101-0001``, the
   national format of 2026 ``H26.ABC.12-260301-AB1234``, shorter local ``H26.22-240301-0012``) and
   any code written after "mã hồ sơ" / "số hồ sơ" / "hồ sơ số";
3. 12-digit citizen ID numbers (CCCD, which all start with 0, the province code's first digit);
4. Vietnamese phone numbers: mobiles (0 + 9 digits starting 3, 5, 7, 8 or 9), landlines (02 + 9
   digits), also written +84 / (+84) / 0084 / 84 instead of the 0, with an optional "(0)".

Digits may be separated by up to two spaces, dots or dashes (``0912 345 678``, ``0 9 1 2 …``,
``091-234-5678``). A number is masked only when it stands alone: digits right before or after it
make it part of something longer (an amount, another number), which is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: What replaces each kind of personal data unless the caller passes translated labels.
DEFAULT_LABELS = {"email": "[email]", "dossier": "[dossier code]", "citizen_id": "[citizen ID]",
                  "phone": "[phone number]"}

_SEP = r"[ \t.\-–]{0,2}"


def _digits(count: int) -> str:
    """``count`` digits, each but the first possibly preceded by a separator."""
    return r"\d" + (_SEP + r"\d") * (count - 1)


_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+[ \t]?@[ \t]?[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_DOSSIER = re.compile(r"(?<![\w.])[A-Z0-9]{1,5}(?:\.[A-Z0-9]{1,5}){0,4}-\d{6}-[A-Z0-9]{0,2}\d{3,6}(?![\w])",
                      re.IGNORECASE)
_DOSSIER_AFTER_WORDS = re.compile(
    r"(?P<words>(?:mã|số)\s+hồ\s+sơ|hồ\s+sơ\s+số|mã\s+HS|dossier(?:\s+(?:code|number|no\.?))?)"
    r"(?P<gap>\s*[:#]?\s*)(?P<code>[A-Z0-9][A-Z0-9./\-]{4,}[A-Z0-9])", re.IGNORECASE)
_CITIZEN_ID = re.compile(r"(?<![\d+])0" + _SEP + _digits(11) + r"(?!\d)")
_COUNTRY = r"(?:\(\s?\+84\s?\)|\+\s?84|\(?0084\)?|84)" + _SEP + r"(?:\(0\)" + _SEP + r")?"
_PHONE = re.compile(
    r"(?<![\d+])(?:"
    + _COUNTRY + r"(?:[35789]" + _SEP + _digits(8) + r"|2" + _SEP + _digits(9) + r")"
    + r"|0" + _SEP + r"(?:[35789]" + _SEP + _digits(8) + r"|2" + _SEP + _digits(9) + r")"
    + r")(?!\d)"
)


def mask_personal_data(text: str | None, labels: Mapping[str, str] | None = None) -> str | None:
    """``text`` with e-mail addresses, dossier codes, citizen IDs and phone numbers replaced by labels."""
    if not text:
        return text
    labels = {**DEFAULT_LABELS, **(labels or {})}
    for kind, stored in DEFAULT_LABELS.items():  # masked when stored (survey.settings): the reader's labels
        text = text.replace(stored, labels[kind])
    text = _EMAIL.sub(labels["email"], text)
    text = _DOSSIER_AFTER_WORDS.sub(lambda m: m["words"] + m["gap"] + labels["dossier"], text)
    text = _DOSSIER.sub(labels["dossier"], text)
    text = _CITIZEN_ID.sub(labels["citizen_id"], text)
    return _PHONE.sub(labels["phone"], text)


def is_phone_number(text: str) -> bool:
    """Whether ``text`` is exactly one Vietnamese phone number (the form this module masks)."""
    return _PHONE.fullmatch(text) is not None
