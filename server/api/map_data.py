"""The visit map's data: households clustered by zoom, grids with coverage, visits, tracks."""

from __future__ import annotations

from typing import Any

from flask import current_app

from schemas.map_data import (
    BuildingListSchema,
    HouseholdViewSchema,
    MapBuildingArgsSchema,
    MapCaseArgsSchema,
    MapGridArgsSchema,
    MapHouseholdArgsSchema,
    MapVisitArgsSchema,
    VisitViewSchema,
    WorkerListSchema,
)
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_access
from server.extensions import db
from server.models.types import utcnow
from server.services import map_data as service
from server.services import map_layers

__all__ = ["bp"]

bp = Blueprint("map_data", __name__, url_prefix="/api/v1",
               description="The visit map: what is in view, clustered in SQL by zoom")


def _period(args: dict[str, Any], now: Any) -> tuple[Any, Any]:
    # One ``now`` for the period and the counts: a default period then runs exactly to now,
    # which the services answer from the households' rows (not the visits).
    return service.default_period(args.get("from_"), args.get("to"), now)


@bp.route("/map/households")
@auth_required("households.read")
@bp.arguments(MapHouseholdArgsSchema, location="query")
@bp.response(200, HouseholdViewSchema)
def map_households(args: dict[str, Any]) -> Any:
    """Households in the box: clusters (counts by status) when zoomed out, points zoomed in.

    Points carry building, unit and door, never names or numbers; `visited` means met in
    the period. Status (ok, due, overdue) is as of now.
    """
    cfg = current_app.config
    now = utcnow()
    start, end = _period(args, now)
    return service.household_view(
        db.session, current_access(), bbox=args["bbox"], zoom=args["zoom"], start=start,
        end=end, now=now, cell_px=int(cfg["MAP_CLUSTER_CELL_PX"]),
        points_min_zoom=int(cfg["MAP_POINTS_MIN_ZOOM"]), max_points=int(cfg["MAP_MAX_POINTS"]),
        grid_code=args.get("grid"), zone=cfg["TIMEZONE"])


@bp.route("/map/grids")
@auth_required("grids.read")
@bp.arguments(MapGridArgsSchema, location="query")
@bp.response(200, content_type="application/geo+json")
def map_grids(args: dict[str, Any]) -> Any:
    """My grids as a GeoJSON FeatureCollection with their visit coverage for the period.

    With `bbox` (the map sends its view), only the grids whose extent overlaps the box.
    """
    now = utcnow()
    start, end = _period(args, now)
    return map_layers.grid_features(db.session, current_access(), start, end, now,
                                    bbox=args.get("bbox"))


@bp.route("/map/buildings")
@auth_required("grids.read")
@bp.arguments(MapBuildingArgsSchema, location="query")
@bp.response(200, BuildingListSchema)
def map_buildings(args: dict[str, Any]) -> Any:
    """Buildings in the box with how many households each holds."""
    return {"items": service.buildings_in_view(db.session, current_access(), args["bbox"])}


@bp.route("/map/visits")
@auth_required("visits.read")
@bp.arguments(MapVisitArgsSchema, location="query")
@bp.response(200, VisitViewSchema)
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def map_visits(args: dict[str, Any]) -> Any:
    """Visits of the period in the box (newest first), or with `day` a worker's day in order.

    `off_site` visits were logged too far from the household's door.
    """
    access = current_access()
    if args.get("day") is not None:
        return service.worker_day(db.session, access, worker_id=args.get("worker"),
                                  day=args["day"], zone=current_app.config["TIMEZONE"],
                                  limit=args["limit"])
    start, end = _period(args, utcnow())
    return service.visits_in_view(db.session, access, bbox=args.get("bbox"), start=start,
                                  end=end, worker_id=args.get("worker"),
                                  outcome=args.get("outcome"), limit=args["limit"])


@bp.route("/map/workers")
@auth_required("visits.read")
@bp.response(200, WorkerListSchema)
def map_workers() -> Any:
    """The grid workers of my grids, for the visit filter."""
    return {"items": service.map_workers(db.session, current_access())}


@bp.route("/map/cases")
@auth_required("reports.read")
@bp.arguments(MapCaseArgsSchema, location="query")
@bp.response(200, content_type="application/geo+json")
def map_cases(args: dict[str, Any]) -> Any:
    """Cases in the box as GeoJSON, with status, category name and an `overdue` mark."""
    return map_layers.case_features(db.session, current_access(), bbox=args.get("bbox"),
                                    open_only=args["open"], overdue_only=args["overdue"],
                                    now=utcnow())
