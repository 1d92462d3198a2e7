"""``gridsync`` warns at capture of what the server will flag, and queues the record anyway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import prcoords
import pytest

from client_sync import cli
from client_sync.cache import geometry_contains
from client_sync.testing import LiveServer
from server.models import Report, Visit
from tests.client_sync.conftest import noisy_jpeg
from tests.client_sync.test_cli import latest, logged_in, run  # noqa: F401 - fixtures
from tests.client_sync.test_cli_households import add_households
from tests.factories import Actor, Factory
from tests.server.visit_support import point_at

G1, G2 = Factory.G1_CENTER, Factory.G2_CENTER


def at(point: tuple[float, float]) -> tuple[str, ...]:
    """--lat/--lon of a WGS-84 point."""
    return ("--lat", str(point[0]), "--lon", str(point[1]))


@pytest.fixture
def synced(logged_in: Any) -> Any:  # noqa: F811
    """A logged-in phone that has pulled its grid (G1) and the categories."""
    code, out, err = logged_in("pull")
    assert code == 0 and "1 grid(s)" in out, err
    return logged_in


@pytest.fixture
def door(live_server: LiveServer, worker: Actor, factory: Factory, synced: Any) -> Any:
    """A household at G1's building, pulled to the phone."""
    household = add_households(live_server, worker, factory, "501")["501"]
    assert synced("pull")[0] == 0
    return household


def test_report_outside_my_grids_is_queued_with_a_warning(synced: Any, tmp_path: Path) -> None:
    photo = noisy_jpeg(tmp_path / "IMG_1.jpg", gps=G2)
    code, out, err = synced("report", "--category", "garbage", "--photo", str(photo), *at(G2))
    assert code == 0 and "Queued report" in out
    assert err == (f"warning: The report at {G2[0]:.6f}, {G2[1]:.6f} is outside your grids "
                   "(G1). Queued anyway.\n")
    assert "2 to send" in synced("status")[1]  # the report and its photo


def test_report_inside_my_grids_with_its_photo_there_warns_of_nothing(
        synced: Any, tmp_path: Path) -> None:
    photo = noisy_jpeg(tmp_path / "IMG_1.jpg", gps=G1)
    code, _, err = synced("report", "--category", "garbage", "--photo", str(photo), *at(G1))
    assert code == 0 and err == ""


def test_report_given_in_gcj02_inside_my_grids_warns_of_nothing(
        synced: Any, tmp_path: Path) -> None:
    """AMap's GCJ-02 is some 500 m off WGS-84 here: the check converts it first."""
    gcj = prcoords.wgs_gcj(prcoords.Coords(*G1))
    photo = noisy_jpeg(tmp_path / "IMG_1.jpg", gps=G1)
    code, _, err = synced("report", "--category", "garbage", "--photo", str(photo),
                          "--lat", str(gcj.lat), "--lon", str(gcj.lon), "--crs", "gcj02")
    assert code == 0 and err == ""


def test_photo_taken_far_from_the_report_warns_and_the_server_flags_it(
        synced: Any, tmp_path: Path) -> None:
    photo = noisy_jpeg(tmp_path / "IMG_far.jpg", gps=point_at(G1, 300))
    code, _, err = synced("report", "--category", "garbage", "--photo", str(photo), *at(G1))
    assert code == 0
    assert err.startswith("warning: IMG_far.jpg was taken 300 m from the report's position")
    assert synced("push")[0] == 0
    assert "location_mismatch" in latest(Report).flags


def test_visit_far_from_the_household_warns_and_the_server_flags_it_off_site(
        synced: Any, door: Any) -> None:
    code, out, err = synced("visit", "--household-id", str(door.id), "--outcome", "met",
                            *at(point_at(G1, 400)))
    assert code == 0 and "Queued visit" in out
    assert err == (f"warning: You are 400 m from {door.code}; a visit more than 150 m away is "
                   "flagged off_site. Queued anyway.\n")
    assert synced("push")[0] == 0
    assert latest(Visit).off_site is True


@pytest.mark.parametrize(("metres", "accuracy"), [(120, None), (220, 80)])
def test_visit_within_the_allowance_warns_of_nothing(synced: Any, door: Any, metres: float,
                                                     accuracy: float | None) -> None:
    """150 m, plus the GPS accuracy (up to 100 m), as the server measures it."""
    extra = ("--accuracy", str(accuracy)) if accuracy is not None else ()
    code, _, err = synced("visit", "--household-id", str(door.id), "--outcome", "met",
                          *at(point_at(G1, metres)), *extra)
    assert code == 0 and err == ""


def test_import_photos_warns_of_each_photo_outside_my_grids(synced: Any, tmp_path: Path) -> None:
    noisy_jpeg(tmp_path / "DCIM" / "IMG_in.jpg", gps=G1)
    noisy_jpeg(tmp_path / "DCIM" / "IMG_out.jpg", gps=G2, seed=1)
    code, out, err = synced("import-photos", str(tmp_path / "DCIM"), "--category", "garbage")
    assert code == 0 and "Queued 2 report(s)" in out
    assert err.splitlines() == [f"warning: IMG_out.jpg: The report at {G2[0]:.6f}, {G2[1]:.6f} "
                                "is outside your grids (G1). Queued anyway."]


def test_import_photos_without_category_files_them_under_other(
        synced: Any, tmp_path: Path) -> None:
    noisy_jpeg(tmp_path / "DCIM" / "IMG_1.jpg", gps=G1)
    code, out, err = synced("import-photos", str(tmp_path / "DCIM"))
    assert code == 0, err
    assert "Queued 1 report(s) from 1 photo(s)" in out
    assert "in the category other (--category to choose)" in out
    assert synced("push")[0] == 0
    assert latest(Report).category_code == "other"


def test_import_photos_without_category_before_a_pull_says_what_to_do(
        logged_in: Any, tmp_path: Path) -> None:  # noqa: F811
    noisy_jpeg(tmp_path / "DCIM" / "IMG_1.jpg", gps=G1)
    code, _, err = logged_in("import-photos", str(tmp_path / "DCIM"))
    assert code == cli.EXIT_INVALID
    assert "category: Give --category: there is no 'other' category in the offline cache" in err
    assert "gridsync pull" in err


def test_a_grid_boundary_holds_its_inside_not_its_hole_nor_beyond() -> None:
    """GeoJSON rings are [lon, lat]; a MultiPolygon's parts count, its holes do not."""
    outer = [[113.0, 28.0], [113.1, 28.0], [113.1, 28.1], [113.0, 28.1], [113.0, 28.0]]
    hole = [[113.04, 28.04], [113.06, 28.04], [113.06, 28.06], [113.04, 28.06], [113.04, 28.04]]
    far = [[114.0, 29.0], [114.1, 29.0], [114.1, 29.1], [114.0, 29.0]]
    shape = {"type": "MultiPolygon", "coordinates": [[outer, hole], [far]]}
    assert geometry_contains(shape, 28.02, 113.02)
    assert not geometry_contains(shape, 28.05, 113.05)  # in the hole
    assert geometry_contains(shape, 29.01, 114.05)  # in the second part
    assert not geometry_contains(shape, 28.05, 113.2)
    assert not geometry_contains(None, 28.02, 113.02)
