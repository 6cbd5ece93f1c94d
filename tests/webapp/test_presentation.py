"""Every code of every vocabulary has words in both languages (webapp/presentation.py).

The tests iterate the library's enums, so a new member without words, or without a Chinese
translation, fails here. They need no chain: the words are the catalogue's."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any

import pytest
from flask import Flask

from ledger.access import LogState, ReadBasis
from ledger.accesslog import Action, Outcome
from ledger.audit import Decision, Finding, FindingKind, Severity
from ledger.errors import (
    AccessRefused,
    InputError,
    Invalid,
    LedgerError,
    NotAllowed,
    NotFoundError,
    Refusal,
    RequestProblem,
)
from ledger.grants import GrantStatus
from ledger.history import Finding as HistoryFinding
from ledger.history import HistoryFindingKind
from ledger.requests import ConsentStatus
from ledger.verify import Problem
from webapp import i18n, presentation
from webapp.presentation import RESIDENT, STAFF, Audience

CJK = re.compile(r"[\u3400-\u9fff]")
LANGUAGES = {"zh": "zh-CN", "en": "en"}
#: Params enough for every kind's words.
PARAMS: dict[str, Any] = {
    "category": "health", "block": 42, "count": 60, "day": "2026-12-01", "usual": 3, "reason": "no-active-grant",
    "number": 2, "first": 10, "last": 12, "restoredAt": 1_764_000_000_000, "yourFirst": 3, "yourLast": 4,
    "max": 2000, "min": 12, "days": 366, "seq": 7, "department": "GA-01", "value": "x", "choices": ["a"],
}  # fmt: skip


@pytest.fixture(scope="module")
def app() -> Flask:
    built = Flask(__name__)
    built.secret_key = "test"
    i18n.init_app(built)
    presentation.init_app(built)
    return built


@pytest.fixture
def words(app: Flask) -> Callable[[str, Callable[[], Any]], str]:
    """Calls ``make`` in a request whose browser asks for ``language``."""

    def say(language: str, make: Callable[[], Any]) -> str:
        with app.test_request_context("/", headers={"Accept-Language": LANGUAGES[language]}):
            return str(make())

    return say


def named(audience: Audience) -> Iterator[tuple[type[StrEnum], Callable[[str], str]]]:
    yield GrantStatus, presentation.grant_status_name
    yield GrantStatus, presentation.grant_note
    yield ReadBasis, lambda code: presentation.basis_name(code, audience)
    yield Outcome, presentation.outcome_name
    yield Action, presentation.action_name
    yield LogState, presentation.log_state_name
    yield Decision, lambda code: presentation.decision_name(code, audience)
    yield Severity, presentation.severity_name
    yield FindingKind, presentation.finding_name
    yield Refusal, lambda code: presentation.refusal_name(code, audience)
    yield Refusal, presentation.refusal_sentence
    yield Problem, presentation.problem_name
    yield Problem, presentation.problem_advice


CASES = [
    pytest.param(enum, say, member, id=f"{audience}-{enum.__name__}-{member}")
    for audience in Audience
    for enum, say in named(audience)
    for member in enum
]


@pytest.mark.parametrize(("enum", "say", "member"), CASES)
def test_every_code_has_words_in_both_languages(words: Any, enum: type[StrEnum], say: Any, member: StrEnum) -> None:
    english, chinese = words("en", lambda: say(member)), words("zh", lambda: say(member))
    assert english and english != str(member), f"{enum.__name__}.{member.name} has no English words"
    assert CJK.search(chinese), f"{enum.__name__}.{member.name} has no Chinese words: {chinese!r}"


def _sentences() -> Iterator[Any]:
    for kind in FindingKind:
        finding = Finding(kind, Severity.HIGH, "English", 1, 0, params=PARAMS)
        yield pytest.param(lambda f=finding: presentation.finding_detail(f), id=f"finding-{kind}")
    for history_kind in HistoryFindingKind:
        found = HistoryFinding(history_kind, 3, "English", PARAMS)
        yield pytest.param(lambda f=found: presentation.history_finding(f), id=f"history-{history_kind}")
    for code in Invalid:
        yield pytest.param(lambda c=code: presentation.invalid(c, PARAMS), id=f"invalid-{code}")


@pytest.mark.parametrize("say", list(_sentences()))
def test_every_code_with_params_has_a_sentence_in_both_languages(words: Any, say: Any) -> None:
    english, chinese = words("en", say), words("zh", say)
    assert english and not CJK.search(english)
    assert CJK.search(chinese) and chinese != english


def test_invalid_words_differ_per_code(words: Any) -> None:
    """No code falls through to the catch-all by mistake."""
    said = [words("en", lambda c=code: presentation.invalid(c, PARAMS)) for code in Invalid]
    assert len(set(said)) == len(said)


def test_the_office_reads_a_finding_from_its_params_not_its_english(words: Any) -> None:
    finding = Finding(FindingKind.VOLUME_ANOMALY, Severity.MEDIUM, "nonsense", params={"count": 60, "day": "2026-12-01",
                                                                                      "usual": 2.5})  # fmt: skip
    assert (
        words("en", lambda: presentation.finding_detail(finding))
        == "60 reads on 2026-12-01, against a usual 2.5 a day."
    )
    refused = Finding(FindingKind.REFUSED, Severity.INFO, "nonsense", params={"reason": Refusal.NO_DUTY})
    assert "no duty to read" in words("en", lambda: presentation.finding_detail(refused))


def test_error_pages_word_the_code_not_the_message(words: Any) -> None:
    wrong = InputError("an English sentence", code=Invalid.TOO_LONG, field="justification", params={"max": 2000})
    assert words("en", lambda: presentation.error(wrong)) == "At most 2000 characters."
    assert "2000" in words("zh", lambda: presentation.error(wrong))
    refused = AccessRefused(Refusal.NO_ACTIVE_GRANT, "an English sentence", seq=5)
    said = words("zh", lambda: presentation.error(refused))
    assert "#5" in said and CJK.search(said) and "English" not in said
    assert "English" not in words("en", lambda: presentation.error(NotFoundError("an English sentence")))


def test_the_resident_and_staff_read_different_words_for_a_refusal(words: Any) -> None:
    assert words("en", lambda: presentation.refusal_name(Refusal.NO_ACTIVE_GRANT, RESIDENT)) != words(
        "en", lambda: presentation.refusal_name(Refusal.NO_ACTIVE_GRANT, STAFF)
    )


def test_grant_statuses_in_official_chinese(words: Any) -> None:
    expected = {
        GrantStatus.WITHDRAWN: "已撤回", GrantStatus.EXPIRED: "已过期", GrantStatus.NOT_YET_VALID: "尚未生效",
    }  # fmt: skip
    for status, chinese in expected.items():
        assert words("zh", lambda s=status: presentation.grant_status_name(s)) == chinese


def test_integrity_problems_are_named_apart_and_in_official_chinese(words: Any) -> None:
    """Each code has its own name (the page lists them side by side), and the office reads what to do."""
    said = [words("en", lambda c=code: presentation.problem_name(c)) for code in Problem]
    assert len(set(said)) == len(said)
    assert words("zh", lambda: presentation.problem_name(Problem.LEAF_MISSING)) == "访问日志条目缺失"
    advice = words("zh", lambda: presentation.problem_advice(Problem.CONTENT_EDITED))
    assert "备份" in advice and "gridledger verify all" in advice


# -- the resident's inbox (ledger.inbox) ------------------------------------------------------------


def _inbox_items() -> Iterator[Any]:
    from ledger.inbox import Item, ItemKind, Link, LinkKind

    params = {"organisation": "0xdept", "department": "0xdept", "category": "health", "categories": ["health", "elderly_care"],
              "purpose": 2, "day": "2026-10-03", "lastDay": "2027-06-30", "decision": "approve", "reason": "no-active-grant",
              "validUntil": 1_814_400_000, "answerBy": 1_796_054_400_000}  # fmt: skip
    from ledger.rights import RequestOutcome

    for outcome in RequestOutcome:  # the answer to each kind of the resident's request
        decided = {**params, "decision": str(outcome), "basis": "duty"}
        yield pytest.param(Item(ItemKind.REQUEST_DECIDED, f"access:{outcome}", 0, decided, Link(LinkKind.HISTORY_ENTRY, "1")),
                           id=f"request-decided-{outcome}")  # fmt: skip
    for kind in ItemKind:
        if kind == ItemKind.REQUEST_DECIDED:
            continue
        for basis in ("grant", "duty", "emergency"), ("flag",):
            for value in basis:
                extra = {"basis": value} if value != "flag" else {"decision": "flag"}
                yield pytest.param(Item(kind, f"{kind}:1", 0, {**params, **extra}, Link(LinkKind.GRANT, "1")),
                                   id=f"{kind}-{value}")  # fmt: skip


@pytest.mark.parametrize("item", list(_inbox_items()))
def test_every_inbox_item_is_one_sentence_in_both_languages(words: Any, item: Any) -> None:
    from datetime import date

    name = {"0xdept": "民政科"}.get
    english = words("en", lambda: presentation.inbox_sentence(item, name, date(2026, 12, 3)))
    chinese = words("zh", lambda: presentation.inbox_sentence(item, name, date(2026, 12, 3)))
    assert english.endswith(".") and "%(" not in english and "民政科" in english
    assert CJK.search(chinese) and chinese.endswith("。") and "%(" not in chinese and "月" in chinese
    if item.kind == "data-read" and item.params.get("basis") == "grant":
        assert chinese == "民政科 10 月 3 日查看了您的健康记录（依据您的授权）。"
        assert english == "民政科 looked at your health record on 3 October, with your permission."
    if item.kind == "grant-ending":
        assert "2027 年 6 月 30 日" in chinese and "30 June 2027" in english and "健康、养老服务" in chinese
# -- consent requests (ledger.requests) ---------------------------------------------------------


@pytest.mark.parametrize("audience", list(Audience))
@pytest.mark.parametrize("status", list(ConsentStatus))
def test_every_request_status_has_words_in_both_languages(
    words: Any, audience: Audience, status: ConsentStatus
) -> None:
    english = words("en", lambda: presentation.consent_request_status_name(status, audience))
    assert english and english != str(status)
    assert CJK.search(words("zh", lambda: presentation.consent_request_status_name(status, audience)))


@pytest.mark.parametrize("code", list(RequestProblem))
def test_every_request_problem_has_words_in_both_languages(words: Any, code: RequestProblem) -> None:
    params = {"status": "approved", "answer_by": 1_800_000_000_000}
    english = words("en", lambda: presentation.request_problem(code, params))
    assert english != str(presentation.ERROR_WORDS[LedgerError]), code
    assert CJK.search(words("zh", lambda: presentation.request_problem(code, params)))
    error = NotAllowed("English", code=code, params=params)
    assert words("en", lambda: presentation.error(error)) == english  # the error page words the code


def test_the_request_sentence_reads_as_one_sentence_in_both_languages(words: Any) -> None:
    end = 1_814_371_200  # 2027-07-01 00:00 China time: the last day is 30 June 2027
    english = words("en", lambda: presentation.request_sentence("The health office", ["health"], end,
                                                               "chronic disease follow-up"))  # fmt: skip
    assert english == ("The health office would like to see your health records until 30 June 2027, "
                       "for chronic disease follow-up.")  # fmt: skip
    chinese = words("zh", lambda: presentation.request_sentence("卫生健康办", ["health"], end, "慢病随访。"))
    assert chinese == "卫生健康办想在 2027 年 6 月 30 日前查看您的健康记录，用于慢病随访。"
