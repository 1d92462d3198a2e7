"""Photos: one-shot upload, metadata, and the display, thumb and original images."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, send_file
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from schemas.photos import PhotoSchema, PhotoUploadFormSchema
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_access, current_user
from server.errors import UnprocessableError, UnsupportedMediaTypeError
from server.extensions import db
from server.services import photos as service
from server.services.audit import audit

__all__ = ["bp", "MultipartFileStream"]

bp = Blueprint("photos", __name__, url_prefix="/api/v1", description="Photos and their images")

IMMUTABLE = "private, max-age=31536000, immutable"
_READ = 64 * 1024
_FIELD_LIMIT = 4096  # a form field beside the photo is a UUID, never more
_UPLOAD_DOC = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "JPEG, PNG or WebP (decided by decoding)"},
        "client_uuid": {"type": "string", "format": "uuid"}}}}}}}


class MultipartFileStream:
    """Reads the ``file`` part of a multipart body as it arrives, without buffering it.

    ``start`` reads up to the file part (collecting small fields before it), ``read`` gives
    the file's bytes, ``finish`` reads the rest of the body and the fields after the file.
    """

    _FILE = object()  # marks the part being read as the file, whatever the fields are named

    def __init__(self, stream: Any, boundary: bytes, name: str = "file") -> None:
        self._stream, self._name = stream, name
        self._decoder = MultipartDecoder(boundary, max_form_memory_size=_READ * 4,
                                         max_parts=16)
        self._part: object = None  # _FILE, a field name, or None (a part we skip)
        self._field_buf = bytearray()
        self._file_done = self._ended = False
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.found = False

    def _next(self) -> Any:
        """The next event, reading more of the body as needed; None after the end."""
        while not self._ended:
            event = self._decoder.next_event()
            if isinstance(event, Epilogue):
                self._ended = True
            elif not isinstance(event, NeedData):
                return event
            else:
                self._decoder.receive_data(self._stream.read(_READ) or None)
        return None

    def _on_event(self, event: Any) -> bytes | None:
        """Handle one event; return the file bytes it carries, if any."""
        if isinstance(event, File) and event.name == self._name and self.found:
            raise ValueError(f"Send one '{self._name}' part; this form has several.")
        if isinstance(event, File) and event.name == self._name:
            self._part, self.found, self.filename = self._FILE, True, event.filename
        elif isinstance(event, Field):
            self._part = event.name
            self._field_buf.clear()
        elif isinstance(event, File):
            self._part = None
        elif isinstance(event, Data) and self._part is self._FILE:
            self._file_done = not event.more_data
            return bytes(event.data)
        elif isinstance(event, Data) and isinstance(self._part, str):
            self._field_buf += event.data
            if len(self._field_buf) > _FIELD_LIMIT:
                raise RequestEntityTooLarge()
            if not event.more_data:
                self.fields[self._part] = self._field_buf.decode("utf-8", "replace")
        return None

    def start(self) -> bool:
        """Read up to the start of the file part; False if the body has none."""
        while not self.found and (event := self._next()) is not None:
            self._on_event(event)
        return self.found

    def read(self, size: int = -1) -> bytes:
        """The next bytes of the file part (``b""`` once it has ended)."""
        while not self._file_done and (event := self._next()) is not None:
            data = self._on_event(event)
            if data:
                return data
        return b""

    def finish(self) -> None:
        """Read the rest of the body, collecting the fields that follow the file."""
        while (event := self._next()) is not None:
            self._on_event(event)


def _missing_file() -> UnprocessableError:
    return UnprocessableError("No photo in the form.",
                              errors={"file": ["Missing data for required field."]})


def _check_filename(filename: str | None) -> None:
    if filename and "\x00" in filename:  # PostgreSQL text cannot hold NUL
        raise UnprocessableError("The file name contains a NUL character.",
                                 errors={"file": ["The file name contains a NUL character."]})


def _load_form(values: dict[str, str]) -> dict[str, Any]:
    return PhotoUploadFormSchema().load({"client_uuid": values.get("client_uuid") or None})


def _receive_parsed() -> tuple[Any, bool]:
    """The body was parsed before this view (a cookie-auth CSRF check read the form)."""
    upload = request.files.get("file")
    if upload is None:
        raise _missing_file()
    if len(request.files.getlist("file")) > 1:
        raise UnprocessableError("Send one photo per request.",
                                 errors={"file": ["Send one 'file' part; this form has several."]})
    _check_filename(upload.filename)
    fields = _load_form(dict(request.form))
    tmp, sha256 = service.receive_to_temp(upload.stream)
    return service.accept_photo(db.session, current_user(), tmp, sha256,
                                client_uuid=fields["client_uuid"], filename=upload.filename)


def _receive_streamed(form: MultipartFileStream) -> tuple[Any, bool]:
    if not form.start():
        form.finish()
        raise _missing_file()
    _check_filename(form.filename)
    tmp, sha256 = service.receive_to_temp(form)
    try:
        form.finish()  # a client_uuid field may follow the file
        fields = _load_form(form.fields)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return service.accept_photo(db.session, current_user(), tmp, sha256,
                                client_uuid=fields["client_uuid"], filename=form.filename)


def _receive() -> tuple[Any, bool]:
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaTypeError("Send the photo as multipart/form-data, field 'file'.")
    if "files" in request.__dict__:
        return _receive_parsed()
    _mime, options = parse_options_header(request.headers.get("Content-Type", ""))
    if not options.get("boundary"):
        raise _missing_file()
    form = MultipartFileStream(request.stream, options["boundary"].encode("latin-1"))
    try:
        return _receive_streamed(form)
    except ValueError as exc:  # the decoder met a body that is not well-formed multipart
        raise UnprocessableError("The multipart body is malformed.",
                                 errors={"file": [str(exc)]}) from exc


@bp.route("/photos", methods=["POST"])
@auth_required("photos.upload")
@bp.doc(**_UPLOAD_DOC)
@bp.response(201, PhotoSchema)
@bp.alt_response(200, schema=PhotoSchema, description="A replay: this photo was stored before")
@bp.alt_response(409, response="CONFLICT")
@bp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
@bp.alt_response(415, response="UNSUPPORTED_MEDIA_TYPE")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def upload_photo() -> Any:
    """Upload a small photo in one request (field ``file``, optional ``client_uuid``).

    The same client_uuid with the same bytes answers 200 with the first photo; with other
    bytes, 409. A file that is not a JPEG, PNG or WebP is 415; a corrupt one or one over the
    pixel limit 422; over the byte limit 413, refused while it streams in.
    """
    photo, created = _receive()
    return photo if created else (photo, 200)


@bp.route("/photos/<uuid:photo_id>")
@auth_required()
@bp.response(200, PhotoSchema)
@bp.alt_response(404, response="NOT_FOUND")
def get_photo(photo_id: Any) -> Any:
    """A photo's metadata: sha256, size, format, EXIF place and time."""
    return service.visible_photo(db.session, current_access(), str(photo_id))


def _pending(exc: service.DerivativePendingError) -> Response:
    """202: the image is being made; ask again after Retry-After seconds."""
    body = {"status": "pending", "detail": str(exc), "retry_after": exc.retry_after}
    response = jsonify(body)
    response.status_code = 202
    response.headers["Retry-After"] = str(exc.retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response


def _image(photo_id: Any, kind: str) -> Response:
    photo = service.visible_photo(db.session, current_access(), str(photo_id))
    if request.if_none_match.contains(photo.sha256):
        response = Response(status=304)
    else:
        try:
            stream = service.photo_file(db.session, photo, kind)
        except service.DerivativePendingError as exc:
            return _pending(exc)
        if kind == "original":  # up to MAX_PHOTO_BYTES: streamed from the store
            response = send_file(stream, mimetype=photo.mime, etag=False, conditional=False,
                                 max_age=None)
        else:  # a few hundred kilobytes at most
            with stream:
                response = Response(stream.read(), mimetype="image/jpeg")
    response.set_etag(photo.sha256)
    response.headers["Cache-Control"] = IMMUTABLE
    return response


JPEG_ONLY = ("image/jpeg",)
ANY_PHOTO = ("image/jpeg", "image/png", "image/webp", "image/heic")


def _image_doc(description: str, mimes: tuple[str, ...]) -> dict[str, Any]:
    """OpenAPI for an image answer (with its 304 for a matching If-None-Match)."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {"responses": {
        "200": {"description": description, "content": {m: binary for m in mimes}},
        "304": {"description": "Not modified (If-None-Match matched the ETag)"}}}


_PENDING_DOC = {"description": "Not made yet: the photo is stored and its image is being "
                "made by a job. Ask again after the Retry-After seconds.",
                "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "status": {"type": "string", "enum": ["pending"]},
                    "detail": {"type": "string"},
                    "retry_after": {"type": "integer"}}}}}}


def _derived_doc(description: str) -> dict[str, Any]:
    """OpenAPI for a display image or thumb: the image, 304, or 202 while it is made."""
    doc = _image_doc(description, JPEG_ONLY)
    doc["responses"]["202"] = _PENDING_DOC
    return doc


@bp.route("/photos/<uuid:photo_id>/display")
@auth_required()
@bp.doc(**_derived_doc("The display image"))
@bp.alt_response(404, response="NOT_FOUND")
def photo_display(photo_id: Any) -> Response:
    """The display image (JPEG, long side ≤ 1600 px, upright, no metadata); 202 with
    Retry-After while it is being made, just after the upload."""
    return _image(photo_id, "display")


@bp.route("/photos/<uuid:photo_id>/thumb")
@auth_required()
@bp.doc(**_derived_doc("The thumbnail"))
@bp.alt_response(404, response="NOT_FOUND")
def photo_thumb(photo_id: Any) -> Response:
    """The thumbnail (JPEG, long side ≤ 320 px, upright, no metadata); 202 with
    Retry-After while it is being made, just after the upload."""
    return _image(photo_id, "thumb")


@bp.route("/photos/<uuid:photo_id>/original")
@auth_required("photos.original")
@bp.doc(**_image_doc("The bytes as uploaded", ANY_PHOTO))
@bp.alt_response(404, response="NOT_FOUND")
def photo_original(photo_id: Any) -> Response:
    """The bytes as uploaded, EXIF GPS included: only for roles that may see originals."""
    response = _image(photo_id, "original")
    if response.status_code == 200:
        audit(db.session, current_user(), "photo_original", "photo", str(photo_id))
    return response
