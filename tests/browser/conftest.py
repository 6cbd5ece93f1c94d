"""Browser tests: the app served for real (werkzeug, threaded) over the test's copy of the
world, the worker running beside it as in production, and Debian's Chromium driven by
Playwright (it cannot download its own browser here). Screenshots of every page go to
``test-artifacts/screenshots/`` for people to look at.

Chromium is found at GRIDLEDGER_CHROMIUM, else /usr/bin/chromium; without it these tests
are skipped with the command that installs it (``.ci/run`` installs it)."""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from ledger.context import Ledger
from ledger.settings import Settings
from ledger.worker import Worker
from tests.templates import SharedBytecode
from tests.webapp.conftest import CHEAP_HASHER, PASSWORD, USERS
from webapp import create_app
from webapp.users import add_user

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
#: The live apps are all built alike: they share their compiled templates (see tests/templates.py).
TEMPLATES = SharedBytecode()


def chromium_path() -> str | None:
    configured = os.environ.get("GRIDLEDGER_CHROMIUM")
    for candidate in (configured, "/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture
def live_app(ledger: Ledger, settings: Settings) -> Iterator[tuple[Flask, str]]:
    for username, (label, name) in USERS.items():
        add_user(ledger, username, PASSWORD, account=label, display_name=name, hasher=CHEAP_HASHER)
    app = TEMPLATES.share(create_app(settings, {"PASSWORD_HASHER": CHEAP_HASHER}))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    worker_ledger = Ledger.open(settings)
    worker = Worker(worker_ledger, interval=0.2, report=lambda line: None)
    worker_thread = threading.Thread(target=worker.run, daemon=True)
    worker_thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        worker.stop.set()
        worker_thread.join(timeout=10)
        worker_ledger.close()
        server.shutdown()
        app.extensions["gridledger"].close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    executable = chromium_path()
    if executable is None:
        message = "Chromium is not installed: apt-get install chromium (or set GRIDLEDGER_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a missing browser there is a broken CI, not a skip
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


class Shots:
    """Numbered full-page screenshots, one folder per test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    def take(self, page: object, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        return path


class Pages:
    """Fresh browser contexts (cookies, language) on demand, one per person acting in a test;
    console errors and CSP violations of every page are collected in ``page.problems``."""

    def __init__(self, browser: object) -> None:
        self.browser = browser
        self.contexts: list[object] = []
        self.problems: list[str] = []

    def new(self, locale: str = "zh-CN") -> object:
        context = self.browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)  # type: ignore[attr-defined]
        self.contexts.append(context)
        opened = context.new_page()
        problems = self.problems

        def console(message: object) -> None:
            # A page answered with an error status (a refusal, a form error) is the test's business;
            # anything else failing to load (a script, a style, an icon, a CSP block) is a defect.
            where = (message.location or {}).get("url", "")  # type: ignore[attr-defined]
            if message.type == "error" and where != opened.url:  # type: ignore[attr-defined]
                problems.append(f"{message.text} ({where})")  # type: ignore[attr-defined]

        opened.on("console", console)
        opened.on("pageerror", lambda error: problems.append(str(error)))

        def browser_dialog(dialog: object) -> None:
            # Confirmations are asked in the page (#confirm-dialog): a box of the browser's own is a defect.
            problems.append(f"the browser's own dialog opened: {dialog.message}")  # type: ignore[attr-defined]
            dialog.dismiss()  # type: ignore[attr-defined]

        opened.on("dialog", browser_dialog)
        opened.problems = problems
        return opened

    def close(self) -> None:
        for context in self.contexts:
            context.close()  # type: ignore[attr-defined]


def confirm(page: object) -> None:
    """Answer "yes" to the page's own confirmation (the <dialog> a data-confirm button opens)."""
    page.wait_for_selector("#confirm-dialog[open]")  # type: ignore[attr-defined]
    page.click("#confirm-yes")  # type: ignore[attr-defined]


@pytest.fixture
def pages(browser: object) -> Iterator[Pages]:
    """A factory of pages, each in its own browser context; any console error fails the test."""
    made = Pages(browser)
    yield made
    made.close()
    assert not made.problems, f"the browser reported errors: {made.problems}"


@pytest.fixture
def page(pages: Pages) -> object:
    """A fresh browser context and page, in Chinese (see :class:`Pages`)."""
    return pages.new()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(SHOTS / re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-"))
