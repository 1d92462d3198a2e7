"""The hostile corpus of spreadsheets: files sent to the household (and building) import.

The photo corpus (``corpus.py``) is sent through the photo channels; these files go to
``POST /api/v1/households/import`` and ``gridwork households import``. Each is built in code,
small on disk however large it unpacks, with a note of what it attacks and the problem the
server owes (``corpus.Outcome``), plus, for ``import_rejected``, the rows its problems name.
"""

from __future__ import annotations

import functools
import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass

from openpyxl import Workbook

from server.services.household_sheets import MAX_ROWS, MAX_XLSX_BYTES
from tests.hostile.corpus import Outcome, refused

__all__ = ["SheetEntry", "sheets", "xlsx_with", "HEADER"]

HEADER = ["户号", "楼栋", "单元", "门牌号", "户主", "联系电话", "身份证号", "人口", "标签",
          "经度", "纬度", "备注"]
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_LETTERS = "ABCDEFGHIJKL"
_SHEET = "xl/worksheets/sheet1.xml"


@dataclass(frozen=True)
class SheetEntry:
    """A hostile file for the import, and what the server must answer."""

    name: str
    note: str
    data: bytes
    expect: Outcome
    filename: str = "households.xlsx"
    problem_rows: tuple[int, ...] = ()  # the rows an import_rejected answer names


def _row(number: int, values: Iterable[str]) -> str:
    cells = "".join(f'<c r="{col}{number}" t="inlineStr"><is><t>{value}</t></is></c>'
                    for col, value in zip(_LETTERS, values, strict=False))
    return f'<row r="{number}">{cells}</row>'


def _sheet(rows: str, *, dimension: str = "A1:L1", prolog: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<worksheet xmlns="{_NS}">'
            f'<dimension ref="{dimension}"/><sheetData>{rows}</sheetData>'
            "</worksheet>").encode()


@functools.cache
def _template() -> bytes:
    book = Workbook()
    book.active.append(HEADER)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xlsx_with(parts: dict[str, bytes | Iterable[bytes]]) -> bytes:
    """A real workbook whose parts named in ``parts`` are replaced (or added); a part given
    as chunks is streamed in, so a huge one never sits in memory whole."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(_template())) as source, zipfile.ZipFile(
            out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for name in source.namelist():
            if name not in parts:
                target.writestr(name, source.read(name))
        for name, content in parts.items():
            if isinstance(content, bytes):
                target.writestr(name, content)
                continue
            with target.open(name, "w", force_zip64=True) as member:
                for chunk in content:
                    member.write(chunk)
    return out.getvalue()


def _repeat(chunk: bytes, total: int) -> Iterable[bytes]:
    block = chunk * max(1, (1 << 20) // len(chunk))
    for _ in range(total // len(block) + 1):
        yield block


def _shared_strings_bomb() -> Iterable[bytes]:
    yield f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_NS}">'.encode()
    yield from _repeat(b"<si><t>A</t></si>", MAX_XLSX_BYTES + (32 << 20))
    yield b"</sst>"


_LAUGHS = ('<!DOCTYPE worksheet [<!ENTITY lol "lol">'
           + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i else "&lol;" * 10}">'
                     for i in range(10)) + "]>")
_XXE = '<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


@functools.cache
def sheets() -> tuple[SheetEntry, ...]:
    """The hostile spreadsheets, built once per run."""
    header = _row(1, HEADER)
    far = MAX_ROWS * 4
    data_row = _row(far, ["H1", "", "1", "101", "王大爷"])
    return (
        SheetEntry("rows_far_below_the_header", "one row 200,000 rows down: openpyxl fills the "
                   "gap with empty rows, which counted for nothing and were read to the end "
                   "(30 million of them kept a worker busy 12 minutes)",
                   xlsx_with({_SHEET: _sheet(header + data_row, dimension=f"A1:L{far}")}),
                   refused(422, "import_rejected"), problem_rows=(MAX_ROWS + 2,)),
        SheetEntry("empty_csv_lines", "a CSV of a header and 60,000 empty lines",
                   (",".join(HEADER) + "\n" * (MAX_ROWS + 10_000)).encode(),
                   refused(422, "import_rejected"), filename="households.csv",
                   problem_rows=(MAX_ROWS + 2,)),
        SheetEntry("sheet_of_whitespace", "a sheet part that unpacks 1000 times larger than "
                   "it is stored (a zip bomb inside the workbook)",
                   xlsx_with({_SHEET: [_sheet(header)[:-len(b"</worksheet>")],
                                       *_repeat(b" " * 4096, 40 << 20), b"</worksheet>"]}),
                   refused(422, "import_too_large")),
        SheetEntry("shared_strings_bomb", "a shared-strings part of 160 MB in a file of under "
                   "a megabyte: openpyxl keeps every shared string in memory",
                   xlsx_with({"xl/sharedStrings.xml": _shared_strings_bomb()}),
                   refused(422, "import_too_large")),
        SheetEntry("billion_laughs", "nested XML entities that expand to gigabytes",
                   xlsx_with({_SHEET: _sheet(_row(1, ["&lol9;"]), prolog=_LAUGHS)}),
                   refused(422, "invalid_file")),
        SheetEntry("billion_laughs_in_the_workbook", "the same in xl/workbook.xml, read "
                   "before any sheet", xlsx_with({"xl/workbook.xml": (
                       f'<?xml version="1.0"?>{_LAUGHS}<workbook xmlns="{_NS}">&lol9;'
                       "</workbook>").encode()}),
                   refused(422, "invalid_file")),
        SheetEntry("external_entity", "XXE: a cell that names /etc/passwd",
                   xlsx_with({_SHEET: _sheet(header + _row(2, ["&xxe;"]), prolog=_XXE)}),
                   refused(422, "invalid_file")),
        SheetEntry("truncated_zip", "an XLSX cut off half way (a failed download)",
                   _template()[: len(_template()) // 2], refused(422, "invalid_file")),
        SheetEntry("csv_field_over_the_limit", "a CSV cell of 200 kB, over the csv module's "
                   "field limit", ("户号,门牌号,户主\n\"" + "x" * 200_000 + "\",1,王\n").encode(),
                   refused(422, "invalid_file"), filename="households.csv"),
    )
