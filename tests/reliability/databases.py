"""Databases for the failover tests: an empty one, or a copy of the world's, on SQLite (a file)
or PostgreSQL (a schema of its own in the test database, dropped afterwards)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ledger.store import make_engine, migrate

from ..conftest import postgres_url
from .conftest import _copy_rows

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def empty_database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of an empty database (no schema yet) of ``kind``."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'{uuid.uuid4().hex[:8]}.db'}"
        return
    base = postgres_url()
    if base is None:
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def world_copy(kind: str, world_db: Path, folder: Path) -> Iterator[str]:
    """The URL of a copy of the world's database: a file copy, or its rows in a new schema."""
    if kind == "sqlite":
        target = folder / "world-copy.db"
        shutil.copyfile(world_db, target)
        for suffix in ("-wal", "-shm"):
            if Path(str(world_db) + suffix).exists():
                shutil.copyfile(str(world_db) + suffix, str(target) + suffix)
        yield f"sqlite:///{target}"
        return
    with empty_database(kind, folder) as url:
        engine = make_engine(url)
        source = create_engine(f"sqlite:///{world_db}")
        try:
            migrate(engine)
            _copy_rows(source, engine)
        finally:
            source.dispose()
            engine.dispose()
        yield url
