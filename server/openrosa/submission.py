"""A filled-in form (an XForm instance) turned into the body the API's own schema loads.

Collect posts ``xml_submission_file`` with the photos as parts named by their file names,
and splits a large submission into several posts, each repeating the XML, all but the last
marked ``*isIncomplete*``. The instance's ``meta/instanceID`` (``uuid:…``) is the record's
``client_uuid``, so the API's replay rules hold unchanged; each photo's id is derived from
the instanceID and its file name (:func:`photo_uuid`), so a part sent again is a replay of
the same photo and the record names its photos before they have all arrived.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError  # noqa: S405 - types only; parsed below

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from server.errors import ApiError
from server.openrosa.forms import FORMS, REPORT_FORM, VISIT_FORM, FormSpec

__all__ = ["Instance", "parse_instance", "photo_uuid", "record_body", "SubmissionError",
           "PHOTO_NAMESPACE", "MAX_XML_BYTES"]

# Photos of an OpenRosa submission: uuid5(PHOTO_NAMESPACE, "<instanceID>/<file name>").
PHOTO_NAMESPACE = uuid.UUID("0d6c1f3e-7a55-4c1b-9a3e-5f2b8c4d7e61")
MAX_XML_BYTES = 1024 * 1024  # a visit's XML is a few kilobytes


class SubmissionError(ApiError):
    """The submission cannot be read (400), or names a form this server has not (404)."""

    status, slug, title = 400, "openrosa_submission", "Bad submission"


@dataclass
class Instance:
    """What the server reads of a submitted instance."""

    form: FormSpec
    instance_id: str  # the UUID of meta/instanceID, lowercase, without "uuid:"
    root: Element
    files: list[str] = field(default_factory=list)  # the photo file names, in form order

    def text(self, *path: str) -> str:
        """The text of the first element at ``path`` under the root ('' if absent)."""
        node: Element | None = self.root
        for name in path:
            node = _child(node, name) if node is not None else None
        return (node.text or "").strip() if node is not None else ""


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(node: Element, name: str) -> Element | None:
    return next((c for c in node if _local(c.tag) == name), None)


def _children(node: Element, name: str) -> list[Element]:
    return [c for c in node if _local(c.tag) == name]


def photo_uuid(instance_id: str, filename: str) -> str:
    """The id of the photo ``filename`` of the instance ``instance_id``."""
    return str(uuid.uuid5(PHOTO_NAMESPACE, f"{instance_id}/{filename}"))


def parse_instance(data: bytes) -> Instance:
    """Read a submitted instance: its form, instanceID and photo file names.

    Raises :class:`SubmissionError`: 400 for XML that is malformed, unsafe (entities) or
    without a ``uuid:`` instanceID; 404 for a form id this server does not serve.
    """
    if len(data) > MAX_XML_BYTES:
        raise SubmissionError(f"The submission's XML is over {MAX_XML_BYTES} bytes.")
    try:
        root = fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise SubmissionError(f"The submission's XML cannot be read: {exc}.") from exc
    form_id = root.get("id") or _local(root.tag)
    form = FORMS.get(form_id)
    if form is None:
        raise SubmissionError(f"This server has no form {form_id!r}.", status=404,
                              slug="openrosa_unknown_form")
    meta = _child(root, "meta")
    node = _child(meta, "instanceID") if meta is not None else None
    raw = (node.text or "").strip() if node is not None else ""
    try:
        instance_id = str(uuid.UUID(raw.removeprefix("uuid:")))
    except ValueError:
        raise SubmissionError("The submission has no meta/instanceID of the form "
                              "uuid:<UUID>.") from None
    instance = Instance(form=form, instance_id=instance_id, root=root)
    instance.files = _photo_files(instance)
    return instance


def _photo_files(instance: Instance) -> list[str]:
    names: list[str] = []
    root = instance.root
    if instance.form is REPORT_FORM:
        groups = [root, *_children(root, "more_photos")]
    else:
        groups = _children(root, "photos")
    for group in groups:
        node = _child(group, "photo")
        name = (node.text or "").strip() if node is not None else ""
        if name and name not in names:
            names.append(name)
    return names


def _location(text: str) -> dict[str, Any] | str:
    """An XForm geopoint "lat lon altitude accuracy" as the API's point (WGS-84: GPS)."""
    parts = text.split()
    if len(parts) < 2:
        return text  # the schema says what is wrong with it
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return text
    point: dict[str, Any] = {"lat": values[0], "lon": values[1], "crs": "wgs84"}
    if len(values) >= 4:
        point["accuracy_m"] = values[3]
    return point


def _visited_at(instance: Instance) -> str | None:
    """When the form was opened (``start``): the time the worker stood at the door."""
    value = instance.text("start") or instance.text("end")
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).isoformat()
    except ValueError:
        return value


def _visit_body(instance: Instance) -> dict[str, Any]:
    needs = []
    for need in _children(instance.root, "need"):
        values = {_local(c.tag): (c.text or "").strip() for c in need}
        if not values.get("category"):
            continue  # an empty repeat Collect left in
        needs.append({"category": values["category"], "text": values.get("text", ""),
                      "create_report": values.get("create_report") == "yes"})
    household = instance.text("household")
    return {
        "client_uuid": instance.instance_id,
        "household_id": household or None,
        "visited_at": _visited_at(instance),
        "location": _location(instance.text("location")),
        "outcome": instance.text("outcome"),
        "notes": instance.text("notes"),
        "needs": needs,
        "photo_ids": [photo_uuid(instance.instance_id, n) for n in instance.files],
        "follow_up_on": instance.text("follow_up_on") or None,
    }


def _report_body(instance: Instance) -> dict[str, Any]:
    return {
        "client_uuid": instance.instance_id,
        "category": instance.text("category"),
        "description": instance.text("description"),
        "location": _location(instance.text("location")),
        "captured_at": _visited_at(instance),
        "photo_ids": [photo_uuid(instance.instance_id, n) for n in instance.files],
    }


def record_body(instance: Instance) -> dict[str, Any]:
    """The request body the API would take for this record (not loaded yet)."""
    body = _visit_body(instance) if instance.form is VISIT_FORM else _report_body(instance)
    return {key: value for key, value in body.items() if value is not None}
