"""Everyone: log in and out, choose the language and the text size, find your start page."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _

from ..i18n import LANGUAGES, format_duration
from ..security import HOME, current_actor, end_session, log_in, start_session
from ..services import services
from ..throttle import remember_device
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
        username = form.username.data.strip().lower()[:64]
        outcome = log_in(username, form.password.data)
        if outcome.wait:
            form.username.errors.append(
                _("Too many failed attempts. Wait %(wait)s and try again.", wait=format_duration(outcome.wait))
            )
            response = make_response(render_template("auth/login.html", form=form), 429)
            response.headers["Retry-After"] = str(math.ceil(outcome.wait))
            return response
        if outcome.user_id is None:
            form.password.errors.append(_("The user name or the password is wrong."))
        else:
            start_session(outcome.user_id)
            landing = redirect(safe_next(request.args.get("next")) or url_for("auth.home"))
            remember_device(landing, username, str(outcome.device_stamp))
            return landing
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
def logout() -> Any:
    end_session()
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
