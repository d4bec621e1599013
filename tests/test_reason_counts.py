"""Per-reason counts of "what went wrong" (#9) from the results service, for one unit and period."""

from __future__ import annotations

from sqlalchemy import select

from survey.extensions import db
from survey.models import REASONS, Rating
from survey.results import service
from tests.conftest import hidden_fields, make_place
from tests.test_rating import tap


def give_reasons(app, url: str, value: str, reasons: list[str]) -> str:
    """A citizen on their own phone: a face, then the reasons; returns the rating's key."""
    client = app.test_client()
    confirm_url = tap(client, url, value, "en")
    reasons_url = f"{confirm_url.split('?')[0]}/reasons"
    if reasons:
        fields = hidden_fields(client.get(reasons_url).get_data(as_text=True))
        sent = client.post(reasons_url, data={**fields, "reasons": reasons, "finish": "1"})
        assert sent.status_code == 303
    return confirm_url.split("?")[0].rsplit("/", 1)[-1]


def test_reason_counts_for_an_office_and_its_province(app):
    with app.app_context():
        here, elsewhere = make_place("HN"), make_place("HP")
    given = [["long_wait", "come_back"], ["long_wait"], ["staff_attitude", "long_wait", "extra_money"], []]
    keys = [give_reasons(app, here.phone_url, "1", reasons) for reasons in given]
    give_reasons(app, elsewhere.phone_url, "2", ["other", "long_wait"])
    flagged = give_reasons(app, here.phone_url, "1", ["unclear_procedure"])
    with app.app_context():
        rating = db.session.scalar(select(Rating).where(Rating.idempotency_key == flagged))
        rating.flag = "burst"
        db.session.commit()
        quarter = service.parse_period(service.vietnam_today().strftime("%Y-%m")).asfreq("Q")
        period = service.analysis.period_label(quarter)
        office = service.reason_counts(period, "office", here.office_code)
        province = service.reason_counts(period, "province", "HN")
        other = service.reason_counts(period, "province", "HP")
        unknown = service.reason_counts(period, "province", "NOPE")
    # Tallied by hand from ``given`` (the flagged rating's reason is left out).
    expected = {"long_wait": 3, "come_back": 1, "unclear_procedure": 0, "staff_attitude": 1, "extra_money": 1,
                "other": 0}
    assert [row["reason"] for row in office["reasons"]] == list(REASONS)
    assert {row["reason"]: row["count"] for row in office["reasons"]} == expected
    assert {row["reason"]: row["count"] for row in province["reasons"]} == expected
    assert {row["reason"]: row["count"] for row in other["reasons"] if row["count"]} == {"other": 1, "long_wait": 1}
    assert all(row["count"] == 0 for row in unknown["reasons"])
    assert office["period"] == period and len(keys) == 4
