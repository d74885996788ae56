"""Web forms (WTForms via Flask-WTF, which adds the CSRF token to each)."""
from __future__ import annotations

from collections.abc import Callable

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, PasswordField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from .extensions import on_refusal
from .models import Method, Role, SourceKind


def attach_error(form, exc) -> None:
    """Show a service's domain error on the field it names, or above the form."""
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [*field.errors, exc.message]
    else:
        form.form_errors.append(exc.message)


def refusals_on(form, render: Callable[[int], object]) -> None:
    """If a service refuses what this request asks, its writes are rolled back, the message
    goes on ``form`` (``attach_error``) and ``render(status)`` answers with the page again."""
    def answer(exc):
        attach_error(form, exc)
        return render(exc.status)

    on_refusal(answer)


def refusals_to(url: str) -> None:
    """If a service refuses, its writes are rolled back and the user is sent to ``url`` with
    the message (for buttons that post from a list)."""
    from flask import flash, redirect

    on_refusal(lambda exc: (flash(exc.message, "error"), redirect(url))[1])


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
    # Least privilege (AC-6): a new account is a viewer unless an administrator picks more.
    role = SelectField("Role", choices=_choices(Role), default=Role.VIEWER.value)
    password = PasswordField("Initial password", validators=[DataRequired()],
                             description="At least 12 characters.", render_kw={"autocomplete": "new-password"})


class UserUpdateForm(FlaskForm):
    role = SelectField("Role", choices=_choices(Role))
    is_active = BooleanField("Active")


class PasswordChangeForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()],
                            render_kw={"autocomplete": "current-password"})
    password = PasswordField("New password", validators=[DataRequired(), Length(max=1000)],
                             description="At least 12 characters. Your other sign-ins and API tokens end.",
                             render_kw={"autocomplete": "new-password"})


class PasswordResetForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=1000)],
                             description="At least 12 characters. The user's sessions and API tokens end.",
                             render_kw={"autocomplete": "new-password"})


class UploadForm(FlaskForm):
    # The files come from request.files (held in memory, never spooled to disk).
    kind = SelectField("Kind of source", choices=[SelectChoice("", "Detect from the file type")] + _choices(SourceKind),
                       validators=[Optional()],
                       description="Documents default to interview; exports (.csv, .json, .xlsx) to ticket.")
    title = StringField("Title", validators=[Optional(), Length(max=300)],
                        description="For a single document. Identifiers in it are redacted. Default: the kind and a number.")
    collected_on = DateField("Collected on", validators=[Optional()], description="Format: YYYY-MM-DD.")
    channel = StringField("Channel", validators=[Optional(), Length(max=60)], description="For example phone, email, web.")
    segment = StringField("Customer segment", validators=[Optional(), Length(max=120)],
                          description="For example annuitant, survivor, applicant.")
    journey_stage = StringField("Journey stage", validators=[Optional(), Length(max=120)],
                                description="For example applying, waiting, first payment.")
    text_columns = StringField("Text columns (exports)", validators=[Optional(), Length(max=500)],
                               description="Comma-separated column names. Leave empty to detect them.")
    encoding = StringField("Text encoding", validators=[Optional(), Length(max=30)],
                           description="Leave empty to detect UTF-8, UTF-16 or Windows-1252.")


class RedactForm(FlaskForm):
    value = StringField("Text to redact", validators=[DataRequired(), Length(min=2, max=200)],
                        render_kw={"autocomplete": "off", "spellcheck": "false"},
                        description="Type it, or select it in a passage below. Every occurrence in this source is redacted.")
    kind = SelectField("Kind of identifier", choices=[])
    everywhere = BooleanField("In every source of this study")


class TagForm(FlaskForm):
    name = StringField("Tag name", validators=[DataRequired(), Length(max=120)])
    parent = SelectField("Parent tag", choices=[], validate_choice=False)
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)],
                                description="When to apply this tag; coders read it.")
    color = StringField("Color", validators=[Optional(), Length(max=7)], description="For example #005ea2.")


class InsightForm(FlaskForm):
    statement = TextAreaField("Insight", validators=[DataRequired(), Length(max=2000)],
                              description="One or two sentences: what we learned, in the customer's terms.")
    service = StringField("Service", validators=[Optional(), Length(max=120)])
    journey_stage = StringField("Journey stage", validators=[Optional(), Length(max=120)])
    segment = StringField("Customer segment", validators=[Optional(), Length(max=120)])


class QuestionForm(FlaskForm):
    agency = StringField("Agency", validators=[DataRequired(), Length(max=40)], default="OPM")
    number = StringField("Number", validators=[DataRequired(), Length(max=20)], description="For example Q12.")
    text = TextAreaField("Question", validators=[DataRequired(), Length(max=2000)])
    strategic_goal = TextAreaField("Strategic goal", validators=[Optional(), Length(max=2000)])


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(), Length(max=80)],
                       description="What will use it, for example “dashboard sync”.")
