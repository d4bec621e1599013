"""A unit's index split by who entered the rating (results.service.index_by_channel), on a hand-made case."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from survey.extensions import db
from survey.models import Channel
from survey.results.service import ResultOptions, ResultsError, index_by_channel
from tests.conftest import make_place
from tests.results_helpers import office_of, rate


#: Publish from one rating, to see every number of this small case (the default withholds below 30).
SMALL = ResultOptions(min_n=1)


@pytest.fixture
def office(app):
    with app.app_context():
        place, other = make_place("HN"), make_place("HP")
        o, elsewhere = office_of(place.office_code), office_of(other.office_code)
        march = datetime(2026, 3, 10, 3)
        rate(o, 5, march, 10, channel=Channel.KIOSK, spread_days=5)
        rate(o, 4, march, 4, channel=Channel.PHONE, spread_days=2)
        rate(o, 2, march, 2, channel=Channel.PHONE)
        rate(o, 1, march, 3, channel=Channel.LINK)
        rate(o, 3, march, 1, channel=Channel.WEB)
        rate(o, 1, datetime(2026, 4, 2, 3), 5, channel=Channel.STAFF)   # April: not in March
        rate(elsewhere, 1, march, 5, channel=Channel.KIOSK)             # another office
        db.session.commit()
        return place


def test_index_by_channel_for_one_office(app, office):
    with app.app_context():
        rows = {r["channel"]: r for r in index_by_channel("2026-03", "office", office.office_code, options=SMALL,
                                                          today=date(2026, 5, 1))}
    # Kiosk 10 of 10 rated 4-5; phone 4 of 6; link 0 of 3; web 0 of 1 (a 3 is not satisfied); staff nobody.
    assert list(rows) == ["kiosk", "phone", "link", "staff", "web"]
    assert [(rows[c]["n"], rows[c]["satisfied"]) for c in ("kiosk", "phone", "link", "web")] == [
        (10, 10), (6, 4), (3, 0), (1, 0)]
    assert rows["kiosk"]["index"] == pytest.approx(1.0) and rows["kiosk"]["ci_high"] == pytest.approx(1.0)
    assert rows["phone"]["index"] == pytest.approx(4 / 6)
    assert rows["phone"]["ci_low"] < 4 / 6 < rows["phone"]["ci_high"]
    assert rows["link"]["index"] == pytest.approx(0.0) and rows["link"]["ci_low"] == pytest.approx(0.0)
    assert rows["staff"] == {"channel": "staff", "n": 0, "satisfied": None, "index": None, "ci_low": None,
                             "ci_high": None, "publishable": False}
    with app.app_context():
        april = {r["channel"]: r["n"] for r in index_by_channel("2026-04", "office", office.office_code,
                                                               today=date(2026, 5, 1))}
        province = {r["channel"]: r["n"] for r in index_by_channel("2026-03", "province", "HN",
                                                                  today=date(2026, 5, 1))}
    assert april == {"kiosk": 0, "phone": 0, "link": 0, "staff": 5}
    assert province["kiosk"] == 10  # HP's kiosk ratings stay in HP


def test_small_channels_are_withheld_at_the_default_threshold(app, office):
    with app.app_context():
        rows = index_by_channel("2026-03", "office", office.office_code, today=date(2026, 5, 1))
    kiosk = next(r for r in rows if r["channel"] == "kiosk")
    assert kiosk["n"] == 10 and kiosk["index"] is None and kiosk["satisfied"] is None
    assert kiosk["publishable"] is False


def test_bad_questionnaire_and_level_are_refused(app, office):
    with app.app_context():
        with pytest.raises(ResultsError) as bad:
            index_by_channel("2026-03", "office", office.office_code, questionnaire="nope")
        assert bad.value.code == "bad_questionnaire"
        with pytest.raises(ResultsError):
            index_by_channel("2026-03", "galaxy", office.office_code)
