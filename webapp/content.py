"""Record content for people: the one renderer, from the category's JSON Schema.

Every page, export and API answer that shows a record's content labels it here, so the
same content reads the same everywhere, in one language per page:

* a field's label is its schema ``title``, written "English 中文"; the half in the page's
  language is shown (:func:`labels`);
* an enum value is a code in the content (``partly_dependent``); it is shown by its title
  in the schema's ``x-enum-titles`` (``{"en": {code: title}, "zh-CN": {code: title}}``),
  never as the code (:func:`enum_title`);
* nested objects and arrays of objects are flattened in schema order: ``members[1].name``
  becomes "Members 2 · Name"; arrays of plain values are one row, joined.

:func:`fields` gives the rows of one version; :func:`changes` compares two versions row by
row. ``locale`` is ``"zh-CN"`` or ``"en"`` (:func:`locale_code` gives the page's).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import orjson
from flask_babel import get_locale

from ledger.categories import Category, schema

ENGLISH = "en"
CHINESE = "zh-CN"
LOCALES = (ENGLISH, CHINESE)

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")

#: The few words the renderer adds itself (for booleans and empty lists), per locale.
_WORDS = {
    ENGLISH: {"yes": "Yes", "no": "No", "none": "(none)", "empty": "—", "join": ", "},
    CHINESE: {"yes": "是", "no": "否", "none": "（无）", "empty": "—", "join": "、"},
}


def locale_code() -> str:
    """The page's language as a renderer locale: ``zh-CN`` for Chinese, else ``en``."""
    found = get_locale()
    return CHINESE if found is not None and found.language == "zh" else ENGLISH


def _locale(locale: str | None) -> str:
    if locale is None:
        return locale_code()
    return CHINESE if locale.lower().replace("_", "-").startswith("zh") else ENGLISH


def title_in(title: str, locale: str | None = None) -> str:
    """The English or the Chinese half of a schema title "English 中文"."""
    found = _CJK.search(title)
    if found is None:
        return title
    english, chinese = title[: found.start()].strip(), title[found.start() :].strip()
    if _locale(locale) == CHINESE:
        return chinese or english
    return english or chinese


def enum_title(spec: dict[str, Any], value: Any, locale: str | None = None) -> str:
    """An enum value of a schema property (``spec``) by its title in ``locale``; the code
    itself only when the schema has no title for it (a test keeps that from happening)."""
    titles = spec.get("x-enum-titles", {}).get(_locale(locale), {})
    found = titles.get(str(value))
    return str(found) if found is not None else str(value)


def enum_choices(spec: dict[str, Any], locale: str | None = None) -> list[tuple[str, str]]:
    """(code, title) for each value of an enum property, in schema order (a form's options)."""
    return [(str(v), enum_title(spec, v, locale)) for v in spec.get("enum", [])]


def number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


# -- the schema's fields -------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One property of a schema; ``children`` for objects and arrays of objects."""

    name: str
    title: str
    spec: dict[str, Any]
    children: tuple[Field, ...] = ()

    @property
    def is_rows(self) -> bool:
        return self.spec.get("type") == "array" and self.spec.get("items", {}).get("type") == "object"

    @property
    def is_object(self) -> bool:
        return self.spec.get("type") == "object"


def _field(name: str, spec: dict[str, Any]) -> Field:
    body = spec.get("items", {}) if spec.get("type") == "array" else spec
    children: tuple[Field, ...] = ()
    if body.get("type") == "object":
        children = tuple(_field(n, s) for n, s in body.get("properties", {}).items())
    return Field(name, str(spec.get("title", "")), spec, children)


@cache
def _root(category: Category) -> Field:
    return _field(category.slug, schema(category))


def labels(category: Category, locale: str | None = None) -> dict[str, str]:
    """Dotted path of every field (``members.name`` for a field of a row) -> its label."""
    found: dict[str, str] = {}

    def walk(nodes: tuple[Field, ...], prefix: str) -> None:
        for node in nodes:
            path = f"{prefix}.{node.name}".lstrip(".")
            found[path] = title_in(node.title, locale) if node.title else node.name
            walk(node.children, path)

    walk(_root(category).children, "")
    return found


def category_title(category: Category, locale: str | None = None) -> str:
    """The category's own name from its schema (``title`` in English, ``description`` in Chinese)."""
    spec = schema(category)
    if _locale(locale) == CHINESE:
        return str(spec.get("description") or spec.get("title") or category.slug)
    return str(spec.get("title") or category.slug)


# -- content as rows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One labelled row of content: ``path`` as the library names fields (``members[0].name``)."""

    path: str
    label: str
    value: str


def _show(node: Field | None, value: Any, words: dict[str, str], locale: str) -> str:
    spec = node.spec if node is not None else {}
    if value is None or value == "":
        return words["empty"]
    if isinstance(value, bool):
        return words["yes"] if value else words["no"]
    if "enum" in spec:
        return enum_title(spec, value, locale)
    if isinstance(value, list):
        items = spec.get("items", {}) if isinstance(spec.get("items"), dict) else {}
        item_node = Field("", "", items)
        return words["join"].join(_show(item_node, v, words, locale) for v in value) if value else words["none"]
    if isinstance(value, float) and math.isfinite(value):
        return number(value)
    return str(value)


def fields(category: Category, content: Any, locale: str | None = None) -> list[Row]:
    """A version's content as labelled rows in schema order (keys the schema does not know,
    which validation keeps out, are shown under their own name after the known ones).

    The rows depend on nothing but their arguments, and the same versions are shown again
    and again (each logged read of a record answers its fields): the rows of the last
    :data:`FIELDS_KEPT` contents are kept, keyed by their exact JSON (key order included)."""
    locale = _locale(locale)
    if not isinstance(content, dict):
        return []
    try:
        key = orjson.dumps(content)
    except TypeError:  # not JSON orjson writes (an integer beyond 64 bits): worded afresh
        return _fields(category, content, locale)
    return list(_kept_fields(category, key, locale))


#: Contents whose rows :func:`fields` keeps.
FIELDS_KEPT = 4_096


@lru_cache(maxsize=FIELDS_KEPT)
def _kept_fields(category: Category, content: bytes, locale: str) -> tuple[Row, ...]:
    return tuple(_fields(category, orjson.loads(content), locale))


def _fields(category: Category, content: dict[str, Any], locale: str) -> list[Row]:
    words = _WORDS[locale]
    rows: list[Row] = []

    def walk(nodes: tuple[Field, ...], value: dict[str, Any], path: str, label: str) -> None:
        known = {n.name: n for n in nodes}
        for node in nodes:
            if node.name not in value:
                continue
            here = f"{path}.{node.name}".lstrip(".")
            name = title_in(node.title, locale) if node.title else node.name
            title = f"{label} · {name}" if label else name
            item = value[node.name]
            if node.children and isinstance(item, dict):
                walk(node.children, item, here, title)
            elif node.children and isinstance(item, list) and all(isinstance(r, dict) for r in item):
                for i, row in enumerate(item):
                    walk(node.children, row, f"{here}[{i}]", f"{title} {i + 1}")
            else:
                rows.append(Row(here, title, _show(node, item, words, locale)))
        for key in value:
            if key not in known:
                here = f"{path}.{key}".lstrip(".")
                rows.append(Row(here, f"{label} · {key}" if label else key, _show(None, value[key], words, locale)))

    walk(_root(category).children, content, "", "")
    return rows


@dataclass(frozen=True)
class Change:
    kind: str  # added | removed | changed
    path: str
    label: str
    old: str | None
    new: str | None


def changes(category: Category, old: Any, new: Any, locale: str | None = None) -> tuple[list[Change], int]:
    """Row by row changes from ``old`` (None for a first version) to ``new``, in the order
    of the new content, then removed rows; and how many rows are unchanged."""
    before = {row.path: row for row in fields(category, old, locale)} if old is not None else {}
    found: list[Change] = []
    same = 0
    seen = set()
    for row in fields(category, new, locale):
        seen.add(row.path)
        was = before.get(row.path)
        if was is None:
            found.append(Change("added", row.path, row.label, None, row.value))
        elif was.value != row.value:
            found.append(Change("changed", row.path, row.label, was.value, row.value))
        else:
            same += 1
    for path, row in before.items():
        if path not in seen:
            found.append(Change("removed", path, row.label, row.value, None))
    return found, same
