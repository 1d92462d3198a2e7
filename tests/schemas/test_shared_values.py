"""Every shared value (outcomes, statuses, flags, kinds, tags, coordinate systems) is spelled
once, in ``schemas/``, the wire contract; the server and the client import it from there."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections import defaultdict
from pathlib import Path

import schemas

ROOT = Path(__file__).parents[2]
PACKAGES = ("schemas", "server", "client_sync")


def shared_values() -> dict[frozenset[str], str]:
    """Each value set that a schemas module exports (a tuple or set of names), by its name."""
    found: dict[frozenset[str], str] = {}
    for info in pkgutil.iter_modules(schemas.__path__):
        module = importlib.import_module(f"schemas.{info.name}")
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if (isinstance(value, tuple | frozenset) and len(value) > 1
                    and all(isinstance(v, str) for v in value)):
                found.setdefault(frozenset(value), f"schemas.{info.name}.{name}")
    return found


def spelled_out() -> dict[frozenset[str], list[str]]:
    """Every tuple, list or set literal of two or more strings in the packages, and where."""
    places: dict[frozenset[str], list[str]] = defaultdict(list)
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # a migration keeps the values of its day
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if (isinstance(node, ast.Tuple | ast.List | ast.Set) and len(node.elts) > 1
                        and all(isinstance(e, ast.Constant) and isinstance(e.value, str)
                                for e in node.elts)):
                    values = frozenset(e.value for e in node.elts)  # type: ignore[attr-defined]
                    places[values].append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return places


def test_each_shared_value_is_spelled_out_once_in_schemas():
    shared, places = shared_values(), spelled_out()
    assert len(shared) >= 8  # outcomes, statuses, flags, kinds, tags, coordinate systems...
    repeated = {name: places[values] for values, name in shared.items()
                if len(places[values]) > 1  # one literal; none when it is derived
                or any(not place.startswith("schemas/") for place in places[values])}
    assert not repeated, f"import these from schemas/ instead: {repeated}"


def test_the_models_use_the_wire_values():
    from schemas.reports import REPORT_STATUSES
    from schemas.visits import VISIT_OUTCOMES
    from server.models import reports, visits

    assert reports.REPORT_STATUSES is REPORT_STATUSES
    assert visits.VISIT_OUTCOMES is VISIT_OUTCOMES


def test_the_server_batch_takes_the_record_kinds_the_wire_names():
    from schemas.sync import BATCH_KINDS
    from server.services.sync import record_kinds

    assert list(record_kinds()) == list(BATCH_KINDS)


def test_the_client_queues_and_pushes_the_record_kinds_the_wire_names():
    from client_sync import capture, push, queue
    from schemas.sync import BATCH_KINDS

    assert push.RECORD_KINDS is BATCH_KINDS
    assert set(capture._schemas()) == set(BATCH_KINDS)
    assert queue.KINDS[0] == "photo" and queue.KINDS[1:] == BATCH_KINDS


def test_the_changes_feed_sends_the_kinds_the_wire_names():
    from schemas.sync import CHANGE_KINDS
    from server.services import sync

    assert set(sync._STREAMS) == set(sync._STREAM_KEYS) == set(sync._KIND_ORDER) == set(
        CHANGE_KINDS)
