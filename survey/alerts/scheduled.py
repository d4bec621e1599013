"""The alerts' periodic job (``create_app`` imports this module to register it)."""

from __future__ import annotations

from survey import jobs
from survey.alerts.mail import send_alerts
from survey.alerts.operations import refresh_alerts as refresh
from survey.extensions import db


@jobs.periodic(seconds=3600)
def refresh_alerts() -> dict:
    """Every hour: raise the alerts whose condition holds, close those that cleared, e-mail the new ones."""
    raised = refresh()
    db.session.commit()
    return {"raised": len(raised), "emailed": send_alerts(raised)}
