"""Forms office managers fill in."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, PasswordField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional


class SignInForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[InputRequired(message=_l("Please enter your email.")), Length(max=254)])
    password = PasswordField(
        _l("Password"), validators=[InputRequired(message=_l("Please enter your password.")), Length(max=200)]
    )
    submit = SubmitField(_l("Sign in"))


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
