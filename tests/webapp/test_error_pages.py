"""Error pages show the menu of the user's own area, never the one the request went to
(defect 8: a 403 listed the pages of the area it refused)."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from tests.webapp.conftest import Auth

#: Test user -> the area their role works in.
AREAS = {
    "resident": "resident",
    "member1": "committee",
    "grid": "committee",
    "officer": "department",
    "admin": "office",
}
MENU = re.compile(r'<nav class="sections"[^>]*>(.*?)</nav>', re.S)


def menu_areas(html: str) -> set[str]:
    """The areas the page's section menu links into (empty when it has none)."""
    found = MENU.search(html)
    if found is None:
        return set()
    return {href.strip("/").split("/")[0] for href in re.findall(r'href="([^"]+)"', found.group(1))}


@pytest.mark.parametrize(
    ("user", "refused"),
    [(user, area) for user, own in AREAS.items() for area in sorted(set(AREAS.values())) if area != own],
)
def test_a_refusal_shows_the_menu_of_the_users_own_area(
    client: FlaskClient, auth: Auth, user: str, refused: str
) -> None:
    auth.login_as(user)
    answer = client.get(f"/{refused}/")
    assert answer.status_code == 403
    assert menu_areas(answer.get_data(as_text=True)) == {AREAS[user]}


@pytest.mark.parametrize("user", sorted(AREAS))
def test_a_missing_page_in_ones_own_area_keeps_its_menu(client: FlaskClient, auth: Auth, user: str) -> None:
    auth.login_as(user)
    answer = client.get(f"/{AREAS[user]}/no-such-page")
    assert answer.status_code == 404
    assert menu_areas(answer.get_data(as_text=True)) == {AREAS[user]}


def test_a_user_without_an_active_role_sees_no_menu(client: FlaskClient, auth: Auth) -> None:
    auth.login_as("suspended")
    for area in sorted(set(AREAS.values())):
        answer = client.get(f"/{area}/")
        assert answer.status_code == 403
        assert menu_areas(answer.get_data(as_text=True)) == set(), area


def test_someone_not_logged_in_sees_no_menu_on_a_missing_page(client: FlaskClient) -> None:
    answer = client.get("/no-such-page")
    assert answer.status_code == 404 and menu_areas(answer.get_data(as_text=True)) == set()
