"""Forms of the office pages. Choices that depend on the office (its organisations and
departments) are filled in by the views."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SearchField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from ledger.membership import CODE_PATTERN

#: Account labels: short public slugs, like organisation codes (never personal data, never an address).
LABEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MAX_MEMBERS = 30
#: The longest text the member and grant searches take.
MAX_SEARCH = 100

DEPARTMENT_KINDS = {
    "civil-affairs": _l("Civil affairs"),
    "health": _l("Health"),
    "public-security": _l("Public security"),
    "social-security": _l("Social security"),
    "other": _l("Other"),
}
#: Roles an office admin may give, by the kind of organisation (mirrors Membership._roleFits).
ROLE_CHOICES = ("committee-member", "grid-worker", "resident", "department-officer", "office-admin")

_CODE_MESSAGE = _l("Use 2-63 of a-z, 0-9 and '-', starting with a letter or digit.")
_LABEL_MESSAGE = _l("Use 2-64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit.")


def split_labels(text: str | None) -> list[str]:
    return [part for part in re.split(r"[\s,，;；]+", text or "") if part]


class CommitteeForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(_l("Give the committee a code.")), Regexp(CODE_PATTERN, message=_CODE_MESSAGE)],
    )
    name_zh = StringField(
        _l("Name in Chinese"), validators=[DataRequired(_l("Give the committee's Chinese name.")), Length(max=200)]
    )
    name_en = StringField(
        _l("Name in English"), validators=[DataRequired(_l("Give the committee's English name.")), Length(max=200)]
    )
    members = TextAreaField(
        _l("Signing members (account labels)"),
        validators=[DataRequired(_l("Name at least one signing member."))],
    )
    threshold = IntegerField(
        _l("Signatures needed to certify a record (k)"),
        validators=[
            InputRequired(_l("Give k, a whole number.")),
            NumberRange(min=1, max=MAX_MEMBERS, message=_l("k must be between 1 and the number of members.")),
        ],
    )
    submit = SubmitField(_l("Create the committee"))

    def validate_members(self, field: Any) -> None:
        labels = split_labels(field.data)
        bad = [label for label in labels if not LABEL_PATTERN.match(label)]
        if bad:
            raise ValidationError(f"{_LABEL_MESSAGE} ({', '.join(bad[:3])})")
        if len(set(labels)) != len(labels):
            raise ValidationError(_l("Each member must be named once."))
        if len(labels) > MAX_MEMBERS:
            raise ValidationError(_l("At most %(n)s members at once.", n=MAX_MEMBERS))

    def validate_threshold(self, field: Any) -> None:
        count = len(split_labels(self.members.data))
        if field.data is not None and count and not 1 <= field.data <= count:
            raise ValidationError(_l("k must be between 1 and the number of members (%(n)s).", n=count))


class DepartmentForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(_l("Give the department a code.")), Regexp(CODE_PATTERN, message=_CODE_MESSAGE)],
    )
    name_zh = StringField(
        _l("Name in Chinese"), validators=[DataRequired(_l("Give the department's Chinese name.")), Length(max=200)]
    )
    name_en = StringField(
        _l("Name in English"), validators=[DataRequired(_l("Give the department's English name.")), Length(max=200)]
    )
    kind = SelectField(
        _l("Kind of department"),
        choices=list(DEPARTMENT_KINDS.items()),
        validators=[DataRequired(_l("Choose the kind of department."))],
    )
    submit = SubmitField(_l("Create the department"))


class ThresholdForm(FlaskForm):
    threshold = IntegerField(
        _l("Signatures needed to certify a record (k)"),
        validators=[
            InputRequired(_l("Give k, a whole number.")),
            NumberRange(min=1, max=1000, message=_l("k must be between 1 and the number of active signing members.")),
        ],
    )
    submit = SubmitField(_l("Change k"))


class MemberForm(FlaskForm):
    label = StringField(
        _l("Account label"),
        validators=[DataRequired(_l("Give the new account a label.")), Regexp(LABEL_PATTERN, message=_LABEL_MESSAGE)],
    )
    organisation = SelectField(_l("Organisation"), validators=[DataRequired(_l("Choose the organisation."))])
    role = SelectField(_l("Role"), validators=[DataRequired(_l("Choose the role."))])
    submit = SubmitField(_l("Add the member"))


class ReviewForm(FlaskForm):
    note = TextAreaField(
        _l("Your note"),
        validators=[DataRequired(_l("Write a note: say why, for the record.")), Length(max=2000)],
    )
    approve = SubmitField(_l("Approve"))
    flag = SubmitField(_l("Flag"))


class RevokeForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason for revoking"),
        validators=[DataRequired(_l("Give the reason for revoking this grant.")), Length(max=500)],
    )
    submit = SubmitField(_l("Revoke the grant"))


class ScopeForm(FlaskForm):
    """Which accesses a page or an export covers (read from the query string)."""

    class Meta:
        csrf = False

    start = DateField(_l("From"), name="from", validators=[Optional()])
    end = DateField(_l("To"), name="to", validators=[Optional()])
    department = SelectField(_l("Department"), validators=[Optional()])
    resident = StringField(_l("Resident (label or address)"), validators=[Optional(), Length(max=200)])
    kind = SelectField(_l("Kind of finding"), validators=[Optional()])
    integrity = BooleanField(_l("Include the integrity check (slower)"))

    def validate_end(self, field: Any) -> None:
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError(_l("The last day is before the first day."))


def _search_text(value: Any) -> Any:
    """What was typed, on one line: control characters (a NUL among them, which PostgreSQL
    refuses) become spaces, runs of spaces one."""
    if not isinstance(value, str):
        return value
    return " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", value).split())


_SEARCH_HINT = _l("Name, label or address")


class MemberFilterForm(FlaskForm):
    """Which members the list shows (read from the query string; a GET form)."""

    class Meta:
        csrf = False

    q = SearchField(
        _l("Who"),
        id="filter-q",
        filters=[_search_text],
        validators=[Optional(), Length(max=MAX_SEARCH)],
        render_kw={"placeholder": _SEARCH_HINT, "maxlength": MAX_SEARCH},
    )
    org = SelectField(_l("Organisation"), id="filter-org", validators=[Optional()])
    role = SelectField(_l("Role"), id="filter-role", validators=[Optional()])
    status = SelectField(_l("Status"), id="filter-status", validators=[Optional()])


class GrantFilterForm(FlaskForm):
    """Which grants the list shows (read from the query string; a GET form)."""

    class Meta:
        csrf = False

    q = SearchField(
        _l("Resident"),
        id="filter-q",
        filters=[_search_text],
        validators=[Optional(), Length(max=MAX_SEARCH)],
        render_kw={"placeholder": _SEARCH_HINT, "maxlength": MAX_SEARCH},
    )
    department = SelectField(_l("Department"), id="filter-department", validators=[Optional()])
    status = SelectField(_l("Status"), id="filter-status", validators=[Optional()])


# -- residents' rights requests (ledger.rights) --------------------------------------------------


class DeletionDecisionForm(FlaskForm):
    """Erase a record the resident asked to delete, or refuse with the legal basis."""

    basis = SelectField(_l("Legal basis for refusing"), validate_choice=False)
    reason = TextAreaField(
        _l("Your reason (the resident reads it)"),
        validators=[DataRequired(_l("Write the reason: the resident reads it.")), Length(max=2000)],
    )
    erase = SubmitField(_l("Erase the record"))
    refuse = SubmitField(_l("Refuse"))


class ObjectionDecisionForm(FlaskForm):
    """Answer a resident's objection to a use of their data."""

    reason = TextAreaField(
        _l("Your answer (the resident reads it)"),
        validators=[DataRequired(_l("Write the answer: the resident reads it.")), Length(max=2000)],
    )
    upheld = SubmitField(_l("Uphold: this use was not right"))
    not_upheld = SubmitField(_l("Not upheld: this use was allowed"))
# -- webhooks (ledger.webhooks) -----------------------------------------------------------------


class ReplayForm(FlaskForm):
    """Sends a dead letter again (same id, attempts from zero)."""

    send = SubmitField(_l("Send again"))
