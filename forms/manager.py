"""Forms office managers fill in."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField, EmailField, HiddenField, IntegerField, PasswordField, SelectField, SelectMultipleField, StringField,
    SubmitField, TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import EqualTo, InputRequired, Length, NumberRange, Optional


class SignInForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[InputRequired(message=_l("Please enter your email.")), Length(max=254)])
    password = PasswordField(
        _l("Password"), validators=[InputRequired(message=_l("Please enter your password.")), Length(max=200)]
    )
    submit = SubmitField(_l("Sign in"))


class CodeForm(FlaskForm):
    """The six-digit code an authenticator app shows (spaces allowed: apps show ``123 456``)."""

    code = StringField(_l("Code from your authenticator app"), validators=[
        InputRequired(message=_l("Please enter the code.")), Length(max=20)])
    submit = SubmitField(_l("Continue"))


class NewPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[
        InputRequired(message=_l("Please enter a new password.")), Length(max=200)])
    confirm = PasswordField(_l("New password again"), validators=[
        InputRequired(message=_l("Please enter the new password again.")),
        EqualTo("password", message=_l("The two passwords differ."))])
    submit = SubmitField(_l("Change the password"))


class RegisterKioskForm(FlaskForm):
    """Choices (the offices and counters of the manager's scope) are set by the view."""

    office = SelectField(_l("Office"), validators=[InputRequired(message=_l("Please choose an office."))])
    counter = SelectField(_l("Counter"), validators=[Optional()])
    label = StringField(_l("Name of the kiosk"), validators=[
        InputRequired(message=_l("Please give the kiosk a name.")), Length(max=100)])
    submit = SubmitField(_l("Register the kiosk"))


def _seconds(label, low: int, high: int) -> IntegerField:
    return IntegerField(label, validators=[Optional(), NumberRange(low, high, message=_l(
        "Please give a value from %(min)s to %(max)s seconds."))], render_kw={"min": low, "max": high})


class KioskTimingsForm(FlaskForm):
    """A kiosk's own timings; an empty field means the default. Bounds as ``TIMING_BOUNDS``."""

    confirm = _seconds(_l("Seconds before a tap counts (confirmation)"), 3, 60)
    idle = _seconds(_l("Seconds without a touch before \"Are you still there?\""), 30, 600)
    warning = _seconds(_l("Seconds to answer \"Are you still there?\""), 20, 120)
    thanks = _seconds(_l("Seconds the thank-you page stays"), 3, 60)
    submit = SubmitField(_l("Save the timings"))


class ConfirmForm(FlaskForm):
    """A button that changes something: only its CSRF token is checked."""

    submit = SubmitField(_l("Confirm"))


class CreateUserForm(FlaskForm):
    """Role and unit choices (those the administrator may give) are set by the view."""

    email = EmailField(_l("Email"), validators=[InputRequired(message=_l("Please enter an email.")), Length(max=254)])
    name = StringField(_l("Name"), validators=[InputRequired(message=_l("Please enter a name.")), Length(max=200)])
    role = SelectField(_l("Role"), validators=[InputRequired(message=_l("Please choose a role."))])
    unit = SelectField(_l("Unit"), validators=[Optional()])
    submit = SubmitField(_l("Create the account"))


class AnswerCaseForm(FlaskForm):
    """The answer a manager gives to a complaint case."""

    text = TextAreaField(_l("Answer to the citizen"), validators=[
        InputRequired(message=_l("Please write the answer.")), Length(max=2000)])
    submit = SubmitField(_l("Record the answer"))


class CreateApiKeyForm(FlaskForm):
    """A key for one one-stop system; the unit choices (those of the administrator's scope) are set by the view."""

    name = StringField(_l("Who will use the key"), validators=[
        InputRequired(message=_l("Please say which system will use the key.")), Length(max=200)])
    units = SelectMultipleField(_l("Units the key may register transactions for"), validators=[
        InputRequired(message=_l("Please choose at least one unit."))])
    submit = SubmitField(_l("Create the key"))


class ImportTransactionsForm(FlaskForm):
    """A CSV file of transactions (the API's field names in the first line), for systems without the API."""

    file = FileField(_l("CSV file of transactions"), validators=[
        FileRequired(message=_l("Please choose a CSV file."))])
    submit = SubmitField(_l("Import the file"))
class SettingsForm(FlaskForm):
    """The national administrator's settings (survey.settings)."""

    keep_unmasked_comments = BooleanField(_l("Keep the original of each comment (personal data unmasked)"))
    submit = SubmitField(_l("Save"))


class ExportForm(FlaskForm):
    """A large export prepared in the background: the format, and the unit (a code; empty: the whole scope)."""

    format = SelectField(_l("Format"), choices=[SelectChoice("csv", "CSV"), SelectChoice("xlsx", "XLSX")])
    unit = HiddenField()
    submit = SubmitField(_l("Prepare the file in the background"))
