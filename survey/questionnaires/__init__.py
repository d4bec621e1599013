"""Questionnaires: the templates the platform ships (:mod:`.templates`) and the versions in use,
read as immutable snapshots cached per version (:mod:`.current`)."""

from survey.questionnaires.current import (
    QuestionnaireSnapshot, QuestionSnapshot, ScalePointSnapshot, ScaleSnapshot, current_questionnaire,
    current_questionnaire_id, questionnaire_columns, questionnaire_for, questionnaire_id_for_unit, questionnaire_version,
)
from survey.questionnaires.templates import SCALES, TEMPLATES, install_questionnaire_templates, install_scales

__all__ = [
    "SCALES", "TEMPLATES", "QuestionSnapshot", "QuestionnaireSnapshot", "ScalePointSnapshot", "ScaleSnapshot",
    "current_questionnaire", "current_questionnaire_id", "install_questionnaire_templates", "install_scales",
    "questionnaire_columns", "questionnaire_for", "questionnaire_id_for_unit", "questionnaire_version",
]
