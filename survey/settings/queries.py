"""Reading the administrator's settings (a missing row is the default)."""

from __future__ import annotations

import json

from sqlalchemy import select

from survey.extensions import db
from survey.models import Setting

#: Every setting and its default. ``keep_unmasked_comments``: off, comments are stored with personal
#: data already masked, so the original is never kept; on, the original is kept and managers of the
#: comment's scope may read it on the rating and case pages (lists and exports stay masked).
DEFAULTS = {"keep_unmasked_comments": False}


def setting(name: str):
    if name not in DEFAULTS:
        raise KeyError(name)
    value = db.session.scalar(select(Setting.value).where(Setting.name == name))
    return DEFAULTS[name] if value is None else json.loads(value)


def keep_unmasked_comments() -> bool:
    return bool(setting("keep_unmasked_comments"))
