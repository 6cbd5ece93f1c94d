"""Chinese (default for Chinese browsers) and English.

Messages are written in English in the code and templates; each blueprint keeps its
Chinese catalogue beside it (``<blueprint>/translations/zh_Hans_CN/LC_MESSAGES/messages.po``),
so the catalogues are merged at start-up. The ``.po`` files are the source; the ``.mo``
files are compiled from them at set-up (``scripts/project.py`` runs ``pybabel compile``),
never committed and never written by the app: it refuses to start without them, saying what
to run, and warns when one is older than its ``.po``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po
from babel.support import Translations
from flask import Flask, g, has_request_context, request, session
from flask_babel import Babel, format_timedelta, get_locale, get_translations
from flask_babel import gettext as babel_gettext
from flask_babel.speaklater import LazyString

from ledger.access import CHINA
from ledger.errors import ConfigurationError

HERE = Path(__file__).resolve().parent
LANGUAGES = {"zh_CN": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh_CN"
#: Babel reads zh_CN as zh_Hans_CN, and looks for its catalogue under that name.
CATALOGUE_LOCALE = "zh_Hans_CN"


def translation_dirs() -> list[Path]:
    return [HERE / "translations", *sorted(HERE.glob("*/translations"))]


#: How to compile the catalogues (said when one is missing or stale).
COMPILE_HINT = (
    "compile the catalogues: python3 scripts/project.py setup (it runs pybabel compile), "
    "or .venv/bin/pybabel compile -i PO -o MO for each"
)


def uncompiled(base: Path = HERE) -> tuple[list[Path], list[Path]]:
    """The catalogues under ``base`` whose ``messages.mo`` is missing, and those whose
    ``messages.mo`` is older than its ``messages.po``."""
    missing: list[Path] = []
    stale: list[Path] = []
    for po in sorted(base.glob("**/translations/*/LC_MESSAGES/messages.po")):
        mo = po.with_suffix(".mo")
        if not mo.exists():
            missing.append(mo)
        elif mo.stat().st_mtime < po.stat().st_mtime:
            stale.append(mo)
    return missing, stale


def check_catalogues(app: Flask, base: Path = HERE) -> None:
    """Refuses to start without a compiled catalogue (the pages would be in English, silently);
    warns about one older than its source (its newest messages would be in English)."""
    missing, stale = uncompiled(base)
    if missing:
        names = ", ".join(str(mo.relative_to(base.parent)) for mo in missing)
        raise ConfigurationError(f"the web app's compiled Chinese catalogues are missing ({names}); {COMPILE_HINT}")
    if stale:
        names = ", ".join(str(mo.relative_to(base.parent)) for mo in stale)
        app.logger.warning("compiled catalogues older than their messages.po: %s; %s", names, COMPILE_HINT)


def select_locale() -> str:
    """The language chosen with the switch, else the browser's preference, else Chinese."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
    return "en" if best == "en" else DEFAULT_LANGUAGE


def format_ms(ms: int | None) -> str:
    """A log time (milliseconds since the epoch) in China Standard Time."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def format_seconds(seconds: int | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, UTC).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def format_duration(seconds: float | None) -> str:
    """A wait in the page's language ("5 seconds", "2 minutes"), rounded up to a second."""
    if seconds is None:
        return ""
    return str(format_timedelta(timedelta(seconds=math.ceil(seconds)), threshold=1.0))


def format_last_day(valid_until: int | None) -> str:
    """A grant's last day (China time): ``validUntil`` is the exclusive end, the start of the
    day after it."""
    if valid_until is None:
        return ""
    return datetime.fromtimestamp(valid_until - 1, UTC).astimezone(CHINA).date().isoformat()


# -- names of codes, for people -------------------------------------------------------------


def translations() -> Translations:
    """The request's catalogue, looked up once per request: a page of history asks for
    hundreds of messages, and Flask-Babel finds the catalogue anew for each one."""
    found = g.get("_gridledger_translations")
    if found is None:
        found = get_translations()
        g._gridledger_translations = found
    return found  # type: ignore[no-any-return]


def _translate(text: str) -> str:
    return translations().ugettext(text) if has_request_context() else babel_gettext(text)


def lazy_gettext(text: str) -> LazyString:
    """Like Flask-Babel's, translated with the request's catalogue (see :func:`translations`):
    the names below are shown many times on a page."""
    return LazyString(_translate, text)


CATEGORY_NAMES = {
    "identity": lazy_gettext("Identity"),
    "household": lazy_gettext("Household"),
    "residence": lazy_gettext("Residence"),
    "health": lazy_gettext("Health"),
    "social_security": lazy_gettext("Social security"),
    "property": lazy_gettext("Property"),
    "elderly_care": lazy_gettext("Elderly care"),
}
PURPOSE_NAMES = {
    1: lazy_gettext("Social assistance"),
    2: lazy_gettext("Health management"),
    3: lazy_gettext("Elderly care"),
    4: lazy_gettext("Social insurance"),
    5: lazy_gettext("Household administration"),
    6: lazy_gettext("Public security"),
    7: lazy_gettext("Emergency response"),
    8: lazy_gettext("Committee review of its records"),
    9: lazy_gettext("Office audit"),
    99: lazy_gettext("Other"),
}
LEGAL_BASIS_NAMES = {
    1: lazy_gettext("The resident's consent"),
    2: lazy_gettext("A contract with the resident"),
    3: lazy_gettext("A legal duty"),
    4: lazy_gettext("Protecting someone's life or health"),
    5: lazy_gettext("The public interest"),
    9: lazy_gettext("Other"),
}
ROLE_NAMES = {
    "resident": lazy_gettext("Resident"),
    "committee-member": lazy_gettext("Committee member"),
    "grid-worker": lazy_gettext("Grid worker"),
    "department-officer": lazy_gettext("Department officer"),
    "office-admin": lazy_gettext("Office administrator"),
}
ORG_KIND_NAMES = {
    "office": lazy_gettext("Subdistrict office"),
    "committee": lazy_gettext("Residents' committee"),
    "department": lazy_gettext("Department"),
}
#: The lanes of :mod:`webapp.throttle`.
THROTTLE_LANE_NAMES = {
    "client": lazy_gettext("Client address"),
    "account": lazy_gettext("User name"),
}


def name_of(table: dict[Any, Any], key: Any) -> str:
    found = table.get(key)
    return str(found) if found is not None else str(key)


def init_app(app: Flask) -> None:
    from .names import org_name

    check_catalogues(app)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(str(p) for p in translation_dirs())
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT_LANGUAGE
    app.config["BABEL_DEFAULT_TIMEZONE"] = "Asia/Shanghai"
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals.update(
        LANGUAGES=LANGUAGES,
        category_name=lambda slug: name_of(CATEGORY_NAMES, slug),
        purpose_name=lambda code: name_of(PURPOSE_NAMES, code),
        legal_basis_name=lambda code: name_of(LEGAL_BASIS_NAMES, code),
        role_name=lambda role: name_of(ROLE_NAMES, role),
        org_kind_name=lambda kind: name_of(ORG_KIND_NAMES, kind),
        throttle_lane_name=lambda lane: name_of(THROTTLE_LANE_NAMES, lane),
        org_name=org_name,
    )
    app.jinja_env.filters.update(
        ms=format_ms, seconds=format_seconds, last_day=format_last_day, duration=format_duration
    )
    # Templates translate with the request's catalogue (Jinja's "newstyle" gettext: the
    # values put into a message are escaped, the message is not escaped twice).
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda text: translations().ugettext(text),
        ngettext=lambda singular, plural, n: translations().ungettext(singular, plural, n),
        pgettext=lambda context, text: translations().upgettext(context, text),
        npgettext=lambda context, singular, plural, n: translations().unpgettext(context, singular, plural, n),
        newstyle=True,
    )
    app.jinja_env.globals.update(get_locale=get_locale)


# -- keeping the catalogues complete (scripts/i18n.py, tests/webapp/test_i18n.py) -----------

AREAS = ("", "auth", "resident", "committee", "department", "office", "api")


def _area_dir(area: str) -> Path:
    return HERE / area if area else HERE


def extract(area: str) -> dict[str, list[tuple[str, int]]]:
    """Every message of an area (the app's shared files, or one blueprint): msgid -> places."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file

    keywords = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}

    base = _area_dir(area)
    if area:
        files = list(base.glob("*.py")) + list(base.glob("templates/**/*.html"))
    else:
        files = list(base.glob("*.py")) + list(base.glob("templates/*.html"))
    found: dict[str, list[tuple[str, int]]] = {}
    for path in sorted(files):
        method = "python" if path.suffix == ".py" else "jinja2.ext:babel_extract"
        # silent=false: a template that does not parse raises here, instead of losing its
        # messages (and their translations) from the catalogue without a word.
        options = {} if path.suffix == ".py" else {"trimmed": "true", "silent": "false"}
        for lineno, message, _comments, _context in extract_from_file(
            method, str(path), keywords=keywords, options=options
        ):
            text = message if isinstance(message, str) else message[0]
            if text:
                found.setdefault(text, []).append((str(path.relative_to(HERE)), lineno))
    return found


def catalogue_path(area: str) -> Path:
    return _area_dir(area) / "translations" / CATALOGUE_LOCALE / "LC_MESSAGES" / "messages.po"


def untranslated(area: str) -> list[str]:
    """Messages of an area with no Chinese translation in its catalogue."""
    path = catalogue_path(area)
    translated: set[str] = set()
    if path.exists():
        with path.open("rb") as source:
            translated = {str(m.id) for m in read_po(source) if m.id and m.string}
    return sorted(set(extract(area)) - translated)
