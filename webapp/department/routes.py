"""Placeholder: replaced by the department blueprint."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from ..security import require_roles

bp = Blueprint("department", __name__, template_folder="templates")
bp.before_request(require_roles("department-officer"))


@bp.get("/")
def home() -> Any:
    return render_template("department/home.html")
