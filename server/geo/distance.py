"""Distances on the WGS-84 ellipsoid, and the bounding box a radius covers."""

from __future__ import annotations

import math
from typing import NamedTuple

from geographiclib.geodesic import Geodesic

from server.geo.crs import check_lat_lon

__all__ = ["BBox", "bbox_around", "distance_m", "path_length_m", "SHORT_LEG_M"]

# WGS-84: semi-major axis and first eccentricity squared.
_A = 6378137.0
_E2 = 6.69437999014e-3
# Legs shorter than this are measured on the ellipsoid's local plane (see path_length_m).
SHORT_LEG_M = 1000.0


class BBox(NamedTuple):
    """A latitude/longitude box in WGS-84 degrees."""

    south: float
    west: float
    north: float
    east: float

    def contains(self, lat: float, lon: float) -> bool:
        """Return whether the point lies in the box, edges included."""
        return self.south <= lat <= self.north and self.west <= lon <= self.east


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the geodesic distance in metres between two WGS-84 ``(lat, lon)`` points."""
    (lat1, lon1), (lat2, lon2) = check_lat_lon(*a), check_lat_lon(*b)
    # geopy's geodesic() is this same Karney solution (geopy is built on geographiclib);
    # asking for the distance alone skips its object set-up and the azimuths: 2.4x faster,
    # and the server need not import geopy (whose geocoders take half a second to load).
    return float(Geodesic.WGS84.Inverse(lat1, lon1, lat2, lon2, Geodesic.DISTANCE)["s12"])


def path_length_m(points: list[tuple[float, float]]) -> float:
    """Return the length in metres of the path through WGS-84 ``(lat, lon)`` points.

    A patrol track is thousands of legs of a few metres each, and the exact geodesic costs
    about 100 microseconds a leg. A leg shorter than ``SHORT_LEG_M`` is measured on the
    plane tangent to the ellipsoid at its middle, scaled by the meridional and transverse
    radii of curvature there: within a few micrometres of the geodesic below 1 km, to 70°
    from the equator (the error grows with the cube of the length), at a fiftieth of the
    cost; a longer leg is a geodesic (``distance_m``).
    """
    checked = [check_lat_lon(lat, lon) for lat, lon in points]
    total = 0.0
    for (lat1, lon1), (lat2, lon2) in zip(checked, checked[1:], strict=False):
        mid = math.radians((lat1 + lat2) / 2)
        sin2 = math.sin(mid) ** 2
        w = math.sqrt(1 - _E2 * sin2)
        meridional = _A * (1 - _E2) / w**3
        transverse = _A / w
        dlon = (lon2 - lon1 + 180.0) % 360.0 - 180.0
        north = math.radians(lat2 - lat1) * meridional
        east = math.radians(dlon) * transverse * math.cos(mid)
        leg = math.hypot(north, east)
        total += leg if leg < SHORT_LEG_M else distance_m((lat1, lon1), (lat2, lon2))
    return total


def bbox_around(lat: float, lon: float, metres: float) -> BBox:
    """Return a box holding every point within ``metres`` of ``(lat, lon)``.

    Meant as a cheap prefilter (an indexed range query) before the exact ``distance_m``
    check. Near a pole or across the antimeridian the box widens to every longitude rather
    than wrapping, which costs nothing in China.
    """
    lat, lon = check_lat_lon(lat, lon)
    if not metres >= 0:  # also rejects NaN
        raise ValueError(f"metres must be zero or more, not {metres}")
    if metres == 0:
        return BBox(lat, lon, lat, lon)
    # Poles first: a path that crosses one is folded back onto the globe.
    if distance_m((lat, lon), (90.0, lon)) <= metres:
        return BBox(_destination(lat, lon, 180, metres)[0], -180.0, 90.0, 180.0)
    if distance_m((lat, lon), (-90.0, lon)) <= metres:
        return BBox(-90.0, -180.0, _destination(lat, lon, 0, metres)[0], 180.0)
    north = _destination(lat, lon, 0, metres)[0]
    south = _destination(lat, lon, 180, metres)[0]
    # A circle reaches furthest east and west poleward of its centre; heading due east from
    # the poleward edge overshoots that reach, which keeps the box a superset.
    edge_lat = north if abs(north) >= abs(south) else south
    east = _destination(edge_lat, lon, 90, metres)[1]
    west = _destination(edge_lat, lon, 270, metres)[1]
    if east <= lon or west >= lon:  # wrapped across the antimeridian
        west, east = -180.0, 180.0
    return BBox(south, west, north, east)


def _destination(lat: float, lon: float, azimuth: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` from ``(lat, lon)`` heading ``azimuth`` (degrees from north)."""
    line = Geodesic.WGS84.Direct(lat, lon, azimuth, metres, Geodesic.LATITUDE | Geodesic.LONGITUDE)
    return float(line["lat2"]), float(line["lon2"])
