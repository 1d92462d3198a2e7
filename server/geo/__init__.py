"""Geometry for Gridwork: coordinate systems, distances and grid lookup, free of Flask.

Everything here speaks WGS-84 ``(lat, lon)`` degrees; convert other systems on input with
``to_wgs84``. Shapely geometries follow GeoJSON's axis order (x = longitude).
"""

from __future__ import annotations

from server.geo.crs import CRS, CRS_NAMES, check_lat_lon, from_wgs84, is_crs, out_of_china, to_wgs84
from server.geo.distance import BBox, bbox_around, distance_m, path_length_m
from server.geo.grids import (
    GeoJSONError,
    GridFeature,
    GridIndex,
    Polygonal,
    geometry_from_geojson,
    geometry_from_wkt,
    geometry_to_geojson,
    geometry_to_wkt,
    parse_feature_collection,
)

__all__ = [
    "CRS",
    "CRS_NAMES",
    "BBox",
    "GeoJSONError",
    "GridFeature",
    "GridIndex",
    "Polygonal",
    "bbox_around",
    "check_lat_lon",
    "distance_m",
    "from_wgs84",
    "geometry_from_geojson",
    "geometry_from_wkt",
    "geometry_to_geojson",
    "geometry_to_wkt",
    "is_crs",
    "out_of_china",
    "parse_feature_collection",
    "path_length_m",
    "to_wgs84",
]
