"""Complaint cases: opened exactly once per negative rating with a comment, acknowledged, answered and
closed by a manager of the scope (audited), overdue past the deadline, and the share answered on time
per office with its Wilson interval, checked against a value computed by hand."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from survey.cases.operations import CaseError, acknowledge, answer, close, open_cases
from survey.extensions import db
from survey.manager.operations import create_user
from survey.misuse.operations import flag_rating
from survey.models import AuditEntry, ComplaintCase, Rating, UnitLevel, User
from survey.rating.operations import add_follow_up
from survey.results.service import case_on_time_shares
from tests.conftest import hidden_fields
from tests.results_helpers import rate
from tests.test_dashboard import PASSWORD, signed_in, unit

T0 = datetime(2026, 10, 1, 3)


def said(rating: Rating, comment: str) -> Rating:
    """The citizen sends the follow-up with a comment (the one path that stores comments)."""
    return add_follow_up(rating, {}, comment=comment, now=rating.created_at)


@pytest.fixture
def site(app):
    with app.app_context():
        hn, hcm = unit("HN", UnitLevel.PROVINCE), unit("HCM", UnitLevel.PROVINCE)
        a, b = unit("HN-A", UnitLevel.OFFICE, hn), unit("HN-B", UnitLevel.OFFICE, hn)
        x = unit("HCM-X", UnitLevel.OFFICE, hcm)
        db.session.flush()
        create_user("a@x.vn", "office-manager", "HN-A", password=PASSWORD)
        create_user("hn@x.vn", "province-admin", "HN", password=PASSWORD)
        create_user("x@x.vn", "office-manager", "HCM-X", password=PASSWORD)
        db.session.commit()
        app.unit_ids = {"HN-A": a.id, "HN-B": b.id, "HCM-X": x.id}
    return app


def office(code):
    from tests.results_helpers import office_of

    return office_of(code)


def test_a_case_opens_once_for_a_closed_negative_rating_with_a_comment(site):
    with site.app_context():
        a = office("HN-A")
        complaint = said(rate(a, 1, T0)[0], "Chờ ba tiếng, gọi 0912 345 678")
        said(rate(a, 5, T0)[0], "Rất tốt")                  # satisfied: no case
        said(rate(a, 3, T0)[0], "Bình thường")              # the middle of the scale: no case
        rate(a, 2, T0)                                      # unhappy, no comment: no case
        still_open = rate(a, 2, T0)[0]                      # the follow-up is still open
        still_open.comment = "đang viết"
        flagged = said(rate(a, 1, T0)[0], "thử máy")        # flagged as misuse: no case
        flag_rating(flagged, "test")
        db.session.commit()
        assert open_cases(now=T0) == 1
        assert open_cases(now=T0) == 0                      # the next run opens nothing again
        db.session.commit()
        cases = db.session.scalars(select(ComplaintCase)).all()
        assert [(c.rating_id, c.office_id) for c in cases] == [(complaint.id, a.id)]
        assert cases[0].due_at == T0 + timedelta(days=5) and cases[0].state == "open"
        # A later complaint opens its own case, and only that one.
        later = said(rate(a, 2, T0 + timedelta(days=1))[0], "Thái độ không tốt")
        assert open_cases(now=T0 + timedelta(days=1)) == 1
        db.session.commit()
        assert db.session.scalar(select(func.count(ComplaintCase.id))) == 2
        assert db.session.scalar(select(ComplaintCase.id).where(ComplaintCase.rating_id == later.id))


def test_the_database_refuses_a_second_case_for_one_rating(site):
    """Two workers opening the same case at once: the unique rating_id keeps one."""
    with site.app_context():
        rating = said(rate(office("HN-A"), 1, T0)[0], "Chậm")
        db.session.add(ComplaintCase(rating_id=rating.id, office_id=rating.office_id, opened_at=T0, due_at=T0))
        db.session.commit()
        assert open_cases(now=T0) == 0
        db.session.add(ComplaintCase(rating_id=rating.id, office_id=rating.office_id, opened_at=T0, due_at=T0))
        with pytest.raises(Exception, match="(?i)unique"):
            db.session.flush()
        db.session.rollback()


def test_lifecycle_with_audit_entries_and_refused_steps(site):
    with site.app_context():
        said(rate(office("HN-A"), 1, T0)[0], "Chậm")
        open_cases(now=T0)
        case = db.session.scalar(select(ComplaintCase))
        manager = db.session.scalar(select(User).where(User.email == "a@x.vn"))
        with pytest.raises(CaseError):
            close(case, manager)                            # not answered yet
        acknowledge(case, manager, now=T0 + timedelta(hours=1))
        assert case.state == "acknowledged"
        with pytest.raises(CaseError):
            acknowledge(case, manager)
        with pytest.raises(CaseError):
            answer(case, manager, "   ")
        answer(case, manager, "Chúng tôi đã nhắc cán bộ.", now=T0 + timedelta(days=2))
        assert case.state == "answered" and case.answered_on_time
        with pytest.raises(CaseError):
            answer(case, manager, "lần nữa")
        close(case, manager, now=T0 + timedelta(days=3))
        assert case.state == "closed"
        db.session.commit()
        entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        cases = [e for e in entries if e.target_type == "complaint_cases"]
        assert [e.action for e in cases] == ["case_acknowledged", "case_answered", "case_closed"]
        assert {e.actor_id for e in cases} == {manager.id} and {e.unit_id for e in cases} == {case.office_id}
        assert json.loads(cases[1].data) == {"on_time": True, "rating_id": case.rating_id}


def test_overdue_while_unanswered_after_the_deadline(site):
    with site.app_context():
        said(rate(office("HN-A"), 1, T0)[0], "Chậm")
        open_cases(now=T0)
        case = db.session.scalar(select(ComplaintCase))
        assert not case.overdue(T0 + timedelta(days=5))
        assert case.overdue(T0 + timedelta(days=5, seconds=1))
        manager = db.session.scalar(select(User).where(User.email == "a@x.vn"))
        answer(case, manager, "Muộn", now=T0 + timedelta(days=6))
        assert not case.overdue(T0 + timedelta(days=7)) and not case.answered_on_time
        db.session.commit()


def wilson(x: int, n: int, z: float = 1.959963984540054) -> tuple[float, float, float]:
    """Wilson (1927) score interval, written out from the formula."""
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, centre - half, centre + half


def test_share_answered_on_time_per_office_with_its_wilson_interval(site):
    now = T0 + timedelta(days=30)
    with site.app_context():
        a, b = office("HN-A"), office("HN-B")
        manager = db.session.scalar(select(User).where(User.email == "hn@x.vn"))
        for i in range(12):
            said(rate(a, 1, T0)[0], f"phàn nàn {i}")
        for i in range(3):
            said(rate(b, 1, T0)[0], f"B {i}")
        open_cases(now=T0)
        cases = db.session.scalars(select(ComplaintCase).where(ComplaintCase.office_id == a.id)
                                   .order_by(ComplaintCase.id)).all()
        # HN-A: 7 answered on time, 2 late, 2 unanswered past the deadline (all 11 known), and one
        # opened yesterday, still within its deadline (not counted yet).
        for case in cases[:7]:
            answer(case, manager, "đã xử lý", now=T0 + timedelta(days=4))
        for case in cases[7:9]:
            answer(case, manager, "muộn", now=T0 + timedelta(days=9))
        cases[11].opened_at, cases[11].due_at = now - timedelta(days=1), now + timedelta(days=4)
        db.session.commit()
        rows = {r["unit"]: r for r in case_on_time_shares("HN", now=now)}
        assert set(rows) == {"HN-A", "HN-B"}
        hna = rows["HN-A"]
        assert (hna["cases"], hna["n"], hna["on_time"], hna["open"], hna["overdue"]) == (12, 11, 7, 12, 2)
        p, low, high = wilson(7, 11)
        assert hna["share"] == pytest.approx(p) and hna["ci_low"] == pytest.approx(low, abs=1e-9)
        assert hna["ci_high"] == pytest.approx(high, abs=1e-9)
        assert (round(low, 4), round(high, 4)) == (0.3538, 0.8483)  # 7/11, worked out by hand
        # HN-B: three cases past their deadline, none answered: 0 of 3, interval from 0.
        hnb = rows["HN-B"]
        assert (hnb["n"], hnb["on_time"], hnb["share"], hnb["ci_low"]) == (3, 0, 0.0, 0.0)
        assert hnb["ci_high"] == pytest.approx(wilson(0, 3)[2])
        assert [r["unit"] for r in case_on_time_shares("HN-B", now=now)] == ["HN-B"]


def test_pages_list_highlight_and_act_on_the_scope_s_cases(site):
    with site.app_context():
        said(rate(office("HN-A"), 1, datetime(2026, 1, 5, 3))[0], "Gọi tôi 0912 345 678, quá chậm")
        said(rate(office("HCM-X"), 1, datetime(2026, 1, 5, 3))[0], "Bí mật Sài Gòn")
        open_cases(now=datetime(2026, 1, 5, 4))
        db.session.commit()
        case_a = db.session.scalar(select(ComplaintCase).where(ComplaintCase.office_id == site.unit_ids["HN-A"]))
        case_x = db.session.scalar(select(ComplaintCase).where(ComplaintCase.office_id == site.unit_ids["HCM-X"]))
        ids = case_a.id, case_x.id
    client = signed_in(site, "a@x.vn")
    html = client.get("/manager/cases").get_data(as_text=True)
    assert "Gọi tôi [phone number], quá chậm" in html and "0912" not in html and "Sài Gòn" not in html
    assert 'class="overdue"' in html and "overdue</strong>" in html     # long past its deadline
    response = client.get(f"/manager/cases/{ids[1]}")
    assert response.status_code == 404 and "Sài Gòn" not in response.get_data(as_text=True)
    page = client.get(f"/manager/cases/{ids[0]}").get_data(as_text=True)
    token = hidden_fields(page)
    assert client.post(f"/manager/cases/{ids[1]}/acknowledge", data=token).status_code == 404
    assert client.post(f"/manager/cases/{ids[0]}/close", data=token).status_code == 409   # not answered yet
    assert client.post(f"/manager/cases/{ids[0]}/answer", data={**token, "text": ""}).status_code == 400
    assert client.post(f"/manager/cases/{ids[0]}/acknowledge", data=token).status_code == 302
    response = client.post(f"/manager/cases/{ids[0]}/answer", data={**token, "text": "Đã xin lỗi công dân."})
    assert response.status_code == 302
    assert client.post(f"/manager/cases/{ids[0]}/close", data=token).status_code == 302
    assert client.post(f"/manager/cases/{ids[0]}/nonsense", data=token).status_code == 404
    assert client.post(f"/manager/cases/{ids[0]}/close", data={}).status_code == 400       # no CSRF token
    assert "Đã xin lỗi công dân." in client.get(f"/manager/cases/{ids[0]}").get_data(as_text=True)
    with site.app_context():
        case = db.session.get(ComplaintCase, ids[0])
        assert case.state == "closed" and not case.answered_on_time
        assert db.session.get(ComplaintCase, ids[1]).state == "open"
        actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.target_id == ids[0],
                                                                     AuditEntry.target_type == "complaint_cases"))
        assert list(actions) == ["case_acknowledged", "case_answered", "case_closed"]
    # The dashboard shows the office's on-time share (0 of 1: answered after its deadline).
    board = signed_in(site, "hn@x.vn").get("/manager/?period=2026-01").get_data(as_text=True)
    assert "Complaint cases answered on time" in board and "Unit HN-A" in board
