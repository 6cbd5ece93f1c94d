"""Committee forms. The record form's fields are generated from the category's JSON Schema
(see :mod:`.schemaform`); the fixed parts of each form are here."""

from __future__ import annotations

import secrets
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ledger.categories import Category
from ledger.consent import Purpose
from ledger.requests import MAX_REASON

from ..i18n import CATEGORY_NAMES, PURPOSE_NAMES
from .schemaform import content_field

#: What a resident may give a department permission for (the duty purposes are not
#: given by consent: a committee review and an office audit have their own basis).
GRANT_PURPOSES = [p for p in Purpose if p not in (Purpose.RECORD_REVIEW, Purpose.AUDIT)]
MAX_PURPOSE_TEXT = 500


class ChooseForm(FlaskForm):
    """Step one of a new record: whose record, and of which kind (a GET form)."""

    class Meta:
        csrf = False

    resident = SelectField(_l("Resident"), validators=[InputRequired(_l("Choose the resident."))])
    category = SelectField(
        _l("Kind of record"),
        choices=[("", _l("— choose —"))] + [(c.slug, CATEGORY_NAMES[c.slug]) for c in Category],
        validators=[InputRequired(_l("Choose the kind of record."))],
    )


class RecordFormBase(FlaskForm):
    """The page's form around the generated fields: CSRF, and for an update the version
    the member loaded (so a change made meanwhile is refused, not overwritten)."""

    expected_version = HiddenField()


def record_form(category: Category, rows: dict[str, int], formdata: MultiDict[str, str] | None = None) -> Any:
    """A record form for ``category``, with ``rows`` rows for each array of objects."""
    form_class = type("RecordForm", (RecordFormBase,), {"content": content_field(category, rows)})
    if formdata is not None:
        return form_class(formdata=formdata)
    return form_class()


class SignForm(FlaskForm):
    version = HiddenField(validators=[DataRequired()])
    back = HiddenField()


def new_opening() -> str:
    return secrets.token_urlsafe(9)


class ShowContentForm(FlaskForm):
    """A button: reading a record's content is logged, so it is asked for, not shown by default.
    ``opening`` names this button on this page, so that the same form sent again (the
    browser's reload of the page it answered) is known, and shows and logs nothing."""

    opening = HiddenField(default=new_opening)


class ShowChangesForm(ShowContentForm):
    """The signing queue's button: show what the version listed changes (a logged read)."""

    version = HiddenField(validators=[DataRequired()])


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RelayGrantForm(FlaskForm):
    department = SelectField(_l("Department"), validators=[InputRequired(_l("Choose the department."))])
    categories = MultiCheckboxField(
        _l("Records they may use"),
        choices=[],
        validators=[InputRequired(_l("Choose at least one kind of record."))],
    )
    purpose = SelectField(
        _l("Purpose"),
        choices=[("", _l("— choose —"))] + [(str(int(p)), PURPOSE_NAMES[int(p)]) for p in GRANT_PURPOSES],
        validators=[InputRequired(_l("Choose the purpose."))],
    )
    valid_until = StringField(
        _l("Until when"),
        validators=[InputRequired(_l("Choose the last day the permission holds."))],
        render_kw={"type": "date", "placeholder": "YYYY-MM-DD"},
    )
    purpose_text = TextAreaField(
        _l("What it is for, in plain words"),
        validators=[
            InputRequired(_l("Say in plain words what the department will use it for.")),
            Length(max=MAX_PURPOSE_TEXT, message=_l("At most %(max)d characters.")),
        ],
        render_kw={"rows": 2, "maxlength": MAX_PURPOSE_TEXT},
    )
    present = BooleanField(
        _l("The resident is here with me, has heard what this permission means, and agrees"),
        validators=[DataRequired(_l("Tick this only when the resident is here and agrees."))],
    )


class RelayWithdrawForm(FlaskForm):
    present = BooleanField(
        _l("The resident is here with me and asks to withdraw this permission"),
        validators=[DataRequired(_l("Tick this only when the resident is here and asks for it."))],
    )


# -- residents' rights requests (ledger.rights) --------------------------------------------------

MAX_REQUEST_TEXT = 2_000


class DeclineForm(FlaskForm):
    """Decline a resident's correction request, saying why (the resident reads it)."""

    reason = TextAreaField(
        _l("Why not"),
        validators=[
            InputRequired(_l("Say why: the resident reads it.")),
            Length(max=MAX_REQUEST_TEXT, message=_l("At most %(max)d characters.", max=MAX_REQUEST_TEXT)),
        ],
    )


class AskForResidentForm(FlaskForm):
    """A correction or deletion asked on a resident's behalf."""

    kind = SelectField(
        _l("What the resident asks for"),
        choices=[("correction", _l("Correct the record")), ("deletion", _l("Delete the record"))],
        validators=[InputRequired()],
    )
    field = SelectField(_l("What is wrong"), validate_choice=False)
    value = TextAreaField(_l("What it should be"), validators=[Length(max=MAX_REQUEST_TEXT)])
    comment = TextAreaField(_l("What the resident says (optional)"), validators=[Length(max=MAX_REQUEST_TEXT)])

    def __init__(self, *args: Any, fields: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.field.choices = [("", _l("— choose —"))] + list(fields or [])
# -- consent requests (ledger.requests) ---------------------------------------------------------


class RelayAnswerForm(FlaskForm):
    """Answer a department's request with the resident present: approve (their signature) or
    decline (optionally with the resident's reason)."""

    present = BooleanField(
        _l("The resident is here with me and gives this answer"),
        validators=[DataRequired(_l("Tick this only when the resident is here and answers."))],
    )
    reason = TextAreaField(
        _l("The resident's reason for saying no (optional)"),
        validators=[Optional(), Length(max=MAX_REASON, message=_l("At most %(max)d characters."))],
        render_kw={"rows": 2, "maxlength": MAX_REASON},
    )
