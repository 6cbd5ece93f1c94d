"""JSON documents changed one scalar at a time: for tests that a verifier notices every field
(a proof, a bundle, a consent receipt)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any


def scalar_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every scalar's path in a JSON document."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from scalar_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from scalar_paths(v, (*path, i))
    else:
        yield path


def changed_at(document: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    """A copy of ``document`` with the scalar at ``path`` changed (keeping its type where it can)."""
    copied = copy.deepcopy(document)
    target = copied
    for key in path[:-1]:
        target = target[key]
    old = target[path[-1]]
    if isinstance(old, bool):
        new: Any = not old
    elif isinstance(old, int):
        new = old + 1
    elif isinstance(old, str) and old.startswith("0x") and len(old) > 2:
        new = old[:-1] + ("0" if old[-1] != "0" else "1")
    elif isinstance(old, str):
        new = old + "x"
    else:
        new = "x"
    target[path[-1]] = new
    return copied
