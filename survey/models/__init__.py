"""The platform's tables. Import models from here: ``from survey.models import Rating``."""

from survey.models.alerts import Alert
from survey.models.api_keys import ApiKey, api_key_units
from survey.models.audit import AuditEntry
from survey.models.cases import ComplaintCase, ReplyRequest
from survey.models.evaluations import UnitIndexScore
from survey.models.exports import ExportJob
from survey.models.kiosks import Kiosk
from survey.models.misuse import FlagReview
from survey.models.procedures import Procedure, office_procedures
from survey.models.provisional_results import ProvisionalResult
from survey.models.questionnaires import Question, Questionnaire, Scale, ScalePoint
from survey.models.ratings import REASONS, Answer, Channel, Rating, RatingReason, ServiceVolume
from survey.models.results import CriterionCount, OverallCount, ProcedureCount, ResultSnapshot
from survey.models.settings import Setting
from survey.models.transactions import Transaction, TransactionImport
from survey.models.units import Unit, UnitLevel
from survey.models.users import User, UserSession

__all__ = [
    "Alert", "Answer", "ApiKey", "AuditEntry", "Channel", "ComplaintCase", "CriterionCount", "ExportJob", "FlagReview", "Kiosk", "OverallCount", "Procedure",
    "ProcedureCount", "ProvisionalResult", "Question", "Questionnaire", "REASONS", "Rating", "RatingReason", "ReplyRequest",
    "ResultSnapshot", "Scale", "ScalePoint", "ServiceVolume", "Setting", "Transaction", "TransactionImport", "Unit", "UnitIndexScore", "UnitLevel",
    "User", "UserSession", "api_key_units", "office_procedures",
]
