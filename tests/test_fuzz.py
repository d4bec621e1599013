"""Hostile input, generated: random and malformed form bodies, JSON bodies, raw bytes, query strings and
headers, sent to every route of ``app.url_map`` with real and made-up path values (a live kiosk token,
a revoked one, counter and office codes, the key of a stored rating) so that the deep code runs.

For every request, in Vietnamese and in English: never a 5xx; a 4xx carries a message from the
catalog of the person's language; and a refused request stores nothing. ``SURVEY_FUZZ_EXAMPLES``
(default 50 per route and body kind, about a minute) raises the number of examples.
"""

from __future__ import annotations

import html as html_lib
import io
import json
import os
import re
import shutil
import sqlite3
import tempfile
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from survey.demo import ensure_demo_manager
from survey.extensions import db
from survey.manager import twofactor
from survey.manager.operations import SESSION_TOKEN_KEY
from survey.models import Answer, Kiosk, Rating, UserSession
from survey.models._common import utcnow
from survey.models.users import hash_session_token
from tests.conftest import hidden_fields, make_app, make_place, overall_field

EXAMPLES = int(os.environ.get("SURVEY_FUZZ_EXAMPLES", "50"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
#: Requests sent, per endpoint (printed at the end of the run).
SENT: Counter = Counter()
#: Responses by status code (printed too: it shows how often the deep code was reached).
STATUSES: Counter = Counter()
ALERT = re.compile(r'role="alert">(.*?)</p>', re.S)


def _routes() -> list[tuple[str, str]]:
    """(endpoint, rule) of every route, read from a throwaway app: the test list is the url_map itself."""
    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("SURVEY_INSTANCE_PATH", folder)
        app = make_app(f"sqlite:///{Path(folder) / 'routes.sqlite'}")
        routes = sorted({(rule.endpoint, rule.rule) for rule in app.url_map.iter_rules()})
        with app.app_context():
            db.engine.dispose()
    return routes


ROUTES = _routes()


# ------------------------------------------------------------------ the world the requests land in

class World:
    """One app with real places, a stored rating, a revoked kiosk, a manager; and what to send there."""

    def __init__(self, folder: Path, template: Path):
        shutil.copy(template, folder / "fuzz.sqlite")
        self.app = make_app(
            f"sqlite:///{folder / 'fuzz.sqlite'}", PROPAGATE_EXCEPTIONS=False, KIOSK_MIN_INTERVAL_SECONDS=0,
            PHONE_RATE_LIMIT="100000 per hour", SIGN_IN_RATE_LIMIT="100000 per hour",
        )
        with self.app.app_context():
            place, other = make_place(), make_place("DN")
            revoked = db.session.get(Kiosk, other.kiosk_id)
            revoked.revoked_at = utcnow()
            manager = ensure_demo_manager("s3cret-pass")  # a national administrator here (no demo tree)
            twofactor.pending_secret(manager)  # who must have a second factor: enrolled, as at their first sign-in
            manager.totp_confirmed_at = utcnow()
            self.user_id = manager.id
            db.session.commit()
        self.place, self.revoked_token = place, other.kiosk_token
        client = self.app.test_client()
        kiosk_html = client.get(place.kiosk_url).get_data(as_text=True)
        self.kiosk_csrf = hidden_fields(kiosk_html)["csrf_token"]
        self.overall = overall_field(kiosk_html)
        follow_url = client.post(place.kiosk_url, data={**hidden_fields(kiosk_html), self.overall: "4"}).headers["Location"]
        self.rating_key = follow_url.rsplit("/", 1)[1]
        # One follow-up question per screen: collect the fields of every step.
        steps = [client.get(f"{follow_url}/{step}").get_data(as_text=True) for step in range(1, 7)]
        self.question_fields = sorted({f for html in steps for f in re.findall(r'name="(question_\d+)"', html)})
        self.catalogs = self._catalogs()
        self.raw_csrf, self.csrf_token = self._session_csrf()
        self.session_tokens = self._open_sessions(EXAMPLES * len(ROUTES) * 3)
        self._register_transaction(client)
        self.reader = sqlite3.connect(folder / "fuzz.sqlite", check_same_thread=False)

    def _register_transaction(self, client) -> None:
        """An API key for the place's province and one registered dossier with its single-use link."""
        from survey.api.keys import create_api_key

        with self.app.app_context():
            _, self.api_key = create_api_key("fuzz", ["HN"])
            db.session.commit()
        self.transaction = {"dossier_code": "000.00.16.H26-260301-0001", "office_code": self.place.office_code,
                            "procedure_code": "1.005169", "received_at": "2026-03-01T08:00:00+07:00"}
        response = client.post("/api/v1/transactions?qr=none", json=self.transaction,
                               headers={"Authorization": f"Bearer {self.api_key}"})
        self.link_token = response.json["rating_url"].rsplit("/", 1)[1]

    def _catalogs(self) -> dict[str, list[re.Pattern]]:
        """Every message of each language as a pattern (placeholders match any number or text)."""
        directory = Path(self.app.config["BABEL_TRANSLATION_DIRECTORIES"])
        patterns = {}
        for lang in ("vi", "en"):
            with (directory / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
                texts = [m.string for m in read_po(f) if m.id and m.string]
            patterns[lang] = [re.compile(_pattern(text)) for text in texts]
        return patterns

    def snapshot(self) -> tuple:
        """What no refused request may change: ratings, answers, completions, comments, scores, procedures
        (read on a connection of its own: an app context per request would double the run time)."""
        return self.reader.execute(
            "SELECT (SELECT count(*) FROM ratings), (SELECT count(*) FROM answers),"
            " (SELECT count(completed_at) FROM ratings), (SELECT coalesce(sum(length(comment)), 0) FROM ratings),"
            " (SELECT coalesce(sum(value), 0) FROM answers), (SELECT coalesce(sum(procedure_id), 0) FROM ratings),"
            " (SELECT count(*) FROM transactions), (SELECT max(updated_at) FROM transactions)"
        ).fetchone()

    def client(self, signed_in: bool):
        """A new visitor, or a manager with an open session, both holding the session CSRF token
        ``self.csrf_token`` (sessions are made directly: a sign-in per example would cost a hash)."""
        client = self.app.test_client()
        with client.session_transaction() as session:
            session["csrf_token"] = self.raw_csrf
            if signed_in:
                # An earlier "sign out on every device" ended the prepared sessions too: reopen them.
                with self.reader:
                    self.reader.execute("UPDATE users SET sessions_valid_after = NULL WHERE id = ?", (self.user_id,))
                session.update({"_user_id": str(self.user_id), "_fresh": True,
                                SESSION_TOKEN_KEY: self.session_tokens.pop()})
                if not self.session_tokens:
                    self.session_tokens = self._open_sessions(100)
        return client

    def _open_sessions(self, count: int) -> list[str]:
        tokens = [uuid.uuid4().hex for _ in range(count)]
        with self.app.app_context():
            db.session.add_all(UserSession(user_id=self.user_id, token_hash=hash_session_token(t)) for t in tokens)
            db.session.commit()
        return tokens

    def _session_csrf(self) -> tuple[str, str]:
        from flask import session
        from flask_wtf.csrf import generate_csrf

        with self.app.test_request_context():
            token = generate_csrf()
            return session["csrf_token"], token


def _pattern(text: str) -> str:
    parts = re.split(r"(%\([a-z_]+\)[ds]|%%)", text)
    out = []
    for part in parts:
        if re.fullmatch(r"%\([a-z_]+\)d", part):
            out.append(r"\d+")
        elif re.fullmatch(r"%\([a-z_]+\)s", part):
            out.append(r".+?")
        elif part == "%%":
            out.append("%")
        else:
            out.append(re.escape(part))
    return "^" + "".join(out) + "$"


@pytest.fixture(scope="module")
def world(tmp_path_factory, migrated_sqlite):
    world = World(tmp_path_factory.mktemp("fuzz"), migrated_sqlite)
    yield world
    world.reader.close()
    with world.app.app_context():
        db.engine.dispose()
    total = sum(SENT.values())
    print(f"\nfuzz: {total} requests to {len(SENT)} routes ({EXAMPLES} examples per route and body kind); "
          f"statuses {dict(sorted(STATUSES.items()))}")


# ------------------------------------------------------------------ strategies

NASTY_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(["", " ", "\x00", "\r\n", "é", "😀", "%00", "../../etc/passwd", "//evil.example", "/\t/evil",
                     "' or 1=1 --", "<script>alert(1)</script>", "{{7*7}}", "%(x)s", "\u202e", "a" * 3000]),
)


def path_values(world: World, argument: str):
    place = world.place
    real = {
        "token": [place.kiosk_token, world.revoked_token, world.link_token],
        "dossier_code": [world.transaction["dossier_code"], "H26.001.02-260301-TC0001"],
        "code": [place.counter_code, place.office_code, "HN"],
        "key": [world.rating_key, uuid.uuid4().hex],
        "filename": ["css/survey.css", "js/kiosk.js", "../secret", "nope.js"],
    }.get(argument, [])
    if argument == "step":  # the follow-up steps: the real ones, beyond them, and junk
        return st.one_of(st.sampled_from([1, 2, 5, 6]), st.integers(0, 10**12), NASTY_TEXT.filter(bool))
    if argument.endswith("_id"):  # numeric segments: real-looking numbers and junk
        return st.one_of(st.integers(-5, 10**12), NASTY_TEXT.filter(bool))
    if not real:
        return NASTY_TEXT.filter(bool)
    return st.one_of(st.sampled_from(real[:1]), st.sampled_from(real), NASTY_TEXT.filter(bool))


def query_strings():
    keys = st.one_of(st.sampled_from(["lang", "next", "_method", "endpoint", "reset", "key", "_external", "values",
                                      "token", "code", "_anchor", "_scheme"]), NASTY_TEXT)
    values = st.one_of(st.sampled_from(["en", "vi", "xx", "1", "//evil.example", "/manager/", "POST"]), NASTY_TEXT)
    return st.lists(st.tuples(keys, values), max_size=4)


@st.composite
def near_valid_pairs(draw, world: World, rule: str = ""):
    """A form our own page for ``rule`` would send (rating, follow-up or sign-in), then a few random
    mutations: the way to reach the code behind the first validation."""
    right_token = world.kiosk_csrf if rule.startswith("/kiosk/") else world.csrf_token
    csrf = draw(st.sampled_from([right_token, right_token, right_token, world.kiosk_csrf, world.csrf_token]))
    rating = {"csrf_token": csrf, "idempotency_key": uuid.uuid4().hex, world.overall: draw(st.sampled_from("12345"))}
    follow_up = {"csrf_token": csrf, "idempotency_key": world.rating_key, **{q: "5" for q in world.question_fields},
                 "comment": "Tốt", "procedure_id": str(world.place.procedure_ids[0]), "finish": "1"}
    skip = {"csrf_token": csrf, "idempotency_key": world.rating_key, "skip": "1"}
    sign_in = {"csrf_token": csrf, "email": "quanly@demo.gov.vn", "password": draw(st.sampled_from(["s3cret-pass", "x"]))}
    fitting = ([follow_up, skip] if "<key>" in rule else [sign_in] if "sign-in" in rule
               else [rating] if rule.startswith(("/kiosk/", "/r/")) else [])
    base = draw(st.sampled_from(fitting * 3 + [rating, follow_up, skip, sign_in]))
    pairs = list(base.items())
    for _ in range(draw(st.integers(0, 3))):
        operation = draw(st.sampled_from(["drop", "replace", "add", "keep"]))
        if operation == "keep":
            continue
        if operation == "drop" and pairs:
            pairs.pop(draw(st.integers(0, len(pairs) - 1)))
        elif operation == "replace" and pairs:
            index = draw(st.integers(0, len(pairs) - 1))
            pairs[index] = (pairs[index][0], draw(NASTY_TEXT))
        else:
            pairs.append(draw(form_pairs(world, max_size=1))[0] if draw(st.booleans()) else (draw(NASTY_TEXT), ""))
    return pairs


def form_pairs(world: World, max_size: int = 8):
    keys = st.one_of(
        st.sampled_from(["csrf_token", "idempotency_key", world.overall, *world.question_fields, "question_99999",
                         "question_x", "comment", "procedure_id", "skip", "finish", "email", "password", "submit"]),
        NASTY_TEXT,
    )
    values = st.one_of(
        st.sampled_from([world.kiosk_csrf, world.csrf_token, uuid.uuid4().hex, world.rating_key, "1", "3", "5", "0", "6", "-1", "4.0",
                         "quanly@demo.gov.vn", "s3cret-pass", str(world.place.procedure_ids[0]), "99999"]),
        NASTY_TEXT,
    )
    return st.lists(st.tuples(keys, values), min_size=min(1, max_size), max_size=max_size)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | NASTY_TEXT | st.characters(categories=["Cs"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(NASTY_TEXT, children, max_size=3),
    max_leaves=8,
)


def json_bodies(world: World, rule: str):
    near_valid = near_valid_pairs(world, rule).map(dict)
    objects = st.dictionaries(st.one_of(st.sampled_from(["csrf_token", "idempotency_key", world.overall, "comment",
                                                         "skip", "email", "password"]), NASTY_TEXT),
                              st.one_of(st.sampled_from([world.kiosk_csrf, world.csrf_token, uuid.uuid4().hex, 4, "4",
                                                         True]), JSON_VALUES),
                              max_size=6)
    if rule.startswith("/api/v1/transactions"):
        field_values = st.one_of(st.sampled_from(["000.00.16.H26-260301-0002", "H26.001.02-260301-TC0001",
                                                  world.place.office_code, "1.005169", "2026-03-02T08:00:00+07:00",
                                                  "2026-02-30T08:00:00", world.place.counter_code]), JSON_VALUES)
        transaction = st.fixed_dictionaries({k: st.one_of(st.just(v), field_values)
                                             for k, v in world.transaction.items()})
        objects = st.one_of(transaction, objects, st.lists(st.one_of(transaction, objects), max_size=5))
    return st.one_of(near_valid, objects, JSON_VALUES).map(lambda value: json.dumps(value).encode())


@st.composite
def requests(draw, world: World, endpoint: str, rule_text: str, body_kind: str):
    rule = next(r for r in world.app.url_map.iter_rules() if r.endpoint == endpoint and r.rule == rule_text)
    values = {argument: draw(path_values(world, argument)) for argument in sorted(rule.arguments)}
    # Numeric segments (<int:snapshot_id>) get numbers and junk alike: build() only takes numbers, so
    # such a segment is built with a placeholder that is then replaced by the (quoted) drawn value.
    numeric = {name for name, converter in rule._converters.items()
               if type(converter).__name__ in ("IntegerConverter", "FloatConverter")}
    placeholders = {name: 900_000_000 + i for i, name in enumerate(sorted(numeric))}
    adapter = world.app.url_map.bind("localhost")
    path = adapter.build(endpoint, {**values, **placeholders}, force_external=False)
    path = path.split("?", 1)[0]  # build() puts unknown values in the query; the path is what we want
    for name, placeholder in placeholders.items():
        path = path.replace(str(placeholder), urllib.parse.quote(str(values[name]), safe=""), 1)
    methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    method = draw(st.sampled_from(methods + ["PUT", "DELETE"]) if draw(st.integers(0, 9)) == 0 else st.sampled_from(methods))
    lang = draw(st.sampled_from(["vi", "en"]))
    query = [("lang", lang)] + [(k, v) for k, v in draw(query_strings()) if k != "lang"]  # the first lang= counts
    headers = {
        "Accept": draw(st.sampled_from(["text/html", "application/json", "*/*", "", "text/html;q=0,application/json"])),
        "Accept-Language": draw(st.sampled_from(["", "vi", "en-US,en;q=0.9", "xx;q=abc", "*"])),
    }
    if rule_text.startswith("/api/") and draw(st.booleans()):
        headers["Authorization"] = draw(st.sampled_from([f"Bearer {world.api_key}", f"Bearer {world.api_key}",
                                                         "Bearer svk_x", "Basic abc", ""]))
    signed_in = draw(st.booleans())
    csrf_header = draw(st.booleans())
    content_type, body = None, None
    if method != "GET":
        if body_kind == "form":
            pairs = draw(st.one_of(near_valid_pairs(world, rule_text), near_valid_pairs(world, rule_text),
                                   form_pairs(world)))
            if draw(st.booleans()):
                content_type, body = "application/x-www-form-urlencoded", urllib.parse.urlencode(pairs).encode()
            else:
                content_type = "multipart/form-data"
                body = {key: value for key, value in pairs}
                if draw(st.booleans()):  # a file where text is expected
                    body[draw(st.sampled_from(["comment", "csrf_token", world.overall, "email"]))] = (
                        io.BytesIO(draw(st.binary(max_size=64))), "x.txt")
        elif body_kind == "json":
            content_type = draw(st.sampled_from(["application/json", "application/json; charset=latin-1",
                                                 "application/vnd.api+json"]))
            body = draw(json_bodies(world, rule_text))
        else:
            content_type = draw(st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data",
                                                 "multipart/form-data; boundary=x", "text/plain", "",
                                                 "application/x-www-form-urlencoded; charset=utf-16"]))
            body = draw(st.binary(max_size=200))
    return dict(method=method, path=path, query=query, lang=lang, headers=headers, signed_in=signed_in,
                csrf_header=csrf_header, content_type=content_type, body=body)


# ------------------------------------------------------------------ the property

def check(world: World, endpoint: str, request: dict) -> None:
    client = world.client(request["signed_in"])
    headers = dict(request["headers"])
    if request["csrf_header"]:
        headers["X-CSRFToken"] = world.csrf_token
    before = world.snapshot()
    kwargs = dict(method=request["method"], query_string=request["query"], headers=headers)
    if request["body"] is not None:
        kwargs["data"] = request["body"]
        if request["content_type"] and not isinstance(request["body"], dict):
            kwargs["content_type"] = request["content_type"]
    response = client.open(request["path"], **kwargs)
    SENT[endpoint] += 1
    STATUSES[response.status_code] += 1
    body = response.get_data().decode("utf-8", "replace")  # some routes send files (the XLSX export)
    response.close()
    status, lang = response.status_code, request["lang"]
    assert status < 500, (status, request, body[:500])
    if 400 <= status < 500:
        if response.is_json:
            messages = [response.json["message"]]
        else:
            assert f'<html lang="{lang}">' in body, (status, request, body[:300])
            messages = [html_lib.unescape(m).strip() for m in ALERT.findall(body)]
        assert messages, (status, request, body[:500])
        for message in messages:
            assert any(p.match(message) for p in world.catalogs[lang]), (lang, message, request)
        assert world.snapshot() == before, (status, request)


@pytest.mark.parametrize("body_kind", ["form", "json", "raw"])
@pytest.mark.parametrize("endpoint, rule", ROUTES, ids=[f"{e}:{r}" for e, r in ROUTES])
def test_no_route_gives_a_server_error_or_stores_a_refused_request(world, endpoint, rule, body_kind):
    @FUZZ_SETTINGS
    @given(st.data())
    def run(data):
        check(world, endpoint, data.draw(requests(world, endpoint, rule, body_kind)))

    run()


def test_every_route_was_fuzzed(world):
    """Runs after the fuzz tests (file order): each route got requests."""
    assert {endpoint for endpoint, _ in ROUTES} <= set(SENT)
