"""The one renderer of record content (webapp/content.py): titles from the schemas."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from ledger.categories import Category, schema
from webapp import content
from webapp.content import CHINESE, ENGLISH, LOCALES


def enum_properties(spec: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for name, sub in spec.get("properties", {}).items():
        here = f"{path}.{name}".lstrip(".")
        if "enum" in sub:
            yield here, sub
        yield from enum_properties(sub, here)
        if isinstance(sub.get("items"), dict):
            if "enum" in sub["items"]:
                yield f"{here}[]", sub["items"]
            yield from enum_properties(sub["items"], here)


CJK = re.compile(r"[\u3400-\u9fff]")
ENUMS = [(c, path, spec) for c in Category for path, spec in enum_properties(schema(c))]


def test_the_schemas_have_enums_to_check() -> None:
    assert {(c, p) for c, p, _ in ENUMS} >= {(Category.HEALTH, "blood_type"), (Category.HOUSEHOLD, "members.relation")}


@pytest.mark.parametrize(("category", "path", "spec"), ENUMS, ids=[f"{c.slug}.{p}" for c, p, _ in ENUMS])
def test_every_enum_value_has_a_title_in_both_languages(category: Category, path: str, spec: dict[str, Any]) -> None:
    titles = spec.get("x-enum-titles", {})
    for locale in LOCALES:
        given = titles.get(locale, {})
        missing = [v for v in spec["enum"] if not str(given.get(str(v), "")).strip()]
        assert not missing, f"{category.slug}.{path}: no {locale} title for {missing}"
        assert set(given) == {str(v) for v in spec["enum"]}, f"{category.slug}.{path}: titles for unknown values"


@pytest.mark.parametrize("category", list(Category), ids=[c.slug for c in Category])
def test_every_field_has_a_label_in_each_language(category: Category) -> None:
    english, chinese = content.labels(category, ENGLISH), content.labels(category, CHINESE)
    assert english.keys() == chinese.keys()
    for path in english:
        assert not CJK.search(english[path]), f"{category.slug}.{path}: {english[path]!r} mixes languages"
        assert CJK.search(chinese[path]), f"{category.slug}.{path}: {chinese[path]!r} is not Chinese"


def test_blood_types_are_shown_by_their_chinese_names() -> None:
    spec = schema(Category.HEALTH)["properties"]["blood_type"]
    assert [content.enum_title(spec, v, CHINESE) for v in ("A", "B", "AB", "O")] == ["A型", "B型", "AB型", "O型"]


ELDERLY = {
    "care_level": "partly_dependent",
    "lives_alone": True,
    "subsidy": "age_allowance",
    "monthly_amount_yuan": 300.0,
}


def test_fields_show_labels_and_titles_in_one_language() -> None:
    chinese = content.fields(Category.ELDERLY_CARE, ELDERLY, CHINESE)
    assert [(r.path, r.label, r.value) for r in chinese] == [
        ("care_level", "照护等级", "部分需要照护"),
        ("lives_alone", "独居", "是"),
        ("subsidy", "补贴类型", "高龄津贴"),
        ("monthly_amount_yuan", "月补贴金额", "300"),
    ]
    english = content.fields(Category.ELDERLY_CARE, ELDERLY, ENGLISH)
    assert [(r.label, r.value) for r in english][:2] == [("Care level", "Needs some help"), ("Lives alone", "Yes")]
    assert not any(CJK.search(r.label + r.value) for r in english)


def test_fields_flatten_rows_of_objects_and_join_lists() -> None:
    household = {"household_number": "ABC123", "address": "碧湖路 1 号", "members": [
        {"name": "李明", "relation": "head"}, {"name": "王芳", "relation": "spouse"}]}  # fmt: skip
    rows = {r.path: (r.label, r.value) for r in content.fields(Category.HOUSEHOLD, household, ENGLISH)}
    assert rows["members[1].relation"] == ("Members 2 · Relation to the head", "Spouse")
    health = {"blood_type": "AB", "chronic_conditions": ["高血压", "糖尿病"]}
    rows = {r.path: r.value for r in content.fields(Category.HEALTH, health, CHINESE)}
    assert rows == {"blood_type": "AB型", "chronic_conditions": "高血压、糖尿病"}
    assert content.fields(Category.HEALTH, {"blood_type": "O", "chronic_conditions": []}, ENGLISH)[1].value == "(none)"


def test_kept_rows_are_the_rows_of_exactly_that_content() -> None:
    first = {"blood_type": "AB", "chronic_conditions": ["高血压"], "x_unknown": 1, "a_unknown": 2}
    rows = content.fields(Category.HEALTH, first, CHINESE)
    assert content.fields(Category.HEALTH, dict(first), CHINESE) == rows  # kept, and equal
    assert content.fields(Category.HEALTH, first, ENGLISH) != rows  # per language
    assert [r.path for r in rows][-2:] == ["x_unknown", "a_unknown"]  # unknown keys in the content's order
    reordered = {"a_unknown": 2, "x_unknown": 1, "chronic_conditions": ["高血压"], "blood_type": "AB"}
    assert [r.path for r in content.fields(Category.HEALTH, reordered, CHINESE)][-2:] == ["a_unknown", "x_unknown"]
    changed = {**first, "blood_type": "O"}
    assert content.fields(Category.HEALTH, changed, CHINESE)[0].value == "O型"
    assert {r.path: r.value for r in content.fields(Category.HEALTH, {**first, "x_unknown": 1.0}, CHINESE)}["x_unknown"] == "1"
    assert {r.path: r.value for r in content.fields(Category.HEALTH, {**first, "x_unknown": True}, CHINESE)}["x_unknown"] == "是"
    huge = {**first, "x_unknown": 2**70}  # beyond what orjson writes: worded afresh
    assert {r.path: r.value for r in content.fields(Category.HEALTH, huge, CHINESE)}["x_unknown"] == str(2**70)
    rows.append(rows[0])  # a caller's list is its own
    assert len(content.fields(Category.HEALTH, first, CHINESE)) == len(rows) - 1
    assert content.fields(Category.HEALTH, ["not", "an", "object"], CHINESE) == []


def test_changes_compare_versions_row_by_row() -> None:
    newer = {**ELDERLY, "care_level": "dependent"}
    del newer["monthly_amount_yuan"]
    newer["emergency_contact_phone"] = "13800000000"
    found, same = content.changes(Category.ELDERLY_CARE, ELDERLY, newer, CHINESE)
    assert [(c.kind, c.path, c.old, c.new) for c in found] == [
        ("changed", "care_level", "部分需要照护", "完全需要照护"),
        ("added", "emergency_contact_phone", None, "13800000000"),
        ("removed", "monthly_amount_yuan", "300", None),
    ]
    assert same == 2
    first, same = content.changes(Category.ELDERLY_CARE, None, ELDERLY, ENGLISH)
    assert {c.kind for c in first} == {"added"} and len(first) == 4 and same == 0


def test_a_locale_is_read_loosely() -> None:
    assert content.fields(Category.IDENTITY, {"gender": "female"}, "zh_Hans_CN")[0].value == "女"
    assert content.fields(Category.IDENTITY, {"gender": "female"}, "en-GB")[0].value == "Female"
