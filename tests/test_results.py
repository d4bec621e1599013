"""The results service, snapshots and open data: the numbers of ``analysis`` on the demo data,
identical in the page, the CSV and the JSON; withheld below the minimum everywhere; revisions."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import shutil
from datetime import date, datetime

import pandas as pd
import pytest
from sqlalchemy import select

import analysis
from survey.demo import seed_demo
from survey.extensions import db
from survey.misuse.operations import flag_rating
from survey.models import AuditEntry, Questionnaire, Rating, ResultSnapshot, ServiceVolume, Unit, UnitLevel
from survey.results import opendata, snapshots
from survey.results.counts import refresh_counts
from survey.results.service import (
    DEFAULT_OPTIONS, ResultOptions, ResultsError, forget_live_results, results_table,
)
from tests.conftest import make_app
from tests.results_helpers import merged, rate  # noqa: F401

TODAY = date(2026, 11, 23)
DEMO_END = date(2026, 10, 31)


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory, migrated_sqlite):
    """The demo (3,000 ratings over a year ending 31 October 2026), seeded once for the module."""
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    shutil.copy(migrated_sqlite, path)
    app = make_app(f"sqlite:///{path}")
    with app.app_context():
        seed_demo(ratings=3000, seed=11, end_date=DEMO_END)
        db.session.commit()
        db.engine.dispose()
    return path


@pytest.fixture
def demo(tmp_path, demo_database):
    path = tmp_path / "demo.sqlite"
    shutil.copy(demo_database, path)
    forget_live_results()
    app = make_app(f"sqlite:///{path}", RESULTS_TODAY=TODAY)
    yield app
    with app.app_context():
        db.engine.dispose()


# --------------------------------------------------------------------------- an independent reference


def reference_counts(level: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts and transactions per reporting unit, built in Python from the rating rows (no count table)."""
    default = set(db.session.scalars(select(Questionnaire.id).where(Questionnaire.code == "default")))

    def reporting(office: Unit) -> Unit | None:
        unit = office if level == "office" else office.ancestor(UnitLevel(level))
        while unit is not None and unit.successor is not None and not unit.is_current(TODAY):
            unit = unit.successor
        return unit

    rows = []
    for r in db.session.scalars(select(Rating).where(Rating.flag.is_(None))):
        unit = reporting(r.office)
        if r.questionnaire_id in default and unit is not None:
            rows.append({"unit": unit.code, "period": f"{r.period_month // 100}-{r.period_month % 100:02d}",
                         "cluster": f"{r.office_id}/{r.counter_id or 0}/{r.service_date}", "value": r.overall_value})
    counts = pd.DataFrame(rows).groupby(["unit", "period", "cluster", "value"], as_index=False).size()
    counts = counts.rename(columns={"size": "count"})
    served = []
    for volume in db.session.scalars(select(ServiceVolume)):
        unit = reporting(db.session.get(Unit, volume.office_id))
        if unit is not None:
            served.append({"unit": unit.code, "period": f"{volume.period_month // 100}-{volume.period_month % 100:02d}",
                           "transactions": volume.transactions})
    served = pd.DataFrame(served).groupby(["unit", "period"], as_index=False)["transactions"].sum()
    return counts, served


def reference_table(level: str, period: str, options: ResultOptions = DEFAULT_OPTIONS) -> pd.DataFrame:
    counts, served = reference_counts(level)
    settings = dict(period=period, previous_period=analysis.period_before(period), satisfied_from=4, scale=(1, 5),
                    transactions=served, min_n=options.min_n, confidence=options.confidence, method=options.method,
                    adjustment=options.adjustment, seed=options.seed, fdr=options.fdr, cluster="cluster",
                    distribution=True)
    return analysis.satisfaction_table(counts, ["unit"], **settings).set_index("unit")


def api_rows(client, **args) -> dict[str, dict]:
    response = client.get("/api/v1/results", query_string={**args, "format": "json"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return {row["code"]: row for row in response.get_json()["units"]}


def csv_rows(client, **args) -> dict[str, dict]:
    response = client.get("/api/v1/results", query_string={**args, "format": "csv"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return {row["code"]: row for row in csv.DictReader(io.StringIO(response.get_data(as_text=True)))}


COMPARED = ("n", "satisfied", "index", "ci_low", "ci_high", "publishable", "mean", "response_rate", "rank",
            "rank_low", "rank_high", "change", "change_flag", "deff", "n_eff", "comparison", "comparison_q",
            "bound_low", "bound_high", "n_1", "n_3", "n_5")


@pytest.mark.parametrize("level", ["province", "office"])
def test_json_and_csv_carry_the_numbers_of_analysis(demo, level):
    client = demo.test_client()
    got_json = api_rows(client, level=level, period="2026-Q3")
    got_csv = csv_rows(client, level=level, period="2026-Q3")
    with demo.app_context():
        expected = reference_table(level, "2026-Q3")
    assert set(got_json) == set(expected.index) == set(got_csv)
    checked = 0
    for code, row in expected.iterrows():
        for name in COMPARED:
            if name not in expected.columns:
                continue
            want = row[name]
            if not row["publishable"] and name not in ("n", "publishable", "comparison"):
                want = None  # withheld in every download
            got, text = got_json[code][name], got_csv[code][name]
            if want is None or (isinstance(want, float) and pd.isna(want)):
                assert got is None and text == "", (code, name, got, text)
            elif isinstance(want, (bool, float)) and not isinstance(want, bool) and not isinstance(want, str):
                assert got == pytest.approx(float(want), rel=1e-12) and float(text) == pytest.approx(float(want)), name
            elif isinstance(want, (bool,)) or name == "publishable":
                assert got is bool(want) and text == ("true" if want else "false")
            else:
                assert str(got) == str(want) and text == str(want), (code, name)
            checked += 1
    assert checked > 5 * len(expected)


def test_the_page_shows_the_numbers_of_the_json(demo):
    client = demo.test_client()
    rows = api_rows(client, level="province", period="2026-Q3")
    html = client.get("/", query_string={"level": "province", "period": "2026-Q3", "lang": "vi"}).get_data(as_text=True)
    shown = dict(re.findall(r'<tr[^>]*data-code="([^"]+)">(.*?)</tr>', html, re.S))
    assert set(shown) == set(rows)
    for code, row in rows.items():
        if row["publishable"]:
            for value in (row["index"], row["ci_low"], row["ci_high"]):
                assert f"{100 * value:.1f}".replace(".", ",") + "%" in shown[code], code
            assert f">{row['n']:,}<".replace(",", ".") in shown[code]
        else:
            assert "Chưa đủ đánh giá để công bố (n &lt; 30)" in shown[code]
            assert f"{row['n']}" in shown[code]


def test_nothing_recomputable_is_published_below_the_minimum(demo):
    """With min_n = 40 many units are withheld: only code, name, n, publishable and comparison remain."""
    client = demo.test_client()
    with demo.app_context():
        results = results_table("2026-Q3", "office", "default", options=ResultOptions(min_n=40))
        withheld = [r for r in results.units if not r["publishable"]]
        assert withheld and any(r["publishable"] for r in results.units)
        public = opendata.rows(results)
    kept = {"period", "level", "questionnaire", "status", "revision", "code", "name", "name_en", "parent_code", "n",
            "publishable", "comparison"}
    for row in public:
        if not row["publishable"]:
            assert {k for k, v in row.items() if v is not None} <= kept
            assert row["comparison"] == "insufficient"
    # The page: a small unit's row has its n and the sentence, no percentage and no distribution.
    html = client.get("/", query_string={"level": "office", "period": "2026-Q3"}).get_data(as_text=True)
    for code, cells in re.findall(r'<tr class="is-withheld" data-code="([^"]+)">(.*?)</tr>', html, re.S):
        assert "%" not in re.sub(r"\(n &lt; \d+\)", "", cells)
        assert "dist-list" not in cells
    # Per-criterion and per-procedure rows below the minimum show no index either.
    small = next(r for r in public if not r["publishable"])
    unit_page = client.get(f"/u/{small['code']}", query_string={"period": "2026-Q3"}).get_data(as_text=True)
    headline = unit_page.split('id="trend-heading"')[0]
    assert "Chưa đủ đánh giá để công bố" in headline and "big-number\"><span class=\"label\">" not in headline


def test_badge_always_carries_n_the_interval_and_the_period(demo):
    client = demo.test_client()
    rows = api_rows(client, level="province", period="2026-Q3")
    code, row = next((c, r) for c, r in rows.items() if r["publishable"])
    svg = client.get(f"/u/{code}/badge.svg", query_string={"period": "2026-Q3", "lang": "vi"}).get_data(as_text=True)
    low, high = (round(100 * row[k]) for k in ("ci_low", "ci_high"))
    assert f"Hài lòng {round(100 * row['index'])}% ({low}–{high}%)" in svg
    assert f"{row['n']:,}".replace(",", ".") + " đánh giá" in svg and "Quý 3/2026" in svg
    english = client.get(f"/u/{code}/badge.svg", query_string={"period": "2026-Q3", "lang": "en"})
    english = english.get_data(as_text=True)
    assert "Satisfied" in english and "ratings" in english and "Quarter 3/2026" in english


def test_badge_of_a_small_unit_withholds_the_index(demo):
    client = demo.test_client()
    rows = api_rows(client, level="office", period="2026-Q3")
    code, row = next((c, r) for c, r in rows.items() if not r["publishable"] and r["n"] > 0)
    svg = client.get(f"/u/{code}/badge.svg", query_string={"period": "2026-Q3", "lang": "en"}).get_data(as_text=True)
    assert "Not enough ratings to publish (n &lt; 30)" in svg and f"{row['n']} ratings" in svg
    assert not re.search(r"\d%", svg)


def test_open_data_never_carries_comments_kiosks_or_single_ratings(demo):
    client = demo.test_client()
    with demo.app_context():
        comments = set(db.session.scalars(select(Rating.comment).where(Rating.comment.is_not(None))))
        ratings = db.session.scalar(select(db.func.count(Rating.id)))
    assert comments
    for fmt in ("json", "csv"):
        for level in ("province", "commune", "office"):
            body = client.get("/api/v1/results", query_string={"level": level, "format": fmt,
                                                              "period": "2026-Q3"}).get_data(as_text=True)
            assert not any(comment in body for comment in comments)
            assert "kiosk" not in body.lower() and "idempotency" not in body
            rows = body.count("\n") - 1 if fmt == "csv" else body.count('"code":')
            assert rows <= 97 < ratings / 10  # units, not ratings


def test_options_are_one_frozen_object_with_a_stable_hash():
    options = ResultOptions(min_n=50, seed=7)
    assert options.hash == ResultOptions(seed=7, min_n=50).hash != DEFAULT_OPTIONS.hash
    assert json.loads(options.canonical_json())["min_n"] == 50
    assert ResultOptions.from_json(options.canonical_json()) == options
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.min_n = 3  # type: ignore[misc]
    for bad in ({"min_n": 0}, {"min_n": 2.5}, {"min_n": True}, {"confidence": 1.0}, {"confidence": 0.2}):
        with pytest.raises(ValueError):
            ResultOptions(**bad)


# --------------------------------------------------------------------------- live results and snapshots


def test_the_open_period_is_live_provisional_and_cached_for_a_minute(demo, monkeypatch):
    client = demo.test_client()
    first = client.get("/api/v1/results", query_string={"period": "2026-Q4", "level": "office"}).get_json()
    assert first["status"] == "provisional" and first["revision"] is None
    code, n_before = max(((r["code"], r["n"]) for r in first["units"]), key=lambda pair: pair[1])
    with demo.app_context():
        rate(db.session.scalar(select(Unit).where(Unit.code == code)), 5, datetime(2026, 11, 20, 3), 3)
        db.session.commit()
    cached = client.get("/api/v1/results", query_string={"period": "2026-Q4", "level": "office"}).get_json()
    assert next(r["n"] for r in cached["units"] if r["code"] == code) == n_before  # within the minute
    import survey.results.counts as counts_module
    import survey.results.service as service_module

    later = service_module.time.monotonic() + 61
    monkeypatch.setattr(service_module.time, "monotonic", lambda: later)
    monkeypatch.setattr(counts_module.time, "monotonic", lambda: later)
    fresh = client.get("/api/v1/results", query_string={"period": "2026-Q4", "level": "office"}).get_json()
    assert next(r["n"] for r in fresh["units"] if r["code"] == code) == n_before + 3


def test_publishing_stores_revisions_only_when_the_data_changed(demo):
    runner = demo.test_cli_runner()
    result = runner.invoke(args=["results", "publish", "--period", "2026-Q3", "--level", "province",
                                 "--questionnaire", "default"])
    assert result.exit_code == 0 and "revision 1 published" in result.output, result.output
    again = runner.invoke(args=["results", "publish", "--period", "2026-Q3", "--level", "province",
                                "--questionnaire", "default"])
    assert "revision 1 unchanged" in again.output
    client = demo.test_client()
    first = client.get("/api/v1/results", query_string={"period": "2026-Q3"}).get_json()
    assert (first["status"], first["revision"]) == ("published", 1)

    with demo.app_context():  # a late misuse flag on a rating of that quarter
        victim = db.session.scalar(select(Rating).where(Rating.period_month == 202608, Rating.flag.is_(None))
                                   .order_by(Rating.id).limit(1))
        code = victim.office.ancestor(UnitLevel.PROVINCE).code
        flag_rating(victim, "manual")
        db.session.commit()
    unchanged = client.get("/api/v1/results", query_string={"period": "2026-Q3"}).get_json()
    assert unchanged == first  # a published figure never changes silently
    second = runner.invoke(args=["results", "publish", "--period", "2026-Q3", "--level", "province",
                                 "--questionnaire", "default"])
    assert "revision 2 published" in second.output
    newest = client.get("/api/v1/results", query_string={"period": "2026-Q3"}).get_json()
    old = client.get("/api/v1/results", query_string={"period": "2026-Q3", "revision": 1}).get_json()
    assert newest["revision"] == 2 and old["revision"] == 1 and old["units"] == first["units"]
    n_new = {r["code"]: r["n"] for r in newest["units"]}
    n_old = {r["code"]: r["n"] for r in old["units"]}
    assert n_new[code] == n_old[code] - 1 and all(n_new[c] == n_old[c] for c in n_old if c != code)
    page = client.get("/", query_string={"period": "2026-Q3", "lang": "en"}).get_data(as_text=True)
    assert "revision 2" in page and "revision=1" in page
    with demo.app_context():
        assert db.session.scalar(select(db.func.count(ResultSnapshot.id))) == 2
        # Each stored revision, and only those, is in the audit log (the command line: no actor).
        entries = db.session.execute(select(AuditEntry.action, AuditEntry.actor_id, AuditEntry.target_id, AuditEntry.data)
                                     .where(AuditEntry.action == "snapshot_published").order_by(AuditEntry.id)).all()
        snapshot_ids = db.session.scalars(select(ResultSnapshot.id).order_by(ResultSnapshot.revision)).all()
        assert [(e.actor_id, e.target_id) for e in entries] == [(None, i) for i in snapshot_ids]
        assert [json.loads(e.data)["revision"] for e in entries] == [1, 2]


def test_a_late_rating_makes_a_new_revision_too(demo):
    with demo.app_context():
        assert snapshots.publish("2026-Q3", "office", "default").revision == 1
        code = max(results_table("2026-Q3", "office").units, key=lambda r: r["n"])["code"]
        office = db.session.scalar(select(Unit).where(Unit.code == code))
        rate(office, 1, datetime(2026, 9, 30, 3))  # arrives (e.g. from an offline kiosk) after publication
        db.session.commit()
        refresh_counts()
        outcome = snapshots.publish("2026-Q3", "office", "default")
        assert (outcome.revision, outcome.created) == (2, True)
        assert results_table("2026-Q3", "office").unit(code)["n"] == \
            results_table("2026-Q3", "office", revision=1).unit(code)["n"] + 1


def test_an_open_period_is_not_published(demo):
    with demo.app_context(), pytest.raises(ResultsError) as error:
        snapshots.publish("2026-Q4", "province", "default")
    assert error.value.code == "open_period"


def test_snapshot_files_and_datapackage_validate_with_frictionless(demo, tmp_path):
    frictionless = pytest.importorskip("frictionless")
    with demo.app_context():
        snapshot = snapshots.publish("2026-Q3", "province", "default")
    client = demo.test_client()
    package = client.get("/api/v1/datapackage.json").get_json()
    assert [r["path"].rsplit("/", 1)[-1] for r in package["resources"]] == [f"{snapshot.snapshot_id}.csv"]
    # Validate with the files saved beside the descriptor (frictionless reads local paths only here).
    for resource in package["resources"]:
        name = resource["path"].rsplit("/", 1)[-1]
        (tmp_path / name).write_bytes(client.get(resource["path"].split("localhost", 1)[-1]).data)
        resource["path"] = name
    (tmp_path / "datapackage.json").write_text(json.dumps(package))
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["type", "note"])
    snapshot_json = client.get(f"/api/v1/snapshots/{snapshot.snapshot_id}.json").get_json()
    assert snapshot_json["revision"] == 1 and snapshot_json["fields"] == [
        f["name"] for f in package["resources"][0]["schema"]["fields"]]


def test_pandas_reads_the_csv_in_one_line_over_http(demo):
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, demo, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/api/v1/results?level=province&period=2026-Q3&format=csv"
        frame = pd.read_csv(url)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
    assert len(frame) == 34 and {"code", "n", "index", "ci_low", "ci_high", "publishable", "comparison"} <= set(frame)
    assert frame["publishable"].dtype == bool and frame.loc[frame["publishable"], "index"].between(0, 1).all()


def test_analyze_command_prints_the_open_data_table(demo):
    result = demo.test_cli_runner().invoke(args=["analyze", "--period", "2026-Q3", "--format", "csv"])
    assert result.exit_code == 0, result.output
    api = demo.test_client().get("/api/v1/results", query_string={"period": "2026-Q3", "format": "csv"})
    assert result.output == api.get_data(as_text=True)
    bad = demo.test_cli_runner().invoke(args=["analyze", "--period", "2026-Q9"])
    assert bad.exit_code != 0 and "Cannot read the period" in bad.output


# --------------------------------------------------------------------------- mergers


def test_a_merged_province_carries_the_ratings_of_its_predecessor(merged):
    merged.config["RESULTS_TODAY"] = TODAY
    forget_live_results()
    client = merged.test_client()
    rows = api_rows(client, level="province", period="2025-Q3")
    assert rows["TQG"]["n"] == 50 and rows["TQG"]["satisfied"] == 45
    assert rows["TQG"]["response_rate"] == pytest.approx(50 / 200)
    before = api_rows(client, level="province", period="2025-Q2")
    assert before["TQG"]["n"] == 40 and "OLD-HA-GIANG" not in before  # reported under today's unit
    page = client.get("/u/TQG", query_string={"period": "2025-Q3", "lang": "en"}).get_data(as_text=True)
    assert "Merger history" in page and "Hà Giang (OLD-HA-GIANG)" in page and "Jul 1, 2025" in page
    assert "Một cửa Hà Giang" in page  # the closed office is listed among those that count here
    redirect = client.get("/u/OLD-HA-GIANG")
    assert redirect.status_code == 302 and redirect.headers["Location"].startswith("/u/TQG")


def test_the_old_results_address_redirects(client):
    response = client.get("/results?level=commune")
    assert response.status_code == 301 and response.headers["Location"] == "/?level=commune"


def test_a_unit_far_outside_the_limits_is_named_everywhere(app):
    """Eleven provinces at about 85 % and one at 40 %: only that one is named, in the page, JSON and chart."""
    app.config["RESULTS_TODAY"] = TODAY
    forget_live_results()
    with app.app_context():
        for k in range(12):
            province = Unit(code=f"P{k:02d}", level=UnitLevel.PROVINCE, name_vi=f"Tỉnh {k}", name_en=f"Province {k}")
            office = Unit(code=f"P{k:02d}-MC", level=UnitLevel.OFFICE, name_vi=f"Một cửa {k}", parent=province)
            db.session.add_all([province, office])
            db.session.flush()
            satisfied = 48 if k == 7 else 102 + k % 3  # of 120
            rate(office, 5, datetime(2026, 7, 1, 2), satisfied, spread_days=60)
            rate(office, 2, datetime(2026, 7, 1, 3), 120 - satisfied, spread_days=60)
        db.session.commit()
    client = app.test_client()
    rows = api_rows(client, level="province", period="2026-Q3")
    assert {code for code, row in rows.items() if row["comparison"] == "below"} == {"P07"}
    assert {row["comparison"] for code, row in rows.items() if code != "P07"} == {"within"}
    html = client.get("/", query_string={"period": "2026-Q3", "lang": "en"}).get_data(as_text=True)
    below = html.split("<dt>Below expected</dt>", 1)[1].split("</dd>", 1)[0]
    above = html.split("<dt>Above expected</dt>", 1)[1].split("</dd>", 1)[0]
    assert "Province 7" in below and "none" in above
    funnel = client.get("/charts/funnel.svg", query_string={"period": "2026-Q3", "lang": "en"}).get_data(as_text=True)
    assert "Province 7" in funnel and "Province 3" not in funnel  # only named units are labelled


def test_the_scheduled_publisher_publishes_every_level_once(demo):
    with demo.app_context():
        first = snapshots.publish_due()
        again = snapshots.publish_due()
    assert {(o.period, o.level, o.questionnaire) for o in first} == {
        (p, level, q) for p in ("2026-10", "2026-Q3", "2025") for level in ("province", "commune", "office")
        for q in ("default", "dossier", "us-cx", "sdg-16.6.2")}
    created = {(o.period, o.level, o.questionnaire) for o in first if o.created}
    assert all(o.revision == 1 for o in first if o.created)
    # nobody answered us-cx or the SDG 16.6.2 instrument: nothing published for them
    assert {q for _, _, q in created} == {"default", "dossier"}
    assert not any(o.created for o in again)


def test_methodology_counts_the_ratings_left_out_as_misuse(demo):
    with demo.app_context():
        victims = db.session.scalars(select(Rating).where(Rating.period_month == 202608).limit(3)).all()
        for rating in victims:
            flag_rating(rating, "burst")
        db.session.commit()
    html = demo.test_client().get("/methodology", query_string={"lang": "en"}).get_data(as_text=True)
    assert "Excluded as suspected misuse in Quarter 3/2026: 3 ratings" in html and "burst: 3" in html


def test_the_data_version_ignores_row_order_but_not_counts():
    """A GROUP BY may come back in any order (PostgreSQL's hash aggregate): the version must not change."""
    from survey.results.queries import rows_hash

    frame = pd.DataFrame({"office_id": [1, 2, 3], "day": ["2026-07-01", "2026-07-02", "2026-07-02"],
                          "value": [5, 4, 1], "count": [3, 1, 2]})
    shuffled = frame.iloc[[2, 0, 1]].reset_index(drop=True)
    assert rows_hash(frame) == rows_hash(shuffled)
    changed = frame.assign(count=[3, 1, 3])
    assert rows_hash(changed) != rows_hash(frame)
    assert rows_hash(frame.iloc[:0]) != rows_hash(frame)
