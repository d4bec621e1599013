"""The platform's tables. Import models from here: ``from survey.models import Rating``."""

from survey.models.kiosks import Kiosk
from survey.models.procedures import Procedure, office_procedures
from survey.models.questionnaires import Question, Questionnaire, Scale, ScalePoint
from survey.models.ratings import Answer, Channel, Rating, ServiceVolume
from survey.models.units import Unit, UnitLevel
from survey.models.users import User

__all__ = [
    "Answer", "Channel", "Kiosk", "Procedure", "Question", "Questionnaire", "Rating", "Scale",
    "ScalePoint", "ServiceVolume", "Unit", "UnitLevel", "User", "office_procedures",
]
