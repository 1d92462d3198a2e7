"""The two forms ODK Collect, KoboCollect and Enketo fill in, as XLSForm rows made in Python.

Each form is described here once, as the rows of an XLSForm's survey, choices and settings
sheets (labels in Chinese and English: ``label::中文 (zh)``, ``label::English (en)``), and
turned into an XForm by ``pyxform``, the library that turns every XLSForm into an XForm for
ODK. No XForm is written by hand. The choice lists that change with the server's data come
as media files made per request: ``households.csv`` (the caller's households, as the API
shows them) and ``categories.csv`` (the active report categories). A form's ``version``
is a hash of its rows and of the category list, so it changes when either changes, and
Collect offers the update; the media files carry hashes of their own content, so Collect
fetches a new ``households.csv`` whenever it changes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.visits import VISIT_OUTCOMES
from server.models import Household
from server.models.types import utcnow
from server.services.access import Access
from server.services.categories import list_categories
from server.services.privacy import household_summary
from server.services.scopes import household_scope

__all__ = ["FormSpec", "FORMS", "VISIT_FORM", "REPORT_FORM", "LANGUAGES", "xform",
           "xlsform", "workbook", "media_file", "category_rows", "forms_for"]

ZH, EN = "中文 (zh)", "English (en)"
LANGUAGES = (ZH, EN)

_OUTCOME_LABELS = {
    "met": ("见到住户", "Met the family"),
    "not_home": ("无人在家", "Nobody home"),
    "refused": ("拒绝入户", "Refused"),
    "moved_out": ("已搬走", "Moved out"),
}


def _row(kind: str, name: str = "", zh: str = "", en: str = "", **extra: str) -> dict[str, str]:
    """One row of an XLSForm sheet, labelled in both languages."""
    row = {"type": kind, "name": name, **extra}
    if zh:
        row[f"label::{ZH}"], row[f"label::{EN}"] = zh, en
    return row


def _hint(zh: str, en: str) -> dict[str, str]:
    return {f"hint::{ZH}": zh, f"hint::{EN}": en}


_LOCATION = _row("geopoint", "location", "所在位置", "Where you stand", required="yes",
                 **_hint("在门口等定位精度变好再保存", "At the door; wait for a good accuracy"))

VISIT_SURVEY = [
    _row("start", "start"),
    _row("end", "end"),
    _row("select_one_from_file households.csv", "household", "住户", "Household",
         required="yes", appearance="autocomplete",
         **_hint("输入户号、楼栋或户主姓名搜索", "Type the code, building or head's name")),
    _row("select_one outcome", "outcome", "走访结果", "Outcome", required="yes"),
    _row("text", "notes", "情况记录", "What you found", appearance="multiline"),
    _row("begin_repeat", "need", "诉求", "Needs the family raised"),
    # Required only once the need says something: the form opens with one empty need,
    # which the server leaves out.
    _row("select_one_from_file categories.csv", "category", "诉求类别", "Category",
         required="string-length(${text}) > 0"),
    _row("text", "text", "诉求内容", "What they asked for"),
    _row("select_one yes_no", "create_report", "转为事件上报?", "Report it as a case?",
         default="no"),
    _row("end_repeat"),
    _row("begin_repeat", "photos", "照片", "Photos"),
    _row("image", "photo", "拍照", "Photo"),
    _row("end_repeat"),
    _LOCATION,
    _row("date", "follow_up_on", "约定复访日期", "Follow-up visit on",
         constraint=". >= today()",
         **{f"constraint_message::{ZH}": "不能早于今天",
            f"constraint_message::{EN}": "Not before today"}),
]

REPORT_SURVEY = [
    _row("start", "start"),
    _row("end", "end"),
    _row("select_one_from_file categories.csv", "category", "事件类别", "Category",
         required="yes"),
    _row("text", "description", "事件描述", "What you saw", appearance="multiline"),
    _row("image", "photo", "现场照片", "Photo", required="yes"),
    _row("begin_repeat", "more_photos", "更多照片", "More photos"),
    _row("image", "photo", "拍照", "Photo"),
    _row("end_repeat"),
    _LOCATION,
]

CHOICES = [
    *({"list_name": "outcome", "name": code, f"label::{ZH}": _OUTCOME_LABELS[code][0],
       f"label::{EN}": _OUTCOME_LABELS[code][1]} for code in VISIT_OUTCOMES),
    {"list_name": "yes_no", "name": "yes", f"label::{ZH}": "是", f"label::{EN}": "Yes"},
    {"list_name": "yes_no", "name": "no", f"label::{ZH}": "否", f"label::{EN}": "No"},
]


@dataclass(frozen=True)
class FormSpec:
    """One form: its id (the instance's root element), titles, rows, media and permission."""

    form_id: str
    title_zh: str
    title_en: str
    survey: tuple[dict[str, str], ...]
    media: tuple[str, ...]
    permission: str  # what the caller's role must hold to see and submit it

    @property
    def title(self) -> str:
        """The name Collect lists the form under."""
        return f"{self.title_zh} {self.title_en}"


VISIT_FORM = FormSpec("gridwork_visit", "入户走访", "Household visit", tuple(VISIT_SURVEY),
                      ("households.csv", "categories.csv"), "visits.create")
REPORT_FORM = FormSpec("gridwork_report", "事件上报", "Report a problem", tuple(REPORT_SURVEY),
                       ("categories.csv",), "reports.create")
FORMS = {form.form_id: form for form in (VISIT_FORM, REPORT_FORM)}


def category_rows(session: Session) -> list[tuple[str, str, str]]:
    """The active report categories as (code, 中文, English), in display order."""
    return [(c.code, c.name_zh, c.name_en) for c in list_categories(session)]


def _version(form: FormSpec, categories: list[tuple[str, str, str]]) -> str:
    """A hash of everything a form's questions and choices are made of."""
    text = json.dumps([form.form_id, form.title, form.survey, CHOICES, categories],
                      ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def workbook(form: FormSpec, version: str) -> dict[str, list[dict[str, str]]]:
    """The form's XLSForm: its survey, choices and settings sheets, as rows."""
    return {
        "survey": [dict(row) for row in form.survey],
        "choices": [dict(row) for row in CHOICES],
        "settings": [{"form_id": form.form_id, "form_title": form.title,
                      "version": version, "default_language": ZH}],
    }


@lru_cache(maxsize=16)
def _convert(form_id: str, version: str) -> bytes:
    # Imported here: pyxform takes about a second to import, which every app start (each
    # gridwork command, each test app) would pay; only the first form list does here.
    from pyxform.xls2xform import convert

    result = convert(workbook(FORMS[form_id], version), form_name=form_id, pretty_print=True)
    return result.xform.encode("utf-8")


def xlsform(session: Session, form: FormSpec) -> bytes:
    """The form as an XLSForm spreadsheet (.xlsx), for an office to read or adapt."""
    sheets = workbook(form, _version(form, category_rows(session)))
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        columns = list(dict.fromkeys(key for row in rows for key in row))
        sheet.append(columns)
        for row in rows:
            sheet.append([row.get(column, "") for column in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xform(session: Session, form: FormSpec) -> tuple[bytes, str]:
    """The form's XForm document and its version (converted once per version)."""
    version = _version(form, category_rows(session))
    return _convert(form.form_id, version), version


def forms_for(access: Access) -> list[FormSpec]:
    """The forms this caller may fill in (its role's permissions)."""
    return [form for form in FORMS.values() if access.has(form.permission)]


def _csv(header: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _households_csv(session: Session, access: Access) -> bytes:
    """The households the caller may see, as the API's list shows them (phone masked)."""
    now: datetime = utcnow()
    rows = []
    query = select(Household).where(household_scope(access)).order_by(Household.code)
    for household in session.scalars(query):
        item = household_summary(household, access, now)
        place = "-".join(p for p in (item["building"], item["unit"], item["door"]) if p)
        shown = (item["code"], place if place not in item["code"] else "", item["head_name"])
        label = " ".join(p for p in shown if p)
        rows.append([item["id"], label, item["code"], item["head_name"], item["phone"] or "",
                     item["grid"] or "", " ".join(item["tags"]),
                     item["location"]["lat"], item["location"]["lon"]])
    return _csv(["name", "label", "code", "head_name", "phone", "grid", "tags", "lat", "lon"],
                rows)


def _categories_csv(session: Session, access: Access) -> bytes:
    rows = [[code, zh, en] for code, zh, en in category_rows(session)]
    return _csv(["name", "label", "label_en"], rows)


_MEDIA: dict[str, Callable[[Session, Access], bytes]] = {
    "households.csv": _households_csv,
    "categories.csv": _categories_csv,
}


def media_file(session: Session, access: Access, form: FormSpec, filename: str) -> bytes | None:
    """The bytes of one of the form's media files for this caller, or None if it has none."""
    if filename not in form.media:
        return None
    return _MEDIA[filename](session, access)
