"""Retry timing: full-jitter exponential backoff and the Retry-After header."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client_sync.backoff import next_delay, retry_after_seconds

NOW = datetime(2026, 11, 20, 6, 37, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(0, 2.0), (1, 4.0), (3, 16.0), (8, 512.0), (9, 900.0), (40, 900.0)]
)
def test_delay_ceiling_doubles_each_attempt_up_to_the_cap(attempt: int, ceiling: float) -> None:
    assert next_delay(attempt, rng=lambda: 0.0) == 0.0
    assert next_delay(attempt, rng=lambda: 0.5) == ceiling / 2


@given(
    attempt=st.integers(min_value=0, max_value=10_000),
    base=st.floats(min_value=0.01, max_value=60),
    cap=st.floats(min_value=0.0, max_value=86_400),
    seed=st.integers(),
)
def test_delay_is_always_within_zero_and_the_capped_ceiling(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    delay = next_delay(attempt, base=base, cap=cap, rng=random.Random(seed).random)
    assert 0.0 <= delay <= min(cap, base * 2.0 ** min(attempt, 64))


def test_delays_are_spread_out_rather_than_all_at_the_ceiling() -> None:
    """Full jitter: a thousand phones retrying at attempt 5 do not land in the same second."""
    rng = random.Random(20261120)
    delays = [next_delay(5, rng=rng.random) for _ in range(1000)]
    assert min(delays) < 8.0 < max(delays)
    assert len({round(d) for d in delays}) > 50


def test_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError):
        next_delay(-1)


@pytest.mark.parametrize(("header", "seconds"), [("120", 120.0), (" 0 ", 0.0), ("7", 7.0)])
def test_retry_after_in_delta_seconds(header: str, seconds: float) -> None:
    assert retry_after_seconds(header, NOW) == seconds


@pytest.mark.parametrize(
    "header",
    [
        "Fri, 20 Nov 2026 06:38:30 GMT",  # IMF-fixdate
        "Friday, 20-Nov-26 06:38:30 GMT",  # obsolete RFC 850
        "Fri Nov 20 06:38:30 2026",  # obsolete asctime, no zone: GMT
    ],
)
def test_retry_after_as_an_http_date_in_any_of_its_three_forms(header: str) -> None:
    assert retry_after_seconds(header, NOW) == 90.0


def test_retry_after_date_in_the_past_means_now() -> None:
    assert retry_after_seconds("Fri, 20 Nov 2026 06:00:00 GMT", NOW) == 0.0


@pytest.mark.parametrize("header", [None, "", "soon", "-5", "1.5", "Fri, 99 Nov 2026"])
def test_unreadable_retry_after_is_none(header: str | None) -> None:
    assert retry_after_seconds(header, NOW) is None
