"""Everyone: log in and out, choose the language and the text size, find your start page."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from ledger.store.models import WebUser

from ..i18n import LANGUAGES
from ..security import (
    HOME,
    check_password,
    clear_login_failures,
    current_actor,
    login_blocked,
    password_stamp,
    record_login_failure,
    sealed_user,
)
from ..services import services
from .forms import LoginForm

bp = Blueprint("auth", __name__, template_folder="templates")

#: Front-end assets, from the pinned npm packages in node_modules/ (no CDN: closed networks).
VENDOR = {
    "pico.css": ("@picocss/pico/css/pico.min.css", "text/css"),
    "chart.js": ("chart.js/dist/chart.umd.min.js", "text/javascript"),
}


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: never another host (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@bp.get("/")
def home() -> Any:
    actor = current_actor()
    if actor is None:
        return redirect(url_for("auth.login"))
    if not actor.active or actor.role not in HOME:
        return render_template("auth/no_role.html"), 403
    return redirect(url_for(HOME[actor.role]))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        username = form.username.data.strip()
        if login_blocked(username):
            form.username.errors.append(_("Too many failed attempts. Wait 15 minutes and try again."))
            return render_template("auth/login.html", form=form), 429
        with services().ledger.store.session() as db:
            user = db.scalar(select(WebUser).where(WebUser.username == username))
        if (
            user is None
            or user.disabled
            or not sealed_user(user)
            or not check_password(user.password_hash, form.password.data)
        ):
            record_login_failure(username)
            form.password.errors.append(_("The user name or the password is wrong."))
        else:
            clear_login_failures(username)
            lang = session.get("lang")
            large = session.get("large")
            session.clear()  # a fresh session: no fixation
            session.permanent = True
            session["uid"] = user.id
            session["pw"] = password_stamp(user)
            if lang:
                session["lang"] = lang
            if large:
                session["large"] = large
            return redirect(safe_next(request.args.get("next")) or url_for("auth.home"))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
def logout() -> Any:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You have logged out."))
    return redirect(url_for("auth.login"))


@bp.post("/language")
def language() -> Any:
    chosen = request.form.get("lang", "")
    if chosen not in LANGUAGES:
        abort(400)
    session["lang"] = chosen
    return redirect(safe_next(request.form.get("next")) or url_for("auth.home"))


@bp.post("/large-text")
def large_text() -> Any:
    session["large"] = not session.get("large", False)
    return redirect(safe_next(request.form.get("next")) or url_for("auth.home"))


@bp.get("/vendor/<name>")
def vendor(name: str) -> Any:
    found = VENDOR.get(name)
    if found is None:
        abort(404)
    path: Path = services().settings.node_modules / found[0]
    if not path.is_file():
        current_app.logger.error("front-end asset %s is missing: run 'npm ci' (python3 scripts/project.py run)", path)
        abort(404)
    response = send_file(path, mimetype=found[1], max_age=3600)
    return response
