"""A clock the test moves by hand, for code that takes ``clock=`` (monotonic seconds) and
``now=`` (milliseconds since the epoch): caches expire and limits pass without sleeping."""

from __future__ import annotations

import time


class ManualClock:
    def __init__(self) -> None:
        self._monotonic = time.monotonic()
        self._now_ms = time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return self._monotonic

    def now_ms(self) -> int:
        return self._now_ms

    def advance(self, seconds: float) -> None:
        self._monotonic += seconds
        self._now_ms += int(seconds * 1000)
