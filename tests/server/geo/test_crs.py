"""Coordinate systems: published reference pairs, round trips, the China box, bad input."""

from __future__ import annotations

import math
import warnings

import pytest
from geopy.distance import geodesic
from hypothesis import given
from hypothesis import strategies as st

from server.geo import from_wgs84, out_of_china, to_wgs84


def metres_apart(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(geodesic(a, b).meters)


# (WGS-84, GCJ-02) pairs, (lat, lon). Shanghai, Shenzhen and Beijing are the shared test
# vectors of googollee/eviltransform (python/test.py, go/transform_test.go, javascript/test.js);
# Tiananmen is from the README of wandergis/coordtransform (wgs84togcj02(116.404, 39.915)).
WGS_GCJ_PAIRS = [
    pytest.param((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215), id="shanghai"),
    pytest.param((22.543847, 113.912316), (22.540796131694766, 113.9171764808363), id="shenzhen"),
    pytest.param((39.911954, 116.377817), (39.91334545536069, 116.38404722455657), id="beijing"),
    pytest.param((39.915, 116.404), (39.91640428150164, 116.41024449916938), id="tiananmen"),
]

# Inside China, every system within 1 m of a round trip; these bounds hold the mainland.
china_lat = st.floats(min_value=18.0, max_value=53.5)
china_lon = st.floats(min_value=73.5, max_value=135.0)
shifted_crs = st.sampled_from(["gcj02", "bd09"])


@pytest.mark.parametrize(("wgs", "gcj"), WGS_GCJ_PAIRS)
def test_wgs84_to_gcj02_matches_published_pairs(wgs, gcj):
    assert metres_apart(from_wgs84(*wgs, "gcj02"), gcj) < 0.01


@pytest.mark.parametrize(("wgs", "gcj"), WGS_GCJ_PAIRS)
def test_gcj02_to_wgs84_recovers_published_origin_to_a_centimetre(wgs, gcj):
    """The iterative inverse is far tighter than the metre-level one-step inverse."""
    assert metres_apart(to_wgs84(*gcj, "gcj02"), wgs) < 0.01


def test_gcj02_to_wgs84_agrees_with_published_one_step_inverse():
    # wandergis/coordtransform README: gcj02towgs84(116.404, 39.915) ->
    # [116.39775550083061, 39.91359571849836]. That library uses the one-step inverse, good
    # to a metre or so; ours is precise, so the two agree only to that.
    assert (
        metres_apart(to_wgs84(39.915, 116.404, "gcj02"), (39.91359571849836, 116.39775550083061))
        < 1
    )


def test_gcj02_to_bd09_matches_published_pair():
    # wandergis/coordtransform README: gcj02tobd09(116.404, 39.915) ->
    # [116.41036949371029, 39.92133699351021]. Our API goes through WGS-84, so start from the
    # WGS-84 point whose GCJ-02 is (39.915, 116.404).
    wgs = to_wgs84(39.915, 116.404, "gcj02")
    assert metres_apart(from_wgs84(*wgs, "bd09"), (39.92133699351021, 116.41036949371029)) < 0.01


def test_bd09_to_gcj02_agrees_with_published_one_step_inverse():
    # wandergis/coordtransform README: bd09togcj02(116.404, 39.915) ->
    # [116.39762729119315, 39.90865673957631], from a one-step inverse (about 5 cm off here).
    wgs = to_wgs84(39.915, 116.404, "bd09")
    assert metres_apart(from_wgs84(*wgs, "gcj02"), (39.90865673957631, 116.39762729119315)) < 0.5


@given(lat=china_lat, lon=china_lon, crs=shifted_crs)
def test_round_trip_through_an_offset_system_stays_within_one_metre(lat, lon, crs):
    back = to_wgs84(*from_wgs84(lat, lon, crs), crs)
    assert metres_apart(back, (lat, lon)) < 1


@given(lat=china_lat, lon=china_lon, crs=shifted_crs)
def test_a_point_given_in_an_offset_system_comes_back_to_itself_within_one_metre(lat, lon, crs):
    """The direction the API uses: a phone's GCJ-02/BD-09 point is stored as WGS-84; shown
    back on the phone's map it lands where the worker tapped."""
    assert metres_apart(from_wgs84(*to_wgs84(lat, lon, crs), crs), (lat, lon)) < 1


@given(lat=st.floats(-90, 90), lon=st.floats(-180, 180),
       crs=st.sampled_from(["wgs84", "gcj02", "bd09"]))
def test_any_valid_point_on_earth_converts_and_outside_china_is_unchanged(lat, lon, crs):
    back = to_wgs84(lat, lon, crs)
    assert all(math.isfinite(v) for v in back)
    if out_of_china(lat, lon) or crs == "wgs84":
        assert back == (lat, lon)
    else:
        assert metres_apart(back, (lat, lon)) < 2_000


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_round_trip_stays_within_one_metre_on_a_one_degree_lattice_over_china(crs):
    worst = max(
        metres_apart(to_wgs84(*from_wgs84(lat, lon, crs), crs), (lat, lon))
        for lat in range(18, 54)
        for lon in range(74, 136)
    )
    assert worst < 1


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_points_in_china_are_shifted_hundreds_of_metres(crs):
    """If the conversion silently did nothing, a grid lookup would be off by a street or two."""
    zhuzhou = (28.80, 113.08)
    shift = metres_apart(from_wgs84(*zhuzhou, crs), zhuzhou)
    assert 100 < shift < 2_000
    assert metres_apart(to_wgs84(*zhuzhou, crs), zhuzhou) > 100


@pytest.mark.parametrize(
    "place",
    [
        pytest.param((35.6812, 139.7671), id="tokyo"),
        pytest.param((51.5074, -0.1278), id="london"),
        pytest.param((-33.8688, 151.2093), id="sydney"),
        pytest.param((40.7128, -74.0060), id="new-york"),
    ],
)
@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_points_outside_china_are_never_shifted(place, crs):
    assert out_of_china(*place)
    assert to_wgs84(*place, crs) == place
    assert from_wgs84(*place, crs) == place


def test_out_of_china_is_false_inside_china():
    assert not out_of_china(28.80, 113.08)
    assert not out_of_china(39.915, 116.404)


@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09"])
def test_points_on_the_edge_of_the_china_box_convert_without_warnings(crs):
    """prcoords warns when it meets a point outside its box; none of that may leak out."""
    edge = [(lat, 72.0045) for lat in (1.0, 30.0, 55.0)]
    edge += [(0.8295, lon) for lon in (80.0, 120.0, 137.8)]
    edge += [(55.827, 100.0), (40.0, 137.8345)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for lat, lon in edge:
            to_wgs84(lat, lon, crs)
            from_wgs84(lat, lon, crs)


def test_wgs84_is_returned_unchanged_inside_china():
    assert to_wgs84(28.80, 113.08, "wgs84") == (28.80, 113.08)
    assert from_wgs84(28.80, 113.08, "wgs84") == (28.80, 113.08)


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (90.5, 113.0),
        (-91.0, 113.0),
        (28.8, 180.01),
        (28.8, -181.0),
        (math.nan, 113.0),
        (28.8, math.inf),
        ("28.8", 113.0),
        (None, 113.0),
        (True, 113.0),
    ],
)
@pytest.mark.parametrize("convert", [to_wgs84, from_wgs84])
def test_invalid_coordinates_raise_value_error(convert, lat, lon):
    with pytest.raises(ValueError, match="lat|lon"):
        convert(lat, lon, "gcj02")


@pytest.mark.parametrize("crs", ["epsg:3857", "GCJ02 ", "", None])
def test_unknown_crs_raises_value_error(crs):
    with pytest.raises(ValueError, match="crs must be one of wgs84, gcj02, bd09"):
        to_wgs84(28.8, 113.08, crs)


def test_the_poles_and_the_antimeridian_are_valid_input():
    for lat, lon in [(90.0, 0.0), (-90.0, 0.0), (0.0, 180.0), (0.0, -180.0)]:
        assert to_wgs84(lat, lon, "gcj02") == (lat, lon)
