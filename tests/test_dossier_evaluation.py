"""The Circular 01/2018/TT-VPCP evaluation from stored data: dossiers registered by a one-stop system,
ratings through their links on dossier questionnaire version 3, index 2 from Vietnam dates, scores entered
per unit; staff totals only for that office's managers. Expected values are worked out by hand below."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.models import Channel, Procedure, Rating, Transaction, Unit, User
from survey.models.users import NATIONAL_ADMIN, OFFICE_MANAGER, PROVINCE_ADMIN
from survey.questionnaires import questionnaire_for
from survey.rating.operations import RatingSubmission, submit_rating
from survey.results.service import ResultsError, dossier_evaluation, staff_dossier_totals
from survey.transactions.evaluation import EvaluationError, record_unit_index_score
from tests.conftest import make_place

KEYS = ("index_1", "index_3", "index_4", "index_7")


def add(office_id: int, officer: str, returned: datetime, due: datetime | None, rating=None, flagged=False) -> None:
    code = f"000.00.16.H26-260301-{uuid.uuid4().int % 10000:04d}"
    while db.session.scalar(select(Transaction.id).where(Transaction.dossier_code == code)):
        code = f"000.00.16.H26-260301-{uuid.uuid4().int % 10000:04d}"
    db.session.add(Transaction(dossier_code=code, office_id=office_id, procedure_code="1.005169",
                               officer_code=officer, received_at=datetime(2026, 3, 1), due_at=due,
                               returned_at=returned))
    db.session.flush()
    if rating is not None:
        questionnaire = questionnaire_for(db.session.get(Unit, office_id))
        by_key = {q.key: q.id for q in questionnaire.questions}
        overall, *points = rating
        answers = {by_key["overall"]: overall, **{by_key[k]: v for k, v in zip(KEYS, points, strict=True)}}
        stored, _ = submit_rating(RatingSubmission(
            idempotency_key=uuid.uuid4().hex, questionnaire=questionnaire, office=SimpleNamespace(id=office_id),
            channel=Channel.LINK, answers=answers, transaction_ref=code))
        if flagged:
            db.session.get(Rating, stored.id).flag = "manual"
    db.session.commit()


@pytest.fixture
def office(app):
    with app.app_context():
        place = make_place("HN", questionnaire_code="dossier")
        o, d = place.office_id, datetime
        #                                        overall, index 1, 3, 4, 7
        add(o, "A", d(2026, 3, 5), d(2026, 3, 10), (3, 2, 2, 2, 2))   # T1 index 2: before the due day: 2
        add(o, "A", d(2026, 3, 10, 3), d(2026, 3, 10), (2, 1, 1, 2, 2))  # T2 on the due day: 1
        add(o, "B", d(2026, 3, 12), d(2026, 3, 10))                   # T3 after it: 0; not rated
        add(o, "B", d(2026, 3, 19, 17, 30), d(2026, 3, 20), (1, 0, 0, 1, 0))  # T4 00:30 on 20 March in Vietnam: 1
        add(o, "B", d(2026, 3, 15), None, (1, 0, 0, 0, 0), flagged=True)  # T5 no due time; flagged rating
        add(o, "A", d(2026, 4, 2), d(2026, 4, 5), (1, 0, 0, 0, 0))    # T6 April: another period
        for number, points, since in [(5, 2, date(2026, 1, 1)), (6, 1, date(2026, 1, 1)), (6, 2, date(2026, 4, 1)),
                                      (8, 1, date(2026, 1, 1)), (9, 0, date(2026, 2, 1))]:
            record_unit_index_score(place.office_code, number, points, since, source_note="Kiểm tra quý I")
        db.session.commit()
        return place


def test_office_evaluation_worked_example(app, office):
    with app.app_context():
        result = dossier_evaluation("2026-03", office.office_code)
    scores = {i["number"]: i["score"] for i in result["indices"]}
    n = {i["number"]: i["n"] for i in result["indices"]}
    # March: T1-T5 returned. Ratings counted: T1, T2, T4 (T5's is flagged).
    # Index 1 (2+1+0)/3 = 1.0; 3 (2+1+0)/3 = 1.0; 4 (2+2+1)/3 = 1.67 -> 1.7; 7 (2+2+0)/3 = 1.33 -> 1.3.
    # Index 2 from dates: T1 2, T2 1, T3 0, T4 1 (T5 no due time) -> 4/4 = 1.0.
    assert [scores[k] for k in (1, 2, 3, 4, 7)] == [1.0, 1.0, 1.0, 1.7, 1.3]
    assert [n[k] for k in (1, 2, 3, 4, 7)] == [3, 4, 3, 3, 3]
    # Entered: 5 = 2, 6 = 1 (the 2 holds from April), 8 = 1, 9 = 0.
    assert [scores[k] for k in (5, 6, 8, 9)] == [2.0, 1.0, 1.0, 0.0]
    # Total 1.0 + 1.0 + 1.0 + 1.7 + 1.3 + 2 + 1 + 1 + 0 = 10.0 of 18: 9-<12, khá.
    assert result["total"] == pytest.approx(10.0) and result["maximum"] == 18
    assert result["band"] == "fair" and result["missing"] == []
    assert "01/2018/TT-VPCP" in result["legal_basis"] and result["scoring_version"]
    assert all(i["how_vi"] for i in result["indices"] if i["source"] != "citizen")
    with app.app_context():
        april = dossier_evaluation("2026-04", office.office_code)
    assert {i["number"]: i["score"] for i in april["indices"]}[6] == 2.0


def test_an_index_without_score_leaves_the_total_empty(app):
    with app.app_context():
        place = make_place("HP", questionnaire_code="dossier")
        result = dossier_evaluation("2026-03", place.office_code)
    assert result["total"] is None and result["band"] is None
    assert result["missing"] == [1, 2, 3, 4, 5, 6, 7, 8, 9]


def manager(scope_unit_id, role=OFFICE_MANAGER, active=True) -> User:
    user = User(email=f"{uuid.uuid4().hex[:8]}@example.vn", name="Quản lý", password_hash="x",
                scope_unit_id=scope_unit_id, role=role, active=active)
    db.session.add(user)
    db.session.commit()
    return user


def test_staff_totals_for_the_office_manager_only(app, office):
    with app.app_context():
        table = staff_dossier_totals("2026-03", office.office_code, manager(office.office_id)).set_index("officer")
        # A: T1, T2: index 1 1.5, 2 (2+1)/2 = 1.5, 3 1.5, 4 2.0, 7 2.0 -> 8.5 of 10 (>= 5): 100 % of tasks.
        assert table.loc["A", "total"] == pytest.approx(8.5) and table.loc["A", "band"] == "tasks_100"
        # B: T3, T4, T5: index 1 0/1 = 0.0; 2 (0+1)/2 = 0.5; 3 0.0; 4 1.0; 7 0.0 -> 1.5 (< 3.5): under 70 %.
        b = table.loc["B"]
        assert [b[k] for k in ("index_1", "index_2", "index_3", "index_4", "index_7")] == [0.0, 0.5, 0.0, 1.0, 0.0]
        assert b["total"] == pytest.approx(1.5) and b["band"] == "tasks_below_70"
        assert b["index_1_n"] == 1 and b["dossiers"] == 3
        province = db.session.scalar(select(Unit.id).where(Unit.code == "HN"))
        other = make_place("HN")
        for user in (manager(province), manager(other.office_id), manager(None, role=NATIONAL_ADMIN), manager(province, role=PROVINCE_ADMIN),
                     manager(office.office_id, active=False), None):
            with pytest.raises(ResultsError) as refused:
                staff_dossier_totals("2026-03", office.office_code, user)
            assert refused.value.code == "forbidden"


@pytest.mark.parametrize("number, points, message", [
    (1, 2, "5, 6, 8 và 9"), (5, 3, "0, 1 hoặc 2"), (5, 2, "đã có điểm từ ngày đó"),  # in Vietnamese, the default
])
def test_bad_unit_scores_are_refused_with_a_reason(app, office, number, points, message):
    with app.app_context(), pytest.raises(EvaluationError, match=message):
        record_unit_index_score(office.office_code, number, points, date(2026, 1, 1))


def test_unknown_office(app):
    with app.app_context():
        with pytest.raises(ResultsError):
            dossier_evaluation("2026-03", "NO-SUCH-OFFICE")
        with pytest.raises(EvaluationError):
            record_unit_index_score("NO-SUCH-OFFICE", 5, 2, date(2026, 1, 1))


def test_cli_records_a_unit_score_and_refuses_a_bad_one(app, runner):
    with app.app_context():
        place = make_place("QN", questionnaire_code="dossier")
    done = runner.invoke(args=["dossier-scores", "set", place.office_code, "5", "2", "--from", "2026-01-01",
                               "--note", "Biên bản kiểm tra số 12"])
    assert done.exit_code == 0, done.output
    assert f"Index 5 of {place.office_code}: 2 point(s) from 2026-01-01." in done.output
    refused = runner.invoke(args=["dossier-scores", "set", place.office_code, "7", "2", "--from", "2026-01-01"])
    assert refused.exit_code != 0 and "5, 6, 8 và 9" in refused.output
    with app.app_context():
        result = dossier_evaluation("2026-03", place.office_code)
    assert {i["number"]: i["score"] for i in result["indices"]}[5] == 2.0


def test_an_index_without_score_is_left_out_of_the_total(app):
    """Art. 15(4)(b): "Trường hợp, một số chỉ số chưa có đủ thông tin chấm điểm để đánh giá thì không tính
    chỉ số đó trong tổng hợp kết quả chấm điểm đánh giá": only indices 5 and 8 entered, 2 + 1 = 3 (< 6: yếu)."""
    with app.app_context():
        place = make_place("HP", questionnaire_code="dossier")
        record_unit_index_score(place.office_code, 5, 2, date(2026, 1, 1))
        record_unit_index_score(place.office_code, 8, 1, date(2026, 1, 1))
        db.session.commit()
        result = dossier_evaluation("2026-03", place.office_code)
    assert result["total"] == pytest.approx(3.0) and result["band"] == "weak"
    assert result["missing"] == [1, 2, 3, 4, 6, 7, 9]


#: Circular 01/2018/TT-VPCP Art. 13, clauses 1, 3, 4 and 7, as the national codification (Pháp điển,
#: Điều 3.3.TT.34.13) has them, typed from that text (not from the code): phrases the citizen must see.
OFFICIAL_PHRASES_VI = [
    # clause 1
    "ngắn hơn so với quy định", "bằng thời gian quy định", "dài hơn so với quy định",
    # clause 3
    "Không phải liên hệ với nơi tiếp nhận hồ sơ lần nào", "Chỉ phải một lần liên hệ với nơi tiếp nhận hồ sơ",
    "Phải hơn một lần liên hệ với nơi tiếp nhận hồ sơ", "do lỗi của người nộp hồ sơ",
    # clause 4
    "Không phải liên hệ với cơ quan, đơn vị, tổ chức nào", "một cơ quan, đơn vị, tổ chức là Bộ phận Một cửa",
    "hơn một cơ quan, đơn vị, tổ chức",
    # clause 7
    "sớm hơn thời hạn quy định và không có ý kiến phản ánh, kiến nghị về hành vi, thái độ nhũng nhiễu, gây phiền hà",
    "đúng thời hạn quy định và không có ý kiến phản ánh, kiến nghị về hành vi, thái độ nhũng nhiễu, gây phiền hà",
    "Có ý kiến phản ánh, kiến nghị về hành vi, thái độ nhũng nhiễu, gây phiền hà, không thực hiện hoặc thực hiện "
    "không đúng quy định pháp luật",
    # the titles of clauses 3, 4 and 7
    "Số lần phải liên hệ với nơi tiếp nhận hồ sơ để hoàn thiện hồ sơ thủ tục hành chính (kể cả liên hệ theo hình "
    "thức trực tuyến)",
    "Số lượng cơ quan, đơn vị, tổ chức phải liên hệ để hoàn thiện hồ sơ thủ tục hành chính (kể cả liên hệ theo "
    "hình thức trực tuyến)",
    "Thái độ của cán bộ, công chức, viên chức khi hướng dẫn lập hồ sơ, tiếp nhận hồ sơ và giải quyết thủ tục "
    "hành chính",
]
#: Wording of version 2 that the circular does not have.
NOT_OFFICIAL_VI = ["Lịch sự, nhiệt tình, chu đáo", "Chưa nhiệt tình", "hai cơ quan, đơn vị, tổ chức trở lên"]


def test_the_citizen_sees_the_circulars_own_wording(app, client):
    from html import unescape

    from survey.api.keys import create_api_key

    with app.app_context():
        place = make_place("HN", questionnaire_code="dossier")
        _, key = create_api_key("Hà Nội", ["HN"])
        procedure_code = db.session.get(Procedure, place.procedure_ids[0]).code
        db.session.commit()
    registered = client.post("/api/v1/transactions?qr=none", headers={"Authorization": f"Bearer {key}"}, json={
        "dossier_code": "000.00.16.H26-260301-0042", "office_code": place.office_code,
        "procedure_code": procedure_code, "received_at": "2026-03-01T08:15:00+07:00"})
    assert registered.status_code == 201, registered.json
    path = registered.json["rating_url"].removeprefix("http://localhost")
    html = unescape(client.get(path + "?lang=vi").get_data(as_text=True))
    missing = [phrase for phrase in OFFICIAL_PHRASES_VI if phrase.lower() not in html.lower()]
    assert missing == []
    assert [phrase for phrase in NOT_OFFICIAL_VI if phrase in html] == []


def test_answers_in_other_words_are_not_counted(app):
    """A dossier rated on version 2 (index 4's lower levels and index 7 not in the circular's words)
    counts for indices 1 and 3 (same levels) only; the same answers on version 3 count for all four."""
    from survey.models import Question, Questionnaire
    from survey.questionnaires.current import questionnaire_version
    from survey.questionnaires.templates import install_scales

    with app.app_context():
        place = make_place("HP", questionnaire_code="dossier")
        scales = install_scales()
        old = Questionnaire(code="dossier", version=2, title_vi="v2", title_en="v2", questions=[
            Question(position=i, key=key, scale=scales[scale], text_vi=key, text_en=key, is_overall=(i == 0))
            for i, (key, scale) in enumerate([("overall", "satisfaction-3"), ("index_1", "c01-index-1"),
                                              ("index_3", "c01-index-3"), ("index_4", "c01-index-4"),
                                              ("index_7", "c01-index-7")])])
        db.session.add(old)
        db.session.flush()
        current = questionnaire_for(db.session.get(Unit, place.office_id))
        assert current.version == 3
        for number, questionnaire in enumerate((old, current)):
            code = f"000.00.16.H26-260301-{number:04d}"
            db.session.add(Transaction(dossier_code=code, office_id=place.office_id, procedure_code="1.005169",
                                       received_at=datetime(2026, 3, 1), due_at=datetime(2026, 3, 20),
                                       returned_at=datetime(2026, 3, 10)))
            by_key = {q.key: q.id for q in questionnaire.questions}
            submit_rating(RatingSubmission(
                idempotency_key=uuid.uuid4().hex, questionnaire=questionnaire_version(questionnaire.id),
                office=SimpleNamespace(id=place.office_id), channel=Channel.LINK, transaction_ref=code,
                answers={by_key["overall"]: 3, by_key["index_1"]: 2, by_key["index_3"]: 2, by_key["index_4"]: 0,
                         by_key["index_7"]: 0}))
        db.session.commit()
        result = dossier_evaluation("2026-03", place.office_code)
    n = {i["number"]: i["n"] for i in result["indices"]}
    assert [n[k] for k in (1, 3, 4, 7)] == [2, 2, 1, 1]
    assert n[2] == 2  # index 2 from both dossiers' dates
