"""The household spreadsheet template: reading CSV/XLSX files and writing them.

Template (first sheet, header on row 1; Chinese or English headers, any order; other
columns such as 序号 are ignored and listed in the result):

=========  ===========  =====================================================
header     English      content
=========  ===========  =====================================================
户号       code         household code, unique in the community (default:
                        楼栋-单元-门牌号)
楼栋       building     building code, as in the community's building list
单元       unit         unit (单元) number
门牌号     door         door number (required)
户主       head_name    head of household (required)
联系电话   phone        mobile or landline
身份证号   id_number    18-character resident ID (keep the column as text)
人口       members      people in the household (default 1)
标签       tags         独居老人、高龄、残疾、重病、低保、留守儿童、退役军人、黄丝带
                        (or the English codes), separated by 、 , ; or spaces
经度 纬度  lon lat      the household's own point (default: its building's);
                        WGS-84 unless ``crs`` says otherwise
备注       notes        free text
=========  ===========  =====================================================

Checking the rows and storing them is ``services/household_io.py``. :func:`read_table`
reads any sheet of this kind by its own list of columns (the building sheet,
``services/buildings.py``, uses it too).

A sheet comes from outside, so reading it is bounded before and while it is parsed. An XLSX
file is a zip: before openpyxl opens it, its members may hold at most ``MAX_XLSX_BYTES``
together once decompressed, and none may be compressed more than ``MAX_XLSX_RATIO`` to one
(a few kilobytes that unpack to gigabytes is a zip bomb, no spreadsheet program writes it):
else 422 ``import_too_large``. Its XML is parsed by defusedxml (openpyxl uses it when it is
installed), so entity expansion (billion laughs) and external entities (XXE) are refused,
like any file that cannot be read: 422 ``invalid_file``. Every row counts toward
``MAX_ROWS``, empty ones too (a file of millions of empty rows is the cheapest way to keep a
worker busy), and reading stops there; only the first ``MAX_COLUMNS`` columns are read. The
loop checks the request's deadline (``server.deadlines``).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import ParseError

from schemas.households import TAG_NAMES_ZH
from server.deadlines import check_deadline
from server.errors import UnprocessableError

__all__ = ["COLUMNS", "Column", "ImportProblem", "ParsedSheet", "read_sheet", "read_table",
           "split_tags", "format_tags", "write_csv", "write_xlsx", "MAX_ROWS", "MAX_COLUMNS",
           "MAX_XLSX_BYTES", "MAX_XLSX_RATIO", "safe_cell", "check_import_deadline"]

MAX_ROWS = 50_000  # data rows, empty ones included
MAX_COLUMNS = 100
# 50,000 full rows of the template take about 40 MB of sheet XML, compressed about 12 to 1.
MAX_XLSX_BYTES = 128 * 1024 * 1024
MAX_XLSX_RATIO = 100
MAX_XLSX_MEMBERS = 1000
_RATIO_FLOOR = 1024 * 1024  # a member smaller than this unpacked cannot be a bomb
_DEADLINE_DETAIL = ("Reading the file took longer than the server allows; nothing was "
                    "imported. Split it into smaller files.")
Column = tuple[str, str, tuple[str, ...]]  # (field, Chinese header, other accepted headers)
COLUMNS: list[Column] = [
    ("code", "户号", ("code", "household_code", "户编号")),
    ("building", "楼栋", ("building", "building_code", "楼号", "楼栋号")),
    ("unit", "单元", ("unit", "单元号")),
    ("door", "门牌号", ("door", "door_number", "门牌", "房号")),
    ("head_name", "户主", ("head_name", "head", "户主姓名")),
    ("phone", "联系电话", ("phone", "电话", "手机", "手机号")),
    ("id_number", "身份证号", ("id_number", "身份证", "身份证号码")),
    ("members", "人口", ("members", "人数", "家庭人口")),
    ("tags", "标签", ("tags", "人员类别")),
    ("lon", "经度", ("lon", "lng", "longitude")),
    ("lat", "纬度", ("lat", "latitude")),
    ("notes", "备注", ("notes", "note")),
]
_TAG_BY_NAME = {**{zh: code for code, zh in TAG_NAMES_ZH.items()},
                **{code: code for code in TAG_NAMES_ZH}}
_TAG_SPLIT = re.compile(r"[,,、;;/\s]+")
_FORMULA_START = ("=", "@", "\t", "\r")


@dataclass(frozen=True)
class ImportProblem:
    """One problem in one row (row 1 is the header)."""

    row: int
    field: str
    problem: str


@dataclass
class ParsedSheet:
    """The rows of a sheet as text keyed by field, with their row numbers."""

    fields: list[str]
    rows: list[tuple[int, dict[str, str]]]
    ignored_columns: list[str] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)


def split_tags(text: str) -> tuple[list[str], list[str]]:
    """Tag codes named in a cell (Chinese names or codes), and the names not understood."""
    codes, unknown = [], []
    for part in _TAG_SPLIT.split(text.strip()):
        if not part:
            continue
        code = _TAG_BY_NAME.get(part) or _TAG_BY_NAME.get(part.lower())
        if code is None:
            unknown.append(part)
        elif code not in codes:
            codes.append(code)
    return codes, unknown


def format_tags(tags: Iterable[str]) -> str:
    """Tags as the template writes them: Chinese names joined by 、."""
    return "、".join(TAG_NAMES_ZH.get(t, t) for t in tags)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # 13812345678.0 from a numeric Excel column
    text = str(value).strip()
    if text.startswith("'") and text[1:2] in ("=", "@", "+", "-"):
        return text[1:]  # our own export's guard against formulas
    return text


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValueError("The CSV file is neither UTF-8 nor GBK text.")


def check_import_deadline() -> None:
    """Stop an import (503 ``deadline_exceeded``) once its request's deadline is past."""
    check_deadline(_DEADLINE_DETAIL)


def _too_large(detail: str) -> UnprocessableError:
    return UnprocessableError(f"{detail} Nothing was imported; split the file or save it "
                              "again from the spreadsheet program.", slug="import_too_large")


def _check_zip(data: bytes) -> None:
    """Refuse an XLSX whose members unpack too large or too compressed, before parsing."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        if len(members) > MAX_XLSX_MEMBERS:
            raise _too_large(f"The XLSX file has {len(members):,} parts; a workbook has a "
                             "few dozen.")
        total = 0
        for member in members:
            # Python's zipfile never unpacks more than the size a member declares (nor
            # less: a wrong CRC), so these numbers bound what openpyxl will read.
            total += member.file_size
            ratio = member.file_size / max(member.compress_size, 1)
            if member.file_size > _RATIO_FLOOR and ratio > MAX_XLSX_RATIO:
                raise _too_large(f"The XLSX part {member.filename[:80]} unpacks {ratio:,.0f} "
                                 "times larger than it is stored (a zip bomb?).")
        if total > MAX_XLSX_BYTES:
            raise _too_large(f"The XLSX file unpacks to {total / 2**20:,.0f} MB; at most "
                             f"{MAX_XLSX_BYTES // 2**20} MB are read.")


def _raw_rows(data: bytes) -> Iterator[Sequence[Any]]:
    if data[:4] == b"PK\x03\x04":
        from openpyxl import load_workbook

        _check_zip(data)
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0]
            # The header, MAX_ROWS rows and one more, to tell the limit was passed; and our
            # bounds, not the sheet's dimension (a file may say A1:XFD1048576), to which
            # openpyxl pads every row.
            yield from sheet.iter_rows(max_row=MAX_ROWS + 2, max_col=MAX_COLUMNS,
                                       values_only=True)
        finally:
            book.close()
    else:
        for values in csv.reader(io.StringIO(_decode(data))):
            yield values[:MAX_COLUMNS]


# What reading a file that is not a sheet raises: a damaged zip or XML, a missing part,
# an XML entity or DTD (defusedxml's errors are ValueErrors), a CSV field over csv's limit.
_UNREADABLE = (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile,
               zipfile.LargeZipFile, ParseError, csv.Error)


def read_sheet(data: bytes) -> ParsedSheet:
    """Parse a household CSV or XLSX file into rows keyed by field; header problems on row 1."""
    sheet = read_table(data, COLUMNS)
    if any(problem.row == 1 for problem in sheet.problems):
        return sheet  # empty, or not a sheet at all
    missing = []
    for required in ("door", "head_name"):
        if required not in sheet.fields:
            zh = next(zh for name, zh, _ in COLUMNS if name == required)
            missing.append(ImportProblem(1, required, f"The column {zh} is missing."))
    if "building" not in sheet.fields and not {"lat", "lon"} <= set(sheet.fields):
        missing.append(ImportProblem(1, "building", "Give a 楼栋 column or 经度 and "
                                                    "纬度 columns."))
    sheet.problems[:0] = missing
    return sheet


def read_table(data: bytes, columns: Sequence[Column]) -> ParsedSheet:
    """Parse a CSV or XLSX file into rows keyed by the fields of ``columns``.

    Headers are matched in any order by the Chinese header, the field name or another
    accepted header, ignoring case; other columns are listed in ``ignored_columns``. Blank
    rows are skipped; a file past ``MAX_ROWS`` rows (blank ones count) is a problem. Raises
    422 ``invalid_file`` for a file that cannot be read, ``import_too_large`` for a zip bomb.
    """
    try:
        return _read_table(data, columns)
    except _UNREADABLE as exc:
        raise UnprocessableError(
            "The file cannot be read as a CSV (UTF-8 or GBK) or XLSX sheet: it is damaged, "
            "of another kind, or an XLSX holding XML entities or a DTD, which no spreadsheet "
            "program writes. Save it again as XLSX or CSV and import that.",
            slug="invalid_file", errors={"file": [type(exc).__name__]}) from exc


def _read_table(data: bytes, columns: Sequence[Column]) -> ParsedSheet:
    header_to_field = {alias.lower(): name for name, zh, aliases in columns
                       for alias in (zh, name, *aliases)}
    rows = _raw_rows(data)
    try:
        header = next(rows)
    except StopIteration:
        return ParsedSheet([], [], problems=[ImportProblem(1, "", "The file is empty.")])
    keys: list[str | None] = []
    sheet = ParsedSheet([], [])
    for raw in header:
        name = _cell_text(raw)
        key = header_to_field.get(name.lower())
        if key is None or key in sheet.fields:
            keys.append(None)
            if name:
                sheet.ignored_columns.append(name)
        else:
            keys.append(key)
            sheet.fields.append(key)
    for number, values in enumerate(rows, start=2):
        if number > MAX_ROWS + 1:
            sheet.problems.append(ImportProblem(number, "", f"More than {MAX_ROWS} rows "
                                                "(empty rows count too); split the file, or "
                                                "delete the empty rows at its end."))
            break
        check_import_deadline()
        cells = {key: _cell_text(value) for key, value in zip(keys, values, strict=False)
                 if key is not None}
        if any(cells.values()):
            sheet.rows.append((number, cells))
    return sheet


def safe_cell(value: Any) -> Any:
    """Guard text that a spreadsheet would run as a formula (CSV/formula injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    if isinstance(value, str) and value[:1] in ("+", "-") and not re.fullmatch(
            r"[+\-][0-9 \-]+", value):
        return "'" + value
    return value


def write_csv(rows: Iterable[list[Any]]) -> bytes:
    """The template header and ``rows`` as UTF-8 CSV with a BOM (so Excel reads Chinese)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([zh for _, zh, _ in COLUMNS])
    for row in rows:
        writer.writerow(["" if v is None else safe_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def write_xlsx(rows: Iterable[list[Any]]) -> bytes:
    """The template header and ``rows`` as an XLSX workbook (one sheet, 住户)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("住户")
    sheet.append([zh for _, zh, _ in COLUMNS])
    for row in rows:
        sheet.append([safe_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

