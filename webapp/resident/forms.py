"""Forms of the resident's pages: giving a permission (grant) and filtering the history.

Choices that depend on who is asking (the departments under the resident's office) are
filled in by the view; every value is checked here with a plain-words message."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, DateInput, ListWidget

from ledger.access import today
from ledger.categories import Category
from ledger.consent import Purpose
from ledger.requests import MAX_REASON

from ..i18n import CATEGORY_NAMES, PURPOSE_NAMES

#: Purposes a resident gives permission for (the duty purposes 8 and 9 need no permission).
RESIDENT_PURPOSES = (
    Purpose.SOCIAL_ASSISTANCE,
    Purpose.HEALTH_MANAGEMENT,
    Purpose.ELDERLY_CARE,
    Purpose.SOCIAL_INSURANCE,
    Purpose.HOUSEHOLD_ADMINISTRATION,
    Purpose.PUBLIC_SECURITY,
    Purpose.EMERGENCY_RESPONSE,
    Purpose.OTHER,
)
MAX_PURPOSE_TEXT = 200
MAX_YEARS = 5


def latest_end(start: date) -> date:
    """The last day a permission given on ``start`` may run to."""
    try:
        return start.replace(year=start.year + MAX_YEARS)
    except ValueError:  # 29 February
        return start.replace(year=start.year + MAX_YEARS, day=28)


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class GrantForm(FlaskForm):
    department = SelectField(_l("Which department"), validate_choice=False)
    categories = CheckboxesField(_l("Which of your records"), validate_choice=False)
    purpose = SelectField(_l("What for"), validate_choice=False)
    until = StringField(_l("Until when"), widget=DateInput())
    purpose_text = TextAreaField(
        _l("In your own words (optional)"),
        validators=[
            Optional(),
            Length(max=MAX_PURPOSE_TEXT, message=_l("At most %(max)d characters.", max=MAX_PURPOSE_TEXT)),
        ],
    )
    confirmed = HiddenField()

    def __init__(self, *args: Any, departments: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.department.choices = [("", _l("Choose a department"))] + list(departments or [])
        self.categories.choices = [(c.slug, CATEGORY_NAMES[c.slug]) for c in Category]
        self.purpose.choices = [("", _l("Choose a purpose"))] + [
            (str(int(p)), PURPOSE_NAMES[int(p)]) for p in RESIDENT_PURPOSES
        ]
        self.until.render_kw = {
            "min": (today() + timedelta(days=1)).isoformat(),
            "max": latest_end(today()).isoformat(),
        }

    # -- checks --------------------------------------------------------------------------

    def validate_department(self, field: Any) -> None:
        codes = {code for code, _name in self.department.choices if code}  # type: ignore[union-attr]
        if not field.data:
            raise ValidationError(_l("Choose the department you give permission to."))
        if field.data not in codes:
            raise ValidationError(_l("Choose a department from the list."))

    def validate_categories(self, field: Any) -> None:
        if not field.data:
            raise ValidationError(_l("Tick at least one kind of record."))
        known = {c.slug for c in Category}
        if any(slug not in known for slug in field.data):
            raise ValidationError(_l("Choose kinds of record from the list."))

    def validate_purpose(self, field: Any) -> None:
        if not field.data:
            raise ValidationError(_l("Choose what the department may use your records for."))
        if field.data not in {str(int(p)) for p in RESIDENT_PURPOSES}:
            raise ValidationError(_l("Choose a purpose from the list."))

    def validate_until(self, field: Any) -> None:
        text = (field.data or "").strip()
        if not text:
            raise ValidationError(_l("Choose the last day of the permission."))
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValidationError(_l("Write the date as year-month-day, for example 2027-05-01.")) from None
        if day <= today():
            raise ValidationError(_l("Choose a day in the future."))
        if day > latest_end(today()):
            raise ValidationError(_l("A permission can last at most %(years)d years.", years=MAX_YEARS))

    # -- values ----------------------------------------------------------------------------

    def chosen_categories(self) -> list[Category]:
        return [c for c in Category if c.slug in (self.categories.data or [])]

    def chosen_purpose(self) -> Purpose:
        return Purpose(int(self.purpose.data))

    def until_day(self) -> date:
        return date.fromisoformat(self.until.data.strip())


class HistoryFilter(FlaskForm):
    """The history's filters: sent with GET, so no CSRF token (nothing changes)."""

    class Meta:
        csrf = False

    department = SelectField(_l("Who"), validate_choice=False)
    category = SelectField(_l("Which records"), validate_choice=False)

    def __init__(self, *args: Any, organisations: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.department.choices = [("", _l("Everyone"))] + list(organisations or [])
        self.category.choices = [("", _l("All records"))] + [(c.slug, CATEGORY_NAMES[c.slug]) for c in Category]

    def validate_department(self, field: Any) -> None:
        if field.data and field.data not in {value for value, _name in self.department.choices if value}:  # type: ignore[union-attr]
            raise ValidationError(_l("Unknown choice: showing everyone."))

    def validate_category(self, field: Any) -> None:
        if field.data and field.data not in {c.slug for c in Category}:
            raise ValidationError(_l("Unknown choice: showing all records."))


# -- residents' rights requests (ledger.rights) --------------------------------------------------

MAX_REQUEST_TEXT = 2_000


class CorrectionForm(FlaskForm):
    """Ask for a correction: which field of the record, what it should be, and a comment."""

    field = SelectField(_l("What is wrong"), validate_choice=False)
    value = TextAreaField(
        _l("What it should be"),
        validators=[Length(max=MAX_REQUEST_TEXT, message=_l("At most %(max)d characters.", max=MAX_REQUEST_TEXT))],
    )
    comment = TextAreaField(
        _l("Anything else to say (optional)"),
        validators=[
            Optional(),
            Length(max=MAX_REQUEST_TEXT, message=_l("At most %(max)d characters.", max=MAX_REQUEST_TEXT)),
        ],
    )

    def __init__(self, *args: Any, fields: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.field.choices = [("", _l("Choose what is wrong"))] + list(fields or [])

    def validate_field(self, field: Any) -> None:
        if not field.data:
            raise ValidationError(_l("Choose what is wrong."))
        if field.data not in {value for value, _name in self.field.choices if value}:  # type: ignore[union-attr]
            raise ValidationError(_l("Choose from the list."))

    def validate_value(self, field: Any) -> None:
        if not (field.data or "").strip():
            raise ValidationError(_l("Write what it should be."))


class RequestCommentForm(FlaskForm):
    """Ask for a deletion, or object to a use of one's data: a comment, optional."""

    comment = TextAreaField(
        _l("Anything to say (optional)"),
        validators=[
            Optional(),
            Length(max=MAX_REQUEST_TEXT, message=_l("At most %(max)d characters.", max=MAX_REQUEST_TEXT)),
        ],
    )


# -- consent requests (ledger.requests) ---------------------------------------------------------


class RequestAnswerForm(FlaskForm):
    """Approve or decline a department's request; declining may say why (optional)."""

    reason = TextAreaField(
        _l("Why not (you may leave this empty)"),
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[Optional(), Length(max=MAX_REASON, message=_l("At most %(max)d characters."))],
        render_kw={"rows": 2, "maxlength": MAX_REASON},
    )
