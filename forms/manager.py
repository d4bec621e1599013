"""Forms office managers fill in."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SubmitField
from wtforms.validators import InputRequired, Length


class SignInForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[InputRequired(message=_l("Please enter your email.")), Length(max=254)])
    password = PasswordField(
        _l("Password"), validators=[InputRequired(message=_l("Please enter your password.")), Length(max=200)]
    )
    submit = SubmitField(_l("Sign in"))
