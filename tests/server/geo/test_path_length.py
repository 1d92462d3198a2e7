"""The length of a path of short legs (a patrol track) against the exact geodesic."""

from __future__ import annotations

import random

import pytest

from server.geo import distance_m
from server.geo.distance import SHORT_LEG_M, path_length_m


def test_short_legs_measure_within_micrometres_of_the_geodesic():
    rng = random.Random(13)
    worst = 0.0
    for _ in range(2000):
        lat, lon = rng.uniform(-70, 70), rng.uniform(-179.9, 179.9)
        a = (lat, lon)
        b = (lat + rng.uniform(-0.008, 0.008), lon + rng.uniform(-0.008, 0.008))
        exact = distance_m(a, b)
        assert exact < 2 * SHORT_LEG_M
        worst = max(worst, abs(path_length_m([a, b]) - exact))
    assert worst < 1e-5, worst  # measured: 2 micrometres


def test_a_path_is_the_sum_of_its_legs_and_long_legs_are_geodesics():
    path = [(28.80, 113.07), (28.8003, 113.0704), (28.8003, 113.0704), (28.95, 113.30),
            (28.9501, 113.3001)]
    exact = sum(distance_m(a, b) for a, b in zip(path, path[1:], strict=False))
    assert path_length_m(path) == pytest.approx(exact, abs=0.002)
    assert path_length_m(path[:1]) == path_length_m([]) == 0.0


def test_a_leg_across_the_antimeridian_is_short():
    assert path_length_m([(10.0, 179.9999), (10.0, -179.9999)]) == pytest.approx(
        distance_m((10.0, 179.9999), (10.0, -179.9999)), abs=0.001)


def test_a_point_off_the_globe_is_refused():
    with pytest.raises(ValueError):
        path_length_m([(28.8, 113.07), (91.0, 113.07)])
