"""Large exports as background jobs: the file is written under instance/exports/ with owner-only
permissions, the progress (rows written of the total) is on a page that refreshes itself, only the
requester can download it, the file is deleted after its time, and memory stays flat."""

from __future__ import annotations

import csv
import io
import re
import stat
import subprocess
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from survey.exports.operations import delete_expired_exports, file_path, run_export, start_export
from survey.extensions import db
from survey.manager.operations import create_user
from survey.models import ExportJob, Questionnaire, UnitLevel, User
from survey.models._common import utcnow
from tests.conftest import SURVEY_COMMAND, hidden_fields
from tests.test_dashboard import PASSWORD, signed_in, unit
from tests.test_exports import fill
from tests.test_jobs import queued  # noqa: F401 - a private queue on the test Redis


@pytest.fixture
def site(app):
    """Hà Nội with office HNA (5,000 ratings, a third with a phone number in the comment) and HNB (30)."""
    with app.app_context():
        province = unit("HN", UnitLevel.PROVINCE)
        hna, hnb = unit("HNA", UnitLevel.OFFICE, province), unit("HNB", UnitLevel.OFFICE, province)
        db.session.flush()
        questionnaire_id = db.session.scalar(select(Questionnaire.id).limit(1))
        fill(5000, hna.id, questionnaire_id, 0)
        fill(30, hnb.id, questionnaire_id, 5000)
        create_user("hn@x.vn", "province-admin", "HN", password=PASSWORD)
        create_user("hnb@x.vn", "office-manager", "HNB", password=PASSWORD)
        db.session.commit()
    return app


def export_token(client) -> dict:
    return hidden_fields(client.get("/manager/").get_data(as_text=True))


def test_a_background_export_writes_a_private_file_shows_progress_and_is_downloaded_by_its_requester(site):
    client = signed_in(site, "hn@x.vn")
    dashboard = client.get("/manager/").get_data(as_text=True)
    assert 'action="/manager/exports"' in dashboard
    started = client.post("/manager/exports", data={**hidden_fields(dashboard), "format": "csv", "unit": "HNA"})
    assert started.status_code == 303
    page_url = started.headers["Location"]
    # Without Redis the job ran in the request: finished, 5,000 of 5,000 rows, no more refreshing.
    page = client.get(page_url).get_data(as_text=True)
    assert "Ready to download" in page and "5,000 of 5,000 rows written" in page
    assert 'http-equiv="refresh"' not in page
    with site.app_context():
        job = db.session.scalar(select(ExportJob))
        path = file_path(job)
        assert path.parent == Path(site.instance_path) / "exports"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert job.expires_at == job.finished_at + timedelta(minutes=60)
    download = client.get(f"{page_url}/download")
    assert download.status_code == 200 and download.headers["Cache-Control"] == "no-store"
    body = download.get_data(as_text=True)
    download.close()  # send_file's open file
    rows = list(csv.reader(io.StringIO(body)))
    direct = list(csv.reader(io.StringIO(client.get("/manager/export/ratings.csv?unit=HNA").get_data(as_text=True))))
    assert rows == direct and len(rows) == 1 + 5000  # the same rows as the streamed download
    assert rows[1][-1] == "rating 0: call [phone number]" and "0912" not in body
    # Someone else, even a manager of the same province, gets a 404 for the page and the file.
    other = signed_in(site, "hnb@x.vn")
    assert other.get(page_url).status_code == 404 and other.get(f"{page_url}/download").status_code == 404
    # Outside the scope the export is refused before anything is written.
    refused = other.post("/manager/exports", data={**export_token(other), "format": "xlsx", "unit": "HNA"})
    assert refused.status_code == 404
    assert client.post("/manager/exports", data={"format": "csv"}).status_code == 400  # no CSRF token


def test_the_progress_page_refreshes_while_the_job_runs(site):
    with site.app_context():
        user = db.session.scalar(select(User).where(User.email == "hn@x.vn"))
        job = start_export(user, None, "xlsx", "vi")
        job.state, job.rows_total, job.rows_written = "running", 5030, 2000  # as the job leaves it after a batch
        db.session.commit()
        job_id = job.id
    page = signed_in(site, "hn@x.vn", lang="vi").get(f"/manager/exports/{job_id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="2">' in page
    assert re.search(r'<progress id="export-progress" max="5030" value="2000">', page)
    assert "2.000" in page and "5.030" in page  # Vietnamese digit grouping
    assert signed_in(site, "hn@x.vn").get(f"/manager/exports/{job_id}/download").status_code == 409


def test_an_xlsx_export_is_written_and_deleted_after_its_time(site):
    from openpyxl import load_workbook

    with site.app_context():
        user = db.session.scalar(select(User).where(User.email == "hnb@x.vn"))
        job = start_export(user, None, "xlsx", "en")
        db.session.commit()
        assert run_export(job.id) == {"export": job.id, "state": "finished", "rows": 30}
        path = file_path(job)
        sheet = load_workbook(path, read_only=True)["ratings"]
        values = list(sheet.values)
        assert len(values) == 31 and {v[2] for v in values[1:]} == {"HNB"}  # only the manager's office
        assert delete_expired_exports(now=utcnow() + timedelta(minutes=59)) == 0 and path.exists()
        assert delete_expired_exports(now=utcnow() + timedelta(minutes=61)) == 1
        db.session.commit()
        assert not path.exists() and db.session.get(ExportJob, job.id).state == "expired"
        job_id = job.id
    gone = signed_in(site, "hnb@x.vn").get(f"/manager/exports/{job_id}/download")
    assert gone.status_code == 410


def peak_while_exporting(user_id: int) -> tuple[int, int]:
    user = db.session.get(User, user_id)
    job = start_export(user, None, "csv", "en")
    db.session.commit()
    tracemalloc.start()
    try:
        result = run_export(job.id)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result["rows"]


def test_background_export_memory_does_not_grow_with_the_ratings(site):
    with site.app_context():
        user_id = db.session.scalar(select(User.id).where(User.email == "hn@x.vn"))
        peak_while_exporting(user_id)  # warm-up: imports, compiled statements and pools are made once
        small, small_rows = peak_while_exporting(user_id)
        questionnaire_id = db.session.scalar(select(Questionnaire.id).limit(1))
        from tests.results_helpers import office_of

        fill(75000, office_of("HNA").id, questionnaire_id, 10000)
        db.session.commit()
        large, large_rows = peak_while_exporting(user_id)
    assert (small_rows, large_rows) == (5030, 80030)
    # Sixteen times the ratings, about the same memory: one batch at a time.
    assert large < 1.5 * small + 256 * 1024, (small, large)


@pytest.mark.redis
def test_with_redis_the_export_waits_for_a_worker_while_its_page_refreshes(site, queued):
    """A real ``survey worker`` (RQ on the test Redis) writes the file; until then the page says so and
    refreshes itself. The worker shares the web node's instance folder, as on one machine."""
    node, env = queued
    env = {**env, "SURVEY_INSTANCE_PATH": node.instance_path}
    client = signed_in(node, "hnb@x.vn")
    started = client.post("/manager/exports", data={**export_token(client), "format": "csv", "unit": ""})
    assert started.status_code == 303
    page_url = started.headers["Location"]
    waiting = client.get(page_url).get_data(as_text=True)
    assert "Waiting for a worker" in waiting and '<meta http-equiv="refresh" content="2">' in waiting
    assert client.get(f"{page_url}/download").status_code == 409
    result = subprocess.run([*SURVEY_COMMAND, "worker", "--burst"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    done = client.get(page_url).get_data(as_text=True)
    assert "Ready to download" in done and "30 of 30 rows written" in done and 'http-equiv="refresh"' not in done
    download = client.get(f"{page_url}/download")
    body = download.get_data(as_text=True)
    download.close()
    rows = list(csv.reader(io.StringIO(body)))
    assert len(rows) == 31 and {row[2] for row in rows[1:]} == {"HNB"}
