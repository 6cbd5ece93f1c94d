"""Record categories: what grid-based community work keeps about residents.

Each category has a code (its bit in a grant's category mask, fixed forever), a name,
and a JSON Schema (draft 2020-12) in ``ledger/schemas/<name>.json`` that every record
version must satisfy. See docs/formats.md for the list and the reasons.
"""

from __future__ import annotations

import enum
import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from .errors import InputError, Invalid


class Category(enum.IntEnum):
    """Codes are bit positions in a grant's ``categories`` mask: never renumber."""

    IDENTITY = 0
    HOUSEHOLD = 1
    RESIDENCE = 2
    HEALTH = 3
    SOCIAL_SECURITY = 4
    PROPERTY = 5
    ELDERLY_CARE = 6

    @property
    def slug(self) -> str:
        return self.name.lower()

    @property
    def bit(self) -> int:
        return 1 << self.value


def parse_category(text: str | int) -> Category:
    if isinstance(text, int) or (isinstance(text, str) and text.isdigit()):
        try:
            return Category(int(text))
        except ValueError:
            pass
    else:
        try:
            return Category[text.strip().upper().replace("-", "_")]
        except KeyError:
            pass
    choices = ", ".join(c.slug for c in Category)
    raise InputError(
        f"unknown record category {text!r}; expected one of: {choices}",
        code=Invalid.UNKNOWN_CHOICE,
        field="category",
        params={"value": text, "choices": [c.slug for c in Category]},
    )


def mask(categories: list[Category]) -> int:
    value = 0
    for category in categories:
        value |= category.bit
    return value


def from_mask(value: int) -> list[Category]:
    return [c for c in Category if value & c.bit]


@cache
def schema(category: Category) -> dict[str, Any]:
    text = resources.files("ledger.schemas").joinpath(f"{category.slug}.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def allows_several(category: Category) -> bool:
    """Whether a resident may have several live records of this category at once (the
    schema's ``x-several-per-resident``: property, one record per property owned). Every
    other category is one record per resident, changed by new versions."""
    return bool(schema(category).get("x-several-per-resident", False))


@cache
def _validator(category: Category) -> Draft202012Validator:
    return Draft202012Validator(schema(category), format_checker=FormatChecker())


def validate(category: Category, content: Any) -> None:
    """Raises :class:`InputError` naming the first offending field (stable order)."""
    errors = sorted(
        _validator(category).iter_errors(content), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    )
    if not errors:
        return
    error = errors[0]
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path = f"{path}.{missing}".lstrip(".") if missing else path
        raise InputError("is required", code=Invalid.REQUIRED, field=path or category.slug)
    if error.validator == "additionalProperties":
        raise InputError(
            f"is not a field of {category.slug} records ({error.message})",
            code=Invalid.UNKNOWN_FIELD,
            field=path or category.slug,
            params={"category": category.slug, "problem": error.message},
        )
    raise InputError(error.message, code=Invalid.SCHEMA, field=path or category.slug, params={"problem": error.message})
