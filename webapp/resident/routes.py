"""Placeholder: replaced by the resident blueprint."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from ..security import require_roles

bp = Blueprint("resident", __name__, template_folder="templates")
bp.before_request(require_roles("resident"))


@bp.get("/")
def home() -> Any:
    return render_template("resident/home.html")
