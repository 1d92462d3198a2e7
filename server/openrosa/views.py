"""The OpenRosa 1.0 endpoints under ``/openrosa``: Collect's server URL is ``<site>/openrosa``.

``GET /formList`` (the forms the caller's role may fill in), ``GET /forms/<id>/form.xml``,
``GET /forms/<id>/manifest`` and ``GET /forms/<id>/media/<file>`` (made for the caller),
``HEAD``/``GET /submission`` (204 with the largest body to send at once) and
``POST /submission``. Every answer, errors included, is XML with ``X-OpenRosa-Version``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from server.errors import ApiError
from server.extensions import db
from server.models import Report, Visit
from server.openrosa import auth, forms, intake
from server.openrosa.responses import (
    OPENROSA_VERSION,
    FormListItem,
    MediaItem,
    form_list,
    manifest,
    openrosa_response,
)
from server.openrosa.submission import SubmissionError, parse_instance
from server.services.access import Access, access_for
from server.transactions import keep_on_error

__all__ = ["bp"]

bp = Blueprint("openrosa", __name__, url_prefix="/openrosa")

_DEFAULT_ACCEPT_LENGTH = 10_000_000  # what Collect assumes when a server does not say
_ERROR_WORDS = {
    400: "提交的表格无法处理", 401: "需要登录", 403: "无权提交", 404: "找不到",
    405: "不支持的请求", 409: "与已收到的记录冲突", 413: "文件太大",
    415: "不支持的文件格式", 422: "内容不符合要求", 429: "登录失败次数过多",
}
_VISIT_FLAGS = {"off_site": "定位距住户 {distance:.0f} 米,已标记为不在现场",
                "late_entry": "补录(提交晚于走访时间)"}
_REPORT_FLAGS = {"outside_grid": "位置不在任何网格内",
                 "location_mismatch": "照片定位与上报位置不符",
                 "stale_photo": "照片拍摄时间较早", "possible_duplicate": "可能与已有案件重复"}


def _access() -> Access:
    user = auth.authenticate(db.session)
    return access_for(db.session, user)


@bp.after_request
def _openrosa_headers(response: Response) -> Response:
    response.headers["X-OpenRosa-Version"] = OPENROSA_VERSION
    # Lists, manifests and media are made for the caller: no shared cache may keep them.
    response.headers.setdefault("Cache-Control", "private, no-cache")
    return response


def _error(status: int, detail: str, headers: dict[str, str] | None = None,
           challenges: list[str] | None = None) -> Response:
    words = _ERROR_WORDS.get(status, "出错了")
    response = openrosa_response(f"{words}:{detail}", status=status, nature="error")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    for value in challenges or ():
        response.headers.add("WWW-Authenticate", value)
    return response


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Response:
    return _error(error.status, error.detail, error.headers, error.extra.get("challenges"))


@bp.errorhandler(ValidationError)
def _validation_error(error: ValidationError) -> Response:
    return _error(400, str(error.normalized_messages()))


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {}
    if status == 429:
        headers["Retry-After"] = (error.response.headers.get("Retry-After", "60")
                                  if error.response is not None else "60")
    return _error(status, error.description or error.name, headers)


def _md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()  # noqa: S324 - OpenRosa names MD5 for hashes


def _form(access: Access, form_id: str) -> forms.FormSpec:
    form = forms.FORMS.get(form_id)
    if form is None or form not in forms.forms_for(access):
        raise ApiError(f"No form {form_id!r} for you.", status=404, slug="not_found")
    return form


@bp.route("/formList")
@auth.address_limit()
def form_list_view() -> Response:
    """The forms this caller may fill in, with their versions, hashes and manifests."""
    access = _access()
    wanted = request.args.get("formID")
    items = []
    for form in forms.forms_for(access):
        if wanted and form.form_id != wanted:
            continue
        document, version = forms.xform(db.session, form)
        items.append(FormListItem(
            form.form_id, form.title, version, _md5(document),
            url_for("openrosa.form_download", form_id=form.form_id, _external=True),
            url_for("openrosa.form_manifest", form_id=form.form_id, _external=True)))
    return form_list(items)


@bp.route("/forms/<form_id>/form.xml")
@auth.address_limit()
def form_download(form_id: str) -> Response:
    """The XForm document (the bytes the form list's hash was taken of)."""
    form = _form(_access(), form_id)
    document, _version = forms.xform(db.session, form)
    return Response(document, content_type="text/xml; charset=utf-8")


@bp.route("/forms/<form_id>/manifest")
@auth.address_limit()
def form_manifest(form_id: str) -> Response:
    """The form's media files, made for this caller, with the hash of their content."""
    access = _access()
    form = _form(access, form_id)
    items = []
    for name in form.media:
        data = forms.media_file(db.session, access, form, name) or b""
        items.append(MediaItem(name, _md5(data), url_for(
            "openrosa.form_media", form_id=form.form_id, filename=name, _external=True)))
    return manifest(items)


@bp.route("/forms/<form_id>/media/<filename>")
@auth.address_limit()
def form_media(form_id: str, filename: str) -> Response:
    """One media file (``households.csv``: the caller's households, masked as the API does)."""
    access = _access()
    form = _form(access, form_id)
    data = forms.media_file(db.session, access, form, filename)
    if data is None:
        raise ApiError(f"The form {form_id} has no file {filename!r}.", status=404,
                       slug="not_found")
    return Response(data, content_type="text/csv; charset=utf-8")


def _accept_length() -> int:
    cfg = current_app.config
    limit = int(cfg.get("OPENROSA_ACCEPT_CONTENT_LENGTH") or _DEFAULT_ACCEPT_LENGTH)
    if cfg.get("MAX_CONTENT_LENGTH"):
        # A part may hold one photo beyond what the client counted: keep room for it.
        limit = min(limit, int(cfg["MAX_CONTENT_LENGTH"]) // 2)
    return limit


@bp.route("/submission", methods=["GET", "HEAD"])
@auth.address_limit()
def submission_probe() -> Response:
    """204 with ``X-OpenRosa-Accept-Content-Length``: Collect asks before it posts."""
    _access()
    return Response(status=204, headers={"X-OpenRosa-Accept-Content-Length":
                                         str(_accept_length())})


def _visit_message(visit: Visit, created: bool) -> str:
    head = "走访已记录" if created else "此次走访之前已收到"
    parts = [f"{head}(编号 {visit.id},户号 {visit.household.code})"]
    parts += [_VISIT_FLAGS[f].format(distance=visit.distance_m) for f in visit.flags or ()
              if f in _VISIT_FLAGS]
    return ";".join(parts) + "。"


def _report_message(report: Report, created: bool) -> str:
    head = "事件已上报" if created else "此事件之前已收到"
    parts = [f"{head},案件编号 {report.id}"]
    parts += [_REPORT_FLAGS[f] for f in report.flags or () if f in _REPORT_FLAGS]
    return ";".join(parts) + "。"


@bp.route("/submission", methods=["POST"])
@auth.address_limit()
def submission() -> Any:
    """A filled-in form (or one part of it): 201 when its record exists, 202 while its
    photos are still on their way, an OpenRosaResponse error otherwise."""
    access = _access()
    xml_part = request.files.get("xml_submission_file")
    # A client that sends the XML as a plain field rather than a file part: the same XML.
    xml = xml_part.read() if xml_part is not None else \
        request.form.get("xml_submission_file", "").encode()
    if not xml:
        raise SubmissionError("The form has no xml_submission_file part.")
    instance = parse_instance(xml)
    access.require(instance.form.permission)
    body = intake.load_body(instance)
    intake.store_photos(db.session, access, instance, request.files.items(multi=True))
    received = intake.make_record(db.session, access, instance, body)
    incomplete = request.form.get("*isIncomplete*", "").lower() == "yes"
    if received.record is None:
        keep_on_error()  # the photos that did arrive stay for the part that completes it
        waiting = "、".join(received.missing)
        if incomplete:
            return openrosa_response(f"已收到部分照片,等待其余文件:{waiting}",
                                     status=202, nature="submit_success")
        raise SubmissionError(f"缺少照片 {waiting},请重新发送 (photos missing).",
                              missing=received.missing)
    if isinstance(received.record, Visit):
        keep_on_error()  # the visit stands even when one of its needs' reports is refused
        problem = intake.need_reports(db.session, access, received.record, body)
        message = _visit_message(received.record, received.created)
        if problem:
            message += f"诉求未能转为事件:{problem}"
    else:
        message = _report_message(received.record, received.created)
    return openrosa_response(message, status=201, nature="submit_success")
