"""Reading a GPX file (a GPS logger's, or a phone app's export) as patrol positions.

Each ``<trkseg>`` of each ``<trk>`` is one stretch of positions: ``(lat, lon, accuracy_m,
recorded_at)``, in the file's order. GPX gives no accuracy radius; a ``<hdop>`` is turned
into one at 5 m per unit (a phone GPS's usual user range error), otherwise it is left out.
Every ``<trkpt>`` needs a ``<time>`` with its zone (GPX times are UTC, ``Z``). The XML is
read with defusedxml: no entities, no external references.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from xml.etree.ElementTree import Element  # noqa: S405 - the type only; parsing is defusedxml

from defusedxml import ElementTree

from client_sync.exceptions import ValidationError

__all__ = ["Position", "read_gpx", "HDOP_METRES"]

Position = tuple[float, float, float | None, datetime]
HDOP_METRES = 5.0


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(node: Element, name: str) -> Element | None:
    return next((c for c in node if _local(c.tag) == name), None)


def _position(point: Element, where: str) -> Position:
    try:
        lat, lon = float(point.attrib["lat"]), float(point.attrib["lon"])
    except (KeyError, ValueError) as exc:
        raise ValidationError(errors={"gpx": [f"{where}: lat and lon must be numbers."]}
                              ) from exc
    stamp = _child(point, "time")
    text = (stamp.text or "").strip() if stamp is not None else ""
    if not text:
        raise ValidationError(errors={"gpx": [f"{where}: a position needs its <time>."]})
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(errors={"gpx": [f"{where}: {text!r} is not a time."]}) from exc
    if when.tzinfo is None:
        raise ValidationError(errors={"gpx": [f"{where}: the time needs its zone (Z)."]})
    hdop = _child(point, "hdop")
    accuracy = None
    if hdop is not None and hdop.text:
        try:
            accuracy = round(float(hdop.text) * HDOP_METRES, 1)
        except ValueError:
            accuracy = None
    return lat, lon, accuracy, when


def read_gpx(path: Path) -> list[list[Position]]:
    """The track segments of the GPX file at ``path``, each a list of positions in order."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as exc:
        raise ValidationError(errors={"gpx": [f"{path.name} is not a GPX file: {exc}"]}
                              ) from exc
    except Exception as exc:  # defusedxml's refusals (entities, DTDs) # noqa: BLE001
        raise ValidationError(errors={"gpx": [f"{path.name} was refused: {exc}"]}) from exc
    if _local(root.tag) != "gpx":
        raise ValidationError(errors={"gpx": [f"{path.name} is not a GPX file."]})
    segments = []
    for t, track in enumerate(c for c in root if _local(c.tag) == "trk"):
        for s, segment in enumerate(c for c in track if _local(c.tag) == "trkseg"):
            points = [_position(p, f"track {t + 1}, segment {s + 1}, position {i + 1}")
                      for i, p in enumerate(c for c in segment if _local(c.tag) == "trkpt")]
            if points:
                segments.append(points)
    return segments
