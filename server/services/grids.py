"""Grids: import boundaries from GeoJSON, and find the grid a point falls in."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.errors import NotFoundError, UnprocessableError
from server.geo import GeoJSONError, GridIndex, geometry_to_geojson, parse_feature_collection
from server.models import Community, Grid

__all__ = ["import_grids", "locate_grid", "grid_index", "ImportResult"]


@dataclass
class ImportResult:
    """Codes of the grids an import created and updated."""

    created: list[str]
    updated: list[str]


def import_grids(session: Session, community_code: str, collection: Any) -> ImportResult:
    """Create or update grids from a GeoJSON FeatureCollection (keyed by each feature's code).

    Importing the same file again updates in place and never duplicates.
    """
    community = session.scalar(select(Community).where(Community.code == community_code))
    if community is None:
        raise NotFoundError(f"No community with code {community_code}.")
    try:
        features = parse_feature_collection(collection)
    except GeoJSONError as exc:
        raise UnprocessableError(str(exc), slug="invalid_geojson") from exc
    existing = {g.code: g for g in session.scalars(
        select(Grid).where(Grid.code.in_([f.code for f in features])))}
    result = ImportResult(created=[], updated=[])
    for feature in features:
        grid = existing.get(feature.code)
        if grid is not None and grid.community_id != community.id:
            raise UnprocessableError(
                f"Grid code {feature.code} already belongs to another community.",
                slug="invalid_geojson")
        min_lon, min_lat, max_lon, max_lat = feature.geometry.bounds
        values = {"name": feature.name, "boundary": geometry_to_geojson(feature.geometry),
                  "min_lat": min_lat, "min_lon": min_lon, "max_lat": max_lat,
                  "max_lon": max_lon}
        if grid is None:
            session.add(Grid(community_id=community.id, code=feature.code, **values))
            result.created.append(feature.code)
        else:
            for key, value in values.items():
                setattr(grid, key, value)
            result.updated.append(feature.code)
    session.flush()
    _cache.clear()
    return result


class _IndexCache:
    """One GridIndex per process, rebuilt when the grid table changes (checked per lookup)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._index: GridIndex | None = None

    def clear(self) -> None:
        with self._lock:
            self._key, self._index = None, None

    def get(self, session: Session) -> GridIndex:
        # Another gunicorn worker may have imported grids: compare a cheap fingerprint.
        key = tuple(session.execute(select(func.count(Grid.id), func.max(Grid.updated_at),
                                           func.max(Grid.id))).one())
        key = key + (str(session.get_bind().engine.url),)
        with self._lock:
            if self._index is not None and self._key == key:
                return self._index
        from shapely.geometry import shape

        rows = session.execute(select(Grid.id, Grid.boundary)).all()
        index = GridIndex((gid, shape(boundary)) for gid, boundary in rows)
        with self._lock:
            self._key, self._index = key, index
        return index


_cache = _IndexCache()


def grid_index(session: Session) -> GridIndex:
    """The process-wide grid index, fresh for the current grid table."""
    return _cache.get(session)


def locate_grid(session: Session, lat: float, lon: float) -> Grid | None:
    """The grid containing a WGS-84 point, or ``None``."""
    grid_id = grid_index(session).locate(lat, lon)
    return session.get(Grid, grid_id) if grid_id is not None else None
