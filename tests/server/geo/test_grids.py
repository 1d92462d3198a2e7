"""Grid boundaries: finding the grid of a point, and importing boundaries from GeoJSON."""

from __future__ import annotations

import copy

import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from server.geo import (
    GeoJSONError,
    GridIndex,
    from_wgs84,
    geometry_from_geojson,
    geometry_from_wkt,
    geometry_to_geojson,
    geometry_to_wkt,
    parse_feature_collection,
)

# A toy community near 28.80N 113.08E; x is longitude, y latitude.
WEST_GRID = box(113.070, 28.790, 113.080, 28.800)
EAST_GRID = box(113.080, 28.790, 113.090, 28.800)  # shares WEST_GRID's eastern side
PARK_WITH_LAKE = Polygon(
    [(113.10, 28.79), (113.12, 28.79), (113.12, 28.81), (113.10, 28.81)],
    [[(113.105, 28.795), (113.115, 28.795), (113.115, 28.805), (113.105, 28.805)]],
)
ISLANDS = MultiPolygon([box(113.13, 28.79, 113.14, 28.80), box(113.15, 28.79, 113.16, 28.80)])


@pytest.fixture
def index() -> GridIndex:
    return GridIndex([(7, EAST_GRID), (3, WEST_GRID), (20, PARK_WITH_LAKE), (21, ISLANDS)])


def square(west: float, south: float, size: float = 0.01) -> list[list[list[float]]]:
    """GeoJSON Polygon coordinates of a square, [lon, lat] positions, closed ring."""
    ring = [[west, south], [west + size, south], [west + size, south + size], [west, south + size]]
    return [[*ring, ring[0]]]


def feature(code: object = "G01", coordinates=None, **properties) -> dict:
    return {
        "type": "Feature",
        "properties": {"code": code, **properties},
        "geometry": {"type": "Polygon", "coordinates": coordinates or square(113.07, 28.79)},
    }


def collection(*features: dict, **members) -> dict:
    return {"type": "FeatureCollection", "features": list(features), **members}


# --- GridIndex.locate -------------------------------------------------------------------


def test_point_inside_a_grid_is_located_in_it(index):
    assert index.locate(28.795, 113.075) == 3
    assert index.locate(28.795, 113.085) == 7


def test_point_outside_every_grid_is_located_nowhere(index):
    assert index.locate(28.70, 113.075) is None
    assert index.locate(28.795, 113.095) is None  # inside the grids' combined bounds


def test_point_on_a_shared_border_goes_to_the_lower_grid_id(index):
    assert index.locate(28.795, 113.080) == 3


def test_shared_border_choice_does_not_depend_on_insertion_order():
    forwards = GridIndex([(3, WEST_GRID), (7, EAST_GRID)])
    backwards = GridIndex([(7, EAST_GRID), (3, WEST_GRID)])
    assert forwards.locate(28.795, 113.080) == backwards.locate(28.795, 113.080) == 3


def test_point_on_an_outer_boundary_counts_as_inside(index):
    assert index.locate(28.790, 113.075) == 3  # southern edge
    assert index.locate(28.800, 113.090) == 7  # north-east corner


def test_point_in_a_hole_is_not_in_the_grid(index):
    assert index.locate(28.800, 113.110) is None  # in the lake
    assert index.locate(28.792, 113.110) == 20  # on the park's land
    assert index.locate(28.795, 113.110) == 20  # on the lake shore


def test_every_part_of_a_multipolygon_belongs_to_its_grid(index):
    assert index.locate(28.795, 113.135) == 21
    assert index.locate(28.795, 113.155) == 21
    assert index.locate(28.795, 113.145) is None  # the water between the islands


def test_empty_index_locates_nothing():
    empty = GridIndex([])
    assert len(empty) == 0
    assert empty.locate(28.795, 113.075) is None
    assert empty.locate_many([(28.795, 113.075)]) == [None]


def test_index_lists_its_ids_in_ascending_order(index):
    assert index.ids == [3, 7, 20, 21]
    assert len(index) == 4


def test_locate_rejects_invalid_coordinates(index):
    with pytest.raises(ValueError, match="lat"):
        index.locate(113.075, 28.795)  # (lon, lat) by mistake


def test_index_rejects_a_repeated_grid_id():
    with pytest.raises(ValueError, match="grid id 3 appears twice"):
        GridIndex([(3, WEST_GRID), (3, EAST_GRID)])


def test_index_rejects_a_geometry_that_is_not_an_area():
    with pytest.raises(ValueError, match="grid 5: expected a non-empty Polygon"):
        GridIndex([(5, shapely.Point(113.0, 28.0))])


# --- GridIndex.locate_many --------------------------------------------------------------


def test_locate_many_answers_like_locate_for_each_point(index):
    points = [
        (28.795, 113.075),
        (28.795, 113.080),
        (28.70, 113.0),
        (28.800, 113.110),
        (28.795, 113.155),
        (28.800, 113.090),
    ]
    assert index.locate_many(points) == [index.locate(lat, lon) for lat, lon in points]
    assert index.locate_many(points) == [3, 3, None, None, 21, 7]


def test_locate_many_of_no_points_is_an_empty_list(index):
    assert index.locate_many([]) == []


def test_locate_many_names_the_first_invalid_point(index):
    with pytest.raises(ValueError, match=r"point 1: \(95.0, 113.0\)"):
        index.locate_many([(28.795, 113.075), (95.0, 113.0)])
    with pytest.raises(ValueError, match="pairs"):
        index.locate_many([(28.795, 113.075, 0.0)])


# --- parse_feature_collection -----------------------------------------------------------


def test_feature_collection_gives_codes_names_and_polygons():
    grids = parse_feature_collection(
        collection(
            feature("G01", name="一网格"),
            feature("G02", square(113.08, 28.79), name="二网格", households=420),
        )
    )
    assert [(grid.code, grid.name) for grid in grids] == [("G01", "一网格"), ("G02", "二网格")]
    assert grids[0].geometry.equals(WEST_GRID)
    assert grids[1].properties["households"] == 420
    assert grids[0].repaired is None


def test_name_defaults_to_code_and_whole_number_codes_become_text():
    (grid,) = parse_feature_collection(collection(feature(101)))
    assert (grid.code, grid.name) == ("101", "101")


def test_multipolygon_and_hole_are_imported_whole():
    multi = {
        "type": "Feature",
        "properties": {"code": "ISL"},
        "geometry": geometry_to_geojson(ISLANDS),
    }
    park = {
        "type": "Feature",
        "properties": {"code": "PARK"},
        "geometry": geometry_to_geojson(PARK_WITH_LAKE),
    }
    islands, lake = parse_feature_collection(collection(multi, park))
    assert islands.geometry.equals(ISLANDS)
    assert len(lake.geometry.interiors) == 1


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (feature(), "expected a GeoJSON FeatureCollection, got 'Feature'"),
        ([], "expected a GeoJSON FeatureCollection, got 'list'"),
        ({"type": "FeatureCollection"}, "needs a 'features' array"),
        (collection(feature(), {"type": "Feature", "geometry": None}), "feature 1: has no prop"),
        (collection(feature("G1"), feature(None)), "feature 1: missing properties.code"),
        (collection(feature("  ")), "feature 0: missing properties.code"),
        (collection(feature(1.5)), "feature 0: properties.code must be text"),
        (collection(feature(), feature("G01")), "feature 1: code 'G01' repeats feature 0"),
        (collection({"type": "Point"}), "feature 0: not a GeoJSON Feature"),
        (collection(feature(crs="epsg:3857")), "feature 0: crs 'epsg:3857' is not one of"),
        (collection(feature(), crs="mars"), "crs 'mars' is not one of wgs84, gcj02, bd09"),
    ],
)
def test_malformed_collections_raise_errors_that_say_where_and_what(document, message):
    with pytest.raises(GeoJSONError, match=message):
        parse_feature_collection(document)


def with_geometry(geometry: dict | None) -> dict:
    grid = feature("G09")
    grid["geometry"] = geometry
    return collection(feature("G01"), grid)


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        (None, "grid 'G09' has no geometry"),
        ({"type": "Point", "coordinates": [113.0, 28.0]}, "'Point' is not a Polygon"),
        ({"type": "Polygon", "coordinates": []}, "non-empty array of rings"),
        ({"type": "MultiPolygon", "coordinates": []}, "non-empty array of polygons"),
        (
            {"type": "Polygon", "coordinates": [[[113.0, 28.0], [113.1, 28.0], [113.1, 28.1]]]},
            "ring 0: a linear ring needs at least 4 positions",
        ),
        (
            {"type": "Polygon", "coordinates": [square(113.0, 28.0)[0][:-1] + [[113.0, 28.1]]]},
            "ring 0: the ring is not closed",
        ),
        (
            {"type": "Polygon", "coordinates": [[[28.0, 113.0]] * 4]},
            r"ring 0, position 0: lat must be between -90 and 90, not 113.0 \(positions are",
        ),
        (
            {"type": "MultiPolygon", "coordinates": [square(113.0, 28.0), [[["a", 1]] * 4]]},
            "polygon 1, ring 0, position 0: lon must be a number",
        ),
        (
            {"type": "Polygon", "coordinates": [[[113.0, 28.0], [113.1, 28.0], 7, [113.0, 28.0]]]},
            "position 2: expected \\[lon, lat\\], got 7",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[113.0, 28.0], [113.1, 28.1], [113.2, 28.2], [113.0, 28.0]]],
            },
            "the boundary encloses no area",
        ),
    ],
)
def test_bad_geometries_raise_errors_naming_feature_grid_and_problem(geometry, message):
    with pytest.raises(GeoJSONError, match=message) as raised:
        parse_feature_collection(with_geometry(geometry))
    assert str(raised.value).startswith("feature 1: ")
    assert raised.value.feature_index == 1


def test_self_intersecting_boundary_is_repaired_and_says_why():
    bow_tie = [[[113.0, 28.0], [113.1, 28.1], [113.1, 28.0], [113.0, 28.1], [113.0, 28.0]]]
    (grid,) = parse_feature_collection(collection(feature("BOW", bow_tie)))
    assert grid.repaired is not None and grid.repaired.startswith("Self-intersection")
    assert shapely.is_valid(grid.geometry)
    assert isinstance(grid.geometry, MultiPolygon)
    assert grid.geometry.area == pytest.approx(0.005)


# --- coordinate systems in a collection -------------------------------------------------


def offset_square(crs: str) -> list[list[list[float]]]:
    """WEST_GRID's corners as an AMap (gcj02) or Baidu (bd09) map would draw them."""
    ring = []
    for lon, lat in WEST_GRID.exterior.coords:
        shifted_lat, shifted_lon = from_wgs84(lat, lon, crs)
        ring.append([shifted_lon, shifted_lat])
    return [ring]


@pytest.mark.parametrize(
    "declaration", ["gcj02", {"type": "name", "properties": {"name": "gcj02"}}]
)
def test_collection_declared_gcj02_is_converted_to_wgs84(declaration):
    document = collection(feature("G01", offset_square("gcj02")), crs=declaration)
    (grid,) = parse_feature_collection(document)
    assert grid.geometry.equals_exact(WEST_GRID, tolerance=1e-7)  # about 1 cm


def test_undeclared_gcj02_collection_is_taken_as_wgs84_and_left_alone():
    (grid,) = parse_feature_collection(collection(feature("G01", offset_square("gcj02"))))
    assert not grid.geometry.equals_exact(WEST_GRID, tolerance=1e-4)  # about 10 m


def test_feature_crs_property_overrides_the_collection():
    document = collection(
        feature("G01", offset_square("bd09"), crs="bd09"),
        feature("G02", square(113.08, 28.79), crs="urn:ogc:def:crs:OGC:1.3:CRS84"),
        crs="gcj02",
    )
    baidu, plain = parse_feature_collection(document)
    # prcoords stops iterating the BD-09 inverse at about 2 cm.
    assert baidu.geometry.equals_exact(WEST_GRID, tolerance=5e-7)
    assert plain.geometry.equals(EAST_GRID)


def test_crs_argument_applies_when_the_document_declares_none():
    document = collection(feature("G01", offset_square("gcj02")))
    (grid,) = parse_feature_collection(document, crs="gcj02")
    assert grid.geometry.equals_exact(WEST_GRID, tolerance=1e-7)
    with pytest.raises(ValueError, match="crs must be one of"):
        parse_feature_collection(document, crs="mars")  # type: ignore[arg-type]


def test_imported_gcj02_grid_locates_wgs84_points():
    document = collection(feature("G01", offset_square("gcj02")), crs="gcj02")
    (grid,) = parse_feature_collection(document)
    index = GridIndex([(1, grid.geometry)])
    assert index.locate(28.7905, 113.0705) == 1  # 50 m inside the south-west corner


def test_parsing_does_not_modify_the_document():
    document = collection(feature("G01", offset_square("gcj02")), crs="gcj02")
    before = copy.deepcopy(document)
    parse_feature_collection(document)
    assert document == before


# --- storage helpers --------------------------------------------------------------------


@pytest.mark.parametrize("geometry", [WEST_GRID, PARK_WITH_LAKE, ISLANDS])
def test_geojson_round_trip_keeps_the_geometry_exactly(geometry):
    stored = geometry_to_geojson(geometry)
    assert stored["type"] == geometry.geom_type
    assert isinstance(stored["coordinates"], list)
    assert geometry_from_geojson(stored).equals_exact(geometry, tolerance=0)


def test_wkt_keeps_full_precision():
    precise = Polygon([(113.0812345678901, 28.8), (113.1, 28.812345678901234), (113.09, 28.85)])
    assert geometry_from_wkt(geometry_to_wkt(precise)).equals_exact(precise, tolerance=0)


def test_bad_stored_geometry_raises():
    with pytest.raises(GeoJSONError, match="not a GeoJSON geometry"):
        geometry_from_geojson({"type": "Polygon"})
    with pytest.raises(ValueError, match="not WKT"):
        geometry_from_wkt("POLYGON ((")
