"""The ratings export streams: its memory does not grow with the number of ratings, and every row
is there with its comment masked."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import date

from sqlalchemy import insert, select

from survey.extensions import db
from survey.manager.exports import ratings_csv
from survey.models import Questionnaire, Rating, UnitLevel
from survey.units.scope import Scope
from tests.test_dashboard import unit


def fill(count: int, office_id: int, questionnaire_id: int, start: int) -> None:
    db.session.execute(insert(Rating), [
        {"idempotency_key": f"x{start + i:015d}", "questionnaire_id": questionnaire_id, "office_id": office_id,
         "channel": "phone", "overall_value": 1 + i % 5, "service_date": date(2026, 10, 1 + i % 28),
         "period_month": 202610, "locale": "vi", "count_state": 2,
         "comment": f"rating {start + i}: call 0912 345 {i % 1000:03d}" if i % 3 == 0 else None}
        for i in range(count)
    ])


def peak_while_streaming(scope: Scope) -> tuple[int, int, str]:
    """(peak traced bytes, rows, the first 2 kB) while the whole export is consumed and dropped."""
    rows, head = 0, ""
    tracemalloc.start()
    try:
        for piece in ratings_csv(scope):
            rows += piece.count("\n")
            if len(head) < 2000:
                head += piece[:2000]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, rows - 1, head


def test_export_memory_does_not_grow_with_the_ratings(app):
    with app.app_context():
        province = unit("HN", UnitLevel.PROVINCE)
        office = unit("HNA", UnitLevel.OFFICE, province)
        db.session.flush()
        questionnaire_id = db.session.scalar(select(Questionnaire.id).limit(1))
        scope = Scope("province-admin", province.id, "HN")
        fill(4000, office.id, questionnaire_id, 0)
        db.session.commit()
        small, small_rows, head = peak_while_streaming(scope)
        fill(76000, office.id, questionnaire_id, 4000)
        db.session.commit()
        large, large_rows, _ = peak_while_streaming(scope)
        # Side by side: what holding the same rows at once would cost.
        tracemalloc.start()
        held = db.session.execute(select(Rating.id, Rating.service_date, Rating.office_id, Rating.counter_id,
                                         Rating.channel, Rating.overall_value, Rating.flag, Rating.comment)).all()
        _, materialised = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(held) == 80000
        del held
    assert (small_rows, large_rows) == (4000, 80000)
    # Twenty times the ratings, about the same memory (one batch of rows at a time), a small part
    # of what holding the rows at once costs.
    assert large < 1.5 * small + 256 * 1024, (small, large)
    assert large < materialised / 4, (large, materialised)
    first = list(csv.reader(io.StringIO(head)))[1]
    assert first[:3] == ["1", "2026-10-01", "HNA"] and first[-1] == "rating 0: call [phone number]"


def test_a_comment_that_looks_like_a_formula_is_written_as_text(app):
    with app.app_context():
        province = unit("HN", UnitLevel.PROVINCE)
        office = unit("HNA", UnitLevel.OFFICE, province)
        db.session.flush()
        questionnaire_id = db.session.scalar(select(Questionnaire.id).limit(1))
        for i, text in enumerate(["=HYPERLINK(\"http://evil\")", "+1+1", "@SUM(A1)", "-2"]):
            db.session.execute(insert(Rating), [{
                "idempotency_key": f"f{i}", "questionnaire_id": questionnaire_id, "office_id": office.id,
                "channel": "kiosk", "overall_value": 3, "service_date": date(2026, 10, 2), "period_month": 202610,
                "locale": "vi", "count_state": 2, "comment": text}])
        db.session.commit()
        text = "".join(ratings_csv(Scope("province-admin", province.id, "HN")))
    comments = [row[-1] for row in csv.reader(io.StringIO(text))][1:]
    assert comments == ["'=HYPERLINK(\"http://evil\")", "'+1+1", "'@SUM(A1)", "'-2"]
