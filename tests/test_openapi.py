"""The OpenAPI 3.1 document: valid against the OpenAPI 3.1 meta-schema, and every response of the API
matches it (schemathesis generates the requests from the served document, valid and invalid)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from schemathesis import checks
from schemathesis.specs.openapi.definitions import OPENAPI_31

from survey.api.keys import create_api_key
from survey.extensions import db
from tests.conftest import make_place

API_CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
              checks.response_schema_conformance, checks.response_headers_conformance]


def test_the_document_is_valid_openapi_3_1(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.json["openapi"] == "3.1.0"
    errors = sorted(Draft202012Validator(OPENAPI_31).iter_errors(response.json), key=str)
    assert errors == []
    assert set(response.json["paths"]) >= {"/results", "/transactions", "/transactions/{dossier_code}", "/ratings",
                                           "/transactions/import"}


def test_the_meta_schema_check_can_fail(client):
    broken = dict(client.get("/api/v1/openapi.json").json, paths={"/x": {"get": {"responses": "none"}}})
    assert list(Draft202012Validator(OPENAPI_31).iter_errors(broken))


@pytest.fixture
def api_key(app) -> str:
    with app.app_context():
        place = make_place("HN")
        _, key = create_api_key("schemathesis", ["HN"])
        db.session.commit()
    return key


# schemathesis' own pytest plugin does not run under pytest 9 yet: drive its strategies with hypothesis.
@pytest.mark.parametrize("generation", ["positive", "negative"])
def test_every_response_matches_the_document(app, api_key, generation):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    modes = [schemathesis.GenerationMode(generation)]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/results", "/transactions", "/transactions/{dossier_code}", "/ratings",
                                              "/transactions/import"}
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=modes[0]))
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def run(case):
            # identity: the WSGI transport does not undo the compression the app applies to large bodies.
            case.call_and_validate(headers={"Authorization": f"Bearer {api_key}", "Accept-Encoding": "identity"},
                                   checks=API_CHECKS)

        run()


def test_the_readable_page_lists_every_operation(client):
    page = client.get("/api/v1/docs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Tài liệu API" in html
    for operation in ("GET http://localhost/api/v1/results", "POST http://localhost/api/v1/transactions",
                      "GET http://localhost/api/v1/transactions/{dossier_code}", "POST http://localhost/api/v1/ratings",
                      "POST http://localhost/api/v1/transactions/import"):
        assert operation in html
    assert "API documentation" in client.get("/api/v1/docs?lang=en").get_data(as_text=True)


def test_a_png_qr_code_response_matches_the_document(client, api_key):
    """``?qr=png``, rarely drawn by the generator with a valid body, checked against the document by hand."""
    document = client.get("/api/v1/openapi.json").json
    parameter = next(p for p in document["paths"]["/transactions"]["post"]["parameters"] if p["name"] == "qr")
    assert parameter["schema"]["enum"] == ["svg", "png", "none"] and parameter["schema"]["default"] == "svg"
    with client.application.app_context():
        from sqlalchemy import select

        from survey.models import Unit, UnitLevel

        office_code = db.session.scalar(select(Unit.code).where(Unit.level == UnitLevel.OFFICE))
    body = {"dossier_code": "000.00.16.H26-260301-0001", "office_code": office_code,
            "procedure_code": "1.005169", "received_at": "2026-03-01T08:15:00+07:00"}
    response = client.post("/api/v1/transactions", json=body, query_string={"qr": "png"},
                           headers={"Authorization": f"Bearer {api_key}"})
    assert response.status_code == 201 and response.json["qr_png"].startswith("iVBORw0KGgo")  # base64 of the PNG signature
    validator = Draft202012Validator({**document, "$ref": "#/components/schemas/TransactionResult"})
    assert list(validator.iter_errors(response.json)) == []
    assert list(validator.iter_errors({**response.json, "qr_png": "<svg/>"}))  # the check can fail
