"""The compiled Chinese catalogues: made at set-up (``scripts/project.py`` runs ``pybabel
compile``), only read by the app, which refuses to start without one and says what to run."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from babel.support import Translations
from flask import Flask

from ledger.errors import ConfigurationError
from webapp.i18n import HERE, check_catalogues, uncompiled

AUTH_PO = HERE / "auth" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    """A web app folder with one blueprint's catalogue (its .po, no .mo)."""
    base = tmp_path / "webapp"
    po = base / "auth" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    shutil.copy(AUTH_PO, po)
    return base, po


def test_the_app_refuses_to_start_without_a_compiled_catalogue_and_says_what_to_run(tmp_path: Path) -> None:
    base, po = _tree(tmp_path)
    with pytest.raises(ConfigurationError) as refused:
        check_catalogues(Flask("t"), base)
    said = str(refused.value)
    assert "webapp/auth/translations/zh_Hans_CN/LC_MESSAGES/messages.mo" in said
    assert "python3 scripts/project.py setup" in said and "pybabel compile" in said
    assert sorted(p.name for p in po.parent.iterdir()) == ["messages.po"]  # nothing written into the package


def test_a_catalogue_older_than_its_source_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    base, po = _tree(tmp_path)
    mo = po.with_suffix(".mo")
    mo.write_bytes(b"")
    os.utime(mo, (1_000_000, 1_000_000))  # older than the .po, without waiting
    assert uncompiled(base) == ([], [mo])
    with caplog.at_level(logging.WARNING):
        check_catalogues(Flask("t"), base)
    assert "older than their messages.po: webapp/auth/translations/zh_Hans_CN/LC_MESSAGES/messages.mo" in caplog.text
    assert "scripts/project.py setup" in caplog.text
    os.utime(mo, None)
    os.utime(po, (1_000_000, 1_000_000))
    assert uncompiled(base) == ([], [])


def test_set_up_compiled_every_catalogue_of_the_package() -> None:
    # The app the other tests build reads these: scripts/project.py compiled them.
    assert uncompiled() == ([], [])
    mo = AUTH_PO.with_suffix(".mo")
    with mo.open("rb") as compiled:
        assert Translations(compiled).ugettext("Log in") == "登录"


def test_a_message_has_one_translation_across_the_areas() -> None:
    """The app merges every area's catalogue into one: a message translated one way in one
    area and another way in another shows whichever was merged first, on every page
    (regression: "Approved", a consent request's status on the office's page, showed the
    emergency review's "已确认")."""
    from babel.messages.pofile import read_po

    seen: dict[str, dict[str, str]] = {}
    for po in sorted(HERE.glob("**/translations/zh_Hans_CN/LC_MESSAGES/messages.po")):
        with po.open("rb") as source:
            for message in read_po(source):
                if message.id and message.string:
                    seen.setdefault(str(message.id), {})[str(po.relative_to(HERE).parts[0])] = str(message.string)
    assert {k: v for k, v in seen.items() if len(set(v.values())) > 1} == {}
