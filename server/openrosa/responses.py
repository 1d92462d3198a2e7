"""The XML documents OpenRosa 1.0 answers with: the form list, a manifest, OpenRosaResponse.

Every answer carries ``X-OpenRosa-Version: 1.0`` (the blueprint adds it). Collect checks
that a form list and a manifest come as ``text/xml`` and counts a submission as sent only
on 201 or 202: an error is any other status, with an ``OpenRosaResponse`` whose message the
worker reads on the phone (Chinese first, then English).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from xml.etree.ElementTree import Element, SubElement, tostring  # noqa: S405 - we only write XML

from flask import Response

__all__ = ["FormListItem", "MediaItem", "form_list", "manifest", "openrosa_response",
           "xml_response", "OPENROSA_VERSION"]

OPENROSA_VERSION = "1.0"
_XFORMS_LIST = "http://openrosa.org/xforms/xformsList"
_MANIFEST = "http://openrosa.org/xforms/xformsManifest"
_RESPONSE = "http://openrosa.org/http/response"


@dataclass(frozen=True)
class FormListItem:
    """One ``<xform>`` of the form list."""

    form_id: str
    name: str
    version: str
    hash: str  # "md5:<hex>" of the form document
    download_url: str
    manifest_url: str


@dataclass(frozen=True)
class MediaItem:
    """One ``<mediaFile>`` of a manifest."""

    filename: str
    hash: str
    download_url: str


def xml_response(root: Element, status: int = 200) -> Response:
    """``root`` as a UTF-8 XML document."""
    body = tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, status=status, content_type="text/xml; charset=utf-8")


def _leaf(parent: Element, tag: str, text: str) -> None:
    SubElement(parent, tag).text = text


def form_list(items: Iterable[FormListItem]) -> Response:
    """The OpenRosa form list (``xformsList``)."""
    root = Element("xforms", xmlns=_XFORMS_LIST)
    for item in items:
        node = SubElement(root, "xform")
        for tag, text in (("formID", item.form_id), ("name", item.name),
                          ("version", item.version), ("hash", item.hash),
                          ("downloadUrl", item.download_url),
                          ("manifestUrl", item.manifest_url)):
            _leaf(node, tag, text)
    return xml_response(root)


def manifest(items: Iterable[MediaItem]) -> Response:
    """A form's manifest: its media files with their hashes."""
    root = Element("manifest", xmlns=_MANIFEST)
    for item in items:
        node = SubElement(root, "mediaFile")
        _leaf(node, "filename", item.filename)
        _leaf(node, "hash", item.hash)
        _leaf(node, "downloadUrl", item.download_url)
    return xml_response(root)


def openrosa_response(message: str, *, status: int, nature: str) -> Response:
    """An ``OpenRosaResponse`` with one message (``submit_success`` or ``error``)."""
    root = Element("OpenRosaResponse", xmlns=_RESPONSE)
    node = SubElement(root, "message", nature=nature)
    node.text = message
    return xml_response(root, status)
