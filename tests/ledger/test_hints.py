"""Masked hints (ledger.hints): the masking rules, odd inputs included. The hints' life with
records (written on add, update and certify, cleared on erasure) is in test_records.py."""

from __future__ import annotations

import pytest

from ledger.hints import mask_address, mask_id_number


@pytest.mark.parametrize(
    ("given", "masked"),
    [
        ("330203199001011234", "330203********1234"),
        ("33020319900101123X", "330203********123X"),
        ("33020319900101123x", "330203********123X"),  # a lower-case check character
        (" 330203 19900101 1234 ", "330203********1234"),  # spaces as people type them
        ("330203900101123", "330203******123"),  # 15 characters, issued before 1999
        ("12345", "*****"),  # too short: nothing shown
        ("3302031990010112345", "******************"),  # too long: nothing shown, 18 stars at most
        ("33020319900101ABCD", "******************"),  # not digits
        ("", ""),
        (None, ""),
    ],
)
def test_an_id_number_keeps_its_region_and_last_four_only(given: str | None, masked: str) -> None:
    assert mask_id_number(given) == masked


@pytest.mark.parametrize(
    ("given", "masked"),
    [
        ("海曙区白鹤街道白鹤小区 3 幢 2 单元 502 室", "海曙区白鹤街道白鹤小区 3 幢"),
        ("金桥街道碧湖社区碧湖花园12栋3单元1802室", "金桥街道碧湖社区碧湖花园12栋"),
        ("白鹤小区5号楼1201", "白鹤小区5号楼"),
        ("白鹤小区三幢502室", "白鹤小区三幢"),
        ("中山东路88号302室", "中山东路88号"),  # a street number and no building
        ("白鹤小区 12-3-502", "白鹤小区"),  # no 幢/号: nothing from the first digit on
        ("东钱湖镇韩岭村", "东钱湖镇韩岭村"),  # no number at all: nothing to hide
        ("  海曙区\n白鹤小区  3幢 ", "海曙区 白鹤小区 3幢"),
        ("3幢502室", "3幢"),
        ("502", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_an_address_stops_at_the_building(given: str | None, masked: str) -> None:
    assert mask_address(given) == masked
