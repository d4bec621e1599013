"""Raise and close alerts. :func:`refresh_alerts` (the periodic job ``refresh_alerts``) finds every
condition that holds now and makes the ``alerts`` table agree with it:

* ``index_drop``: a unit's index in the open month or the last complete month is ``declined`` by the
  results table's own change verdict (Newcombe interval, score test, false-discovery control across the
  units of its level: :func:`analysis.change_flags`). No test is made here: the verdict is read from
  :func:`survey.results.service.results_table`, the same row the public and manager pages show.
* ``overdue_cases``: an office has complaint cases not answered after their deadline (period: the month).
* ``misuse_spike``: more ratings of an office were flagged in the last 24 hours than
  ``ALERTS_MISUSE_THRESHOLD`` (period: the day in Vietnam).

One alert per unit, kind and period (a unique constraint): a condition that still holds leaves its
alert as it is, one that clears closes it, one that comes back in the same period reopens it. Alerts
of earlier periods that are no longer checked are closed. Functions flush; the caller commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

import analysis
from survey.extensions import db
from survey.models import Alert, ComplaintCase, Rating
from survey.models._common import utcnow
from survey.results.service import LEVELS, ResultsError, results_table, vietnam_today
from survey.results.tree import unit_tree

#: The kinds of alert, with what each says to a manager.
KINDS = {
    "index_drop": _l("The satisfaction index dropped significantly"),
    "overdue_cases": _l("Complaint cases are unanswered past their deadline"),
    "misuse_spike": _l("Many ratings were flagged as suspected misuse"),
}


@dataclass(frozen=True)
class Condition:
    """A condition that holds now: unit, kind, period and the figures behind it."""

    unit_id: int
    kind: str
    period: str
    details: dict


def checked_periods(today=None) -> list[str]:
    """The months whose change verdicts raise alerts: the last complete month and the open one."""
    month = pd.Period(today or vietnam_today(), freq="M")
    return [analysis.period_label(month - 1), analysis.period_label(month)]


def index_drops(periods: list[str]) -> list[Condition]:
    """Units whose row in the results table says ``declined`` (the table's change verdict)."""
    tree = unit_tree()
    questionnaires = sorted({tree.questionnaire_of(node) for node in tree.nodes.values()} | {"default"})
    found = []
    for period in periods:
        for level in LEVELS:
            for questionnaire in questionnaires:
                try:
                    results = results_table(period, level, questionnaire)
                except ResultsError:  # e.g. a questionnaire code with no version yet
                    continue
                for row in results.units:
                    node = tree.by_code.get(row["code"])
                    if node is None or row.get("change_flag") != analysis.DECLINED:
                        continue
                    found.append(Condition(node.id, "index_drop", period, {
                        "level": level, "questionnaire": questionnaire,
                        "index": row.get("index"), "index_prev": row.get("index_prev"),
                        "change": row.get("change"), "change_low": row.get("change_low"),
                        "change_high": row.get("change_high"), "n": row.get("n"), "n_prev": row.get("n_prev"),
                    }))
    return found


def overdue_cases(now: datetime) -> list[Condition]:
    """Offices with complaint cases not answered after their deadline."""
    rows = db.session.execute(
        select(ComplaintCase.office_id, func.count(), func.min(ComplaintCase.due_at))
        .where(ComplaintCase.answered_at.is_(None), ComplaintCase.due_at < now)
        .group_by(ComplaintCase.office_id)
    ).all()
    month = analysis.period_label(pd.Period(vietnam_today(), freq="M"))
    return [Condition(office_id, "overdue_cases", month, {"cases": count, "oldest_due": oldest.isoformat()})
            for office_id, count, oldest in rows]


def misuse_spikes(now: datetime) -> list[Condition]:
    """Offices with more flagged ratings in the last 24 hours than ``ALERTS_MISUSE_THRESHOLD``."""
    threshold = int(current_app.config["ALERTS_MISUSE_THRESHOLD"])
    rows = db.session.execute(
        select(Rating.office_id, func.count())
        .where(Rating.flag.is_not(None), Rating.flagged_at >= now - timedelta(hours=24))
        .group_by(Rating.office_id).having(func.count() > threshold)
    ).all()
    day = vietnam_today().isoformat()
    return [Condition(office_id, "misuse_spike", day, {"flagged": count, "threshold": threshold})
            for office_id, count in rows]


def current_conditions(now: datetime) -> list[Condition]:
    return [*index_drops(checked_periods()), *overdue_cases(now), *misuse_spikes(now)]


def refresh_alerts(*, now: datetime | None = None, conditions: list[Condition] | None = None) -> list[int]:
    """Make the alerts agree with the conditions that hold now; returns the ids of alerts raised (new or
    reopened), which are the ones to e-mail."""
    now = now or utcnow()
    if conditions is None:
        conditions = current_conditions(now)
    holding = {(c.unit_id, c.kind, c.period): c for c in conditions}
    existing = {(a.unit_id, a.kind, a.period): a for a in db.session.scalars(
        select(Alert).where(Alert.closed_at.is_(None) | Alert.period.in_({key[2] for key in holding})))}
    raised = []
    for key, condition in holding.items():
        alert = existing.get(key)
        details = json.dumps(condition.details, sort_keys=True, default=str)
        if alert is None:
            alert = Alert(unit_id=condition.unit_id, kind=condition.kind, period=condition.period, opened_at=now,
                          details=details)
            db.session.add(alert)
        elif alert.closed_at is not None:
            alert.closed_at, alert.opened_at, alert.emailed_at, alert.details = None, now, None, details
        else:
            alert.details = details
            continue
        db.session.flush()
        raised.append(alert.id)
    for key, alert in existing.items():
        if key not in holding and alert.closed_at is None:
            alert.closed_at = now
    db.session.flush()
    return raised


def mark_emailed(alert: Alert, when: datetime | None = None) -> None:
    alert.emailed_at = when or utcnow()
    db.session.flush()
