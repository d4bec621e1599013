"""Figures from known transactions on a hand-made case: served, responded, response rate, on-time
rate and the 766-compatible satisfaction rate, per office and per province, with Vietnam-time
period edges and flagged ratings left out. Expected values are worked out by hand below."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from types import SimpleNamespace

import pandas as pd
import pytest
from sqlalchemy import select

import analysis
from survey.extensions import db
from survey.models import Channel, Rating, Transaction, Unit
from survey.questionnaires import questionnaire_for
from survey.rating.operations import RatingSubmission, submit_rating
from survey.results.service import ResultsError, transaction_figures
from tests.conftest import make_place

Z = 1.959963984540054


def wilson(x: int, n: int) -> tuple[float, float]:
    p = x / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


def add(office_id: int, returned: datetime | None, due: datetime | None, rating: int | None = None,
        flagged: bool = False) -> None:
    code = f"000.00.16.H26-260301-{uuid.uuid4().int % 10000:04d}"
    while db.session.scalar(select(Transaction.id).where(Transaction.dossier_code == code)):
        code = f"000.00.16.H26-260301-{uuid.uuid4().int % 10000:04d}"
    db.session.add(Transaction(dossier_code=code, office_id=office_id, procedure_code="1.005169",
                               received_at=datetime(2026, 2, 1), due_at=due, returned_at=returned))
    db.session.flush()
    if rating is not None:
        questionnaire = questionnaire_for(db.session.get(Unit, office_id))
        stored, _ = submit_rating(RatingSubmission(
            idempotency_key=uuid.uuid4().hex, questionnaire=questionnaire, office=SimpleNamespace(id=office_id),
            channel=Channel.LINK, answers={questionnaire.overall_question.id: rating}, transaction_ref=code))
        if flagged:
            db.session.get(Rating, stored.id).flag = "manual"
    db.session.commit()


@pytest.fixture
def case(app):
    with app.app_context():
        hn, hp = make_place("HN"), make_place("HP")
        a, b = hn.office_id, hp.office_id
        d = datetime
        add(a, d(2026, 3, 2, 3), d(2026, 3, 5), rating=5)          # T1 on time, satisfied
        add(a, d(2026, 3, 10), d(2026, 3, 12), rating=1)           # T2 on time, dissatisfied
        add(a, d(2026, 3, 15), d(2026, 3, 14))                     # T3 late, not rated
        add(a, d(2026, 3, 20), d(2026, 3, 18), rating=2)           # T4 late and dissatisfied
        add(a, d(2026, 3, 25), None)                               # T5 no due time, not rated
        add(a, d(2026, 3, 31, 16, 30), d(2026, 4, 2), rating=3)   # T6 23:30 on 31 March in Vietnam; neutral
        add(a, d(2026, 3, 31, 17, 30), d(2026, 4, 2), rating=1)   # T7 00:30 on 1 April in Vietnam: April
        add(a, d(2026, 2, 28, 17, 0), None)                        # T8 00:00 on 1 March in Vietnam: March
        add(a, d(2026, 2, 28, 16, 59), None, rating=1)             # T9 23:59 on 28 February in Vietnam
        add(a, None, d(2026, 3, 5))                                # T10 not returned
        add(a, d(2026, 3, 11), d(2026, 3, 12), rating=1, flagged=True)  # T11 flagged rating: not rated
        add(b, d(2026, 3, 3), d(2026, 3, 2), rating=4)             # T12 other province: late, satisfied
    return hn, hp


def test_766_rate_and_response_rate_per_office_on_a_hand_made_case(app, case):
    hn, hp = case
    with app.app_context():
        table = transaction_figures("2026-03", "office").set_index("unit")
    a = table.loc[hn.office_code]
    # Office A in March (Vietnam time): T1 T2 T3 T4 T5 T6 T8 T11 returned = 8 served.
    assert a["served"] == 8
    assert a["responded"] == 4                      # T1 T2 T4 T6 (T11's rating is flagged)
    assert a["response_rate"] == pytest.approx(4 / 8)
    assert (a["response_rate_low"], a["response_rate_high"]) == pytest.approx(wilson(4, 8))
    assert a["late"] == 2                           # T3 T4
    assert a["on_time_rate"] == pytest.approx(6 / 8)
    assert (a["on_time_rate_low"], a["on_time_rate_high"]) == pytest.approx(wilson(6, 8))
    assert a["dissatisfied"] == 2                   # T2 (1) and T4 (2); T6's 3 is not dissatisfied
    assert a["late_or_dissatisfied"] == 3           # T2 T3 T4
    assert a["rate_766"] == pytest.approx((8 - 3) / 8)  # unrated T3 is late; unrated T5 T8 T11 count satisfied
    b = table.loc[hp.office_code]
    assert (b["served"], b["responded"], b["late"], b["dissatisfied"]) == (1, 1, 1, 0)
    assert b["rate_766"] == 0.0                     # satisfied but late


def test_figures_roll_up_to_provinces_and_other_months(app, case):
    with app.app_context():
        provinces = transaction_figures("2026-03", "province").set_index("unit")
        april = transaction_figures("2026-04", "office")
        quarter = transaction_figures("2026-Q1", "province").set_index("unit")
        with pytest.raises(ResultsError):
            transaction_figures("March", "office")
    assert list(provinces.index) == ["HN", "HP"]
    assert provinces.loc["HN", "served"] == 8 and provinces.loc["HP", "served"] == 1
    assert april["served"].tolist() == [1] and april["dissatisfied"].tolist() == [1]
    assert april["rate_766"].tolist() == [0.0]
    assert quarter.loc["HN", "served"] == 9           # February's T9 joins in the quarter
    assert quarter.loc["HN", "rate_766"] == pytest.approx((9 - 4) / 9)


def test_the_analysis_refuses_impossible_counts():
    bad = pd.DataFrame({"unit": ["A"], "late": [False], "rated": [False], "dissatisfied": [True], "count": [1]})
    with pytest.raises(ValueError):
        analysis.transaction_table(bad)
    with pytest.raises(ValueError):
        analysis.transaction_table(bad.drop(columns="late"))
    assert analysis.transaction_table(bad.iloc[:0]).empty


def test_the_api_serves_each_key_its_own_units_only(app, client, case):
    hn, hp = case
    from survey.api.keys import create_api_key

    with app.app_context():
        _, key_hn = create_api_key("Hà Nội", ["HN"])
        _, key_office = create_api_key("one office", [hp.office_code])
        db.session.commit()

    def get(key, **params):
        return client.get("/api/v1/transaction-figures", query_string=params,
                          headers={"Authorization": f"Bearer {key}"})

    offices = get(key_hn, period="2026-03").json
    assert offices["period"] == "2026-03" and offices["level"] == "office"
    [row] = offices["units"]
    assert row["unit"] == hn.office_code and row["served"] == 8 and row["rate_766"] == pytest.approx(0.625)
    assert row["response_rate"] == pytest.approx(0.5) and isinstance(row["late"], int)
    assert [r["unit"] for r in get(key_hn, period="2026-03", level="province").json["units"]] == ["HN"]
    # A key for one office sees that office, not the province it belongs to.
    assert [r["unit"] for r in get(key_office, period="2026-03").json["units"]] == [hp.office_code]
    assert get(key_office, period="2026-03", level="province").json["units"] == []
    assert get(key_hn, period="someday").json["code"] == "bad_period"
    assert client.get("/api/v1/transaction-figures?period=2026-03").status_code == 401
