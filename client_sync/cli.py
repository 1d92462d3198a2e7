"""``gridsync``: the offline client on the command line.

    gridsync --server https://gridwork.example.cn login wang.wei
    gridsync pull && gridsync households --search 12-1
    gridsync visit --household 12-1-302 --outcome met --lat 28.8061 --lon 113.0742
    gridsync report --category garbage --photo IMG_0001.jpg --lat 28.8021 --lon 113.0744
    gridsync import-photos /media/camera/DCIM --category garbage
    gridsync track patrol-2026-09-29.gpx
    gridsync push && gridsync pull

The data folder comes from ``--data-dir`` or ``GRIDSYNC_DATA_DIR`` (default ``~/.gridsync``),
the server from ``--server`` or ``GRIDSYNC_SERVER`` (remembered at login). A capture the
server will flag (outside my grids, far from the household, a photo taken elsewhere) is
queued all the same, with a warning on stderr.

Exit codes: 0 done; 1 unexpected error; 2 bad command line; 3 a record is invalid (fix it
and run again); 4 log in first (or the login was refused); 5 the server could not be
reached (records stay queued); 6 the server refused some records (see ``gridsync failed``);
7 the data folder is in use.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import ipaddress
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from client_sync import capture
from client_sync.cli_output import (
    AGENDA_HEADER,
    HOUSEHOLD_HEADER,
    Progress,
    agenda_line,
    describe_item,
    field_errors,
    format_status,
    household_line,
)
from client_sync.client import SyncClient
from client_sync.exceptions import (
    AuthRequired,
    ConnectionFailed,
    LockedError,
    ServerUnavailable,
    SyncError,
    TransientError,
    ValidationError,
)
from client_sync.gpx import read_gpx
from client_sync.photos import read_exif_point_and_time
from schemas.common import CRS_CHOICES
from schemas.visits import VISIT_OUTCOMES

__all__ = ["main", "build_parser", "server_address"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INVALID = 0, 1, 2, 3
EXIT_LOGIN, EXIT_UNREACHABLE, EXIT_REFUSED, EXIT_LOCKED = 4, 5, 6, 7
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic"}
GRIDS_PATH = "/api/v1/grids"
POLICY_PATH = "/api/v1/capture-policy"


def server_address(text: str) -> str:
    """``--server``: a base URL; a bare address gets ``http://`` for an IP address or a
    one-word host (the office LAN, localhost), ``https://`` for a domain name."""
    text = text.strip()
    if "://" not in text:
        host = urlsplit(f"//{text}").hostname or ""
        text = f"{'http' if _local_host(host) else 'https'}://{text}"
    text = text.rstrip("/")
    parts = urlsplit(text)
    valid: bool
    try:
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (
            parts.port is None or parts.port > 0)
    except ValueError:  # a port that is not a number
        valid = False
    if not valid:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a server address; give e.g. https://gridwork.example.cn "
            "or 127.0.0.1:5000")
    return text


def _local_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "." not in host
    return True


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day: give YYYY-MM-DD") from None


def _point_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--lat", type=float, required=required, help="latitude")
    parser.add_argument("--lon", type=float, required=required, help="longitude")
    parser.add_argument("--crs", default="wgs84", choices=CRS_CHOICES,
                        help="coordinate system of lat/lon (AMap gives gcj02, Baidu bd09)")
    parser.add_argument("--accuracy", type=float, help="GPS accuracy in metres")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    doc = (__doc__ or "").replace("``", "").split("\n\n")
    p = argparse.ArgumentParser(prog="gridsync", description=doc[0], epilog=doc[-1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=os.environ.get("GRIDSYNC_DATA_DIR", "~/.gridsync"),
                   help="where the outbox, the offline cache and the login are kept "
                        "(default: $GRIDSYNC_DATA_DIR, else ~/.gridsync)")
    p.add_argument("--server", type=server_address,
                   default=os.environ.get("GRIDSYNC_SERVER") or None,
                   help="the Gridwork server, e.g. https://gridwork.example.cn or "
                        "127.0.0.1:5000 (default: $GRIDSYNC_SERVER, else the one logged in to)")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens on the wire")
    sub = p.add_subparsers(dest="command", required=True)
    login = sub.add_parser("login", help="log in (the token is kept in the data folder)")
    login.add_argument("username")
    login.add_argument("--password", help="default: $GRIDSYNC_PASSWORD, else asked")
    _capture_commands(sub)
    _track_commands(sub)
    _sync_commands(sub)
    return p


def _capture_commands(sub: Any) -> None:
    report = sub.add_parser("report", help="queue a photo report")
    report.add_argument("--category", required=True)
    report.add_argument("--photo", action="append", required=True, type=Path)
    report.add_argument("--description", default="")
    report.add_argument("--captured-at", help="ISO 8601 with offset (default: now)")
    _point_args(report)

    visit = sub.add_parser("visit", help="queue a household visit")
    who = visit.add_mutually_exclusive_group(required=True)
    who.add_argument("--household-id", type=int,
                     help="its id (see 'gridsync households' or 'gridsync agenda')")
    who.add_argument("--household", metavar="CODE",
                     help="its code, e.g. 12-1-302, looked up in the offline cache")
    who.add_argument("--household-uuid", help="a household added on this device")
    visit.add_argument("--outcome", required=True, choices=VISIT_OUTCOMES,
                       help="met closes the household's open yellow ribbons")
    visit.add_argument("--notes", default="")
    visit.add_argument("--need", action="append", default=[], metavar="CATEGORY:TEXT",
                       help="what the family asked for; CATEGORY from the pulled categories")
    visit.add_argument("--photo", action="append", default=[], type=Path)
    visit.add_argument("--visited-at", help="ISO 8601 with offset (default: now)")
    visit.add_argument("--follow-up-on", type=_day, metavar="YYYY-MM-DD",
                       help="the day you promised to come back: the household is due then")
    _point_args(visit)

    household = sub.add_parser("household", help="households").add_subparsers(
        dest="household_command", required=True)
    add = household.add_parser("add", help="queue a household missing from the registry")
    add.add_argument("--door", required=True)
    add.add_argument("--head-name", required=True)
    add.add_argument("--building-id", type=int)
    add.add_argument("--unit", default="")
    add.add_argument("--code")
    add.add_argument("--phone")
    add.add_argument("--members", type=int, default=1)
    add.add_argument("--tag", action="append", default=[])
    add.add_argument("--notes", default="")
    _point_args(add, required=False)

    imp = sub.add_parser("import-photos", help="one report per photo, placed by its EXIF")
    imp.add_argument("folder", type=Path)
    imp.add_argument("--category", help=f"default: {capture.DEFAULT_CATEGORY}, if the "
                                         "pulled categories have it")
    imp.add_argument("--description", default="")
    imp.add_argument("--tz", default="Asia/Shanghai", help="camera clock zone if EXIF has none")


def _track_commands(sub: Any) -> None:
    track = sub.add_parser("track", help="queue a patrol track (巡查轨迹) from a GPX file")
    track.add_argument("gpx", type=Path, help="a GPS logger's or a phone app's GPX export")
    track.add_argument("--crs", choices=CRS_CHOICES, default="wgs84",
                       help="the file's coordinate system (GPX is wgs84)")


def _sync_commands(sub: Any) -> None:
    sub.add_parser("status", help="what is queued, failed, and whether to log in")
    push = sub.add_parser("push", help="send everything queued")
    push.add_argument("--timeout", type=float, default=300.0,
                      help="stop waiting for retries after this many seconds (records stay "
                           "queued); with no signal at all push stops at once")
    push.add_argument("--no-progress", action="store_true")
    sub.add_parser("pull", help="bring households, cases and categories for offline use")
    sub.add_parser("failed", help="records the server refused, and why")
    retry = sub.add_parser("retry", help="send refused records again")
    retry.add_argument("uuid", nargs="*")
    retry.add_argument("--all", action="store_true")
    discard = sub.add_parser("discard", help="drop a refused record for good")
    discard.add_argument("uuid")
    agenda = sub.add_parser("agenda", help="households to visit next (offline)")
    _point_args(agenda, required=False)
    agenda.add_argument("--limit", type=int, default=50, help="show this many (default 50)")
    households = sub.add_parser("households", help="find a household's id (offline)")
    households.add_argument("--search", metavar="TEXT", help="in the code or the head's name")


def _client(args: argparse.Namespace, **kwargs: Any) -> SyncClient:
    return SyncClient(args.server, Path(args.data_dir).expanduser(), **kwargs)


def _say(text: str) -> None:
    print(text, flush=True)


def _warn(lines: Iterable[str], prefix: str = "") -> None:
    for line in lines:
        print(f"warning: {prefix}{line} Queued anyway.", file=sys.stderr, flush=True)


def _location(args: argparse.Namespace) -> dict[str, Any]:
    return {"location": {"lat": args.lat, "lon": args.lon, "crs": args.crs,
                         "accuracy_m": args.accuracy}}


def cmd_login(args: argparse.Namespace) -> int:
    """Log in."""
    password = args.password or os.environ.get("GRIDSYNC_PASSWORD") or getpass.getpass()
    with _client(args) as client:
        try:
            client.login(args.username, password)
        except AuthRequired as exc:  # the login itself refused: say why, not "log in first"
            print(f"{(exc.problem or {}).get('detail') or exc} Not logged in.", file=sys.stderr)
            return EXIT_LOGIN
        _say(f"Logged in to {client.server_url} as {args.username}.")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """Queue a report; warn of what the server will flag."""
    with _client(args) as client:
        uid = client.queue_report(category=args.category, lat=args.lat, lon=args.lon,
                                  photos=args.photo, description=args.description,
                                  crs=args.crs, accuracy_m=args.accuracy,
                                  captured_at=args.captured_at)
        warnings = capture.report_warnings(client.cache, _location(args),
                                           _exif_points(args.photo))
    _say(f"Queued report {uid} with {len(args.photo)} photo(s). Run 'gridsync push' to send.")
    _warn(warnings)
    return EXIT_OK


def _exif_points(paths: Iterable[Path]) -> list[tuple[str, float, float]]:
    found = []
    for path in paths:
        try:
            point = read_exif_point_and_time(path)
        except (OSError, ValueError):
            continue  # queue_report has refused anything that is not a photo already
        if point is not None:
            found.append((path.name, point.lat, point.lon))
    return found


def cmd_visit(args: argparse.Namespace) -> int:
    """Queue a visit; warn of what the server will flag."""
    needs = []
    for text in args.need:
        category, _, what = text.partition(":")
        needs.append({"category": category.strip(), "text": what.strip()})
    with _client(args) as client:
        capture.check_need_categories(client.cache, needs)
        household_id, household_uuid = args.household_id, args.household_uuid
        if args.household is not None:
            household_id, household_uuid = capture.household_by_code(
                client.cache, args.household)
        uid = client.queue_visit(outcome=args.outcome, lat=args.lat, lon=args.lon,
                                 household_id=household_id,
                                 household_client_uuid=household_uuid, photos=args.photo,
                                 notes=args.notes, needs=needs, visited_at=args.visited_at,
                                 follow_up_on=args.follow_up_on, crs=args.crs,
                                 accuracy_m=args.accuracy)
        warnings = capture.visit_warnings(client.cache, {
            **_location(args), "household_id": household_id,
            "household_client_uuid": household_uuid})
    _say(f"Queued visit {uid}.")
    _warn(warnings)
    return EXIT_OK


def cmd_household(args: argparse.Namespace) -> int:
    """Queue a household."""
    with _client(args) as client:
        uid = client.queue_household(
            door=args.door, head_name=args.head_name, building_id=args.building_id,
            unit=args.unit, code=args.code, phone=args.phone, members=args.members,
            tags=args.tag, notes=args.notes, lat=args.lat, lon=args.lon, crs=args.crs,
            accuracy_m=args.accuracy)
    _say(f"Queued household {uid}. Visits to it: --household-uuid {uid}")
    return EXIT_OK


def cmd_import_photos(args: argparse.Namespace) -> int:
    """One report per photo in a folder, placed and timed by its EXIF."""
    if not args.folder.is_dir():
        raise ValidationError(errors={"folder": [f"{args.folder} is not a folder."]})
    zone = ZoneInfo(args.tz)
    files = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    queued, skipped = 0, []
    with _client(args) as client:
        category = args.category or capture.default_category(client.cache)
        for path in files:
            try:
                point = read_exif_point_and_time(path, default_tz=zone)
            except OSError:
                skipped.append(f"{path.name}: not a photo")
                continue
            if point is None:
                skipped.append(f"{path.name}: no GPS position in its EXIF")
                continue
            try:
                client.queue_report(category=category, lat=point.lat, lon=point.lon,
                                    photos=[path], description=args.description,
                                    captured_at=point.taken_at)
            except ValidationError as exc:
                skipped.append(f"{path.name}: {'; '.join(field_errors(exc.errors))}")
                continue
            queued += 1
            _warn(capture.report_warnings(client.cache, {"location": {
                "lat": point.lat, "lon": point.lon}}), prefix=f"{path.name}: ")
    _say(f"Queued {queued} report(s) from {len(files)} photo(s) in {args.folder}"
         + ("." if args.category else f", in the category {category} (--category to choose)."))
    for line in skipped:
        _say(f"  skipped {line}")
    return EXIT_OK if queued or not files else EXIT_INVALID


def cmd_track(args: argparse.Namespace) -> int:
    """Queue each track segment of a GPX file as a patrol: a position every 30 s or 25 m."""
    segments = read_gpx(args.gpx)
    if not segments:
        raise ValidationError(errors={"gpx": [f"{args.gpx.name} holds no track positions."]})
    queued: list[str] = []
    kept = total = 0
    with _client(args) as client, client.outbox.atomic():  # the whole file, or nothing
        for positions in segments:
            patrol = client.start_patrol(started_at=positions[0][3], crs=args.crs)
            kept += sum(patrol.offer(*position) for position in positions)
            total += len(positions)
            queued += patrol.stop(positions[-1][3])
    _say(f"Queued {len(queued)} track(s) from {len(segments)} segment(s) of {args.gpx.name}: "
         f"{kept} of {total} positions kept (one every 30 s or 25 m). "
         "Run 'gridsync push' to send.")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """Show the outbox."""
    with _client(args) as client:
        status = client.status()
    _say(format_status(status))
    return EXIT_LOGIN if status.login_needed and status.pending else EXIT_OK


def cmd_push(args: argparse.Namespace) -> int:
    """Send everything, with a progress bar on stderr."""
    progress = Progress(sys.stderr, enabled=not args.no_progress)
    with _client(args, on_event=progress.event) as client:
        status = client.status()
        if client.login_needed:
            raise AuthRequired("Log in first: gridsync login USERNAME")
        progress.begin(status.pending, status.pending_bytes)
        result = client.push(timeout=args.timeout, give_up_offline=True)
        progress.end()
    _say(f"Sent {result.pushed} record(s) and {result.photos} photo(s); "
         f"{result.failed} refused, {result.pending} still queued, {result.blocked} blocked.")
    if result.login_needed:
        _say("The server wants a new login: gridsync login USERNAME (nothing was lost).")
        return EXIT_LOGIN
    if result.pending:
        _say("The server could not be reached for some records; they stay queued. "
             "Run 'gridsync push' again when you have signal.")
        return EXIT_UNREACHABLE
    if result.failed or result.blocked:
        _say("Some records were refused: see 'gridsync failed'.")
        return EXIT_REFUSED
    return EXIT_OK


def cmd_pull(args: argparse.Namespace) -> int:
    """Refresh the offline cache."""
    with _client(args) as client:
        count = client.pull()
        # My grids' boundaries, so a capture outside them is pointed out offline.
        grids = client.cache.replace_grids(client.transport.get_json(GRIDS_PATH))
        # The server's flag thresholds, so the warnings at capture use this deployment's own.
        client.cache.set_capture_policy(client.transport.get_json(POLICY_PATH))
        households = len(client.cache.households())
    _say(f"Pulled {count} change(s); {households} household(s) and {grids} grid(s) "
         "available offline.")
    return EXIT_OK


def cmd_failed(args: argparse.Namespace) -> int:
    """List refused records."""
    with _client(args) as client:
        failed, blocked = client.failed(), client.blocked()
    if not failed and not blocked:
        _say("Nothing was refused.")
        return EXIT_OK
    for item in failed:
        _say(describe_item(item))
    if blocked:
        _say(f"{len(blocked)} record(s) wait on a refused one: fix or discard it first.")
    _say("Fix the cause, then 'gridsync retry UUID', or drop it: 'gridsync discard UUID'.")
    return EXIT_REFUSED


def cmd_retry(args: argparse.Namespace) -> int:
    """Make refused records ready again."""
    with _client(args) as client:
        uuids = [i.client_uuid for i in client.failed()] if args.all else args.uuid
        if args.all and not uuids:
            _say("Nothing was refused: nothing to retry.")
            return EXIT_OK
        if not uuids:
            raise ValidationError(errors={"uuid": ["Name a record, or give --all."]})
        for uid in uuids:
            client.retry(uid)
    _say(f"{len(uuids)} record(s) will be sent at the next push.")
    return EXIT_OK


def cmd_discard(args: argparse.Namespace) -> int:
    """Drop a record."""
    with _client(args) as client:
        client.discard(args.uuid)
    _say(f"Discarded {args.uuid}.")
    return EXIT_OK


def cmd_agenda(args: argparse.Namespace) -> int:
    """Households to visit next, from the offline cache."""
    with _client(args) as client:
        items = client.cache.agenda(args.lat, args.lon, limit=None)
    if not items:
        _say("Nobody is due (or nothing pulled yet: run 'gridsync pull').")
        return EXIT_OK
    shown = max(args.limit, 0)
    _say(AGENDA_HEADER)
    for item in items[:shown]:
        _say(agenda_line(item))
    if len(items) > shown:
        _say(f"{shown} of {len(items)}, --limit to see more.")
    return EXIT_OK


def cmd_households(args: argparse.Namespace) -> int:
    """Households of the offline cache, with the id a visit takes."""
    with _client(args) as client:
        found = client.cache.find_households(text=args.search)
    if not found:
        _say("No household found (or nothing pulled yet: run 'gridsync pull').")
        return EXIT_OK
    _say(HOUSEHOLD_HEADER)
    for household in found:
        _say(household_line(household))
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "login": cmd_login, "report": cmd_report, "visit": cmd_visit, "household": cmd_household,
    "import-photos": cmd_import_photos, "track": cmd_track, "status": cmd_status,
    "push": cmd_push,
    "pull": cmd_pull, "failed": cmd_failed, "retry": cmd_retry, "discard": cmd_discard,
    "agenda": cmd_agenda, "households": cmd_households,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (see the module docstring)."""
    try:
        args = build_parser().parse_args(argv)
        _configure_logging(args.verbose)
        return _run(args)
    except BrokenPipeError:  # `gridsync agenda | head`: the reader has all it wanted
        with contextlib.suppress(OSError, ValueError):  # nor the interpreter's last flush
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    # urllib3 logs each connect retry as a warning; our own message says what failed.
    logging.getLogger("urllib3").setLevel(logging.INFO if verbose else logging.ERROR)


def _run(args: argparse.Namespace) -> int:
    try:
        return COMMANDS[args.command](args)
    except ValidationError as exc:
        print("The record is not valid; nothing was queued:", file=sys.stderr)
        for line in field_errors(exc.errors):
            print(f"  {line}", file=sys.stderr)
        return EXIT_INVALID
    except AuthRequired:
        print("Log in first: gridsync login USERNAME (queued records are kept).",
              file=sys.stderr)
        return EXIT_LOGIN
    except LockedError as exc:
        print(f"{exc}. Wait for the other gridsync to finish.", file=sys.stderr)
        return EXIT_LOCKED
    except ServerUnavailable as exc:
        reason = (exc.problem or {}).get("detail") or exc
        print(f"The server answered {exc.status}: {reason} Records stay queued; try again "
              "later.", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (ConnectionFailed, TransientError) as exc:
        print(f"Could not reach the server ({exc}). Records stay queued; try again later.",
              file=sys.stderr)
        return EXIT_UNREACHABLE
    except (SyncError, KeyError, ValueError) as exc:
        print(f"gridsync: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
