"""Coordinate systems used by phones in China, and conversion to and from WGS-84.

GCJ-02 is the obfuscated system that Chinese law requires of published maps (AMap, Tencent,
Apple Maps in China); BD-09 is Baidu's further offset on top of GCJ-02. We store WGS-84, so
every point that arrives in another system is converted on input.

The transform itself comes from ``prcoords`` (public domain); the inverses use its iterative
"bored" functions, which are accurate to well under a millimetre rather than the metre-level
error of the one-step inverse most libraries ship.
"""

from __future__ import annotations

import math
import numbers

import prcoords

from schemas.common import CRS, CRS_CHOICES

__all__ = [
    "CRS",
    "CRS_NAMES",
    "check_lat_lon",
    "from_wgs84",
    "is_crs",
    "out_of_china",
    "to_wgs84",
]

CRS_NAMES = CRS_CHOICES  # the names the wire contract (schemas.common) defines


def is_crs(name: object) -> bool:
    """Return whether ``name`` is one of the coordinate system names we accept."""
    return isinstance(name, str) and name in CRS_NAMES


def check_lat_lon(lat: object, lon: object) -> tuple[float, float]:
    """Return ``(lat, lon)`` as floats, or raise ValueError if either is not a valid degree."""
    for label, value, limit in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        # bool is an int subclass; True as a latitude is a bug upstream, not 1 degree.
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise ValueError(f"{label} must be a number, not {type(value).__name__}")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{label} must be finite, not {number}")
        if not -limit <= number <= limit:
            raise ValueError(f"{label} must be between {-limit:g} and {limit:g}, not {number}")
    return float(lat), float(lon)  # type: ignore[arg-type]


def _check_crs(crs: object) -> CRS:
    if not is_crs(crs):
        raise ValueError(f"crs must be one of {', '.join(CRS_NAMES)}, not {crs!r}")
    return crs  # type: ignore[return-value]


def out_of_china(lat: float, lon: float) -> bool:
    """Return whether a point lies outside the box where the Chinese offsets apply.

    This is the rectangle every GCJ-02 implementation uses (prcoords, eviltransform,
    coordtransform); it is coarse, so points in neighbouring countries inside it are shifted
    exactly as AMap and Baidu shift them.
    """
    lat, lon = check_lat_lon(lat, lon)
    return not prcoords.sanity_in_china_p(prcoords.Coords(lat, lon))


def to_wgs84(lat: float, lon: float, crs: CRS) -> tuple[float, float]:
    """Convert a point given in ``crs`` to WGS-84 ``(lat, lon)``; points outside China stay put."""
    lat, lon = check_lat_lon(lat, lon)
    crs = _check_crs(crs)
    if crs == "wgs84" or out_of_china(lat, lon):
        return lat, lon
    if crs == "gcj02":
        wgs = prcoords.gcj_wgs_bored((lat, lon))
    else:
        # bd_wgs_bored starts from a one-step guess that checks the box again after removing
        # Baidu's ~700 m offset, and warns when that lands outside it. Only a thin band on the
        # box's western and southern edges (Pamir mountains, open sea) can do that; treat it as
        # outside China so no warning escapes and nothing is shifted there.
        gcj = prcoords.bd_gcj((lat, lon))
        if not prcoords.sanity_in_china_p(gcj):
            return lat, lon
        wgs = prcoords.bd_wgs_bored((lat, lon))
    return float(wgs.lat), float(wgs.lon)


def from_wgs84(lat: float, lon: float, crs: CRS) -> tuple[float, float]:
    """Convert a WGS-84 point to ``crs``, e.g. to draw it on an AMap or Baidu base map."""
    lat, lon = check_lat_lon(lat, lon)
    crs = _check_crs(crs)
    if crs == "wgs84" or out_of_china(lat, lon):
        return lat, lon
    # check_china=False: we have just checked, and prcoords would warn rather than raise.
    gcj = prcoords.wgs_gcj((lat, lon), False)
    if crs == "gcj02":
        return float(gcj.lat), float(gcj.lon)
    bd = prcoords.gcj_bd(gcj)
    return float(bd.lat), float(bd.lon)
