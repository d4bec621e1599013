"""The OpenAPI 3.1 document of ``/api/v1`` (served at ``/api/v1/openapi.json``, readable at ``/api/v1/docs``).

Written by hand next to the views it describes; ``tests/test_openapi.py`` checks it against the
OpenAPI 3.1 meta-schema and every response of the API against it, so it cannot drift unnoticed.
"""

from __future__ import annotations

from typing import Any

from survey.transactions.operations import MAX_BATCH

ERROR_CODES = [
    "bad_request", "not_found", "method_not_allowed", "too_large", "too_many_requests", "server_error", "error",
    "bad_format", "bad_period", "bad_level", "bad_revision", "unknown_unit", "unknown_questionnaire", "no_revision",
    "no_snapshot", "missing_api_key", "invalid_api_key", "out_of_scope", "bad_json", "bad_qr", "empty_batch",
    "batch_too_large", "bad_item", "unknown_field", "missing_field", "bad_dossier_code", "bad_office_code",
    "bad_counter_code", "bad_procedure_code", "bad_officer_code", "bad_time", "bad_time_order", "unknown_office",
    "unknown_counter", "dossier_conflict", "duplicate_in_batch", "unknown_transaction", "bad_csv", "bad_encoding",
    "no_header", "unknown_column", "duplicate_column", "bad_row", "bad_idempotency_key", "bad_channel",
    "bad_answers", "unknown_question", "out_of_scale", "missing_overall", "bad_comment", "comment_too_long",
    "bad_locale", "unknown_procedure", "duplicate_transaction", "key_conflict", "invalid_kiosk", "kiosk_revoked",
    "kiosk_burst", "bad_batch",
]

DOSSIER_CODE_PATTERN = (r"^([A-Z0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}-[0-9]{6}-[0-9]{4}"
                        r"|[A-Z][0-9]{2}\.[A-Z0-9]{3}\.[A-Z0-9]{2}-[0-9]{6}-[A-Z0-9]{2}[0-9]{4})$")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*statuses: int) -> dict:
    descriptions = {400: "Bad request", 401: "No valid API key", 403: "Outside the key's units",
                    404: "Not found", 405: "Method not allowed", 409: "Conflict with what is stored",
                    410: "Gone", 413: "Body too large", 429: "Too many requests", 503: "Database unavailable"}
    return {str(s): {"description": descriptions[s], "content": {"application/json": {"schema": _ref("Error")}}}
            for s in statuses}


#: The link as a QR code in a PNG image (error correction M, 8 pixels a module), base64 (RFC 4648, with padding).
_QR_PNG = {"type": "string", "contentEncoding": "base64", "contentMediaType": "image/png",
           "pattern": "^iVBORw0KGgo[A-Za-z0-9+/]*={0,2}$",
           "description": "The link as a PNG QR code, base64 (with qr=png)."}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["code", "message"], "additionalProperties": False,
        "properties": {
            "code": {"type": "string", "description": "Stable code, for programs.", "examples": ERROR_CODES},
            "message": {"type": "string",
                        "description": "For people, in the client's language (?lang= or Accept-Language)."},
        },
    },
    "TransactionIn": {
        "type": "object", "additionalProperties": False,
        "required": ["dossier_code", "office_code", "procedure_code", "received_at"],
        "properties": {
            "dossier_code": {"type": "string", "pattern": DOSSIER_CODE_PATTERN,
                             "description": "Circular 01/2018 Art. 19 (V1V2V3.Z1Z2.Y1Y2.MX1X2-YYMMDD-XXXX) or the 2026 "
                                            "national format (MX1X2.Y1Y2Y3.Z1Z2-YYMMDD-AAXXXX); YYMMDD a real date.",
                             "examples": ["000.00.16.H26-260301-0001", "H26.001.02-260301-TC0001"]},
            "office_code": {"type": "string", "description": "The receiving one-stop office's unit code."},
            "counter_code": {"type": ["string", "null"], "description": "A counter of that office."},
            "procedure_code": {"type": "string", "description": "National procedure catalogue code.",
                               "examples": ["1.005169"]},
            "officer_code": {"type": ["string", "null"], "description": "Handling officer; never published."},
            "received_at": {"type": "string", "format": "date-time",
                            "description": "ISO 8601; without an offset it is Vietnam time."},
            "due_at": {"type": ["string", "null"], "format": "date-time"},
            "returned_at": {"type": ["string", "null"], "format": "date-time",
                            "description": "Send again when the result is returned; the link then lives from here."},
        },
    },
    "TransactionResult": {
        "type": "object", "required": ["dossier_code", "status", "rating_url", "expires_at"],
        "additionalProperties": False,
        "properties": {
            "dossier_code": {"type": "string"},
            "status": {"enum": ["created", "updated", "unchanged"]},
            "rating_url": {"type": "string", "format": "uri", "description": "Single-use, signed rating link."},
            "expires_at": {"type": "string", "format": "date-time"},
            "qr_svg": {"type": "string", "description": "The link as an SVG QR code (with qr=svg, the default)."},
            "qr_png": _QR_PNG,
        },
    },
    "BatchResult": {
        "type": "object", "required": ["stored", "errors"], "additionalProperties": False,
        "properties": {
            "stored": {"type": "array", "items": {"allOf": [
                _ref("TransactionResult"),
            ], "required": ["index"], "properties": {"index": {"type": "integer", "minimum": 0}},
                "unevaluatedProperties": False}},
            "errors": {"type": "array", "items": {
                "type": "object", "required": ["index", "code", "message"], "additionalProperties": False,
                "properties": {"index": {"type": "integer", "minimum": 0}, "code": {"type": "string"},
                               "message": {"type": "string"}}}},
        },
    },
    "ImportResult": {
        "type": "object", "required": ["rows", "created", "updated", "unchanged", "errors"],
        "additionalProperties": False,
        "properties": {
            **{name: {"type": "integer", "minimum": 0} for name in ("rows", "created", "updated", "unchanged")},
            "errors": {"type": "array", "items": {
                "type": "object", "required": ["line", "code", "message"], "additionalProperties": False,
                "properties": {"line": {"type": "integer", "minimum": 2,
                                        "description": "Line in the file (1 = header)."},
                               "code": {"type": "string"}, "message": {"type": "string"}}}},
        },
    },
    "RatingIn": {
        "type": "object", "additionalProperties": False,
        "required": ["idempotency_key", "office_code", "channel", "answers"],
        "properties": {
            "idempotency_key": {"type": "string", "pattern": "^[A-Za-z0-9_-]{16,64}$",
                                "description": "Made once per rating by the caller (e.g. a UUID); a repeat stores "
                                               "nothing new."},
            "office_code": {"type": "string", "description": "An office of the key's units."},
            "counter_code": {"type": ["string", "null"]},
            "procedure_code": {"type": ["string", "null"], "description": "A procedure code known to the platform."},
            "channel": {"enum": ["kiosk", "phone", "staff", "web"],
                        "description": "Who entered it: a citizen at a kiosk or on a phone, or staff on an officer's "
                                       "screen (shown apart in the results)."},
            "answers": {"type": "object", "minProperties": 1,
                        "additionalProperties": {"type": "integer"},
                        "description": "Question key → answer value, for the questionnaire the office shows now; "
                                       "overall is required.", "examples": [{"overall": 4, "access": 5}]},
            "comment": {"type": ["string", "null"]},
            "dossier_code": {"type": ["string", "null"],
                             "description": "A dossier registered for this office: the rating is its one rating."},
            "rated_at": {"type": ["string", "null"], "format": "date-time",
                         "description": "When it was given, for queued ratings (at most 14 days ago)."},
            "locale": {"enum": ["vi", "en"]},
        },
    },
    "RatingResult": {
        "type": "object", "required": ["idempotency_key", "status", "channel", "rated_at"],
        "additionalProperties": False,
        "properties": {
            "idempotency_key": {"type": "string"}, "status": {"enum": ["created", "unchanged"]},
            "channel": {"type": "string"}, "rated_at": {"type": "string", "format": "date-time"},
            "next": {"type": "string", "description": "For a kiosk's tap: the confirmation screen to show."},
        },
    },
    "KioskTapIn": {
        "type": "object", "additionalProperties": False, "required": ["idempotency_key", "answers"],
        "description": "One tap of a kiosk (Authorization: Kiosk <token>): its place and questionnaire are the "
                       "kiosk's; a new tap within the kiosk's burst interval of the last one gets 429.",
        "properties": {
            "idempotency_key": {"type": "string", "pattern": "^[A-Za-z0-9_-]{16,64}$"},
            "answers": {"type": "object", "minProperties": 1, "maxProperties": 1,
                        "additionalProperties": {"type": "integer"},
                        "description": "The overall question's key → the face tapped.", "examples": [{"overall": 5}]},
            "locale": {"type": "string", "description": "The page's language (the default when not offered)."},
        },
    },
    "KioskBatchIn": {
        "type": "object", "additionalProperties": False, "required": ["sent_at", "taps"],
        "description": "Taps a kiosk queued while the server could not be reached, sent when it answers again. "
                       "Each is stored once at its tap time, corrected by the tablet's clock skew (sent_at "
                       "against the server's clock); taps closer than the burst interval, or older than the "
                       "queue's limit, are stored but flagged burst, a tap timed after sent_at is flagged clock.",
        "properties": {
            "sent_at": {"type": "integer", "description": "The tablet's clock when sending, ms since 1970."},
            "locale": {"type": "string"},
            "taps": {"type": "array", "minItems": 1, "maxItems": 500, "items": {
                "type": "object", "additionalProperties": False,
                "required": ["idempotency_key", "value", "tapped_at"],
                "properties": {
                    "idempotency_key": {"type": "string", "pattern": "^[A-Za-z0-9_-]{16,64}$"},
                    "value": {"type": "integer", "description": "The overall answer."},
                    "tapped_at": {"type": "integer", "description": "The tablet's clock at the tap, ms since 1970."},
                }}},
        },
    },
    "KioskBatchResult": {
        "type": "object", "required": ["stored"], "additionalProperties": False,
        "properties": {"stored": {"type": "array", "items": {"type": "string"},
                                  "description": "The keys now stored (new or not): drop them from the queue."}},
    },
    "TransactionStatus": {
        "type": "object", "required": ["dossier_code", "office_code", "rated", "rating_url", "expires_at"],
        "additionalProperties": False,
        "properties": {
            "dossier_code": {"type": "string"}, "office_code": {"type": "string"}, "rated": {"type": "boolean"},
            "rating_url": {"type": "string", "format": "uri"}, "expires_at": {"type": "string", "format": "date-time"},
            "qr_svg": {"type": "string"}, "qr_png": _QR_PNG,
        },
    },
    "TransactionFigures": {
        "type": "object", "required": ["period", "level", "units"], "additionalProperties": False,
        "description": "Only the units of the key. Census figures over the dossiers returned in the period.",
        "properties": {
            "period": {"type": "string"}, "level": {"enum": ["province", "commune", "office"]},
            "units": {"type": "array", "items": {
                "type": "object", "additionalProperties": False,
                "required": ["unit", "served", "responded", "response_rate", "late", "on_time_rate", "rate_766"],
                "properties": {
                    "unit": {"type": "string"},
                    **{name: {"type": "integer", "minimum": 0} for name in
                       ("served", "responded", "late", "dissatisfied", "late_or_dissatisfied")},
                    **{name: {"type": ["number", "null"], "minimum": 0, "maximum": 1} for name in
                       ("response_rate", "response_rate_low", "response_rate_high", "on_time_rate",
                        "on_time_rate_low", "on_time_rate_high")},
                    "rate_766": {"type": ["number", "null"], "minimum": 0, "maximum": 1,
                                 "description": "(served − late or rated dissatisfied) ÷ served: the national "
                                                "index's formula, where a dossier nobody rated counts as satisfied."},
                }}},
        },
    },
    "Results": {
        "type": "object", "description": "One results table, as on the public pages (see the methodology).",
        "required": ["period", "level", "questionnaire", "status", "fields", "units"],
        "properties": {
            "period": {"type": "string"}, "previous_period": {"type": ["string", "null"]},
            "level": {"type": "string"}, "questionnaire": {"type": "string"},
            "status": {"enum": ["published", "provisional"]}, "revision": {"type": ["integer", "null"]},
            "published_at": {"type": ["string", "null"]}, "computed_at": {"type": ["string", "null"]},
            "scope": {"type": ["string", "null"]}, "fields": {"type": "array", "items": {"type": "string"}},
            "units": {"type": "array", "items": {"type": "object"}},
        },
    },
}

_QR = {"name": "qr", "in": "query", "required": False, "schema": {"enum": ["svg", "png", "none"], "default": "svg"},
       "description": "Include each link's QR code as SVG (field qr_svg), as a PNG image in base64 (field qr_png), "
                      "or not at all (faster for large batches)."}
_LANG = {"name": "lang", "in": "query", "required": False, "schema": {"enum": ["vi", "en"]},
         "description": "Language of error messages (default: Accept-Language, then Vietnamese)."}


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema or {"type": "string"},
            "description": description}


PATHS: dict[str, Any] = {
    "/results": {"get": {
        "operationId": "get_results", "summary": "Open-data results table (no key needed)",
        "parameters": [
            _query("level", "province, commune or office", {"enum": ["province", "commune", "office"]}),
            _query("period", "e.g. 2026-Q3, 2026-07, 2026"), _query("questionnaire", "questionnaire code"),
            _query("unit", "only this unit's subtree"), _query("revision", "a published revision", {"type": "string"}),
            _query("format", "json or csv", {"enum": ["json", "csv"]}), _LANG,
        ],
        "responses": {
            "200": {"description": "The table", "content": {"application/json": {"schema": _ref("Results")},
                                                            "text/csv": {"schema": {"type": "string"}}}},
            "304": {"description": "Not modified (ETag)"},
            **_errors(400, 404),
        },
    }},
    "/transactions": {"post": {
        "operationId": "register_transactions", "summary": "Register one dossier, or a batch of up to 1,000",
        "description": "Idempotent per dossier code. A batch stores its good items and reports the bad ones by "
                       "index; nothing is half-written. Each stored dossier gets a single-use rating link.",
        "security": [{"apiKey": []}],
        "parameters": [_QR, _LANG],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
            _ref("TransactionIn"),
            {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": _ref("TransactionIn")},
        ]}}}},
        "responses": {
            "201": {"description": "Registered (one object sent)",
                    "content": {"application/json": {"schema": _ref("TransactionResult")}}},
            "200": {"description": "Already registered (one object sent), or a batch's outcome",
                    "content": {"application/json": {"schema": {"oneOf": [_ref("TransactionResult"),
                                                                           _ref("BatchResult")]}}}},
            **_errors(400, 401, 403, 404, 405, 409, 413),
        },
    }},
    "/ratings": {"post": {
        "operationId": "submit_rating_api",
        "summary": "Send one rating for an office of the key, or a kiosk's tap or queued taps",
        "description": "Through the same submission path as the kiosk and phone pages. The idempotency key is "
                       "required: sending the same rating again (an offline queue retrying) stores it once. "
                       "With an API key the body is RatingIn; with a kiosk's own credential (Authorization: "
                       "Kiosk <token>, what the platform's kiosk page and its offline queue send) it is "
                       "KioskTapIn or KioskBatchIn.",
        "security": [{"apiKey": []}, {"kiosk": []}],
        "parameters": [_LANG],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
            _ref("RatingIn"), _ref("KioskTapIn"), _ref("KioskBatchIn")]}}}},
        "responses": {
            "201": {"description": "Stored", "content": {"application/json": {"schema": _ref("RatingResult")}}},
            "200": {"description": "Stored before with this idempotency key: nothing new; or a kiosk's batch stored",
                    "content": {"application/json": {"schema": {"oneOf": [_ref("RatingResult"),
                                                                           _ref("KioskBatchResult")]}}}},
            **_errors(400, 401, 403, 404, 405, 409, 413, 429),
        },
    }},
    "/transactions/import": {"post": {
        "operationId": "import_transactions_csv", "summary": "Register the transactions of a CSV file",
        "description": "The body is the file (UTF-8): a header line naming the fields of TransactionIn, then one "
                       "dossier per line; an empty cell is an absent field. Same validation as POST /transactions; "
                       "bad rows are reported by line with a reason and store nothing. Links are not returned: "
                       "read them with GET /transactions/{dossier_code}.",
        "security": [{"apiKey": []}],
        "parameters": [_LANG],
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}, "example": (
            "dossier_code,office_code,procedure_code,received_at,due_at,returned_at\n"
            "000.00.16.H26-260301-0001,HN-MC,1.005169,2026-03-01T09:30:00+07:00,2026-03-06,2026-03-05\n")}}},
        "responses": {
            "200": {"description": "What was stored, and the refused lines",
                    "content": {"application/json": {"schema": _ref("ImportResult")}}},
            **_errors(400, 401, 405, 413),
        },
    }},
    "/transactions/{dossier_code}": {"get": {
        "operationId": "get_transaction", "summary": "A registered dossier of the key's units: rated or not, its link",
        "security": [{"apiKey": []}],
        "parameters": [{"name": "dossier_code", "in": "path", "required": True, "schema": {"type": "string"}},
                       _QR, _LANG],
        "responses": {
            "200": {"description": "The dossier",
                    "content": {"application/json": {"schema": _ref("TransactionStatus")}}},
            **_errors(400, 401, 404),
        },
    }},
    "/transaction-figures": {"get": {
        "operationId": "get_transaction_figures",
        "summary": "Response rate, on-time rate and the 766-compatible satisfaction rate of the key's units",
        "security": [{"apiKey": []}],
        "parameters": [_query("period", "e.g. 2026-03, 2026-Q1, 2026 (default: the last complete quarter)"),
                       _query("level", "province, commune or office (default office)",
                              {"enum": ["province", "commune", "office"]}), _LANG],
        "responses": {
            "200": {"description": "The figures",
                    "content": {"application/json": {"schema": _ref("TransactionFigures")}}},
            **_errors(400, 401),
        },
    }},
    "/openapi.json": {"get": {
        "operationId": "get_openapi", "summary": "This document",
        "responses": {"200": {"description": "OpenAPI 3.1",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }},
}


def openapi_document(server_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "survey API",
            "version": "1",
            "summary": "Citizen-satisfaction results and one-stop transactions with single-use rating links.",
            "description": "Errors are {code, message} with a stable code. Writing endpoints need an API key "
                           "(survey api-keys create --unit CODE) sent as Authorization: Bearer <key>; a key "
                           "acts only on its units and everything below them.",
        },
        "servers": [{"url": server_url}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "svk_… key"},
                "kiosk": {"type": "apiKey", "in": "header", "name": "Authorization",
                          "description": "Kiosk <token>: a registered kiosk's own credential (the token of its "
                                         "address), for POST /ratings only."},
            },
        },
    }
