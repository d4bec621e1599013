"""The unit page shows the 766-compatible rate beside the satisfaction index, with the number of dossiers
and one sentence on why the two differ; withheld below the publication threshold. Worked out by hand."""

from __future__ import annotations

import uuid
from datetime import datetime
from types import SimpleNamespace

import pytest

from survey.extensions import db
from survey.models import Channel, Transaction, Unit
from survey.questionnaires import questionnaire_for
from survey.rating.operations import RatingSubmission, submit_rating
from tests.conftest import make_place


def dossiers(office_id: int, n: int, *, late: int = 0, ratings: tuple[int, ...] = ()) -> None:
    """``n`` dossiers returned on 10 March 2026: the first ``late`` after their due day, the next ones rated."""
    questionnaire = questionnaire_for(db.session.get(Unit, office_id))
    for i in range(n):
        code = f"{uuid.uuid4().int % 1000:03d}.00.16.H26-260301-{i:04d}"
        due = datetime(2026, 3, 9) if i < late else datetime(2026, 3, 12)
        db.session.add(Transaction(dossier_code=code, office_id=office_id, procedure_code="1.005169",
                                   received_at=datetime(2026, 3, 1), due_at=due, returned_at=datetime(2026, 3, 10)))
        db.session.flush()
        rated = i - late
        if 0 <= rated < len(ratings):
            submit_rating(RatingSubmission(
                idempotency_key=uuid.uuid4().hex, questionnaire=questionnaire, office=SimpleNamespace(id=office_id),
                channel=Channel.LINK, answers={questionnaire.overall_question.id: ratings[rated]},
                transaction_ref=code), now=datetime(2026, 3, 10, 3))
    db.session.commit()


@pytest.fixture
def offices(app):
    with app.app_context():
        big, small = make_place("HN"), make_place("HP")
        # 40 returned: 4 late (not rated), then 6 rated: 1, 1, 5, 5, 5, 5.
        dossiers(big.office_id, 40, late=4, ratings=(1, 1, 5, 5, 5, 5))
        dossiers(small.office_id, 10, late=1)
        return big, small


def test_the_unit_page_shows_the_766_rate_with_its_reason(client, offices):
    big, _ = offices
    html = client.get(f"/u/{big.office_code}", query_string={"period": "2026-03", "lang": "en"}).get_data(as_text=True)
    # (40 - 4 late - 2 rated dissatisfied) / 40 = 34 / 40 = 85.0 %.
    assert "766-compatible satisfaction rate" in html
    assert "85.0%" in html and "of 40 dossiers returned (4 late, 2 rated dissatisfied)" in html
    assert "a dossier nobody rated counts as satisfied" in html
    vi = client.get(f"/u/{big.office_code}", query_string={"period": "2026-03", "lang": "vi"}).get_data(as_text=True)
    assert "Tỷ lệ hài lòng theo cách tính của Quyết định 766" in vi


def test_the_766_rate_is_withheld_below_the_threshold_and_absent_without_dossiers(app, client, offices):
    _, small = offices
    html = client.get(f"/u/{small.office_code}",
                      query_string={"period": "2026-03", "lang": "en"}).get_data(as_text=True)
    assert "withheld, fewer than 30 dossiers returned (10)" in html and "90.0%" not in html
    with app.app_context():
        none = make_place("QN")
    html = client.get(f"/u/{none.office_code}", query_string={"period": "2026-03", "lang": "en"}).get_data(as_text=True)
    assert "766-compatible" not in html
