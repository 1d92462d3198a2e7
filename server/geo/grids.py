"""Grid boundaries: importing them from GeoJSON, storing them, and finding the grid of a point.

Geometries are shapely objects in WGS-84 with GeoJSON's axis order: x is longitude, y is
latitude. Public functions take and return ``(lat, lon)`` like the rest of the API.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from server.geo.crs import CRS, CRS_NAMES, check_lat_lon, is_crs, to_wgs84

__all__ = [
    "GeoJSONError",
    "GridFeature",
    "GridIndex",
    "Polygonal",
    "geometry_from_geojson",
    "geometry_from_wkt",
    "geometry_to_geojson",
    "geometry_to_wkt",
    "parse_feature_collection",
]

Polygonal: TypeAlias = Polygon | MultiPolygon

# Names a GeoJSON 2008 "crs" member may use for plain WGS-84 longitude/latitude.
_WGS84_ALIASES = frozenset(
    {
        "crs84",
        "ogc:crs84",
        "urn:ogc:def:crs:ogc:1.3:crs84",
        "urn:ogc:def:crs:ogc::crs84",
        "epsg:4326",
        "urn:ogc:def:crs:epsg::4326",
    }
)

# About one square metre, in square degrees; anything smaller is a sliver or a typo, and
# "collinear" vertices in floating point leave exactly such slivers rather than zero.
_MIN_AREA = 1e-10


class GeoJSONError(ValueError):
    """A GeoJSON document that cannot be imported; the message says where and what is wrong."""

    def __init__(self, message: str, *, feature_index: int | None = None) -> None:
        self.feature_index = feature_index
        self.reason = message
        where = "" if feature_index is None else f"feature {feature_index}: "
        super().__init__(where + message)


@dataclass(frozen=True)
class GridFeature:
    """One grid read from a GeoJSON feature: its code, name and WGS-84 boundary."""

    code: str
    name: str
    geometry: Polygonal
    properties: Mapping[str, Any] = field(default_factory=dict)
    repaired: str | None = None
    """Why the boundary was invalid before ``shapely.make_valid`` fixed it, if it was."""


def parse_feature_collection(data: object, crs: CRS = "wgs84") -> list[GridFeature]:
    """Read grid polygons from a GeoJSON FeatureCollection, converting them to WGS-84.

    Each feature needs ``properties.code``; ``properties.name`` defaults to the code. The
    coordinate system is, in order of precedence: a feature's ``properties.crs``, the
    collection's ``crs`` member (our short names, or a GeoJSON 2008 named CRS), then ``crs``.

    Raises:
        GeoJSONError: naming the feature index and the problem, for the first problem found.
    """
    if not isinstance(data, Mapping) or data.get("type") != "FeatureCollection":
        found = data.get("type") if isinstance(data, Mapping) else type(data).__name__
        raise GeoJSONError(f"expected a GeoJSON FeatureCollection, got {found!r}")
    features = data.get("features")
    if not isinstance(features, list):
        raise GeoJSONError("a FeatureCollection needs a 'features' array")
    if not is_crs(crs):
        raise ValueError(f"crs must be one of {', '.join(CRS_NAMES)}, not {crs!r}")
    if "crs" in data:
        crs = _crs_name(data["crs"], None)
    grids: list[GridFeature] = []
    first_seen: dict[str, int] = {}
    for index, feature in enumerate(features):
        grid = _parse_feature(feature, index, crs)
        if grid.code in first_seen:
            raise GeoJSONError(
                f"code {grid.code!r} repeats feature {first_seen[grid.code]}",
                feature_index=index,
            )
        first_seen[grid.code] = index
        grids.append(grid)
    return grids


def _crs_name(value: object, index: int | None) -> CRS:
    declared = value
    if isinstance(value, Mapping):  # GeoJSON 2008: {"type": "name", "properties": {"name": ...}}
        properties = value.get("properties")
        value = properties.get("name") if isinstance(properties, Mapping) else None
    if isinstance(value, str):
        name = value.strip().lower()
        if is_crs(name):
            return name  # type: ignore[return-value]
        if name in _WGS84_ALIASES:
            return "wgs84"
    raise GeoJSONError(
        f"crs {declared!r} is not one of {', '.join(CRS_NAMES)}", feature_index=index
    )


def _parse_feature(feature: object, index: int, crs: CRS) -> GridFeature:
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise GeoJSONError("not a GeoJSON Feature", feature_index=index)
    properties = feature.get("properties")
    if not isinstance(properties, Mapping):
        raise GeoJSONError(
            "has no properties object (it needs at least 'code')", feature_index=index
        )
    code = _text_property(properties, "code", index)
    if code is None:
        raise GeoJSONError("missing properties.code", feature_index=index)
    name = _text_property(properties, "name", index) or code
    if "crs" in properties:
        crs = _crs_name(properties["crs"], index)
    geometry = feature.get("geometry")
    if not isinstance(geometry, Mapping):
        raise GeoJSONError(f"grid {code!r} has no geometry", feature_index=index)
    try:
        shape = _build_polygonal(geometry, crs)
        shape, repaired = _valid_polygonal(shape)
    except GeoJSONError as exc:
        raise GeoJSONError(f"grid {code!r}: {exc.reason}", feature_index=index) from None
    return GridFeature(code, name, shape, dict(properties), repaired)


def _text_property(properties: Mapping[str, Any], key: str, index: int) -> str | None:
    value = properties.get(key)
    if value is None:
        return None
    # Spreadsheets turn codes like 101 into numbers; accept whole numbers, not 1.5 or True.
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise GeoJSONError(f"properties.{key} must be text, not {value!r}", feature_index=index)
    return value.strip() or None


def _build_polygonal(geometry: Mapping[str, Any], crs: CRS) -> Polygonal:
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind == "Polygon":
        return _build_polygon(coordinates, crs, "")
    if kind == "MultiPolygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise GeoJSONError("MultiPolygon coordinates must be a non-empty array of polygons")
        return MultiPolygon(
            [_build_polygon(part, crs, f"polygon {n}, ") for n, part in enumerate(coordinates)]
        )
    raise GeoJSONError(f"geometry type {kind!r} is not a Polygon or MultiPolygon")


def _build_polygon(rings: object, crs: CRS, where: str) -> Polygon:
    if not isinstance(rings, list) or not rings:
        raise GeoJSONError(f"{where}Polygon coordinates must be a non-empty array of rings")
    shell, *holes = (_build_ring(ring, crs, f"{where}ring {n}") for n, ring in enumerate(rings))
    return Polygon(shell, holes)


def _build_ring(ring: object, crs: CRS, where: str) -> list[tuple[float, float]]:
    if not isinstance(ring, list) or len(ring) < 4:
        raise GeoJSONError(f"{where}: a linear ring needs at least 4 positions")
    if ring[0] != ring[-1]:
        raise GeoJSONError(f"{where}: the ring is not closed (first and last positions differ)")
    converted = []
    for n, position in enumerate(ring):
        if not isinstance(position, list | tuple) or len(position) < 2:
            raise GeoJSONError(f"{where}, position {n}: expected [lon, lat], got {position!r}")
        lon, lat = position[0], position[1]
        try:
            lat, lon = to_wgs84(lat, lon, crs)
        except ValueError as exc:
            raise GeoJSONError(f"{where}, position {n}: {exc} (positions are [lon, lat])") from None
        converted.append((lon, lat))
    return converted


def _valid_polygonal(shape: Polygonal) -> tuple[Polygonal, str | None]:
    if shapely.is_valid(shape):
        repaired = None
    else:
        repaired = shapely.is_valid_reason(shape)
        # "structure" keeps areas and drops collapsed parts, so the answer stays polygonal.
        shape = shapely.make_valid(shape, method="structure", keep_collapsed=False)
        if isinstance(shape, shapely.GeometryCollection):
            shape = shapely.union_all(
                [part for part in shape.geoms if isinstance(part, Polygon | MultiPolygon)]
            )
    if shape.is_empty or not shape.area >= _MIN_AREA:
        detail = f" ({repaired})" if repaired else ""
        raise GeoJSONError(f"the boundary encloses no area (under 1 square metre){detail}")
    if not isinstance(shape, Polygon | MultiPolygon):
        raise GeoJSONError(f"the boundary could not be repaired into a polygon ({repaired})")
    return shape, repaired


class GridIndex:
    """Finds the grid that holds a point, among thousands, with an R-tree and prepared polygons.

    Points on a boundary count as inside. A point on the border two grids share belongs to
    the one with the lower id, so the answer never depends on insertion order.
    Build it once and reuse it: it is read-only, so threads can share it.
    """

    def __init__(self, items: Iterable[tuple[int, BaseGeometry]]) -> None:
        """Index ``(grid_id, polygon)`` pairs; polygons are WGS-84 with x = longitude."""
        pairs = sorted(items, key=lambda item: item[0])
        for (grid_id, geometry), previous in zip(pairs, [None, *pairs], strict=False):
            if previous is not None and previous[0] == grid_id:
                raise ValueError(f"grid id {grid_id} appears twice")
            if not isinstance(geometry, Polygon | MultiPolygon) or geometry.is_empty:
                raise ValueError(f"grid {grid_id}: expected a non-empty Polygon or MultiPolygon")
        # Tree positions follow id order, so the lowest position hit is the lowest grid id.
        self._ids = np.array([grid_id for grid_id, _ in pairs], dtype=np.int64)
        self._geometries = np.array([geometry for _, geometry in pairs], dtype=object)
        shapely.prepare(self._geometries)
        self._tree = shapely.STRtree(self._geometries)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> list[int]:
        """The indexed grid ids, in ascending order."""
        return [int(grid_id) for grid_id in self._ids]

    def locate(self, lat: float, lon: float) -> int | None:
        """Return the id of the grid holding the WGS-84 point, or None if no grid does."""
        lat, lon = check_lat_lon(lat, lon)
        point = shapely.Point(lon, lat)
        candidates = self._tree.query(point)  # bounding boxes only; usually one to four
        candidates.sort()
        for position in candidates:
            if self._geometries[position].intersects(point):
                return int(self._ids[position])
        return None

    def locate_many(self, points: Sequence[tuple[float, float]]) -> list[int | None]:
        """Return, for each WGS-84 ``(lat, lon)``, the id of the grid holding it or None."""
        coords = _as_lat_lon_array(points)
        found = np.full(len(coords), len(self._ids), dtype=np.intp)
        if len(coords) and len(self._ids):
            shapes = shapely.points(coords[:, 1], coords[:, 0])
            point_at, grid_at = self._tree.query(shapes)
            inside = shapely.intersects(self._geometries[grid_at], shapes[point_at])
            np.minimum.at(found, point_at[inside], grid_at[inside])
        ids = [*self._ids.tolist(), None]
        return [ids[position] for position in found.tolist()]


def _as_lat_lon_array(points: Sequence[tuple[float, float]]) -> np.ndarray:
    try:
        coords = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"points must be (lat, lon) pairs of numbers: {exc}") from None
    if coords.size == 0:
        return coords.reshape(0, 2)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"points must be (lat, lon) pairs, got an array of shape {coords.shape}")
    bad = ~(np.isfinite(coords).all(axis=1) & (np.abs(coords[:, 0]) <= 90))
    bad |= ~(np.abs(coords[:, 1]) <= 180)
    if bad.any():
        first = int(np.argmax(bad))
        lat, lon = coords[first]
        raise ValueError(f"point {first}: ({lat}, {lon}) is not a valid (lat, lon)")
    return coords


def geometry_to_geojson(geometry: BaseGeometry) -> dict[str, Any]:
    """Return a GeoJSON geometry object (plain dicts and lists) for storage or an answer."""
    result: dict[str, Any] = json.loads(shapely.to_geojson(geometry))
    return result


def geometry_from_geojson(data: Mapping[str, Any] | str) -> BaseGeometry:
    """Return the shapely geometry of a GeoJSON geometry object or its JSON text."""
    text = data if isinstance(data, str) else json.dumps(data)
    try:
        return shapely.from_geojson(text)
    except (shapely.errors.GEOSException, ValueError) as exc:
        raise GeoJSONError(f"not a GeoJSON geometry: {exc}") from None


def geometry_to_wkt(geometry: BaseGeometry) -> str:
    """Return WKT at full precision (shapely rounds to 6 decimals, ~10 cm, by default)."""
    return str(shapely.to_wkt(geometry, rounding_precision=-1))


def geometry_from_wkt(text: str) -> BaseGeometry:
    """Return the shapely geometry of a WKT string."""
    try:
        return shapely.from_wkt(text)
    except shapely.errors.GEOSException as exc:
        raise ValueError(f"not WKT: {exc}") from None
