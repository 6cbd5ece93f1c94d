"""Compiled templates shared by the tests' apps.

Every test builds an app of its own (``create_app``), and each app's Jinja environment
compiled every template it rendered anew, for each test. Jinja's own bytecode cache, kept
in memory for the test session, gives each app the code the first one compiled. Jinja
checks each entry against the template's source (a checksum), so an edited template is
compiled again; what is rendered does not change. One cache per way of building the app:
compiled code depends on the environment's options and extensions.
"""

from __future__ import annotations

from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class SharedBytecode(BytecodeCache):
    """Compiled templates in memory, for every app of the session given to :meth:`share`."""

    def __init__(self) -> None:
        self._compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._compiled.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._compiled[bucket.key] = bucket.bytecode_to_string()

    def share(self, app: Flask) -> Flask:
        app.jinja_env.bytecode_cache = self
        return app
