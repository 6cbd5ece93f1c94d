"""Placeholder: replaced by the committee blueprint."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from ..security import require_roles

bp = Blueprint("committee", __name__, template_folder="templates")
bp.before_request(require_roles("committee-member", "grid-worker"))


@bp.get("/")
def home() -> Any:
    return render_template("committee/home.html")
