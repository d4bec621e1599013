"""Forms managers fill in to change the unit tree, a unit's settings, its entered scores and the
procedure catalogue. Choices that depend on the person are set by the view."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional


class RenameUnitForm(FlaskForm):
    name_vi = StringField(_l("Name in Vietnamese"), validators=[
        InputRequired(message=_l("Please give the Vietnamese name.")), Length(max=200)])
    name_en = StringField(_l("Name in English"), validators=[Optional(), Length(max=200)])
    submit = SubmitField(_l("Rename"))


class UnitSettingsForm(FlaskForm):
    complaint_contact = TextAreaField(_l("Where complaints are taken (hotline, e-mail, desk)"),
                                      validators=[Optional(), Length(max=300)])
    questionnaire_code = SelectField(_l("Questionnaire"), validators=[Optional()])
    submit = SubmitField(_l("Save the settings"))


class AddUnitForm(FlaskForm):
    level = SelectField(_l("Level"), validators=[InputRequired(message=_l("Please choose a level."))])
    code = StringField(_l("Code (never changes)"), validators=[
        InputRequired(message=_l("Please give a code.")), Length(max=64)])
    name_vi = StringField(_l("Name in Vietnamese"), validators=[
        InputRequired(message=_l("Please give the Vietnamese name.")), Length(max=200)])
    name_en = StringField(_l("Name in English"), validators=[Optional(), Length(max=200)])
    valid_from = DateField(_l("Exists from"), validators=[Optional()])
    submit = SubmitField(_l("Add the unit"))


class MergeUnitForm(FlaskForm):
    successor = SelectField(_l("Merged into"), validators=[InputRequired(message=_l("Please choose a unit."))])
    on = DateField(_l("Merged from (first day as part of the other unit)"),
                   validators=[InputRequired(message=_l("Please give the day of the merger."))])
    submit = SubmitField(_l("Record the merger"))


class IndexScoreForm(FlaskForm):
    index_number = SelectField(_l("Index"), coerce=int,
                               validators=[InputRequired(message=_l("Please choose an index."))])
    points = SelectField(_l("Points"), coerce=int,
                         validators=[InputRequired(message=_l("Please choose the points."))])
    valid_from = DateField(_l("Holds from"), validators=[InputRequired(message=_l("Please give the first day."))])
    note = StringField(_l("Source (e.g. the inspection's reference)"), validators=[Optional(), Length(max=500)])
    submit = SubmitField(_l("Add the score"))


class ImportProceduresForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired(message=_l("Please choose a file."))])
    submit = SubmitField(_l("Import"))
