"""SQL aggregation and ``survey analyze``: counts from the live database, trends across a merger."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime

import pytest
from sqlalchemy import select
from statsmodels.stats.proportion import proportion_confint

from survey.aggregation import rating_counts, reporting_units
from survey.extensions import db
from survey.models import Channel, Rating, ServiceVolume, Unit, UnitLevel
from survey.rating.operations import RatingSubmission, questionnaire_for, submit_rating


def rate(office: Unit, value: int, when: datetime, n: int = 1, flag: str | None = None) -> None:
    questionnaire = questionnaire_for(office)
    for i in range(n):
        rating, _ = submit_rating(RatingSubmission(
            idempotency_key=f"{office.code}-{when:%Y%m%d%H}-{value}-{i}-{flag}".replace("_", "-")[:64].ljust(16, "x"),
            questionnaire=questionnaire, office=office, channel=Channel.PHONE,
            answers={questionnaire.overall_question.id: value},
        ), now=when)
        rating.flag = flag


@pytest.fixture
def merged(app):
    """Hà Giang merged into Tuyên Quang on 1 July 2025: one office before, one after."""
    with app.app_context():
        new = Unit(code="TQG", level=UnitLevel.PROVINCE, name_vi="Tuyên Quang", valid_from=date(2025, 7, 1))
        old = Unit(code="OLD-HA-GIANG", level=UnitLevel.PROVINCE, name_vi="Hà Giang", valid_from=date(1991, 10, 1),
                   valid_to=date(2025, 6, 30), successor=new)
        old_office = Unit(code="HG-MC", level=UnitLevel.OFFICE, name_vi="Một cửa Hà Giang", parent=old,
                          valid_from=date(2000, 1, 1), valid_to=date(2025, 6, 30))
        new_office = Unit(code="TQG-MC", level=UnitLevel.OFFICE, name_vi="Một cửa Tuyên Quang", parent=new)
        other = Unit(code="HN", level=UnitLevel.PROVINCE, name_vi="Hà Nội", valid_from=date(1900, 1, 1))
        other_office = Unit(code="HN-MC", level=UnitLevel.OFFICE, name_vi="Một cửa Hà Nội", parent=other)
        db.session.add_all([new, old, old_office, new_office, other, other_office])
        db.session.flush()
        # Q2 2025 (before the merger): 40 ratings in Hà Giang, 30 satisfied.
        rate(old_office, 5, datetime(2025, 5, 10, 3), 30)
        rate(old_office, 2, datetime(2025, 5, 11, 3), 10)
        # Q3 2025 (after): 50 in the new Tuyên Quang office, 45 satisfied; 3 flagged ones are left out.
        rate(new_office, 4, datetime(2025, 8, 10, 3), 45)
        rate(new_office, 1, datetime(2025, 8, 11, 3), 5)
        rate(new_office, 1, datetime(2025, 8, 12, 3), 3, flag="burst")
        rate(other_office, 4, datetime(2025, 8, 10, 3), 35)
        rate(other_office, 3, datetime(2025, 9, 10, 3), 5)
        db.session.add(ServiceVolume(office_id=new_office.id, period_month=202508, transactions=200))
        db.session.commit()
    return app


def test_offices_of_a_merged_province_report_under_its_successor(merged):
    with merged.app_context():
        units = {office_id: unit.code for office_id, unit in reporting_units(UnitLevel.PROVINCE).items()}
        codes = {u.id: u.code for u in db.session.scalars(select(Unit))}
        assert {codes[i]: c for i, c in units.items()} == {"HG-MC": "TQG", "TQG-MC": "TQG", "HN-MC": "HN"}


def test_counts_are_grouped_in_sql_and_exclude_flagged_ratings(merged):
    with merged.app_context():
        counts = rating_counts("default", (202504, 202509), UnitLevel.PROVINCE)
        brute = {}
        for rating in db.session.scalars(select(Rating).where(Rating.flag.is_(None))):
            province = rating.office.ancestor(UnitLevel.PROVINCE)
            code = province.successor.code if province.successor else province.code
            key = (code, f"{rating.period_month // 100}-{rating.period_month % 100:02d}", rating.overall_value)
            brute[key] = brute.get(key, 0) + 1
    got = {(r.unit, r.period, r.value): r.count for r in counts.itertuples()}
    assert got == brute


def run_analyze(app, *args):
    result = app.test_cli_runner().invoke(args=["analyze", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_analyze_keeps_the_trend_across_the_merger(merged):
    rows = {r["unit"]: r for r in csv.DictReader(io.StringIO(
        run_analyze(merged, "--period", "2025-Q3", "--level", "province", "--format", "csv")))}
    tq = rows["TQG"]
    assert (int(tq["n"]), int(tq["satisfied"]), int(tq["n_prev"])) == (50, 45, 40)
    assert float(tq["index_prev"]) == pytest.approx(30 / 40)
    low, high = proportion_confint(45, 50, alpha=0.05, method="wilson")
    assert (float(tq["ci_low"]), float(tq["ci_high"])) == (pytest.approx(low, abs=1e-5), pytest.approx(high, abs=1e-5))
    assert float(tq["response_rate"]) == pytest.approx(50 / 200)
    assert tq["publishable"] == "True"
    assert rows["HN"]["n_prev"] in ("0", "0.0", "")  # no ratings before: no change claimed
    assert rows["HN"]["change_flag"] == "insufficient data"


def test_analyze_json_withholds_small_units(merged):
    data = json.loads(run_analyze(merged, "--period", "2025-Q3", "--level", "office", "--format", "json",
                                  "--min-n", "45"))
    assert data["period"] == "2025-Q3" and data["previous_period"] == "2025-Q2"
    units = {u["unit"]: u for u in data["units"]}
    assert units["TQG-MC"]["index"] == pytest.approx(0.9)
    assert units["HN-MC"]["n"] == 40 and units["HN-MC"]["index"] is None  # withheld, not 0
    assert units["HN-MC"]["publishable"] is False


@pytest.mark.parametrize("args, message", [
    (["--period", "2025-Q5"], "period"),
    (["--period", "2030-Q1"], "No 'default' ratings"),
    (["--period", "2025-Q3", "--questionnaire", "nope"], "No questionnaire"),
])
def test_analyze_explains_bad_requests(merged, args, message):
    result = merged.test_cli_runner().invoke(args=["analyze", *args])
    assert result.exit_code != 0 and message in result.output
