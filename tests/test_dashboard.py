"""The manager's dashboard: every figure from the results service, only the manager's scope."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.manager.operations import create_user
from survey.models import Channel, Unit, UnitLevel
from survey.results.service import forget_live_results, results_table
from survey.results.tree import forget_unit_tree
from tests.conftest import hidden_fields
from tests.twofactor_helpers import finish_second_step
from tests.results_helpers import rate

TODAY = date(2026, 10, 20)
PASSWORD = "a-long-enough-password"


def unit(code, level, parent=None, name_en=None):
    row = Unit(code=code, level=level, parent=parent, name_vi=f"Đơn vị {code}", name_en=name_en or f"Unit {code}")
    db.session.add(row)
    return row


@pytest.fixture
def site(app):
    """Hà Nội: six offices at 90 % satisfied and one (HN-LOW) at 20 %, 100 ratings each, spread over
    October 2026; HN-FEW with 4 ratings, all unhappy; Hồ Chí Minh: one office. Accounts for each role."""
    app.config["RESULTS_TODAY"] = TODAY
    forget_live_results()
    forget_unit_tree()
    with app.app_context():
        hn = unit("HN", UnitLevel.PROVINCE)
        offices = [unit(f"HN-O{i}", UnitLevel.OFFICE, hn) for i in range(6)]
        low = unit("HN-LOW", UnitLevel.OFFICE, hn)
        few = unit("HN-FEW", UnitLevel.OFFICE, hn)
        hcm = unit("HCM", UnitLevel.PROVINCE)
        hcm_office = unit("HCM-SECRET", UnitLevel.OFFICE, hcm, name_en="Saigon hidden office")
        counter = unit("HN-O0-Q1", UnitLevel.COUNTER, offices[0])
        db.session.flush()
        start = datetime(2026, 10, 1, 3)
        for office in offices:
            rate(office, 5, start, 60, spread_days=18)
            rate(office, 4, start, 30, spread_days=18)
            rate(office, 2, start, 10, spread_days=18)
        rate(low, 4, start, 20, spread_days=18)
        rate(low, 1, start, 80, spread_days=18)
        rate(few, 1, start, 4, spread_days=4)
        rate(hcm_office, 5, start, 50, spread_days=18)
        rate(offices[0], 3, datetime(2026, 9, 2, 3), 12, spread_days=12)  # September: the trend's previous month
        for email, role, code in (("national@x.vn", "national-admin", None), ("hn@x.vn", "province-admin", "HN"),
                                  ("o0@x.vn", "office-manager", "HN-O0")):
            create_user(email, role, code, password=PASSWORD)
        assert counter.id
        db.session.commit()
    yield app
    forget_live_results()
    forget_unit_tree()


def signed_in(app, email, lang="en"):
    client = app.test_client()
    page = client.get("/manager/sign-in", query_string={"lang": lang}).get_data(as_text=True)
    response = client.post("/manager/sign-in", data={**hidden_fields(page), "email": email, "password": PASSWORD})
    response = finish_second_step(app, client, response, email)  # administrators sign in with two factors
    assert response.status_code == 302 and "/sign-in" not in response.headers["Location"]
    return client


def test_office_manager_sees_the_office_index_mean_interval_and_n(site):
    client = signed_in(site, "o0@x.vn")
    html = client.get("/manager/").get_data(as_text=True)
    assert "Unit HN-O0" in html and "Coming soon" not in html
    # 90 of 100 ratings are 4 or 5 (satisfied), counted independently of the service.
    assert "<strong>90.0%</strong>" in html
    with site.app_context():
        row = results_table("2026-10", "office").unit("HN-O0")
    assert row["n"] == 100 and row["satisfied"] == 90
    assert f"95% interval {row['ci_low'] * 100:.1f}% to {row['ci_high'] * 100:.1f}%" in html
    # Mean of 60×5 + 30×4 + 10×2 = 440 / 100.
    assert row["mean"] == pytest.approx(4.4)
    assert f"4.40 <span class=\"ci\">({row['mean_low']:.2f}–{row['mean_high']:.2f})</span>" in html
    # The trend by month: September's 12 ratings and October's 100.
    assert "Month 9/2026" in html and "Month 10/2026" in html
    for other in ("HN-LOW", "HN-O1", "HCM", "Saigon hidden office"):
        assert other not in html


def test_province_admin_sees_every_office_and_who_pulls_the_index_down(site):
    client = signed_in(site, "hn@x.vn")
    html = client.get("/manager/").get_data(as_text=True)
    for code in ("HN-O0", "HN-O5", "HN-LOW", "HN-FEW"):
        assert f"/manager/u/{code}?period=2026-10" in html
    assert "HCM" not in html and "Saigon hidden office" not in html
    pulling = html.split('class="pulling-down"')[1].split("</ul>")[0]
    # HN-LOW (20 of 100 satisfied) is named; HN-FEW (4 unhappy ratings) is too small to judge.
    assert "Unit HN-LOW" in pulling and "HN-FEW" not in pulling and "HN-O" not in pulling
    assert "Units with too few ratings to be judged: 1." in html
    with site.app_context():
        table = results_table("2026-10", "office", scope="HN")
        assert {r["code"] for r in table.units if r["comparison"] == "below"} == {"HN-LOW"}


def test_drilling_down_stays_inside_the_scope(site):
    client = signed_in(site, "hn@x.vn")
    assert client.get("/manager/u/HN-LOW?period=2026-10").status_code == 200
    for code in ("HCM", "HCM-SECRET", "NOPE"):
        response = client.get(f"/manager/u/{code}")
        assert response.status_code == 404 and "Saigon" not in response.get_data(as_text=True)
    office = signed_in(site, "o0@x.vn")
    assert office.get("/manager/u/HN").status_code == 404
    assert office.get("/manager/u/HN-LOW").status_code == 404


def test_national_admin_sees_every_province(site):
    html = signed_in(site, "national@x.vn").get("/manager/").get_data(as_text=True)
    assert "/manager/u/HN?period=2026-10" in html and "/manager/u/HCM?period=2026-10" in html


@pytest.mark.parametrize("lang, message", [
    ("en", "Cannot read the period"), ("vi", "Không đọc được kỳ"),
])
def test_a_bad_period_is_a_400_in_the_persons_language(site, lang, message):
    client = signed_in(site, "o0@x.vn", lang)
    response = client.get("/manager/?period=2026-13")
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_a_counter_has_no_dashboard_of_its_own_yet(site):
    response = signed_in(site, "o0@x.vn").get("/manager/u/HN-O0-Q1")
    assert response.status_code == 400 and "its figures are on its office's page" in response.get_data(as_text=True)


def test_the_dashboard_speaks_vietnamese(site):
    html = signed_in(site, "o0@x.vn", "vi").get("/manager/").get_data(as_text=True)
    assert "Chỉ số hài lòng" in html and "<strong>90,0%</strong>" in html and "<dd>4,40 <span" in html


def test_an_account_whose_unit_does_not_fit_its_role_sees_nothing(site):
    with site.app_context():
        user, _ = create_user("broken@x.vn", "office-manager", "HN-O1", password=PASSWORD)
        user.scope_unit = db.session.scalar(select(Unit).where(Unit.code == "HN"))  # a province: wrong level
        db.session.commit()
    response = signed_in(site, "broken@x.vn").get("/manager/")
    assert response.status_code == 403 and "HN-O" not in response.get_data(as_text=True)


def test_an_office_dashboard_names_the_counter_that_pulls_it_down(site):
    with site.app_context():
        hn = db.session.scalar(select(Unit).where(Unit.code == "HN"))
        office = unit("HN-CTR", UnitLevel.OFFICE, hn)
        counters = [unit(f"HN-CTR-Q{i}", UnitLevel.COUNTER, office) for i in range(7)]
        db.session.flush()
        start = datetime(2026, 10, 1, 3)
        for counter in counters[:5]:
            rate(office, 5, start, 54, counter=counter, spread_days=18)
            rate(office, 2, start, 6, counter=counter, spread_days=18)
        rate(office, 4, start, 12, counter=counters[5], spread_days=12)  # HN-CTR-Q5: 12 of 60 satisfied
        rate(office, 1, start, 48, counter=counters[5], spread_days=12)
        rate(office, 1, start, 3, counter=counters[6], spread_days=3)  # HN-CTR-Q6: 3 unhappy ratings
        create_user("ctr@x.vn", "office-manager", "HN-CTR", password=PASSWORD)
        db.session.commit()
    forget_unit_tree()
    forget_live_results()
    html = signed_in(site, "ctr@x.vn").get("/manager/").get_data(as_text=True)
    assert "<h2 id=\"below-heading\">Counters</h2>" in html
    pulling = html.split('class="pulling-down"')[1].split("</ul>")[0]
    assert "Unit HN-CTR-Q5" in pulling and "Q6" not in pulling and "Q0" not in pulling
    assert "20.0%" in pulling and "n = 60" in pulling
    assert "Units with too few ratings to be judged: 1." in html
    # Counters of other offices are compared with, never shown.
    assert "HN-O0-Q1" not in html


def test_the_independence_panel_shows_each_channel_share_and_index(site):
    with site.app_context():
        hn = db.session.scalar(select(Unit).where(Unit.code == "HN"))
        office = unit("HN-KIOSK", UnitLevel.OFFICE, hn)
        db.session.flush()
        start = datetime(2026, 10, 1, 3)
        # The kiosk: 57 of 60 satisfied; the phone: 12 of 40. Shares 60 % and 40 %.
        rate(office, 5, start, 57, channel=Channel.KIOSK, spread_days=18)
        rate(office, 1, start, 3, channel=Channel.KIOSK, spread_days=3)
        rate(office, 4, start, 12, channel=Channel.PHONE, spread_days=12)
        rate(office, 2, start, 28, channel=Channel.PHONE, spread_days=18)
        create_user("kiosk@x.vn", "office-manager", "HN-KIOSK", password=PASSWORD)
        db.session.commit()
    forget_unit_tree()
    forget_live_results()
    html = signed_in(site, "kiosk@x.vn").get("/manager/").get_data(as_text=True)
    panel = html.split('id="channels-heading"')[1].split("</section>")[0]
    kiosk_row = panel.split("Kiosk at the counter")[1].split("</tr>")[0]
    phone_row = panel.split("Phone (QR code at the counter)")[1].split("</tr>")[0]
    assert "60%" in kiosk_row and "95.0%" in kiosk_row and ">60<" in kiosk_row
    assert "40%" in phone_row and "30.0%" in phone_row and ">40<" in phone_row
    assert panel.index("Kiosk at the counter") < panel.index("Phone (QR code")  # most ratings first
