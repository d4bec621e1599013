"""The four questionnaire templates the platform ships, as the issue and the regulations describe them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.models import Question, Questionnaire
from survey.questionnaires import install_questionnaire_templates, install_scales


def load(code: str) -> Questionnaire:
    return db.session.scalar(select(Questionnaire).where(Questionnaire.code == code)
                             .order_by(Questionnaire.version.desc()).limit(1))


def test_default_template_is_one_overall_question_then_the_five_sipas_elements(app):
    with app.app_context():
        q = load("default")
        assert [x.key for x in q.questions] == ["overall", "access", "procedure", "civil_servant", "result", "feedback"]
        assert q.overall_question.key == "overall"
        labels = [p.label_vi for p in q.overall_question.scale.points]
        assert labels == ["Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng", "Rất hài lòng"]
        assert q.overall_question.scale.values == [1, 2, 3, 4, 5]
        assert q.overall_question.scale.satisfied_from == 4  # "satisfied" or "very satisfied"


def test_dossier_version_3_asks_the_overall_rating_and_indices_1_3_4_7_in_the_circulars_words(app):
    with app.app_context():
        q = db.session.scalar(select(Questionnaire).where(Questionnaire.code == "dossier", Questionnaire.version == 3))
        assert "01/2018/TT-VPCP" in q.title_vi and "01/2018/TT-VPCP" in q.title_en  # the legal basis, labelled
        assert [x.key for x in q.questions] == ["overall", "index_1", "index_3", "index_4", "index_7"]
        overall = q.overall_question
        assert [p.label_vi for p in overall.scale.points] == ["Không hài lòng", "Hài lòng", "Rất hài lòng"]
        assert overall.scale.satisfied_from == 2  # Hài lòng and Rất hài lòng
        indices = q.follow_up_questions
        assert [x.text_vi.split(".")[0] for x in indices] == ["Chỉ số 1", "Chỉ số 3", "Chỉ số 4", "Chỉ số 7"]
        assert all(x.scale.values == [0, 1, 2] and x.scale.satisfied_from == 1 for x in indices)
        # Each index has its own wording for 0, 1 and 2 points (index 3 as the circular words it).
        assert len({tuple(p.label_vi for p in x.scale.points) for x in indices}) == 4
        index_3 = {p.value: p.label_vi for p in indices[1].scale.points}
        assert "Không phải liên hệ với nơi tiếp nhận hồ sơ lần nào" in index_3[2]
        assert "một lần" in index_3[1] and "hơn một lần" in index_3[0]
        index_4 = {p.value: p.label_vi for p in indices[2].scale.points}
        assert index_4[1].endswith("là Bộ phận Một cửa")  # Art. 13(4)(b): the one body is the one-stop unit
        assert {p.value: p.label_vi for p in indices[0].scale.points}[2] == "Tổng thời gian ngắn hơn so với quy định"


def test_a_new_dossier_version_retires_the_old_one_and_its_ratings_keep_it(app):
    from survey.questionnaires import current_questionnaire

    with app.app_context():
        for shipped in db.session.scalars(select(Questionnaire).where(Questionnaire.code == "dossier")):
            db.session.delete(shipped)  # no ratings yet: as before version 3 was shipped
        db.session.flush()
        scales = install_scales()
        old = Questionnaire(code="dossier", version=1, title_vi="cũ", title_en="old", questions=[
            Question(position=0, key="overall", scale=scales["satisfaction-3"], text_vi="a", text_en="b",
                     is_overall=True)])
        db.session.add(old)
        db.session.commit()
        installed = install_questionnaire_templates()
        db.session.commit()
        assert [(q.code, q.version) for q in installed] == [("dossier", 3)]
        assert db.session.get(Questionnaire, old.id).retired_at is not None
        assert [x.key for x in db.session.get(Questionnaire, old.id).questions] == ["overall"]  # never edited
        assert current_questionnaire("dossier").version == 3


def test_one_source_for_each_scales_satisfied_level(app):
    """The database's scales, analysis' Scale objects and the methodology's table agree with analysis.scales."""
    from pathlib import Path

    from analysis.indices import DOSSIER_CRITERION, FIVE_LEVEL, THREE_LEVEL
    from analysis.scales import SCALES
    from survey.models import Scale

    with app.app_context():
        stored = {s.code: s for s in db.session.scalars(select(Scale))}
        for code, definition in SCALES.items():
            assert stored[code].satisfied_from == definition.satisfied_from, code
            assert stored[code].values == [p.value for p in definition.points], code
    assert FIVE_LEVEL.satisfied_from == SCALES["satisfaction-5"].satisfied_from == 4
    assert THREE_LEVEL.satisfied_from == SCALES["satisfaction-3"].satisfied_from == 2
    assert DOSSIER_CRITERION.satisfied_from == SCALES["c01-index-1"].satisfied_from == 1
    methodology = (Path(__file__).parents[1] / "docs" / "methodology.md").read_text(encoding="utf-8")
    assert "| 5-level (SIPAS elements, kiosk question) | 1 very dissatisfied … 5 very satisfied | 4–5 (s = 4) |" \
        in methodology
    assert "(s = 2) |" in methodology and "1–2 (s = 1" in methodology and "3–4 (s = 3" in methodology


def test_a_stale_satisfied_level_is_brought_to_the_one_source(app):
    from survey.models import Scale

    with app.app_context():
        scale = db.session.scalar(select(Scale).where(Scale.code == "criterion-0-2"))
        scale.satisfied_from = 2  # as version 1 of the dossier template stored it
        db.session.commit()
        install_scales()
        db.session.commit()
        assert db.session.scalar(select(Scale.satisfied_from).where(Scale.code == "criterion-0-2")) == 1


def test_sdg_16_6_2_template_five_attributes_on_four_points_without_a_midpoint(app):
    with app.app_context():
        q = load("sdg-16.6.2")
        assert [x.key for x in q.follow_up_questions] == [
            "accessibility", "affordability", "effective_delivery", "equal_treatment", "timeliness"]
        for question in q.questions:
            assert question.scale.values == [1, 2, 3, 4]  # even number of points: no neutral middle
            assert question.scale.satisfied_from == 3
        assert [p.label_en for p in q.overall_question.scale.points] == [
            "Very dissatisfied", "Dissatisfied", "Satisfied", "Very satisfied"]


def test_us_template_uses_the_a11_agreement_scale(app):
    with app.app_context():
        q = load("us-cx")
        assert [x.key for x in q.questions] == [
            "satisfaction", "trust", "effectiveness", "ease", "efficiency", "equity_transparency", "employee"]
        assert [p.label_en for p in q.overall_question.scale.points][0] == "Strongly disagree"


@pytest.mark.parametrize("code", ["default", "dossier", "sdg-16.6.2", "us-cx"])
def test_every_text_exists_in_both_languages(app, code):
    with app.app_context():
        q = load(code)
        assert q.title_vi and q.title_en
        for question in q.questions:
            assert question.text_vi and question.text_en and question.text_vi != question.text_en
            assert all(p.label_vi and p.label_en for p in question.scale.points)


def test_installing_again_changes_nothing(app):
    with app.app_context():
        before = db.session.scalars(select(Questionnaire.id)).all()
        assert install_questionnaire_templates() == []
        assert db.session.scalars(select(Questionnaire.id)).all() == before


@pytest.mark.parametrize("code", ["dossier", "sdg-16.6.2", "us-cx"])
def test_an_office_can_use_another_template(app, client, code):
    from tests.conftest import make_place, overall_field

    with app.app_context():
        place = make_place(questionnaire_code=code)
        q = load(code)
        expected = q.overall_question.text("vi")
        n_faces = len(q.overall_question.scale.points)
    html = client.get(place.kiosk_url).get_data(as_text=True)
    assert expected in html
    assert html.count(f'name="{overall_field(html)}"') == n_faces
