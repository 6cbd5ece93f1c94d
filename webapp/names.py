"""How the pages show people: one way for every audience.

A person is shown by the name of their web log-in (the first one made for the account),
else by the account's label (a pseudonymous code such as ``cmte-a-resident-12``), else by a
shortened address. A department sees residents' names masked (:func:`mask_name`).

A resident in a list or a picker is named by :func:`resident_label`, "李明 (resident-001)":
the name and the id they log in with (the account's label when they have no log-in), the
same on every page; lists of residents are in :func:`by_name` order.

An organisation is shown by its name in the page's language (:func:`org_name`): a page in
Chinese says "民政科", one in English "Civil Affairs", never both glued into a sentence."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import g, has_request_context
from flask_babel import get_locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.organisations import OrgNames
from ledger.store.models import Account, OrgProfile, WebUser

from .services import services


def mask_name(name: str) -> str:
    """A resident's name as a department sees it: first and last character, the middle
    hidden ("张秀英" -> "张*英", "王芳" -> "王*", "欧阳娜娜" -> "欧**娜")."""
    name = name.strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * min(len(name) - 2, 3) + name[-1]


def short_address(address: str) -> str:
    return address[:10] + "…"


def display_names(
    addresses: Iterable[str | None], *, masked: bool = False, db: Session | None = None
) -> dict[str, str]:
    """address -> how to show it, for every given address (``masked``: web names masked)."""
    wanted = sorted({a for a in addresses if a})
    if not wanted:
        return {}
    if db is None:
        with services().ledger.store.session() as session:
            return display_names(wanted, masked=masked, db=session)
    found: dict[str, str] = {}
    for address, name in db.execute(
        select(WebUser.address, WebUser.display_name).where(WebUser.address.in_(wanted)).order_by(WebUser.id)
    ):
        found.setdefault(address, mask_name(name) if masked else name)
    for address, label in db.execute(select(Account.address, Account.label).where(Account.address.in_(wanted))):
        found.setdefault(address, label)
    for address in wanted:
        found.setdefault(address, short_address(address))
    return found


def org_names_by_id(db: Session | None = None) -> dict[str, OrgNames]:
    """org id -> its names, for every organisation with a profile (once per request)."""
    if has_request_context() and "org_names" in g:
        return g.org_names  # type: ignore[no-any-return]
    if db is None:
        with services().ledger.store.session() as session:
            return org_names_by_id(session)
    found = {p.org_id: OrgNames.of_profile(p) for p in db.scalars(select(OrgProfile))}
    if has_request_context():
        g.org_names = found
    return found


def org_name(org: Any, locale: Any = None) -> str:
    """An organisation's name in ``locale`` (default: the page's). ``org``: its id ("0x…"),
    its :class:`~ledger.organisations.OrgNames`, an ``org_profiles`` row, or a view that has
    ``names`` (an ``OrgView``) or ``org_names`` and ``org_id`` (the logged-in ``Actor``).
    An organisation without a profile is shown by its code, else its id."""
    if org is None:
        return ""
    if locale is None:
        locale = get_locale() if has_request_context() else "zh"
    names: OrgNames | None
    fallback = ""
    if isinstance(org, OrgNames):
        names = org
    elif isinstance(org, str):
        names, fallback = org_names_by_id().get(org.lower()), org
    elif hasattr(org, "name_zh"):
        names, fallback = OrgNames.of_profile(org), str(getattr(org, "code", "") or "")
    elif hasattr(org, "org_names"):  # the logged-in Actor
        names, fallback = org.org_names, str(org.org_code or org.org_id or "")
    elif hasattr(org, "names") or hasattr(org, "org_id"):
        names, fallback = getattr(org, "names", None), str(getattr(org, "code", None) or getattr(org, "org_id", ""))
    else:
        raise TypeError(f"not an organisation: {org!r}")  # a page would show an empty name
    return names.for_locale(locale) if names is not None else fallback


@dataclass(frozen=True)
class ResidentName:
    """How a resident is named: ``name`` as :func:`display_names` gives it, ``login`` the
    username of their first web log-in (else the account's label, else None)."""

    address: str
    name: str
    login: str | None

    @property
    def label(self) -> str:
        return resident_label(self.name, self.login)


def resident_label(name: str, login: str | None) -> str:
    """A resident's name and the id they log in with: "李明 (resident-001)"."""
    return f"{name} ({login})" if login and login != name else name


def resident_names(addresses: Iterable[str | None], *, db: Session | None = None) -> dict[str, ResidentName]:
    """address -> :class:`ResidentName`, for every given address."""
    wanted = sorted({a for a in addresses if a})
    if not wanted:
        return {}
    if db is None:
        with services().ledger.store.session() as session:
            return resident_names(wanted, db=session)
    shown = display_names(wanted, db=db)
    logins: dict[str, str] = {}
    for address, username in db.execute(
        select(WebUser.address, WebUser.username).where(WebUser.address.in_(wanted)).order_by(WebUser.id)
    ):
        logins.setdefault(address, username)
    for address, label in db.execute(select(Account.address, Account.label).where(Account.address.in_(wanted))):
        if label:
            logins.setdefault(address, label)
    return {a: ResidentName(a, shown[a], logins.get(a)) for a in wanted}


T = TypeVar("T")


def by_name(rows: Iterable[T], name: Callable[[T], str], login: Callable[[T], str | None]) -> list[T]:
    """Rows sorted by the resident's name (by code point: stable across locales), then by
    their log-in id, so two residents of the same name keep one order."""
    return sorted(rows, key=lambda r: (name(r), login(r) or ""))
