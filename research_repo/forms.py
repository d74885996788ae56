"""Web forms (WTForms via Flask-WTF, which adds the CSRF token to each)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, PasswordField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from .models import Method, Role


def attach_error(form, exc) -> None:
    """Show a service's domain error on the field it names, or above the form."""
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [*field.errors, exc.message]
    else:
        form.form_errors.append(exc.message)


def _choices(enum_cls, members=None):
    return [SelectChoice(m.value, m.label) for m in (members or enum_cls)]


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=80)],
                           render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})
    password = PasswordField("Password", validators=[DataRequired()], render_kw={"autocomplete": "current-password"})


class StudyForm(FlaskForm):
    name = StringField("Study name", validators=[DataRequired(), Length(max=200)])
    service = StringField("Service", validators=[DataRequired(), Length(max=120)],
                          description="For example Retirement Services, USAJOBS, OPM.gov.")
    method = SelectField("Method", choices=_choices(Method))
    purpose = TextAreaField("Purpose", validators=[Optional(), Length(max=5000)],
                            description="What the study needs to learn, and for which learning-agenda question.")
    omb_control_number = StringField("OMB control number", validators=[Optional(), Length(max=20)],
                                     description="The Paperwork Reduction Act clearance, for example 3206-0252.")
    omb_expires_on = DateField("OMB clearance expires on", validators=[Optional()],
                               description="Format: YYYY-MM-DD.")
    retention_until = DateField("Keep data until", validators=[Optional()], description="Format: YYYY-MM-DD.")


class MemberForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=80)])
    role = SelectField("Role in this study", choices=_choices(Role, Role.study_roles()))


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for buttons that change state."""


class NewUserForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=80)],
                           render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"})
    display_name = StringField("Display name", validators=[DataRequired(), Length(max=120)])
    role = SelectField("Role", choices=_choices(Role))
    password = PasswordField("Initial password", validators=[DataRequired()],
                             description="At least 12 characters.", render_kw={"autocomplete": "new-password"})


class UserUpdateForm(FlaskForm):
    role = SelectField("Role", choices=_choices(Role))
    is_active = BooleanField("Active")
