"""Photos: the one-shot upload form and the metadata the server keeps about a photo."""

from __future__ import annotations

from marshmallow import fields

from schemas.base import Schema
from schemas.common import UUIDString

__all__ = ["PhotoSchema", "PhotoExifSchema", "PhotoUploadFormSchema", "PHOTO_URL_PREFIX"]

PHOTO_URL_PREFIX = "/api/v1/photos/"


class PhotoUploadFormSchema(Schema):
    """The form fields of ``POST /api/v1/photos`` besides the ``file`` part."""

    client_uuid = UUIDString(load_default=None, metadata={
        "description": "The photo's id, made on the device; without it the server makes one"})


class PhotoExifSchema(Schema):
    """What the photo's EXIF says: where (WGS-84), when (UTC) and with what it was taken."""

    lat = fields.Float(allow_none=True, attribute="exif_lat")
    lon = fields.Float(allow_none=True, attribute="exif_lon")
    altitude_m = fields.Float(allow_none=True, attribute="exif_altitude_m")
    taken_at = fields.AwareDateTime(allow_none=True, attribute="exif_taken_at")
    make = fields.String(allow_none=True, attribute="exif_make")
    model = fields.String(allow_none=True, attribute="exif_model")
    orientation = fields.Integer(allow_none=True, attribute="exif_orientation")


def _urls(photo: object) -> dict[str, str]:
    base = f"{PHOTO_URL_PREFIX}{photo.id}"  # type: ignore[attr-defined]
    return {"display": f"{base}/display", "thumb": f"{base}/thumb",
            "original": f"{base}/original"}


class PhotoSchema(Schema):
    """A stored photo: its identity, decoded format and size, EXIF, and where its images are."""

    id = fields.String(metadata={"description": "The client's UUID for the photo"})
    sha256 = fields.String()
    size_bytes = fields.Integer()
    format = fields.String(metadata={"example": "jpeg"})
    mime = fields.String(metadata={"example": "image/jpeg"})
    width = fields.Integer(metadata={"description": "Upright width in pixels"})
    height = fields.Integer(metadata={"description": "Upright height in pixels"})
    filename = fields.String(allow_none=True)
    exif = fields.Function(lambda photo: PhotoExifSchema().dump(photo),
                           metadata={"description": "EXIF place, time and camera"})
    uploaded_by = fields.Integer(attribute="uploaded_by_id")
    created_at = fields.AwareDateTime()
    urls = fields.Function(_urls, metadata={
        "description": "display (≤1600 px) and thumb (≤320 px), metadata stripped; original "
                       "only for roles that may see it"})
