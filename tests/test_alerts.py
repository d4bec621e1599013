"""Alerts: an index drop the results table calls significant, complaint cases unanswered past their
deadline and misuse spikes are raised once per unit, kind and period by the periodic job, closed when
their condition clears, shown only inside a manager's scope and e-mailed through a real SMTP server."""

from __future__ import annotations

import email
import json
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

import analysis
from survey.alerts import scheduled
from survey.alerts.operations import refresh_alerts
from survey.cases.operations import answer, open_cases
from survey.extensions import db
from survey.manager.operations import create_user
from survey.misuse.operations import flag_rating
from survey.models import Alert, ComplaintCase, Unit, UnitLevel, User
from survey.rating.operations import add_follow_up
from survey.results import counts
from survey.results.service import DEFAULT_OPTIONS, forget_live_results, results_table
from survey.results.tree import forget_unit_tree
from tests.conftest import free_port
from tests.results_helpers import office_of, rate
from tests.test_dashboard import PASSWORD, signed_in, unit

TODAY = date(2026, 10, 20)
NOW = datetime(2026, 10, 20, 3)
SEPTEMBER, OCTOBER = datetime(2026, 9, 1, 3), datetime(2026, 10, 1, 3)


@pytest.fixture
def site(app):
    """Hà Nội: HN-A fell from 90 % satisfied (100 ratings in September) to 40 % (100 in October); HN-B
    stayed at 90 %. Hồ Chí Minh: HCM-X with ratings only in October. Accounts for each role."""
    app.config["RESULTS_TODAY"] = TODAY
    forget_live_results()
    forget_unit_tree()
    with app.app_context():
        hn, hcm = unit("HN", UnitLevel.PROVINCE), unit("HCM", UnitLevel.PROVINCE)
        a, b = unit("HN-A", UnitLevel.OFFICE, hn), unit("HN-B", UnitLevel.OFFICE, hn)
        x = unit("HCM-X", UnitLevel.OFFICE, hcm)
        db.session.flush()
        for office, before, now in ((a, 90, 40), (b, 90, 90)):
            rate(office, 5, SEPTEMBER, before, spread_days=25)
            rate(office, 1, SEPTEMBER, 100 - before, spread_days=25)
            rate(office, 5, OCTOBER, now, spread_days=18)
            rate(office, 1, OCTOBER, 100 - now, spread_days=18)
        rate(x, 5, OCTOBER, 40, spread_days=18)
        for email_, role, code in (("national@x.vn", "national-admin", None), ("hn@x.vn", "province-admin", "HN"),
                                   ("a@x.vn", "office-manager", "HN-A"), ("x@x.vn", "office-manager", "HCM-X")):
            create_user(email_, role, code, password=PASSWORD)
        db.session.commit()
        counts.refresh_counts()
        db.session.commit()
    yield app
    forget_live_results()
    forget_unit_tree()


def alerts_now() -> list[tuple[str, str, str, bool]]:
    """(unit code, kind, period, open) of every alert."""
    rows = db.session.execute(select(Unit.code, Alert.kind, Alert.period, Alert.closed_at.is_(None))
                              .join(Unit, Unit.id == Alert.unit_id).order_by(Unit.code, Alert.kind)).all()
    return [tuple(r) for r in rows]


def complaint(office: Unit, when: datetime, comment: str = "Chờ ba tiếng"):
    rating = rate(office, 1, when)[0]
    add_follow_up(rating, {}, comment=comment, now=rating.created_at)
    return rating


def test_an_index_drop_the_table_calls_declined_raises_one_alert_and_closes_when_it_clears(site):
    with site.app_context():
        offices = {row["code"]: row for row in results_table("2026-10", "office").units}
        # The table's own verdict, and the hand arithmetic behind it: 40/100 now against 90/100 before.
        assert offices["HN-A"]["change_flag"] == analysis.DECLINED
        assert offices["HN-A"]["change"] == pytest.approx(0.40 - 0.90)
        assert offices["HN-B"]["change_flag"] == analysis.NO_CLEAR_CHANGE
        assert offices["HCM-X"]["change_flag"] == analysis.INSUFFICIENT_DATA  # nothing in September
        raised = refresh_alerts(now=NOW)
        db.session.commit()
        # The province falls too: 130/200 now against 180/200 (HN-B is in it, HCM has no September).
        assert alerts_now() == [("HN", "index_drop", "2026-10", True), ("HN-A", "index_drop", "2026-10", True)]
        assert len(raised) == 2
        alert = db.session.scalar(select(Alert).join(Unit, Unit.id == Alert.unit_id).where(Unit.code == "HN-A"))
        details = json.loads(alert.details)
        assert (details["index"], details["index_prev"]) == (pytest.approx(0.40), pytest.approx(0.90))
        assert details["change_high"] < 0 and details["level"] == "office"
        # Idempotent: the next runs raise nothing and add no row.
        assert refresh_alerts(now=NOW + timedelta(hours=1)) == []
        db.session.commit()
        assert db.session.scalar(select(func.count(Alert.id))) == 2
        # 400 more satisfied ratings in October: 440/500 against 90/100 is no clear change; the alert closes.
        rate(office_of("HN-A"), 5, OCTOBER, 400, spread_days=18)
        db.session.commit()
        counts.refresh_counts()
        db.session.commit()
        forget_live_results()
        assert results_table("2026-10", "office").unit("HN-A")["change_flag"] == analysis.NO_CLEAR_CHANGE
        assert refresh_alerts(now=NOW + timedelta(hours=2)) == []
        db.session.commit()
        assert ("HN-A", "index_drop", "2026-10", False) in alerts_now()


def test_overdue_cases_raise_an_alert_that_closes_once_they_are_answered(site):
    with site.app_context():
        a = office_of("HN-A")
        complaint(a, datetime(2026, 10, 10, 3))
        db.session.commit()
        assert open_cases(now=datetime(2026, 10, 10, 4)) == 1  # due 5 days later, on 15 October
        db.session.commit()
        refresh_alerts(now=datetime(2026, 10, 14, 3))          # not yet overdue
        db.session.commit()
        assert [r for r in alerts_now() if r[1] == "overdue_cases"] == []
        refresh_alerts(now=NOW)
        db.session.commit()
        assert [r for r in alerts_now() if r[1] == "overdue_cases"] == [("HN-A", "overdue_cases", "2026-10", True)]
        alert = db.session.scalar(select(Alert).where(Alert.kind == "overdue_cases"))
        assert json.loads(alert.details)["cases"] == 1
        answer(db.session.scalar(select(ComplaintCase)), db.session.scalar(select(User).where(User.email == "a@x.vn")),
               "Chúng tôi đã gọi lại.", now=NOW)
        refresh_alerts(now=NOW + timedelta(hours=1))
        db.session.commit()
        assert [r for r in alerts_now() if r[1] == "overdue_cases"] == [("HN-A", "overdue_cases", "2026-10", False)]


def test_a_misuse_spike_above_the_threshold_raises_an_alert_for_that_day(site):
    site.config["ALERTS_MISUSE_THRESHOLD"] = 3
    with site.app_context():
        b = office_of("HN-B")
        ratings = rate(b, 5, NOW - timedelta(hours=2), 4)
        for rating in ratings[:3]:
            flag_rating(rating, "burst", now=NOW - timedelta(hours=1))
        db.session.commit()
        refresh_alerts(now=NOW)                                # three flagged: not above three
        db.session.commit()
        assert [r for r in alerts_now() if r[1] == "misuse_spike"] == []
        flag_rating(ratings[3], "burst", now=NOW - timedelta(hours=1))
        db.session.commit()
        refresh_alerts(now=NOW)
        db.session.commit()
        assert [r for r in alerts_now() if r[1] == "misuse_spike"] == [("HN-B", "misuse_spike", "2026-10-20", True)]
        assert json.loads(db.session.scalar(select(Alert.details).where(Alert.kind == "misuse_spike"))) == {
            "flagged": 4, "threshold": 3}
        refresh_alerts(now=NOW + timedelta(hours=24))          # the flags are older than 24 hours now
        db.session.commit()
        assert [r for r in alerts_now() if r[1] == "misuse_spike"] == [("HN-B", "misuse_spike", "2026-10-20", False)]


def test_alerts_are_shown_only_inside_the_managers_scope(site):
    with site.app_context():
        complaint(office_of("HCM-X"), datetime(2026, 10, 1, 3), "Không ai trả lời")
        db.session.commit()
        open_cases(now=datetime(2026, 10, 1, 4))
        refresh_alerts(now=NOW)
        db.session.commit()
        assert ("HCM-X", "overdue_cases", "2026-10", True) in alerts_now()
    office = signed_in(site, "a@x.vn")
    page = office.get("/manager/alerts").get_data(as_text=True)
    assert "Unit HN-A" in page and "The satisfaction index dropped significantly" in page
    assert "Unit HCM-X" not in page and "Unit HN ·" not in page  # the province's alert is above this office
    dashboard = office.get("/manager/").get_data(as_text=True)
    assert 'id="alerts-heading"' in dashboard and "Unit HN-A" in dashboard and "-50.0%" in dashboard
    assert "Unit HCM-X" not in dashboard
    assert office.get("/manager/alerts?unit=HCM-X").status_code == 404
    province = signed_in(site, "hn@x.vn").get("/manager/alerts").get_data(as_text=True)
    assert "Unit HN-A ·" in province and "Unit HN ·" in province
    assert "Unit HCM-X" not in province
    national = signed_in(site, "national@x.vn").get("/manager/alerts").get_data(as_text=True)
    assert "Unit HCM-X" in national and "Complaint cases are unanswered past their deadline" in national
    vietnamese = signed_in(site, "x@x.vn", lang="vi").get("/manager/alerts").get_data(as_text=True)
    assert "Đơn vị HCM-X" in vietnamese and "Đơn vị HN-A" not in vietnamese


def test_closed_alerts_are_listed_only_on_request(site):
    with site.app_context():
        refresh_alerts(now=NOW, conditions=[])  # nothing holds: nothing raised
        db.session.commit()
        assert alerts_now() == []
        refresh_alerts(now=NOW)
        db.session.commit()
        rate(office_of("HN-A"), 5, OCTOBER, 400, spread_days=18)
        db.session.commit()
        counts.refresh_counts()
        db.session.commit()
        forget_live_results()
        refresh_alerts(now=NOW)
        db.session.commit()
    client = signed_in(site, "a@x.vn")
    assert "Unit HN-A" not in client.get("/manager/alerts").get_data(as_text=True)
    assert "Unit HN-A" in client.get("/manager/alerts?closed=1").get_data(as_text=True)


# --------------------------------------------------------------------------- e-mail through a real SMTP server


class Inbox:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def test_the_job_emails_each_new_alert_once_to_the_managers_whose_scope_holds_it(site, smtp_server):
    controller, inbox = smtp_server
    site.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port, SMTP_FROM="alerts@survey.example")
    with site.app_context():
        assert scheduled.refresh_alerts() == {"raised": 2, "emailed": 2}
        assert scheduled.refresh_alerts() == {"raised": 0, "emailed": 0}  # nothing new: nothing sent again
        assert db.session.scalar(select(func.count(Alert.id)).where(Alert.emailed_at.is_not(None))) == 2
    by_unit = {}
    for envelope in inbox.envelopes:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        unit_name = "HN-A" if "Unit HN-A" in message["Subject"] else "HN"
        by_unit[unit_name] = (sorted(envelope.rcpt_tos), message)
    # HN-A's alert goes to its office manager, the province's administrator and the national one; the
    # province's alert to the province and national administrators; never to the Hồ Chí Minh manager.
    assert by_unit["HN-A"][0] == ["a@x.vn", "hn@x.vn", "national@x.vn"]
    assert by_unit["HN"][0] == ["hn@x.vn", "national@x.vn"]
    message = by_unit["HN-A"][1]
    assert message["From"] == "alerts@survey.example"
    assert "Chỉ số hài lòng giảm rõ rệt" in message["Subject"]  # Vietnamese first, then English
    assert "The satisfaction index dropped significantly" in message["Subject"]
    assert "2026-10" in message.get_content()


def test_an_unreachable_smtp_server_is_logged_and_the_alerts_are_kept(site, caplog):
    site.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TIMEOUT_SECONDS=5)  # nobody listens
    with site.app_context():
        assert scheduled.refresh_alerts() == {"raised": 2, "emailed": 0}
        assert db.session.scalar(select(func.count(Alert.id)).where(Alert.closed_at.is_(None))) == 2
        assert db.session.scalar(select(func.count(Alert.id)).where(Alert.emailed_at.is_not(None))) == 0
    assert any("Could not e-mail alerts" in r.getMessage() for r in caplog.records)


def test_no_email_is_sent_without_an_smtp_server(site):
    with site.app_context():
        assert scheduled.refresh_alerts() == {"raised": 2, "emailed": 0}
        assert db.session.scalar(select(func.count(Alert.id)).where(Alert.emailed_at.is_not(None))) == 0


# --------------------------------------------------------------------------- significance (Monte Carlo)


def _settings():
    options = DEFAULT_OPTIONS
    return dict(satisfied_from=4, scale=(1, 5), min_n=options.min_n, confidence=options.confidence,
                method=options.method, adjustment=options.adjustment, seed=options.seed, fdr=options.fdr)


def _declined_units(rng, shares_before, shares_now, n) -> set[int]:
    """The units the results table's change verdict calls declined, for one simulated pair of months."""
    rows = []
    for unit_no, (before, now) in enumerate(zip(shares_before, shares_now)):
        for period, share in (("2026-09", before), ("2026-10", now)):
            satisfied = rng.binomial(n, share)
            rows += [{"unit": f"U{unit_no}", "period": period, "value": 5, "count": satisfied},
                     {"unit": f"U{unit_no}", "period": period, "value": 1, "count": n - satisfied}]
    table = analysis.satisfaction_table(pd.DataFrame(rows), ["unit"], period="2026-10", previous_period="2026-09",
                                        **_settings())
    return {int(u[1:]) for u in table.loc[table["change_flag"] == analysis.DECLINED, "unit"]}


def test_alert_significance_by_monte_carlo():
    """20 units, 150 ratings each month, 85 % satisfied. With no change anywhere, a run raises any
    index-drop alert in at most 8 % of 200 runs (measured with this seed: 1 of 200, 0.5 %; the
    false-discovery control at 5 % bounds it near 5 %). With 200 ratings a month, a unit falling from
    85 % to 60 % is called declined in at least 95 % of 100 runs (measured: 100 of 100), and a steady
    unit is alerted in at most 8 % of them (measured: 4 of 100)."""
    rng = np.random.default_rng(20261020)
    shares = np.full(20, 0.85)
    false_alarms = sum(bool(_declined_units(rng, shares, shares, 150)) for _ in range(200))
    dropped = shares.copy()
    dropped[7] = 0.60
    detections = [_declined_units(rng, shares, dropped, 200) for _ in range(100)]
    assert false_alarms / 200 <= 0.08, false_alarms
    assert sum(7 in found for found in detections) / 100 >= 0.95
    assert sum(bool(found - {7}) for found in detections) / 100 <= 0.08  # no alert for the steady units
