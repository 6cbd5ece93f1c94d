"""Forms generated from a record category's JSON Schema, and the content they build.

A schema (``ledger/schemas/<category>.json``) becomes a tree of :class:`Node` s; the tree
gives a WTForms form class (a :class:`~wtforms.fields.FormField` named ``content`` inside
the page's :class:`~flask_wtf.FlaskForm`), turns what was typed back into JSON content,
places each validation error beside the field it is about (paths like ``address.street``
or ``members[0].name``). Content is shown (labels, enum titles, diffs) by :mod:`webapp.content`.

What the seven schemas hold, and how each is asked for:

* strings: a text box (``format: date`` a date box, ``enum`` a list to choose from);
* integers and numbers: a number box, converted here so a typo is a message, not a 500;
* booleans: yes / no to choose (an unanswered question is not silently "no");
* arrays of strings: a text area, one item per line;
* arrays of objects: a fixed number of rows, with a button for one more row;
* objects: a fieldset (none of the schemas nests one today; supported all the same).

Labels and enum options come from :mod:`webapp.content`, in the page's language.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jsonschema import Draft202012Validator, FormatChecker
from werkzeug.datastructures import MultiDict
from wtforms import Form, SelectField, StringField, TextAreaField
from wtforms.fields import FieldList, FormField

from ledger.categories import Category, schema

from ..content import enum_choices, number, title_in

#: The name of the generated part inside a page's form: fields are named ``content-<path>``.
CONTENT = "content"
#: Rows shown for an array of objects beyond those filled in (so there is room to add one).
SPARE_ROWS = 1
MIN_ROWS = 2

#: Hints for the patterns the schemas use (what to type, in plain words).
PATTERN_HINTS = {
    "^1[3-9][0-9]{9}$": _l("11 digits, starting with 1."),
    "^[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X]$": _l(
        "18 characters: 17 digits, then a digit or X."
    ),
    "^[0-9A-Z]{6,20}$": _l("6 to 20 digits or capital letters."),
    "^[0-9A-Z]{8,20}$": _l("8 to 20 digits or capital letters."),
}


# -- the schema as a tree ------------------------------------------------------------------


@dataclass
class Node:
    """One property of a schema. ``kind``: object, rows (array of objects), lines (array of
    strings), enum, boolean, date, integer, number, text."""

    name: str
    kind: str
    title: str
    required: bool
    spec: dict[str, Any]
    children: list[Node] = field(default_factory=list)  # object / rows: the properties

    @property
    def label(self) -> str:
        return title_in(self.title) if self.title else self.name


def _kind(spec: dict[str, Any]) -> str:
    if "enum" in spec:
        return "enum"
    kind = spec.get("type")
    if kind == "object":
        return "object"
    if kind == "array":
        items = spec.get("items", {})
        return "rows" if items.get("type") == "object" else "lines"
    if kind == "boolean":
        return "boolean"
    if kind in ("integer", "number"):
        return str(kind)
    if kind == "string" and spec.get("format") == "date":
        return "date"
    return "text"


def _node(name: str, spec: dict[str, Any], required: bool) -> Node:
    kind = _kind(spec)
    node = Node(name, kind, spec.get("title", ""), required, spec)
    body = spec.get("items", {}) if kind == "rows" else spec if kind == "object" else None
    if body is not None:
        needed = set(body.get("required", []))
        node.children = [_node(n, s, n in needed) for n, s in body.get("properties", {}).items()]
    return node


@cache
def tree(category: Category) -> Node:
    """The category's schema as a tree; the root is an object node."""
    return _node(category.slug, schema(category), True)


@cache
def validator(category: Category) -> Draft202012Validator:
    return Draft202012Validator(schema(category), format_checker=FormatChecker())


# -- the form ------------------------------------------------------------------------------


def _hint(node: Node) -> str:
    spec = node.spec
    parts: list[str] = []
    if node.kind == "date":
        parts.append(_("A date, as YYYY-MM-DD."))
    elif node.kind == "lines":
        parts.append(_("One per line."))
        if node.required:
            parts.append(_("Leave empty if there are none."))
    elif node.kind in ("integer", "number"):
        low = spec.get("minimum", spec.get("exclusiveMinimum"))
        high = spec.get("maximum")
        if low is not None and high is not None:
            parts.append(_("From %(low)s to %(high)s.", low=number(low), high=number(high)))
    elif node.kind == "text" and spec.get("pattern") in PATTERN_HINTS:
        parts.append(str(PATTERN_HINTS[spec["pattern"]]))
    elif node.kind == "text" and spec.get("maxLength"):
        parts.append(_("At most %(n)d characters.", n=spec["maxLength"]))
    return " ".join(parts)


def _label(node: Node) -> str:
    return _("%(label)s (required)", label=node.label) if node.required else node.label


class RowList(FieldList):  # type: ignore[misc]
    """The rows of an array of objects, kept under the indices they were posted with.

    WTForms renumbers posted rows 0..n-1 and then adds the missing ``min_entries`` rows with
    the next free indices, which re-reads posted data: rows 0 and 2 became rows 0, 1 and a
    copy of 2. Rows keep their numbers here; errors are placed by position (``row_of``)."""

    def _compact_indices(self) -> None:
        pass


def _field(node: Node, rows: dict[str, int], path: str) -> Any:
    attrs: dict[str, Any] = {"aria-required": "true"} if node.required else {}
    label, hint = _label(node), _hint(node)
    if node.kind == "object":
        return FormField(_form_class(node.children, rows, path), label=label, description=hint)
    if node.kind == "rows":
        count = rows.get(path, MIN_ROWS)
        limit = node.spec.get("maxItems")
        return RowList(
            FormField(_form_class(node.children, rows, f"{path}-0")),
            label=label,
            description=hint,
            min_entries=min(count, limit) if limit else count,
            max_entries=limit,
        )
    if node.kind == "enum":
        choices = [("", _("— choose —"))] + enum_choices(node.spec)
        return SelectField(label, choices=choices, validate_choice=False, description=hint, render_kw=attrs)
    if node.kind == "boolean":
        choices = [("", _("— choose —")), ("yes", _("Yes")), ("no", _("No"))]
        return SelectField(label, choices=choices, validate_choice=False, description=hint, render_kw=attrs)
    if node.kind == "lines":
        return TextAreaField(label, description=hint, render_kw={**attrs, "rows": 3})
    if node.kind == "date":
        return StringField(label, description=hint, render_kw={**attrs, "type": "date", "placeholder": "YYYY-MM-DD"})
    if node.kind in ("integer", "number"):
        step = "1" if node.kind == "integer" else "any"
        mode = "numeric" if node.kind == "integer" else "decimal"
        return StringField(
            label, description=hint, render_kw={**attrs, "type": "number", "step": step, "inputmode": mode}
        )
    if node.spec.get("maxLength"):
        attrs["maxlength"] = node.spec["maxLength"]
    if node.spec.get("maxLength", 0) > 100:
        return TextAreaField(label, description=hint, render_kw={**attrs, "rows": 2})
    return StringField(label, description=hint, render_kw=attrs)


def _form_class(children: list[Node], rows: dict[str, int], path: str) -> type[Form]:
    fields = {child.name: _field(child, rows, f"{path}-{child.name}") for child in children}
    return type("GeneratedForm", (Form,), fields)


def content_field(category: Category, rows: dict[str, int] | None = None) -> FormField:
    """The generated part of a page's form, as an unbound field named :data:`CONTENT`.

    ``rows`` gives the number of rows for each array of objects, keyed by its field name
    (``content-members``)."""
    root = tree(category)
    return FormField(_form_class(root.children, rows or {}, CONTENT), label=root.label)


def rows_in(formdata: MultiDict[str, str], category: Category, *, more: str | None = None) -> dict[str, int]:
    """Rows to show for each array of objects: those posted (or the minimum), and one
    more for the array named ``more`` (the "Add a row" button)."""
    found: dict[str, int] = {}
    for node, name in _row_nodes(tree(category).children, CONTENT):
        pattern = re.compile(rf"^{re.escape(name)}-(\d+)-")
        indices = {int(m.group(1)) for key in formdata if (m := pattern.match(key))}
        count = max(max(indices) + 1 if indices else 0, MIN_ROWS)
        if more == name:
            count += 1
        limit = node.spec.get("maxItems")
        found[name] = min(count, limit) if limit else count
    return found


def _row_nodes(nodes: list[Node], prefix: str) -> Iterator[tuple[Node, str]]:
    for node in nodes:
        name = f"{prefix}-{node.name}"
        if node.kind == "rows":
            yield node, name
        elif node.kind == "object":
            yield from _row_nodes(node.children, name)


def formdata_of(category: Category, content: dict[str, Any]) -> tuple[MultiDict[str, str], dict[str, int]]:
    """Stored content as the form would post it (to prefill an update), and the rows needed."""
    data: MultiDict[str, str] = MultiDict()
    rows: dict[str, int] = {}

    def put(nodes: list[Node], value: dict[str, Any], prefix: str) -> None:
        for node in nodes:
            name = f"{prefix}-{node.name}"
            if node.name not in value:
                continue
            item = value[node.name]
            if node.kind == "object" and isinstance(item, dict):
                put(node.children, item, name)
            elif node.kind == "rows" and isinstance(item, list):
                for i, row in enumerate(item):
                    if isinstance(row, dict):
                        put(node.children, row, f"{name}-{i}")
                rows[name] = len(item) + SPARE_ROWS
            elif node.kind == "lines" and isinstance(item, list):
                data[name] = "\n".join(str(x) for x in item)
            elif node.kind == "boolean":
                data[name] = "yes" if item else "no"
            else:
                data[name] = number(item) if isinstance(item, (int, float)) else str(item)

    put(tree(category).children, content, CONTENT)
    for node, name in _row_nodes(tree(category).children, CONTENT):
        limit = node.spec.get("maxItems")
        count = max(rows.get(name, 0), MIN_ROWS)
        rows[name] = min(count, limit) if limit else count
    return data, rows


# -- building the content, and placing errors -------------------------------------------------

MISSING = object()


@dataclass
class Built:
    """Content built from a posted form, with the errors of converting what was typed."""

    content: dict[str, Any]
    errors: dict[str, str]  # dotted path -> message (a number that is not one)
    row_of: dict[str, list[int]]  # dotted path of an array of objects -> form row of each item


def build(category: Category, form: Form) -> Built:
    """The JSON content a filled-in generated form stands for. Empty fields are left out
    (so a required one is reported missing); empty rows are skipped."""
    errors: dict[str, str] = {}
    row_of: dict[str, list[int]] = {}

    def obj(nodes: list[Node], sub: Form, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for node in nodes:
            value = one(node, sub[node.name], f"{path}.{node.name}".lstrip("."))
            if value is not MISSING:
                out[node.name] = value
        return out

    def one(node: Node, f: Any, path: str) -> Any:
        if node.kind == "object":
            inner = obj(node.children, f.form, path)
            return inner if inner or node.required else MISSING
        if node.kind == "rows":
            items: list[dict[str, Any]] = []
            places: list[int] = []
            for index, entry in enumerate(f.entries):
                row = obj(node.children, entry.form, f"{path}[{len(items)}]")
                if row:
                    items.append(row)
                    places.append(index)
            row_of[path] = places
            return items if items or node.required else MISSING
        raw = (f.data or "").strip() if isinstance(f.data, str) or f.data is None else f.data
        if node.kind == "lines":
            lines = [line.strip() for line in str(raw).splitlines() if line.strip()]
            return lines  # an empty box is an empty list: "none", not "not asked"
        if raw == "":
            return MISSING
        if node.kind == "boolean":
            if raw in ("yes", "no"):
                return raw == "yes"
            errors[path] = _("Choose yes or no.")
            return raw
        if node.kind in ("integer", "number"):
            try:
                number = float(raw)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                errors[path] = (
                    _("Enter a number, such as 12 or 3.5.")
                    if node.kind == "number"
                    else _("Enter a whole number, such as 3.")
                )
                return raw
            if node.kind == "integer":
                if not number.is_integer():
                    errors[path] = _("Enter a whole number, such as 3.")
                    return raw
                return int(number)
            return int(number) if number.is_integer() and abs(number) < 2**53 else number
        if node.kind == "enum":
            for value in node.spec["enum"]:
                if str(value) == raw:
                    return value
            return raw  # the schema names it
        return raw

    content = obj(tree(category).children, form, "")
    return Built(content, errors, row_of)


def schema_errors(category: Category, content: Any) -> list[tuple[str, str]]:
    """Every schema error (not only the first), as (dotted path, message for people)."""
    found: list[tuple[str, str]] = []
    for error in validator(category).iter_errors(content):
        path = list(error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            if missing:
                path.append(missing)
        dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        found.append((dotted, message_for(error.validator, error.validator_value, error.message)))
    return sorted(found)


def message_for(kind: Any, limit: Any, fallback: str) -> str:
    """A jsonschema error in plain words, in the page's language."""
    if kind == "required":
        return _("Please fill this in.")
    if kind == "format":
        return _("Enter a real date, as YYYY-MM-DD.") if limit == "date" else _("This is not in the expected form.")
    if kind == "pattern":
        hint = PATTERN_HINTS.get(str(limit))
        return _("This is not in the expected form.") + (f" {hint}" if hint else "")
    if kind == "minLength":
        return _("Please fill this in.") if limit == 1 else _("At least %(n)d characters.", n=limit)
    if kind == "maxLength":
        return _("At most %(n)d characters.", n=limit)
    if kind == "enum":
        return _("Choose one of the options.")
    if kind == "type":
        return {
            "integer": _("Enter a whole number, such as 3."),
            "number": _("Enter a number, such as 12 or 3.5."),
            "boolean": _("Choose yes or no."),
        }.get(str(limit), _("This is not in the expected form."))
    if kind == "minimum":
        return _("At least %(n)s.", n=number(limit))
    if kind == "exclusiveMinimum":
        return _("Must be more than %(n)s.", n=number(limit))
    if kind == "maximum":
        return _("At most %(n)s.", n=number(limit))
    if kind == "minItems":
        return _("Give at least %(n)d.", n=limit)
    if kind == "maxItems":
        return _("At most %(n)d items.", n=limit)
    if kind == "additionalProperties":
        return _("This is not a field of this form.")
    return fallback


def parse_path(dotted: str) -> list[str | int]:
    """``members[0].name`` -> ``["members", 0, "name"]`` (the form of InputError.field)."""
    parts: list[str | int] = []
    for piece in re.findall(r"[^.\[\]]+|\[\d+\]", dotted):
        parts.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return parts


def locate(category: Category, form: Form, dotted: str, row_of: dict[str, list[int]]) -> Any | None:
    """The form field an error path is about (an array's or an object's own field for
    errors about the whole group), or None when the path is not a field of the form."""
    nodes = tree(category).children
    current: Any = None
    sub: Any = form
    walked = ""
    node: Node | None = None
    for part in parse_path(dotted):
        if isinstance(part, int):
            if node is None or node.kind != "rows" or current is None:
                return current
            places = row_of.get(walked, [])
            row = places[part] if part < len(places) else part
            if row >= len(current.entries):
                return current
            sub = current.entries[row].form
            walked = f"{walked}[{part}]"
            nodes = node.children
            continue
        node = next((n for n in nodes if n.name == part), None)
        if node is None or sub is None or part not in sub:
            return current
        current = sub[part]
        walked = f"{walked}.{part}".lstrip(".")
        if node.kind == "object":
            sub, nodes = current.form, node.children
        else:
            sub = None
    return current


def count_errors(form: Form) -> int:
    """How many fields of a generated form show an error (rows and objects walked through;
    a FieldList's own ``errors`` is only filled by ``validate``, not by :func:`attach`)."""
    found = 0
    for sub in form:
        if sub.type == "FormField":
            found += count_errors(sub.form)
        elif sub.type == "RowList":
            found += sum(count_errors(entry.form) for entry in sub.entries)
        elif sub.errors:
            found += 1
    return found


def attach(field_: Any, message: str, group_errors: dict[str, list[str]]) -> None:
    """Shows ``message`` beside a leaf field, or under the legend of a group (rows, object)."""
    if field_.type in ("FormField", "RowList"):
        group_errors.setdefault(field_.id, [])
        if message not in group_errors[field_.id]:
            group_errors[field_.id].append(message)
        return
    errors = list(field_.errors) if field_.errors else []
    if message not in errors:
        errors.append(message)
    field_.errors = errors
