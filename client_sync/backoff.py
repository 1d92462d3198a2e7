"""Retry timing: exponential backoff with full jitter, and the server's ``Retry-After`` hint.

Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter") spreads the retries of
many phones that lost the same cell tower, so they do not all come back in the same second.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from datetime import UTC

__all__ = ["next_delay", "retry_after_seconds"]

# 2**64 seconds dwarfs any sane cap; stopping the exponent there keeps the float finite.
_MAX_EXPONENT = 64


def next_delay(
    attempt: int,
    *,
    base: float = 2.0,
    cap: float = 900.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before the next try: uniform(0, min(cap, base * 2**attempt)).

    Args:
        attempt: how many tries have failed before this one (0 for the first retry).
        base: the ceiling for attempt 0, in seconds.
        cap: the largest ceiling, in seconds (15 minutes by default).
        rng: a callable giving a float in [0, 1); pass a seeded one for repeatable runs.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    if base < 0 or cap < 0:
        raise ValueError("base and cap must be >= 0")
    ceiling = min(cap, base * 2.0 ** min(attempt, _MAX_EXPONENT))
    return rng() * ceiling


def retry_after_seconds(header_value: str | None, now: float | None = None) -> float | None:
    """Parse a ``Retry-After`` header (delta-seconds or HTTP-date) into seconds from ``now``.

    Returns None when the header is absent or unreadable, and 0.0 for a date in the past.
    ``now`` is a Unix time (``time.time()`` when omitted).
    """
    if header_value is None:
        return None
    value = header_value.strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # asctime dates carry no zone; RFC 9110 says every HTTP-date is GMT.
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
