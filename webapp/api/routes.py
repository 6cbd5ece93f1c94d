"""Placeholder: replaced by the API blueprint."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

bp = Blueprint("api", __name__)


@bp.get("/health")
def health() -> Any:
    return jsonify({"status": "ok"})
