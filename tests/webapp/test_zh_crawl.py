"""A page in Chinese shows no English words (defect 2): as each role, in zh-CN, every page
reachable by links from the role's home is fetched and its visible text searched for Latin
words outside :data:`ALLOWED` (ids, hashes, known acronyms, the product's name).

The crawl is bounded (:data:`MAX_PAGES` per role, :data:`MAX_PER_PATH` fetches of one page
with different queries), same-origin, GET only; log-out, downloads and static files are
skipped. Scripts, styles and ``<code>`` are not visible prose and are left out.

:data:`KNOWN_FINDINGS` are words that are there today because of work under way elsewhere
(raw codes in record content, finding kinds, error words): the list may only shrink. The test
fails on a finding not in it, and on an entry no longer found (remove it then)."""

from __future__ import annotations

import re
from collections import Counter, deque
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from flask.testing import FlaskClient

from ledger.consent import LegalBasis, Purpose

from ..conftest import World
from .conftest import HEALTH, YEAR, Auth
from .test_department import add_record

#: The roles there are, by the test user who has it.
ROLES = {
    "resident": "resident",
    "committee member": "member1",
    "grid worker": "grid",
    "department officer": "officer",
    "office admin": "admin",
}
MAX_PAGES = 120
MAX_PER_PATH = 3

#: Words a Chinese page may show: acronyms readers know, and the product's name.
#: "English" is the language switch, named in its own language; k is the "k of n" of signatures.
ALLOWED = frozenset({"PDF", "CSV", "API", "ID", "JSON", "gridledger", "GridLedger", "English", "k"})
#: Tokens that are ids, not words: 0x… hashes and addresses, labels and codes with a digit,
#: a hyphen or an underscore (resident-001, cmte-a-m1, dept-a-officer).
ID = re.compile(r"^(0x[0-9a-fA-F]*…?|[0-9A-Za-z]*[0-9][0-9A-Za-z]*|[a-z0-9]+(?:[-_.][a-z0-9]+)+)$")
TOKEN = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.\-]*(?!型)")
#: Blood types are written with Latin letters in Chinese too: A型, AB型, O型.
BLOOD_TYPE = re.compile(r"\b(?:A|B|AB|O)型")
#: The test users' log-in names are ids, as resident-001 is in the demo.
LOGINS = frozenset(ROLES.values())

#: (role, page, word) there today because of other ongoing work. Only ever remove entries.
KNOWN_FINDINGS: set[tuple[str, str, str]] = set()

SKIP_PATHS = ("/logout", "/static/", "/vendor/", "/language", "/large-text")


class _Page(HTMLParser):
    """The visible text of a page and the links on it."""

    HIDDEN = {"script", "style", "code", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.links: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self._hidden += 1
        found = dict(attrs)
        if tag == "a" and found.get("href") and "download" not in found:
            self.links.append(str(found["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)


def page_key(path: str) -> str:
    """A page's name in the findings: ids in its path made generic."""
    path = re.sub(r"0x[0-9a-fA-F]+", "0x…", path)
    return re.sub(r"/\d+(?=/|$)", "/N", path)


def latin_words(text: str) -> set[str]:
    words = set()
    for token in TOKEN.findall(BLOOD_TYPE.sub("", text)):
        token = token.strip(".-_")
        if not token or not re.search(r"[A-Za-z]", token) or token in ALLOWED or token in LOGINS or ID.match(token):
            continue
        words.add(token)
    return words


def crawl(client: FlaskClient, start: str) -> tuple[dict[str, set[str]], int]:
    """(page -> Latin words found on it, pages fetched) for the pages reachable from ``start``."""
    found: dict[str, set[str]] = {}
    seen: set[str] = set()
    per_path: Counter[str] = Counter()
    queue = deque([start])
    fetched = 0
    while queue and fetched < MAX_PAGES:
        url = queue.popleft()
        parts = urlsplit(url)
        if url in seen or any(parts.path.startswith(p) for p in SKIP_PATHS) or per_path[parts.path] >= MAX_PER_PATH:
            continue
        seen.add(url)
        per_path[parts.path] += 1
        response = client.get(url)
        if response.status_code in (301, 302, 303):
            queue.append(urljoin(url, response.headers["Location"]))
            continue
        if response.mimetype != "text/html" or "attachment" in response.headers.get("Content-Disposition", ""):
            continue
        fetched += 1
        page = _Page()
        page.feed(response.get_data(as_text=True))
        words = latin_words(" ".join(page.text))
        if words:
            found.setdefault(page_key(parts.path), set()).update(words)
        for href in page.links:
            target = urlsplit(urljoin(url, href))
            if target.scheme not in ("", "http") or target.netloc not in ("", "localhost"):
                continue  # another site
            queue.append(target.path + (f"?{target.query}" if target.query else ""))
    return found, fetched


@pytest.fixture
def lived_in(svc):  # type: ignore[no-untyped-def]
    """The world with something on the pages: a certified record, a grant, a read under it."""
    import time

    from ledger.categories import Category

    rid = add_record(svc, {**HEALTH, "chronic_conditions": ["高血压"]})  # what a person typed is not the page's
    gid, _ = svc.consent.issue(
        resident=World.resident, department=World.department, categories=[Category.HEALTH],
        purpose=Purpose.HEALTH_MANAGEMENT, legal_basis=LegalBasis.CONSENT, valid_until=int(time.time()) + YEAR,
    )  # fmt: skip
    svc.access.read(rid, accessor=World.officer, grant_id=gid)
    return rid


@pytest.mark.parametrize("role", list(ROLES))
def test_pages_in_chinese_show_no_english_words(client: FlaskClient, auth: Auth, lived_in: str, role: str) -> None:
    home = auth.login_as(ROLES[role]).headers["Location"]
    while (hop := client.get(home)).status_code in (301, 302, 303):
        home = urljoin(home, hop.headers["Location"])
    assert auth.post("/language", {"lang": "zh_CN", "next": home}, page=home).status_code == 302
    found, fetched = crawl(client, home)
    assert fetched >= 3, f"the crawl as {role} reached only {fetched} pages"
    findings = {(role, page, word) for page, words in found.items() for word in words}
    known = {k for k in KNOWN_FINDINGS if k[0] == role}
    new = sorted(findings - known)
    assert not new, "English words on Chinese pages (fix them, or translate):\n" + "\n".join(map(str, new))
    gone = sorted(known - findings)
    assert not gone, "no longer found: remove from KNOWN_FINDINGS:\n" + "\n".join(map(str, gone))


def test_the_word_finder_allows_ids_hashes_and_acronyms() -> None:
    assert latin_words("张秀英 resident-001 0xabc123… cmte-a-m1 PDF 导出 gridledger") == set()
    assert latin_words("民政科 Civil Affairs可以为") == {"Civil", "Affairs"}
    assert latin_words("请运行 verify all") == {"verify", "all"}
