"""E-mail for new alerts, through the SMTP server of the instance configuration (``SMTP_HOST`` …).

Without ``SMTP_HOST`` nothing is sent. Each raised alert is sent once, in Vietnamese then English,
to the active accounts whose scope holds its unit; a failure is logged and the alert stays unsent
(``emailed_at`` empty), so the next run does not retry it by surprise: e-mail is a courtesy, the
dashboard is where alerts are kept.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from survey.alerts.operations import KINDS, mark_emailed
from survey.alerts.queries import recipients
from survey.extensions import db
from survey.models import Alert

logger = logging.getLogger(__name__)


def smtp_configured() -> bool:
    return bool(current_app.config.get("SMTP_HOST"))


def _text(alert: Alert, locale: str) -> tuple[str, str]:
    with force_locale(locale):
        unit = alert.unit.name_en if locale == "en" and alert.unit.name_en else alert.unit.name_vi
        what = str(KINDS[alert.kind])
        subject = _("Alert: %(what)s (%(unit)s)", what=what, unit=unit)
        body = _("%(what)s: %(unit)s (%(code)s), period %(period)s. Open the dashboard to see the figures.",
                 what=what, unit=unit, code=alert.unit.code, period=alert.period)
    return subject, body


def alert_message(alert: Alert, to: list[str]) -> EmailMessage:
    vi_subject, vi_body = _text(alert, "vi")
    en_subject, en_body = _text(alert, "en")
    message = EmailMessage()
    message["Subject"] = f"{vi_subject} / {en_subject}"
    message["From"] = current_app.config["SMTP_FROM"]
    message["To"] = ", ".join(to)
    message.set_content(f"{vi_body}\n\n{en_body}\n")
    return message


def send_alerts(alert_ids: list[int]) -> int:
    """E-mail each alert (when SMTP is configured); returns how many messages were sent. Commits."""
    if not smtp_configured() or not alert_ids:
        return 0
    config = current_app.config
    sent = 0
    try:
        with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=int(config["SMTP_TIMEOUT_SECONDS"])) as smtp:
            if config.get("SMTP_STARTTLS"):
                smtp.starttls()
            if config.get("SMTP_USERNAME"):
                smtp.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
            for alert_id in alert_ids:
                alert = db.session.get(Alert, alert_id)
                to = [user.email for user in recipients(alert)] if alert is not None else []
                if not to:
                    continue
                smtp.send_message(alert_message(alert, to))
                mark_emailed(alert)
                db.session.commit()
                sent += 1
    except (OSError, smtplib.SMTPException):
        logger.exception("Could not e-mail alerts through %s", config["SMTP_HOST"])
        db.session.rollback()
    return sent
