"""The count tables: every rating counted exactly once, follow-ups once closed, flags in the same
transaction, late commits never skipped, concurrent refreshers never double-counting; and the
check command that proves it from the ratings."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from survey.extensions import db
from survey.misuse.operations import clear_flag, flag_rating
from survey.models import Channel, OverallCount, Procedure, Rating, Unit, UnitLevel
from survey.rating.operations import add_follow_up
from survey.results.counts import check_counts, refresh_counts, uncounted_ratings
from tests.conftest import make_app, make_place
from tests.results_helpers import brute_table_counts, merged, rate, stored_table_counts  # noqa: F401

NOW = datetime(2026, 8, 20, 3, 0)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db(request):
    """The same test on SQLite and on PostgreSQL (each has its own refresher statements)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("app")
        return
    from survey.cli import init_database

    app = make_app(request.getfixturevalue("postgres_uri"))
    with app.app_context():
        init_database()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_refresh_counts_every_rating_once_and_agrees_with_the_ratings(merged):
    with merged.app_context():
        assert uncounted_ratings() == 120
        first = refresh_counts(batch_size=7)  # many small batches
        assert (first.overall, first.batches > 10) == (120, True)
        assert stored_table_counts() == brute_table_counts()
        again = refresh_counts()
        assert (again.overall, again.follow_up) == (0, 0)
        assert stored_table_counts() == brute_table_counts()
        assert check_counts().ok and uncounted_ratings() == 0


def _open_rating(app, minutes_ago: float):
    """A rating whose follow-up window is still open at NOW (not completed)."""
    place = make_place()
    office = db.session.get(Unit, place.office_id)
    rating, = rate(office, 5, NOW - timedelta(minutes=minutes_ago), complete=False)
    db.session.commit()
    return rating, office


def test_follow_up_answers_are_counted_once_the_rating_is_closed(any_db):
    app = any_db
    with app.app_context():
        rating, office = _open_rating(app, minutes_ago=1)
        refresh_counts(now=NOW)
        assert rating.count_state == 1  # overall counted, the follow-up may still come
        assert sum(stored_table_counts()["overall"].values()) == 1
        assert stored_table_counts()["criteria"] == {}
        questionnaire = rating.questionnaire
        procedure = db.session.scalar(select(Procedure).where(Procedure.id == make_place().procedure_ids[0]))
        add_follow_up(rating, {questionnaire.follow_up_questions[0].id: 2}, procedure_id=procedure.id,
                      now=NOW + timedelta(minutes=1))
        db.session.commit()
        refresh_counts(now=NOW + timedelta(minutes=2))
        db.session.refresh(rating)
        assert rating.count_state == 2
        stored = stored_table_counts()
        assert sum(stored["overall"].values()) == 1  # not twice
        assert list(stored["criteria"].values()) == [1] and list(stored["procedures"].values()) == [1]
        assert check_counts().ok


def test_a_rating_whose_window_ran_out_is_closed_without_a_follow_up(any_db):
    app = any_db
    with app.app_context():
        rating, _ = _open_rating(app, minutes_ago=5)
        refresh_counts(now=NOW)
        assert rating.count_state == 1
        window = app.config["FOLLOW_UP_WINDOW_MINUTES"] + app.config["COUNT_GRACE_SECONDS"] / 60
        refresh_counts(now=NOW + timedelta(minutes=window - 5 - 0.5))
        db.session.refresh(rating)
        assert rating.count_state == 1  # still inside window + grace
        refresh_counts(now=NOW + timedelta(minutes=window))
        db.session.refresh(rating)
        assert rating.count_state == 2 and check_counts().ok


@pytest.mark.parametrize("count_first", [True, False])
def test_flag_and_clear_keep_the_counts_right(merged, count_first):
    with merged.app_context():
        if count_first:
            refresh_counts()
        ratings = db.session.scalars(select(Rating).join(Unit, Unit.id == Rating.office_id)
                                     .where(Unit.code == "TQG-MC").order_by(Rating.id)).all()
        with_follow_up = ratings[0]
        assert with_follow_up.answers and len(with_follow_up.answers) == 3
        assert flag_rating(with_follow_up, "manual", "test") is True
        assert flag_rating(with_follow_up, "burst") is False  # already flagged: the first reason stays
        flag_rating(ratings[-1], "burst")
        db.session.commit()
        refresh_counts()
        assert stored_table_counts() == brute_table_counts()
        assert clear_flag(with_follow_up) is True and clear_flag(with_follow_up) is False
        db.session.commit()
        refresh_counts()
        assert stored_table_counts() == brute_table_counts()
        assert db.session.get(Rating, with_follow_up.id).flag is None
        with pytest.raises(ValueError):
            flag_rating(ratings[1], "because")


def test_check_finds_a_wrong_count_and_repair_fixes_it(merged):
    with merged.app_context():
        refresh_counts()
        wrong = db.session.scalars(select(OverallCount).where(OverallCount.value == 4)).first()
        wrong.count += 3
        db.session.add(OverallCount(office_id=db.session.scalar(select(Unit.id).where(Unit.code == "HN-MC")),
                                    service_date=NOW.date(), counter_id=0, questionnaire_id=1, channel="kiosk",
                                    value=1, period_month=202608, count=2))
        db.session.commit()
        result = check_counts()
        assert not result.ok
        diff = result.differences["overall_counts"]
        assert len(diff) == 2 and set(diff["stored"] - diff["expected"]) == {3, 2}
        assert check_counts(repair=True).repaired
        assert check_counts().ok
        assert stored_table_counts() == brute_table_counts()


def test_check_command_exit_status_and_repair(merged):
    runner = merged.test_cli_runner()
    assert runner.invoke(args=["results", "refresh"]).exit_code == 0
    ok = runner.invoke(args=["results", "check"])
    assert ok.exit_code == 0 and "overall_counts: OK" in ok.output
    with merged.app_context():
        db.session.execute(update(OverallCount).values(count=OverallCount.count * 2))
        db.session.commit()
    bad = runner.invoke(args=["results", "check"])
    assert bad.exit_code == 1 and "row(s) differ" in bad.output
    fixed = runner.invoke(args=["results", "check", "--repair"])
    assert fixed.exit_code == 0 and "Repaired" in fixed.output
    assert runner.invoke(args=["results", "check"]).exit_code == 0


def _random_ratings(n: int, seed: int) -> None:
    rng = random.Random(seed)
    place = make_place(f"P{seed}")
    office = db.session.get(Unit, place.office_id)
    counter = db.session.get(Unit, place.counter_id)
    for i in range(n):
        when = NOW - timedelta(days=rng.randint(0, 60), minutes=rng.randint(40, 500))
        rate(office, rng.randint(1, 5), when, counter=counter if i % 3 else None,
             follow_up={"access": rng.randint(1, 5)} if i % 4 == 0 else None,
             channel=Channel.KIOSK if i % 2 else Channel.PHONE)
    db.session.commit()


def _concurrent_refreshers(app, threads: int = 4) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work():
        try:
            with app.app_context():
                start.wait()
                for _ in range(3):
                    refresh_counts(batch_size=5)
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    return errors


def test_concurrent_refreshers_on_sqlite_never_double_count(app):
    with app.app_context():
        _random_ratings(120, seed=1)
    assert _concurrent_refreshers(app) == []
    with app.app_context():
        assert uncounted_ratings() == 0
        assert stored_table_counts() == brute_table_counts()


@pytest.mark.postgres
def test_concurrent_refreshers_on_postgresql_take_disjoint_batches(postgres_uri):
    from survey.cli import init_database

    app = make_app(postgres_uri)
    with app.app_context():
        init_database()
        _random_ratings(200, seed=2)
    assert _concurrent_refreshers(app, threads=6) == []
    with app.app_context():
        assert uncounted_ratings() == 0
        assert stored_table_counts() == brute_table_counts()
        assert check_counts().ok
        db.session.remove()  # return the connection before closing the pool
        db.engine.dispose()


@pytest.mark.postgres
def test_a_late_commit_is_counted_by_the_next_refresh(postgres_uri):
    """A rating whose transaction started first (lower id) but commits after a refresh is not skipped."""
    from survey.cli import init_database

    app = make_app(postgres_uri)
    with app.app_context():
        init_database()
        _random_ratings(3, seed=3)
        office = db.session.scalar(select(Unit).where(Unit.level == UnitLevel.OFFICE))
        office_id = office.id
    late_ready, refreshed = threading.Event(), threading.Event()
    late_id: list[int] = []

    def late_writer():
        with app.app_context():
            rating, = rate(db.session.get(Unit, office_id), 1, NOW - timedelta(hours=2))
            late_id.append(rating.id)  # flushed: the id is taken, the row is not committed
            late_ready.set()
            refreshed.wait(30)
            db.session.commit()
            db.session.remove()

    writer = threading.Thread(target=late_writer)
    writer.start()
    late_ready.wait(30)
    with app.app_context():
        _random_ratings(3, seed=4)  # higher ids, committed first
        refresh_counts()
        assert uncounted_ratings() == 0  # the late rating is not visible yet
    refreshed.set()
    writer.join(30)
    with app.app_context():
        assert db.session.get(Rating, late_id[0]).count_state == 0
        assert refresh_counts().overall == 1
        assert stored_table_counts() == brute_table_counts() and check_counts().ok
        db.session.remove()  # return the connection before closing the pool
        db.engine.dispose()


@pytest.mark.postgres
def test_flagging_while_a_refresher_holds_the_rating_waits_and_stays_right(postgres_uri):
    from survey.cli import init_database

    app = make_app(postgres_uri)
    with app.app_context():
        init_database()
        _random_ratings(40, seed=5)
        ids = list(db.session.scalars(select(Rating.id).order_by(Rating.id)))

    def flagger():
        with app.app_context():
            for rating_id in ids[::3]:
                flag_rating(db.session.get(Rating, rating_id), "manual")
                db.session.commit()
            db.session.remove()

    thread = threading.Thread(target=flagger)
    thread.start()
    assert _concurrent_refreshers(app, threads=3) == []
    thread.join(60)
    with app.app_context():
        refresh_counts()
        assert stored_table_counts() == brute_table_counts() and check_counts().ok
        db.session.remove()  # return the connection before closing the pool
        db.engine.dispose()


def test_the_scheduler_keeps_the_counts_and_publishes_daily_at_night_in_vietnam(merged):
    """`survey worker --with-scheduler` (here inline, without Redis) runs the results' periodic jobs:
    the count tables catch up within a run, and publishing is daily at 01:00 Vietnam time."""
    from zoneinfo import ZoneInfo

    from survey import jobs

    registered = {job.name: job for job in jobs.periodic_jobs(merged)}
    refresh = registered["survey.results.scheduled.refresh_counts"]
    publish = registered["survey.results.scheduled.publish_due"]
    assert refresh.seconds <= 60 and publish.seconds == 24 * 3600
    start = datetime.fromtimestamp(publish.next_start(datetime(2026, 11, 23, 12).timestamp()), ZoneInfo("UTC"))
    assert start.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).time().isoformat() == "01:00:00"

    with merged.app_context():
        assert uncounted_ratings() == 120
    jobs.run_scheduler(merged, stop_after=1.0)
    with merged.app_context():
        assert uncounted_ratings() == 0
        assert stored_table_counts() == brute_table_counts()
