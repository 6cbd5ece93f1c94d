"""Placeholder: replaced by the office blueprint."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from ..security import require_roles

bp = Blueprint("office", __name__, template_folder="templates")
bp.before_request(require_roles("office-admin"))


@bp.get("/")
def home() -> Any:
    return render_template("office/home.html")
