"""Routes hold no SQL: each blueprint keeps its queries in its ``queries.py``
(docs/ARCHITECTURE, "Presentation"). A route that needs a figure from the store calls a
named function there, so the page reads like the page and the SQL can be read apart."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

WEBAPP = Path(__file__).resolve().parents[2] / "webapp"
ROUTES = sorted(WEBAPP.rglob("routes.py"))
#: What runs SQL: a session's or a connection's calls (importing sqlalchemy at all is refused too).
SQL_CALLS = {"execute", "scalars", "scalar", "query"}


def sql_in(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            found += [f"line {node.lineno}: imports {a.name} from {node.module}" for a in node.names]
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: imports {a.name}" for a in node.names if a.name.startswith("sqlalchemy")]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS:
            found.append(f"line {node.lineno}: calls .{node.func.attr}()")
    return found


def test_every_blueprint_has_routes() -> None:
    assert {p.parent.name for p in ROUTES} >= {"api", "auth", "committee", "department", "office", "resident"}


@pytest.mark.parametrize("path", ROUTES, ids=lambda p: str(p.relative_to(WEBAPP)))
def test_routes_hold_no_sql(path: Path) -> None:
    assert sql_in(path.read_text(encoding="utf-8")) == [], f"move the SQL into {path.parent.name}/queries.py"


def test_the_check_finds_sql() -> None:
    source = "from sqlalchemy import func, select\ndef f(db):\n    return db.execute(select(func.count())).scalars()\n"
    assert len(sql_in(source)) == 4
