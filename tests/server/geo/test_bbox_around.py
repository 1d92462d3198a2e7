"""bbox_around: a superset of the circle, not much larger, and geopy's answer to the metre."""

from __future__ import annotations

import pytest
from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from server.geo import bbox_around, distance_m

lats = st.floats(-89.0, 89.0)
lons = st.floats(-179.9, 179.9)
radii = st.floats(1.0, 50_000.0)
bearings = st.floats(0.0, 360.0)
fractions = st.floats(0.0, 1.0)


@settings(max_examples=300, deadline=None)
@given(lats, lons, radii, bearings, fractions)
def test_every_point_of_the_circle_is_in_the_box(lat, lon, metres, bearing, fraction):
    box = bbox_around(lat, lon, metres)
    point = geodesic(meters=metres * fraction).destination((lat, lon), bearing)
    eps = 1e-9  # degrees (0.1 mm): geopy and geographiclib round the last digit apart
    assert box.south - eps <= point.latitude <= box.north + eps
    assert (box.west - eps <= point.longitude <= box.east + eps
            or (box.west, box.east) == (-180.0, 180.0))


@settings(max_examples=100, deadline=None)
@given(st.floats(-60.0, 60.0), st.floats(-170.0, 170.0), radii)
def test_the_box_edges_are_where_geopy_puts_them(lat, lon, metres):
    box = bbox_around(lat, lon, metres)
    reach = geodesic(meters=metres)
    assert box.north == pytest.approx(reach.destination((lat, lon), 0).latitude, abs=1e-9)
    assert box.south == pytest.approx(reach.destination((lat, lon), 180).latitude, abs=1e-9)
    assert distance_m((lat, lon), (box.north, lon)) == pytest.approx(metres, abs=1e-6)


def test_near_a_pole_the_box_takes_every_longitude():
    box = bbox_around(89.99, 10.0, 5_000)
    assert (box.west, box.east, box.north) == (-180.0, 180.0, 90.0)
    assert bbox_around(28.8, 113.07, 0) == (28.8, 113.07, 28.8, 113.07)
    with pytest.raises(ValueError):
        bbox_around(28.8, 113.07, -1)
