"""The dashboard's trend by ISO week: figures from the daily counts, checked against counts by hand."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select
from statsmodels.stats.proportion import proportion_confint

from survey.extensions import db
from survey.manager.operations import create_user
from survey.misuse.operations import FLAG_REASONS, flag_rating
from survey.models import Rating, Unit, UnitLevel
from survey.results.service import (
    ResultOptions, compute_weekly_trend, forget_live_results, results_table, week_label, weekly_trend,
)
from survey.results.tree import forget_unit_tree
from tests.results_helpers import merged, rate  # noqa: F401  (merged is a fixture)
from tests.test_dashboard import PASSWORD, signed_in

#: A Wednesday: the current ISO week is 2026-W48 (23–29 November), the one before 2026-W47 (16–22).
TODAY = date(2026, 11, 25)
UNCLUSTERED = ResultOptions(cluster=False)


@pytest.fixture
def week_site(app):
    """One office with one counter in Hà Nội, and an office in Huế the Hà Nội manager may not see.

    Times are UTC; Vietnam is UTC+7:
    * 2026-11-22 16:30 UTC is Sunday 23:30 in Vietnam (week 47): 30 ratings of 5 and 10 of 2;
    * 2026-11-22 17:30 UTC is Monday 00:30 in Vietnam (week 48): 25 ratings of 4 and 10 of 1;
    * 2026-11-10 03:00 UTC, Tuesday of week 46: 3 ratings of 5 (too few to publish).
    """
    app.config["RESULTS_TODAY"] = TODAY
    forget_live_results()
    forget_unit_tree()
    with app.app_context():
        hn = Unit(code="HN", level=UnitLevel.PROVINCE, name_vi="Hà Nội", name_en="Ha Noi")
        office = Unit(code="HN-MC", level=UnitLevel.OFFICE, name_vi="Một cửa Hà Nội", name_en="Ha Noi office",
                      parent=hn)
        counter = Unit(code="HN-MC-Q1", level=UnitLevel.COUNTER, name_vi="Quầy 1", parent=office)
        hue = Unit(code="HUE", level=UnitLevel.PROVINCE, name_vi="Huế", name_en="Hue")
        hue_office = Unit(code="HUE-MC", level=UnitLevel.OFFICE, name_vi="Một cửa Huế", name_en="Hue office",
                          parent=hue)
        db.session.add_all([hn, office, counter, hue, hue_office])
        db.session.flush()
        rate(office, 5, datetime(2026, 11, 22, 16, 30), 30, counter=counter)
        rate(office, 2, datetime(2026, 11, 22, 16, 30), 10, counter=counter)
        rate(office, 4, datetime(2026, 11, 22, 17, 30), 25, counter=counter)
        rate(office, 1, datetime(2026, 11, 22, 17, 30), 10, counter=counter)
        rate(office, 5, datetime(2026, 11, 10, 3), 3, counter=counter)
        rate(hue_office, 5, datetime(2026, 11, 23, 3), 40)
        create_user("hn@x.vn", "province-admin", "HN", password=PASSWORD)
        create_user("office@x.vn", "office-manager", "HN-MC", password=PASSWORD)
        db.session.commit()
    yield app
    forget_live_results()
    forget_unit_tree()


def test_week_labels_are_iso_weeks():
    assert week_label(date(2026, 11, 22)) == "2026-W47"  # a Sunday ends its week
    assert week_label(date(2026, 11, 23)) == "2026-W48"  # a Monday starts the next
    assert week_label(date(2026, 12, 31)) == "2026-W53"
    assert week_label(date(2027, 1, 4)) == "2027-W01"
    assert week_label(date(2025, 12, 29)) == "2026-W01"  # ISO year, not calendar year


def test_each_week_n_index_and_interval_by_hand(week_site):
    with week_site.app_context():
        weeks = compute_weekly_trend("HN-MC", "office", "default", weeks=4, today=TODAY, options=UNCLUSTERED)
    assert [w["period"] for w in weeks] == ["2026-W45", "2026-W46", "2026-W47", "2026-W48"]
    assert (weeks[2]["start"], weeks[2]["end"]) == ("2026-11-16", "2026-11-22")
    assert (weeks[3]["start"], weeks[3]["end"]) == ("2026-11-23", "2026-11-29")
    # Week 45: nobody rated.
    assert weeks[0]["n"] == 0 and weeks[0]["index"] is None and not weeks[0]["publishable"]
    # Week 46: 3 ratings, below min_n = 30: counted, not published, no index.
    assert weeks[1]["n"] == 3 and not weeks[1]["publishable"] and weeks[1]["index"] is None
    # Week 47 (the Sunday 23:30 ratings): 30 of 40 satisfied (4 or 5).
    w47 = weeks[2]
    assert w47["n"] == 40 and w47["satisfied"] == 30 and w47["publishable"]
    assert w47["index"] == pytest.approx(30 / 40)
    low, high = proportion_confint(30, 40, alpha=0.05, method="wilson")
    assert (w47["ci_low"], w47["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    # Week 48 (the Monday 00:30 ratings, one hour later in UTC): 25 of 35.
    w48 = weeks[3]
    assert w48["n"] == 35 and w48["satisfied"] == 25 and w48["publishable"]
    assert w48["index"] == pytest.approx(25 / 35)
    low, high = proportion_confint(25, 35, alpha=0.05, method="wilson")
    assert (w48["ci_low"], w48["ci_high"]) == (pytest.approx(low), pytest.approx(high))


def test_the_default_options_cluster_like_the_results_table(week_site):
    """Clustered (the default), the week's interval is the results table's: an office whose November
    ratings all fall in week 47 (one counter, seven service days) has the same n, index and interval
    in its week as in the month's table. One counter-day per week (HN-MC) is withheld (n_eff unknown)."""
    with week_site.app_context():
        office = Unit(code="HN-WK", level=UnitLevel.OFFICE, name_vi="Một cửa tuần", parent=week_site_unit("HN"))
        counter = Unit(code="HN-WK-Q1", level=UnitLevel.COUNTER, name_vi="Quầy 1", parent=office)
        db.session.add_all([office, counter])
        db.session.flush()
        for d in range(7):  # Monday 16 to Sunday 22 November, 10:00 in Vietnam
            rate(office, 5, datetime(2026, 11, 16 + d, 3), 5 + d, counter=counter)
            rate(office, 2, datetime(2026, 11, 16 + d, 3), 3 + d % 3, counter=counter)
        db.session.commit()
        forget_unit_tree()
        forget_live_results()
        weeks = weekly_trend("HN-WK", "office", "default", weeks=2)
        month = results_table("2026-11", "office", "default").unit("HN-WK")
        withheld = weekly_trend("HN-MC", "office", "default", weeks=2)
    # By hand: 5+6+…+11 = 56 satisfied; 3+4+5+3+4+5+3 = 27 not; n = 83.
    w47 = weeks[0]
    assert w47["period"] == "2026-W47" and w47["n"] == 83 and w47["satisfied"] == 56 and w47["publishable"]
    assert w47["index"] == pytest.approx(56 / 83)
    assert month["n"] == 83 and month["n_eff"] < 83  # the table's design effect is at work
    assert w47["n_eff"] == pytest.approx(month["n_eff"])
    assert (w47["ci_low"], w47["ci_high"]) == (pytest.approx(month["ci_low"]), pytest.approx(month["ci_high"]))
    low, high = proportion_confint(56, 83, alpha=0.05, method="wilson")
    assert w47["ci_high"] - w47["ci_low"] > high - low  # wider than the unclustered interval
    assert weeks[1]["n"] == 0
    assert [w["n"] for w in withheld] == [40, 35]
    assert all(not w["publishable"] and w["index"] is None for w in withheld)


def week_site_unit(code):
    return db.session.scalar(select(Unit).where(Unit.code == code))


def test_the_province_rolls_up_its_office_and_not_the_other_province(week_site):
    with week_site.app_context():
        weeks = compute_weekly_trend("HN", "province", "default", weeks=2, today=TODAY, options=UNCLUSTERED)
        hue = compute_weekly_trend("HUE", "province", "default", weeks=2, today=TODAY, options=UNCLUSTERED)
    assert [w["n"] for w in weeks] == [40, 35]
    assert [w["n"] for w in hue] == [0, 40]


def test_a_merged_province_weeks_include_the_old_offices(merged):
    """Hà Giang (merged into Tuyên Quang on 1 July 2025) rated in May 2025; Tuyên Quang in August.
    Ratings were at 03:00/04:00 UTC (the same Vietnam date), the i-th on day i % 28 of the month."""
    with merged.app_context():
        weeks = compute_weekly_trend("TQG", "province", "default", weeks=26, today=date(2025, 9, 30),
                                     options=UNCLUSTERED)
    by_week = {w["period"]: w for w in weeks}
    assert weeks[0]["start"] == "2025-04-07" and weeks[-1]["period"] == "2025-W40"
    # Week 18 (28 April – 4 May): the 5s on 1–4 May (i = 0..3 and i = 28, 29 on 1 and 2 May) and the
    # 2s on 1–4 May (i = 0..3): 10 ratings of the old Hà Giang office, 6 satisfied.
    assert by_week["2025-W18"]["n"] == 10
    # Everything: 40 in Hà Giang (May) + 50 in Tuyên Quang (August); Hà Nội's 30 are not here.
    assert sum(w["n"] for w in weeks) == 90
    may = sum(w["n"] for w in weeks if "2025-04-28" <= w["start"] <= "2025-05-26")
    assert may == 40


def test_the_dashboard_switches_to_weeks_keeping_the_period(week_site):
    client = signed_in(week_site, "office@x.vn")
    html = client.get("/manager/", query_string={"period": "2026-10"}).get_data(as_text=True)
    assert 'href="/manager/?period=2026-10&amp;trend=week"' in html
    assert "2026-W48" not in html
    response = client.get("/manager/", query_string={"period": "2026-10", "trend": "week"})
    assert response.status_code == 200 and "no-store" in response.headers["Cache-Control"]
    html = response.get_data(as_text=True)
    assert 'href="/manager/?period=2026-10"' in html  # back to months, period kept
    assert "2026-W47" in html and "2026-W48" in html and "(2026-11-23 – 2026-11-29)" in html
    assert "2026-W37" in html  # twelve weeks: W37 to W48
    assert "2026-W36" not in html


def test_the_weekly_trend_of_a_unit_out_of_scope_is_404(week_site):
    client = signed_in(week_site, "hn@x.vn")
    assert client.get("/manager/u/HN-MC", query_string={"trend": "week"}).status_code == 200
    response = client.get("/manager/u/HUE-MC", query_string={"trend": "week"})
    assert response.status_code == 404
    assert "Hue office" not in response.get_data(as_text=True)


@pytest.mark.parametrize("junk", ["", "WEEK", "week\x00", "1' or 1=1", "x" * 5000, "month"])
def test_junk_trend_arguments_show_the_monthly_trend(week_site, junk):
    client = signed_in(week_site, "office@x.vn")
    response = client.get("/manager/", query_string={"trend": junk, "_external": "1", "code": "x", "endpoint": "en"})
    assert response.status_code == 200
    assert "2026-W48" not in response.get_data(as_text=True)


def test_the_switch_speaks_vietnamese(week_site):
    client = signed_in(week_site, "office@x.vn", lang="vi")
    html = client.get("/manager/", query_string={"trend": "week"}).get_data(as_text=True)
    assert "Theo tuần" in html and "Theo tháng" in html


def test_a_flagged_rating_leaves_its_week(week_site):
    """Week 48 has 25 ratings of 4 and 10 of 1; one more 4 on Tuesday makes 26 of 36; flagging that one
    and one of Monday's 4s as misuse leaves 24 of 34."""
    with week_site.app_context():
        extra = rate(db.session.scalar(select(Unit).where(Unit.code == "HN-MC")), 4, datetime(2026, 11, 24, 3))
        assert flag_rating(extra[0], FLAG_REASONS[0])
        suspect = db.session.scalar(select(Rating).where(Rating.service_date == date(2026, 11, 23),
                                                         Rating.flag.is_(None)).order_by(Rating.id).limit(1))
        assert flag_rating(suspect, FLAG_REASONS[0])
        db.session.commit()
        weeks = compute_weekly_trend("HN-MC", "office", "default", weeks=1, today=TODAY, options=UNCLUSTERED)
    assert weeks[0]["n"] == 34 and weeks[0]["satisfied"] == 24
    assert weeks[0]["index"] == pytest.approx(24 / 34)
