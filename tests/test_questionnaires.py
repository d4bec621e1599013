"""The three questionnaire templates the platform ships, as the issue and the regulations describe them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.models import Questionnaire
from survey.questionnaires import install_questionnaire_templates


def load(code: str) -> Questionnaire:
    return db.session.scalar(select(Questionnaire).where(Questionnaire.code == code))


def test_default_template_is_one_overall_question_then_the_five_sipas_elements(app):
    with app.app_context():
        q = load("default")
        assert [x.key for x in q.questions] == ["overall", "access", "procedure", "civil_servant", "result", "feedback"]
        assert q.overall_question.key == "overall"
        labels = [p.label_vi for p in q.overall_question.scale.points]
        assert labels == ["Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng", "Rất hài lòng"]
        assert q.overall_question.scale.values == [1, 2, 3, 4, 5]
        assert q.overall_question.scale.satisfied_from == 4  # "satisfied" or "very satisfied"


def test_dossier_template_has_nine_criteria_scored_0_to_2_and_a_three_level_satisfaction(app):
    with app.app_context():
        q = load("dossier")
        criteria = q.follow_up_questions
        assert len(criteria) == 9
        assert all(c.scale.values == [0, 1, 2] for c in criteria)
        assert sum(max(c.scale.values) for c in criteria) == 18
        overall = q.overall_question
        assert [p.label_vi for p in overall.scale.points] == ["Không hài lòng", "Hài lòng", "Rất hài lòng"]
        assert overall.scale.satisfied_from == 2  # the top two levels


def test_us_template_uses_the_a11_agreement_scale(app):
    with app.app_context():
        q = load("us-cx")
        assert [x.key for x in q.questions] == [
            "satisfaction", "trust", "effectiveness", "ease", "efficiency", "equity_transparency", "employee"]
        assert [p.label_en for p in q.overall_question.scale.points][0] == "Strongly disagree"


@pytest.mark.parametrize("code", ["default", "dossier", "us-cx"])
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


@pytest.mark.parametrize("code", ["dossier", "us-cx"])
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
