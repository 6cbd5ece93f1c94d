"""Forms of the department pages. They check what a person can fix in the form (a missing
justification, a date's shape and range) with a clear message; the library still decides
every rule, and an :class:`~ledger.errors.InputError` it raises is shown beside its field."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ledger.access import MAX_DEFERRAL_DAYS, MAX_JUSTIFICATION, ReadBasis, today
from ledger.requests import MAX_REASON

from ..presentation import OUTCOME_NAMES

ID_PATTERN = re.compile(r"^0x[0-9a-fA-F]{64}$")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class _ReadForm(FlaskForm):
    """What every read asks: why (a justification) and, for public security, a disclosure date."""

    justification = TextAreaField(
        _l("Justification"),
        filters=[_strip],
        validators=[Length(max=MAX_JUSTIFICATION, message=_l("At most %(max)d characters."))],
        render_kw={"rows": 3},
    )
    disclose_on = StringField(
        _l("Tell the resident only from (public security)"),
        filters=[_strip],
        validators=[Optional()],
        render_kw={"type": "date", "placeholder": "YYYY-MM-DD"},
    )

    def disclosure_date(self) -> str | None:
        return self.disclose_on.data or None

    def validate_disclose_on(self, field: Any) -> None:
        if not field.data:
            return
        try:
            day = date.fromisoformat(field.data)
        except ValueError:
            raise ValidationError(_l("Enter the date as YYYY-MM-DD, for example 2027-03-01.")) from None
        if day <= today():
            raise ValidationError(_l("The date must be after today."))
        if day > today() + timedelta(days=MAX_DEFERRAL_DAYS):
            raise ValidationError(_l("The date can be at most %(days)d days from today.", days=MAX_DEFERRAL_DAYS))

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if self.disclose_on.data and not self.disclose_on.errors and not (self.justification.data or "").strip():
            self.justification.errors.append(
                _l("Delaying what the resident is told needs the investigation's justification.")
            )
            valid = False
        return valid


class OpenRecordForm(_ReadForm):
    """Open one record: under my department's grant (optionally a given one) or an emergency."""

    basis = RadioField(
        _l("On what basis"),
        choices=[
            (ReadBasis.GRANT, _l("Under a grant the resident gave my department")),
            (ReadBasis.EMERGENCY, _l("Emergency: no grant, I write why")),
        ],
        default=ReadBasis.GRANT,
        validators=[DataRequired(_l("Choose the basis of this read."))],
    )
    grant_id = HiddenField(filters=[_strip], validators=[Optional(), Regexp(ID_PATTERN)])

    def validate_justification(self, field: Any) -> None:
        if self.basis.data == ReadBasis.EMERGENCY and not (field.data or "").strip():
            raise ValidationError(_l("An emergency read needs a written justification: what happened and why."))


class EmergencyForm(_ReadForm):
    """An emergency read of a record known by its id (from another system or on paper)."""

    record_id = StringField(
        _l("Record id"),
        filters=[_strip],
        validators=[
            DataRequired(_l("Enter the record id.")),
            Regexp(ID_PATTERN, message=_l("A record id is 0x followed by 64 hexadecimal characters (0-9, a-f).")),
        ],
        render_kw={"placeholder": "0x…", "autocomplete": "off", "spellcheck": "false"},
    )

    def validate_justification(self, field: Any) -> None:
        if not (field.data or "").strip():
            raise ValidationError(_l("An emergency read needs a written justification: what happened and why."))


class HistoryFilter(FlaskForm):
    """Filters of the history page (a GET form: no CSRF token needed, nothing changes)."""

    class Meta:
        csrf = False

    category = SelectField(_l("Record category"), validators=[Optional()])
    outcome = SelectField(
        _l("Outcome"),
        choices=[("", _l("Allowed and refused")), *OUTCOME_NAMES.items()],
        validators=[Optional()],
    )


#: Upper bound of "ends within N days": a grant lasts at most a few years.
MAX_ENDING_DAYS = 3660


class GrantFilter(FlaskForm):
    """Filters of the grants list (a GET form: no CSRF token, nothing changes). Every value
    is kept in the pager's links, so paging does not lose the filter."""

    class Meta:
        csrf = False

    resident = StringField(
        _l("Resident"),
        filters=[_strip],
        description=_l("Full name, last 4 of the ID number, account code or address"),
        validators=[Optional(), Length(max=100, message=_l("At most %(max)d characters."))],
    )
    category = SelectField(_l("Record category"), validators=[Optional()])
    status = SelectField(_l("Status"), validators=[Optional()])
    ending_within = StringField(
        _l("Ends within (days)"),
        filters=[_strip],
        validators=[Optional(), Regexp(r"^\d{1,4}$", message=_l("Enter a number of days, for example 30."))],
        render_kw={"inputmode": "numeric", "size": 5},
    )
    valid_on = StringField(
        _l("Valid on"),
        filters=[_strip],
        validators=[Optional()],
        render_kw={"type": "date", "placeholder": "YYYY-MM-DD"},
    )

    def validate_ending_within(self, field: Any) -> None:
        if field.data and field.data.isdigit() and int(field.data) > MAX_ENDING_DAYS:
            raise ValidationError(_l("At most %(days)d days.", days=MAX_ENDING_DAYS))

    def validate_valid_on(self, field: Any) -> None:
        if not field.data:
            return
        try:
            date.fromisoformat(field.data)
        except ValueError:
            raise ValidationError(_l("Enter the date as YYYY-MM-DD, for example 2027-03-01.")) from None


# -- consent requests (ledger.requests) ---------------------------------------------------------


class _Checkboxes(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AskForm(FlaskForm):
    """Ask a resident for permission. The resident is named as the grants list names them;
    when the words name several, the officer picks one from the masked hints (``chosen``).
    The library checks every rule again (an officer of this department, a resident of this
    office, the dates)."""

    resident = StringField(
        _l("Resident"),
        filters=[_strip],
        description=_l("Full name, last 4 of the ID number, account code or address"),
        validators=[DataRequired(_l("Name the resident.")), Length(max=100, message=_l("At most %(max)d characters."))],
    )
    chosen = HiddenField(filters=[_strip], validators=[Optional(), Regexp(r"^0x[0-9a-fA-F]{40}$")])
    categories = _Checkboxes(_l("Records you would like to see"), choices=[],
                             validators=[DataRequired(_l("Choose at least one kind of record."))])  # fmt: skip
    purpose = SelectField(_l("Purpose"), validators=[DataRequired(_l("Choose the purpose."))])
    valid_until = StringField(
        _l("Until when (the last day)"),
        filters=[_strip],
        validators=[DataRequired(_l("Choose the last day the permission would hold."))],
        render_kw={"type": "date", "placeholder": "YYYY-MM-DD"},
    )
    answer_by = StringField(
        _l("Answer by"),
        filters=[_strip],
        description=_l("Leave empty for the usual time to answer."),
        validators=[Optional()],
        render_kw={"type": "date", "placeholder": "YYYY-MM-DD"},
    )
    reason = TextAreaField(
        _l("Why, in plain words"),
        filters=[_strip],
        description=_l("The resident reads these words. Say what your department will use the records for."),
        validators=[DataRequired(_l("Say in plain words why you ask.")),
                    Length(max=MAX_REASON, message=_l("At most %(max)d characters."))],  # fmt: skip
        render_kw={"rows": 3, "maxlength": MAX_REASON},
    )
    confirmed = HiddenField()

    def validate_valid_until(self, field: Any) -> None:
        _future_day(field)

    def validate_answer_by(self, field: Any) -> None:
        if field.data:
            _future_day(field)


def _future_day(field: Any) -> None:
    try:
        day = date.fromisoformat(field.data)
    except ValueError:
        raise ValidationError(_l("Enter the date as YYYY-MM-DD, for example 2027-03-01.")) from None
    if day <= today():
        raise ValidationError(_l("The date must be after today."))


class RequestFilter(FlaskForm):
    """The status filter of the department's requests (a GET form)."""

    class Meta:
        csrf = False

    status = SelectField(_l("Status"), validators=[Optional()])
