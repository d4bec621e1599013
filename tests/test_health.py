"""``/healthz``: a load balancer's check and the load benchmark's floor, so it must not touch the database."""

from __future__ import annotations

from sqlalchemy import event

from survey.extensions import db


def test_health_answers_ok_without_touching_the_database(app, client):
    statements = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        db.engine.dispose()  # no pooled connection either: any database use would have to connect
    connections = []
    with app.app_context():
        event.listen(db.engine, "connect", lambda *args: connections.append(args))
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "ok"
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "no-store"
    assert statements == [] and connections == []


def test_health_answers_even_when_the_database_is_unreachable(tmp_path):
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path}/missing-folder/none.sqlite")
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_data() == b"ok"
