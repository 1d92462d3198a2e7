"""Resumable photo upload, tus 1.0.0 (core, creation, creation-with-upload, termination,
checksum, expiration) at ``/api/v1/uploads/``.

Every answer carries ``Tus-Resumable``; errors are problem+json with the status codes tus
prescribes (409 offset mismatch, 412 wrong version, 415 wrong content type, 460 checksum
mismatch). When the last byte arrives the answer names the photo in ``Photo-Id``.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from werkzeug.http import http_date

from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_user
from server.config import Config
from server.errors import ApiError, UnsupportedMediaTypeError
from server.extensions import db
from server.models import Photo, Upload
from server.services import uploads as service
from server.transactions import keep_on_error

__all__ = ["bp"]

bp = Blueprint("uploads", __name__, url_prefix="/api/v1",
               description="Resumable photo upload (tus 1.0.0)")

OFFSET_OCTET_STREAM = "application/offset+octet-stream"
_EXPOSED = ("Location, Upload-Offset, Upload-Length, Upload-Expires, Upload-Metadata, "
            "Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, "
            "Tus-Checksum-Algorithm, Photo-Id")
_TUS_PARAMS = [{"in": "header", "name": "Tus-Resumable", "required": True,
                "schema": {"type": "string", "enum": [service.TUS_VERSION]}}]
_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _tus_doc(success: dict[str, str], errors: dict[int, str], *,
             headers: tuple[dict[str, Any], ...] = (), chunk: bool = False) -> dict[str, Any]:
    """OpenAPI for a tus operation: its headers, its bodiless success answers and its
    problems; ``chunk``: its body is a chunk of the file (application/offset+octet-stream)."""
    responses: dict[str, Any] = {code: {"description": text} for code, text in success.items()}
    for status, text in errors.items():
        responses[str(status)] = {"description": text, "content": _PROBLEM}
    doc: dict[str, Any] = {"parameters": [*_TUS_PARAMS, *headers], "responses": responses}
    if chunk:
        doc["requestBody"] = {"required": True, "content": {
            OFFSET_OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}}}
    return doc


def _integer_header(name: str, description: str, **bounds: int) -> dict[str, Any]:
    return {"in": "header", "name": name, "required": True, "description": description,
            "schema": {"type": "integer", **bounds}}


@bp.after_request
def _tus_headers(response: Response) -> Response:
    response.headers["Tus-Resumable"] = service.TUS_VERSION
    response.headers["Access-Control-Expose-Headers"] = _EXPOSED
    return response


def _require_version() -> None:
    version = request.headers.get("Tus-Resumable")
    if version != service.TUS_VERSION:
        raise ApiError(f"Send 'Tus-Resumable: {service.TUS_VERSION}' (got {version!r}).",
                       slug="tus_version", status=412,
                       headers={"Tus-Version": service.TUS_VERSION})


def _int_header(name: str, *, required: bool = True) -> int | None:
    raw = request.headers.get(name)
    if raw is None or raw.strip() == "":
        if required:
            raise ApiError(f"The {name} header is required.", slug="bad_request", status=400)
        return None
    # isdigit() alone takes "²" and other Unicode digits that int() refuses.
    if not (raw.strip().isascii() and raw.strip().isdigit()):
        raise ApiError(f"The {name} header must be a non-negative integer.",
                       slug="bad_request", status=400)
    return int(raw)


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get(
        "Transfer-Encoding", "").lower()


def _state_headers(upload: Upload, photo: Photo | None) -> dict[str, str]:
    headers = {"Upload-Offset": str(upload.offset), "Upload-Length": str(upload.length),
               "Upload-Expires": http_date(upload.expires_at)}
    if photo is not None:
        headers["Photo-Id"] = photo.id
    elif upload.photo_id:
        headers["Photo-Id"] = upload.photo_id
    return headers


def _answer(status: int, headers: dict[str, str]) -> Response:
    response = Response(status=status)
    del response.headers["Content-Type"]  # no body, so no type (werkzeug defaults to HTML)
    response.headers.update(headers)
    return response


@bp.route("/uploads/", methods=["OPTIONS"])
@bp.doc(responses={"204": {"description": "What this server supports, in Tus-* headers"}})
def tus_options() -> Response:
    """What this tus server supports: version, extensions, checksums, the size limit."""
    return _answer(204, {
        "Tus-Version": service.TUS_VERSION,
        "Tus-Extension": ",".join(service.TUS_EXTENSIONS),
        "Tus-Checksum-Algorithm": ",".join(service.CHECKSUM_ALGORITHMS),
        "Tus-Max-Size": str(current_app.config["MAX_PHOTO_BYTES"]),
    })


@bp.route("/uploads/", methods=["POST"])
@auth_required("photos.upload")
@bp.doc(**_tus_doc({"201": "Created; Location names the upload, Upload-Offset says how much "
                            "of the body arrived, Photo-Id once the photo is made"},
                   {400: "Bad Upload-Length, Upload-Metadata or Upload-Checksum",
                    412: "Unsupported Tus-Resumable", 413: "Longer than Tus-Max-Size",
                    415: "Not an acceptable photo, or a body that is not offset+octet-stream",
                    422: "A photo that cannot be decoded or has too many pixels",
                    429: "Too many unfinished uploads of mine, or too many bytes declared "
                         "in them (too_many_uploads)",
                    460: "The body does not match Upload-Checksum"},
                   headers=(_integer_header(
                       "Upload-Length", "The file's size in bytes (at most Tus-Max-Size)",
                       minimum=1, maximum=Config.MAX_PHOTO_BYTES),)))
def tus_create() -> Response:
    """Create an upload (Upload-Length, Upload-Metadata: filename, content_type, client_uuid).

    A body of type application/offset+octet-stream is the first chunk (creation-with-upload).
    """
    _require_version()
    keep_on_error()  # a refused photo takes its upload with it, whatever the answer
    length = _int_header("Upload-Length")
    assert length is not None
    with_body = _has_body()
    if with_body and request.mimetype != OFFSET_OCTET_STREAM:
        raise UnsupportedMediaTypeError(f"A creation body must be {OFFSET_OCTET_STREAM}.")
    meta = service.parse_metadata(request.headers.get("Upload-Metadata"))
    checksum = service.parse_checksum(request.headers.get("Upload-Checksum"))
    user = current_user()
    upload = service.create_upload(db.session, user, length, meta)
    photo, upload_id = None, upload.id
    if with_body or length == 0:
        try:
            upload, photo = service.receive_chunk(
                db.session, user, upload, request.stream, offset=0, checksum=checksum,
                content_length=request.content_length)
        except ApiError:
            # A problem answer carries no Location: the client cannot resume or delete it.
            service.discard_unfinished(db.session, upload_id)
            raise
    headers = _state_headers(upload, photo)
    headers["Location"] = f"{bp.url_prefix}/uploads/{upload.id}"
    return _answer(201, headers)


@bp.route("/uploads/<upload_id>", methods=["HEAD"])
@auth_required("photos.upload")
@bp.doc(**_tus_doc({"200": "Upload-Offset and Upload-Length; Photo-Id once whole"},
                   {404: "No such upload of yours", 410: "Expired",
                    412: "Unsupported Tus-Resumable"}))
def tus_head(upload_id: str) -> Response:
    """The upload's offset and length; Photo-Id once it is whole."""
    _require_version()
    keep_on_error()  # a refused photo takes its upload with it, whatever the answer
    upload = service.get_upload(db.session, current_user(), upload_id)
    # Every byte here but no photo: the server died while making it. Make it now.
    photo = service.finish_if_whole(db.session, current_user(), upload)
    if photo is not None:
        upload = service.get_upload(db.session, current_user(), upload_id)
    headers = _state_headers(upload, photo)
    headers["Cache-Control"] = "no-store"
    if upload.meta:
        headers["Upload-Metadata"] = _encode_metadata(upload.meta)
    return _answer(200, headers)


@bp.route("/uploads/<upload_id>", methods=["PATCH"])
@auth_required("photos.upload")
@bp.doc(**_tus_doc({"204": "The new Upload-Offset; Photo-Id when this chunk completed it"},
                   {400: "Bad Upload-Offset or Upload-Checksum", 404: "No such upload of yours",
                    409: "Upload-Offset is not the server's", 410: "Expired",
                    412: "Unsupported Tus-Resumable", 413: "Past the Upload-Length",
                    415: "Not offset+octet-stream, or not an acceptable photo",
                    422: "A photo that cannot be decoded or has too many pixels",
                    460: "The chunk does not match Upload-Checksum",
                    503: "Another request is still sending bytes to this upload "
                         "(upload_busy)"},
                   headers=(_integer_header("Upload-Offset", "Where this chunk goes: the "
                                            "upload's offset (HEAD tells it)", minimum=0),),
                   chunk=True))
def tus_patch(upload_id: str) -> Response:
    """Append a chunk at Upload-Offset (optionally with Upload-Checksum); 204 with the new offset.

    The chunk that completes the upload makes the photo: the answer carries Photo-Id, or a
    problem (415, 422) when the file is not an acceptable photo (the upload is discarded).
    """
    _require_version()
    keep_on_error()  # a refused photo takes its upload with it, whatever the answer
    if request.mimetype != OFFSET_OCTET_STREAM:
        raise UnsupportedMediaTypeError(f"A PATCH body must be {OFFSET_OCTET_STREAM}.")
    offset = _int_header("Upload-Offset")
    assert offset is not None
    checksum = service.parse_checksum(request.headers.get("Upload-Checksum"))
    user = current_user()
    upload = service.get_upload(db.session, user, upload_id)
    upload, photo = service.receive_chunk(
        db.session, user, upload, request.stream, offset=offset, checksum=checksum,
        content_length=request.content_length)
    return _answer(204, _state_headers(upload, photo))


@bp.route("/uploads/<upload_id>", methods=["DELETE"])
@auth_required("photos.upload")
@bp.doc(**_tus_doc({"204": "Terminated: the bytes are deleted"},
                   {404: "No such upload of yours", 412: "Unsupported Tus-Resumable"}))
def tus_delete(upload_id: str) -> Response:
    """Terminate an upload: its bytes are deleted (a finished upload's photo stays)."""
    _require_version()
    upload = service.get_upload(db.session, current_user(), upload_id)
    service.terminate_upload(db.session, upload)
    return _answer(204, {})


def _encode_metadata(meta: dict[str, Any]) -> str:
    import base64

    return ",".join(f"{key} {base64.b64encode(str(value).encode()).decode()}"
                    for key, value in meta.items())
