"""The campaign's Excel workbook: template, tolerant reader, verdict file.

Installers download a template (``write_template``), fill one row per device
and upload it back. ``read_workbook`` accepts what real users send: serials
typed as numbers, dates as text or Excel serial numbers, blank rows, extra
columns, workbooks re-saved by LibreOffice or Google Sheets. Whole-file
problems raise ``WorkbookError``; problems in one row only give that row an
``error`` and the other rows still parse. ``write_verdicts`` gives every row
its outcome back, as .xlsx or .csv.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.packaging.custom import StringProperty
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel, to_excel
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from pydantic import ValidationError

from domain.normalise import InvalidSerial, normalise_device_type, normalise_serial
from domain.terms import CampaignTerms
from schemas.excel import HEADERS, ExcelRowV1

DEVICES_SHEET = "Appareils"
TYPES_SHEET = "Types"
INSTRUCTIONS_SHEET = "Instructions"
#: Custom document property (and defined name) holding the campaign id.
CAMPAIGN_MARKER = "cashback_campaign"
VERDICT_HEADERS: tuple[str, ...] = ("Ligne", "Numéro de série", "Statut", "Motif", "Message")

#: ExcelRowV1 field -> template column header (HEADERS is in field order).
FIELD_HEADERS: dict[str, str] = dict(
    zip(("serial", "device_type", "installed_on", "site_reference"), HEADERS, strict=True)
)
_REQUIRED_FIELDS: tuple[str, ...] = ("serial", "device_type", "installed_on")
_HEADER_SEARCH_ROWS = 5
_TEMPLATE_LAST_ROW = 1_048_576
_COLUMN_WIDTHS: tuple[int, ...] = (26, 22, 20, 28)
_DATE_FORMAT = "DD/MM/YYYY"
_TEXT_FORMAT = "@"

_OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0"
_ENCRYPTION_STREAM = "EncryptionInfo".encode("utf-16-le")
_XLS_STREAMS = ("Workbook".encode("utf-16-le"), "Book".encode("utf-16-le"))
_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
#: A genuine sheet compresses well, but not more than this: beyond, it is a zip bomb.
_MAX_COMPRESSION_RATIO = 50

_BLANKS = re.compile(r"[\s\u00a0\u2007\u202f\u200b\ufeff]+")
_APOSTROPHES = re.compile(r"[\u2018\u2019\u02bc`´]")
_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
#: Excel serial numbers accepted as dates: 01/01/1990 .. 31/12/2099.
_SERIAL_DATE_RANGE = (32874, 73415)
#: Excel keeps 15 significant digits: longer serials typed as numbers are corrupted.
_EXCEL_EXACT_DIGITS_LIMIT = 1e15
_CSV_DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")


class WorkbookError(ValueError):
    """The whole file is unusable: not a workbook, protected, too big, not the template."""


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """One non-blank data row: either ``row`` or ``error`` is set, never both."""

    row_number: int
    row: ExcelRowV1 | None
    error: str | None
    serial_text: str


@dataclass(frozen=True, slots=True)
class Verdict:
    row_number: int
    serial: str
    status: str
    reason: str
    message: str


# --------------------------------------------------------------------------- template


def write_template(path: Path, terms: CampaignTerms) -> None:
    """Write the campaign's empty workbook for installers to fill."""
    workbook = Workbook()
    devices = workbook.active
    assert isinstance(devices, Worksheet)
    devices.title = DEVICES_SHEET
    _write_header_row(devices, HEADERS, _COLUMN_WIDTHS)
    _format_device_columns(devices)
    _write_instructions(workbook.create_sheet(INSTRUCTIONS_SHEET), terms)
    types_range = _write_types_sheet(workbook, terms)
    _add_date_validation(devices, terms)
    _add_type_validation(devices, types_range)
    _mark_campaign(workbook, terms)
    workbook.active = 0
    workbook.save(path)


def _write_header_row(sheet: Worksheet, headers: Sequence[str], widths: Sequence[int]) -> None:
    for column, (header, width) in enumerate(zip(headers, widths, strict=True), start=1):
        cell = sheet.cell(row=1, column=column, value=header)
        cell.font = Font(bold=True)
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.freeze_panes = "A2"


def _column_letter(field: str) -> str:
    return get_column_letter(HEADERS.index(FIELD_HEADERS[field]) + 1)


def _data_range(field: str) -> str:
    letter = _column_letter(field)
    return f"{letter}2:{letter}{_TEMPLATE_LAST_ROW}"


def _format_device_columns(sheet: Worksheet) -> None:
    """Text for serial and site reference (no 3.00123E+09), dd/mm/yyyy for the date."""
    sheet.column_dimensions[_column_letter("serial")].number_format = _TEXT_FORMAT
    sheet.column_dimensions[_column_letter("site_reference")].number_format = _TEXT_FORMAT
    sheet.column_dimensions[_column_letter("installed_on")].number_format = _DATE_FORMAT


def _write_types_sheet(workbook: Workbook, terms: CampaignTerms) -> str:
    """Hidden sheet listing the eligible types; returns the range for the list validation."""
    sheet = workbook.create_sheet(TYPES_SHEET)
    for row, eligible in enumerate(terms.eligible_types, start=1):
        sheet.cell(row=row, column=1, value=eligible.device_type).data_type = "s"
        sheet.cell(row=row, column=2, value=eligible.category)
    sheet.sheet_state = "hidden"
    return f"{TYPES_SHEET}!$A$1:$A${len(terms.eligible_types)}"


def _add_date_validation(sheet: Worksheet, terms: CampaignTerms) -> None:
    start, end = _french_date(terms.installation_from), _french_date(terms.installation_to)
    validation = DataValidation(
        type="date",
        operator="between",
        formula1=str(int(to_excel(terms.installation_from))),
        formula2=str(int(to_excel(terms.installation_to))),
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="stop",
        errorTitle="Date d'installation",
        error=f"Saisissez une date jj/mm/aaaa entre le {start} et le {end}.",
        showInputMessage=True,
        promptTitle="Date d'installation",
        prompt=f"jj/mm/aaaa, entre le {start} et le {end}",
    )
    validation.add(_data_range("installed_on"))
    sheet.add_data_validation(validation)


def _add_type_validation(sheet: Worksheet, types_range: str) -> None:
    validation = DataValidation(
        type="list",
        formula1=types_range,
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="stop",
        errorTitle="Type d'appareil",
        error="Choisissez un type dans la liste (feuille Instructions).",
    )
    validation.add(_data_range("device_type"))
    sheet.add_data_validation(validation)


def _instruction_lines(terms: CampaignTerms) -> list[str]:
    start, end = _french_date(terms.installation_from), _french_date(terms.installation_to)
    serial, device_type, installed_on, site = FIELD_HEADERS.values()
    return [
        f"Remplissez la feuille « {DEVICES_SHEET} » : une ligne par appareil, "
        "à partir de la ligne 2. Ne modifiez pas la ligne d'en-tête.",
        f"{serial} : tel qu'imprimé sur l'étiquette de l'appareil "
        "(lettres et chiffres ; espaces et tirets sont ignorés).",
        f"{device_type} : exactement comme dans la liste déroulante (types éligibles ci-dessous).",
        f"{installed_on} : au format jj/mm/aaaa, entre le {start} et le {end}.",
        f"{site} : facultative, pour retrouver vos chantiers dans le résultat.",
        f"Date limite d'enregistrement : {_french_date(terms.registration_deadline)}.",
        "Chaque ligne reçoit un verdict (statut, motif et message), repéré par son numéro de ligne dans ce classeur.",
    ]


def _write_instructions(sheet: Worksheet, terms: CampaignTerms) -> None:
    sheet.cell(row=1, column=1, value=f"Campagne : {terms.name}").font = Font(bold=True, size=14)
    row = 3
    for line in _instruction_lines(terms):
        sheet.cell(row=row, column=1, value=line).alignment = Alignment(wrap_text=False)
        row += 1
    row += 1
    sheet.cell(row=row, column=1, value="Types éligibles").font = Font(bold=True)
    row += 1
    for column, title in enumerate(("Type d'appareil", "Catégorie", "Montant"), start=1):
        sheet.cell(row=row, column=column, value=title).font = Font(bold=True)
    for eligible in terms.eligible_types:
        row += 1
        sheet.cell(row=row, column=1, value=eligible.device_type).data_type = "s"
        sheet.cell(row=row, column=2, value=eligible.category)
        sheet.cell(row=row, column=3, value=format_euros(eligible.amount_cents))
    for letter, width in (("A", 30), ("B", 20), ("C", 14)):
        sheet.column_dimensions[letter].width = width


def _mark_campaign(workbook: Workbook, terms: CampaignTerms) -> None:
    workbook.properties.title = terms.name
    workbook.properties.subject = "Enregistrement des appareils"
    workbook.properties.creator = "cashback"
    workbook.properties.identifier = terms.id
    workbook.custom_doc_props.append(StringProperty(name=CAMPAIGN_MARKER, value=terms.id))
    workbook.defined_names[CAMPAIGN_MARKER] = DefinedName(CAMPAIGN_MARKER, attr_text=f'"{terms.id}"')


def format_euros(amount_cents: int) -> str:
    """French money format: ``5000`` -> ``'50,00 €'``, ``123456`` -> ``'1 234,56 €'``."""
    euros, cents = divmod(amount_cents, 100)
    return f"{euros:,}".replace(",", "\u202f") + f",{cents:02d} €"


def _french_date(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def template_campaign_id(source: Path | bytes) -> str | None:
    """The campaign id stamped by ``write_template``, if the file kept it (LibreOffice
    and Google Sheets may drop it: absence does not mean the file is not the template)."""
    workbook = _open_workbook(_read_source(source, 10 * 1024 * 1024))
    try:
        for prop in workbook.custom_doc_props:
            if prop.name == CAMPAIGN_MARKER and isinstance(prop.value, str):
                return prop.value
        return None
    finally:
        workbook.close()


# --------------------------------------------------------------------------- reader


def read_workbook(source: Path | bytes, *, max_rows: int = 20000, max_bytes: int = 10 * 1024 * 1024) -> list[ParsedRow]:
    """Parse the devices sheet; raises WorkbookError when the whole file is unusable."""
    data = _read_source(source, max_bytes)
    workbook = _open_workbook(data)
    try:
        sheet = _devices_sheet(workbook)
        return _parse_sheet(sheet, max_rows=max_rows, epoch=workbook.epoch)
    except (SyntaxError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise WorkbookError(f"the workbook is damaged and cannot be read ({exc})") from exc
    finally:
        workbook.close()


def _read_source(source: Path | bytes, max_bytes: int) -> bytes:
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
    else:
        path = Path(source)
        _check_size(path.stat().st_size, max_bytes)
        data = path.read_bytes()
    _check_size(len(data), max_bytes)
    return data


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise WorkbookError(f"file too large: {size / 1_048_576:.1f} MB, the limit is {max_bytes / 1_048_576:.1f} MB")


def _open_workbook(data: bytes) -> Any:
    _check_signature(data)
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # untrusted file: openpyxl raises many kinds of errors
        raise WorkbookError(f"not a readable Excel .xlsx workbook ({exc.__class__.__name__}: {exc})") from exc


def _check_signature(data: bytes) -> None:
    if not data:
        raise WorkbookError("the file is empty")
    if data.startswith(_OLE2_SIGNATURE):
        raise WorkbookError(_ole2_message(data))
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise WorkbookError(_not_zip_message(data))
    _check_archive(data)


def _ole2_message(data: bytes) -> str:
    if _ENCRYPTION_STREAM not in data and any(name in data for name in _XLS_STREAMS):
        return "old Excel 97-2003 .xls file: open it in Excel and save it as 'Classeur Excel (.xlsx)'"
    return (
        "the workbook is password-protected (encrypted): remove the password "
        "(Fichier > Informations > Protéger le classeur) and upload it again"
    )


def _not_zip_message(data: bytes) -> str:
    head = data[:2048]
    if b"\x00" not in head and _looks_like_text(head):
        return (
            "not an Excel .xlsx workbook: this is a text/CSV file (perhaps renamed .xlsx); "
            "open it in Excel and save it as 'Classeur Excel (.xlsx)'"
        )
    return "not an Excel .xlsx workbook (the file is not a valid .xlsx archive)"


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 4  # cut in the middle of a character
    return True


def _check_archive(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            uncompressed = sum(info.file_size for info in archive.infolist())
            mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        raise WorkbookError(f"not an Excel .xlsx workbook (damaged archive: {exc})") from exc
    if mimetype.startswith(_ODS_MIMETYPE):
        raise WorkbookError("OpenDocument .ods file: save it as 'Classeur Excel (.xlsx)'")
    if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
        raise WorkbookError("not an Excel .xlsx workbook (a zip archive without a workbook inside)")
    if uncompressed > _MAX_COMPRESSION_RATIO * max(len(data), 1_048_576):
        raise WorkbookError("file too large once uncompressed (possible zip bomb)")


def _devices_sheet(workbook: Any) -> Any:
    if DEVICES_SHEET in workbook.sheetnames:
        sheet = workbook[DEVICES_SHEET]
    elif workbook.worksheets:
        sheet = workbook.worksheets[0]
    else:
        raise WorkbookError("the workbook has no worksheet")
    sheet.reset_dimensions()  # some writers store a wrong dimension: read every row
    return sheet


def _parse_sheet(sheet: Any, *, max_rows: int, epoch: datetime) -> list[ParsedRow]:
    rows = enumerate(sheet.iter_rows(values_only=True), start=1)
    head = list(islice(rows, _HEADER_SEARCH_ROWS))
    header_number, columns = _find_header(head)
    data_rows = _chain_after(head, header_number, rows)
    return _parse_data_rows(data_rows, columns, max_rows=max_rows, epoch=epoch)


def _chain_after(
    head: list[tuple[int, tuple[Any, ...]]],
    header_number: int,
    rest: Iterator[tuple[int, tuple[Any, ...]]],
) -> Iterator[tuple[int, tuple[Any, ...]]]:
    yield from (item for item in head if item[0] > header_number)
    yield from rest


# ------------------------------------------------------------------------ header row


def header_key(value: object) -> str:
    """Header text compared case-, accent-, apostrophe- and blank-insensitively."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKD", str(value))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _APOSTROPHES.sub("'", text)
    text = _BLANKS.sub(" ", text).strip().rstrip("*: ").strip()
    return text.casefold()


_FIELD_BY_KEY: dict[str, str] = {header_key(h): field for field, h in FIELD_HEADERS.items()}


def _columns_of(values: tuple[Any, ...]) -> dict[str, int]:
    """Field -> 0-based column index, first occurrence wins; unknown columns ignored."""
    columns: dict[str, int] = {}
    for index, value in enumerate(values):
        field = _FIELD_BY_KEY.get(header_key(value))
        if field is not None and field not in columns:
            columns[field] = index
    return columns


def _find_header(head: list[tuple[int, tuple[Any, ...]]]) -> tuple[int, dict[str, int]]:
    best_number = 0
    best_columns: dict[str, int] = {}
    for number, values in head:
        columns = _columns_of(values)
        if all(field in columns for field in _REQUIRED_FIELDS):
            return number, columns
        if len(columns) > len(best_columns):
            best_number, best_columns = number, columns
    missing = [FIELD_HEADERS[f] for f in _REQUIRED_FIELDS if f not in best_columns]
    where = f"row {best_number}" if best_columns else f"the first {_HEADER_SEARCH_ROWS} rows"
    raise WorkbookError(
        "not the campaign template: missing columns "
        + ", ".join(f'"{name}"' for name in missing)
        + f" (header row searched in {where}; expected "
        + ", ".join(f'"{header}"' for header in HEADERS)
        + ")"
    )


# -------------------------------------------------------------------------- data rows


def _parse_data_rows(
    rows: Iterable[tuple[int, tuple[Any, ...]]],
    columns: dict[str, int],
    *,
    max_rows: int,
    epoch: datetime,
) -> list[ParsedRow]:
    parsed: list[ParsedRow] = []
    first_row_of: dict[str, int] = {}
    for number, values in rows:
        cells = {field: _cell(values, index) for field, index in columns.items()}
        if all(_is_blank(value) for value in cells.values()):
            continue
        if len(parsed) >= max_rows:
            raise WorkbookError(f"too many rows: more than {max_rows} devices in one workbook")
        parsed.append(_parse_row(number, cells, first_row_of, epoch))
    return parsed


def _cell(values: tuple[Any, ...], index: int) -> Any:
    return values[index] if index < len(values) else None


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not _BLANKS.sub("", value))


def _parse_row(number: int, cells: dict[str, Any], first_row_of: dict[str, int], epoch: datetime) -> ParsedRow:
    serial_text = cell_text(cells.get("serial"))
    errors: list[str] = []
    serial = _serial(cells.get("serial"), errors)
    if serial is not None:
        if serial in first_row_of:
            first = first_row_of[serial]
            errors.insert(0, f"{FIELD_HEADERS['serial']}: '{serial_text}' is a duplicate of row {first}")
        else:
            first_row_of[serial] = number
    device_type = _device_type(cells.get("device_type"), errors)
    installed_on = _installed_on(cells.get("installed_on"), epoch, errors)
    if errors or serial is None or device_type is None or installed_on is None:
        return ParsedRow(number, None, "; ".join(errors), serial_text)
    return _build_row(number, serial, device_type, installed_on, cells, serial_text)


def _build_row(
    number: int,
    serial: str,
    device_type: str,
    installed_on: date,
    cells: dict[str, Any],
    serial_text: str,
) -> ParsedRow:
    try:
        row = ExcelRowV1(
            serial=serial,
            device_type=device_type,
            installed_on=installed_on,
            site_reference=cell_text(cells.get("site_reference")),
        )
    except ValidationError as exc:
        return ParsedRow(number, None, _validation_message(exc), serial_text)
    return ParsedRow(number, row, None, serial_text)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        parts.append(f"{FIELD_HEADERS.get(field, field)}: {error['msg']}")
    return "; ".join(parts)


def _serial(value: Any, errors: list[str]) -> str | None:
    column = FIELD_HEADERS["serial"]
    if _is_blank(value):
        errors.append(f"{column}: missing")
        return None
    if isinstance(value, float) and abs(value) >= _EXCEL_EXACT_DIGITS_LIMIT:
        errors.append(
            f"{column}: '{cell_text(value)}' was typed as a number and Excel rounded it to "
            "15 digits; format the column as text and type the serial again"
        )
        return None
    try:
        return normalise_serial(value.strip() if isinstance(value, str) else value)
    except InvalidSerial:
        errors.append(f"{column}: '{cell_text(value)}' must be 4 to 40 letters or digits")
        return None


def _device_type(value: Any, errors: list[str]) -> str | None:
    device_type = normalise_device_type(cell_text(value) or None)
    if not device_type:
        errors.append(f"{FIELD_HEADERS['device_type']}: missing")
        return None
    return device_type


def _installed_on(value: Any, epoch: datetime, errors: list[str]) -> date | None:
    column = FIELD_HEADERS["installed_on"]
    if _is_blank(value):
        errors.append(f"{column}: missing")
        return None
    parsed = parse_date_cell(value, epoch=epoch)
    if parsed is None:
        errors.append(f"{column}: '{cell_text(value)}' is not a valid date (expected dd/mm/yyyy)")
    return parsed


def parse_date_cell(value: object, *, epoch: datetime = datetime(1899, 12, 30)) -> date | None:
    """A date from a datetime/date cell, dd/mm/yyyy-like text or an Excel serial number."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _date_from_serial(value, epoch)
    if isinstance(value, str):
        return _date_from_text(_BLANKS.sub(" ", value).strip())
    return None


def _date_from_serial(value: float, epoch: datetime) -> date | None:
    low, high = _SERIAL_DATE_RANGE
    if not low <= value <= high:
        return None
    converted = from_excel(int(value), epoch=epoch)
    return converted.date() if isinstance(converted, datetime) else None


def _date_from_text(text: str) -> date | None:
    if match := _DMY.match(text):
        day, month, year = (int(part) for part in match.groups())
        year += 2000 if len(match.group(3)) == 2 else 0
        return _safe_date(year, month, day)
    if match := _YMD.match(text):
        year, month, day = (int(part) for part in match.groups())
        return _safe_date(year, month, day)
    return None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def cell_text(value: object) -> str:
    """A cell as the user typed it: whole floats lose '.0', blanks are trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime | date):
        return _french_date(value)
    return _BLANKS.sub(" ", str(value)).strip()


# ---------------------------------------------------------------------------- verdicts


def write_verdicts(path: Path, verdicts: Sequence[Verdict]) -> None:
    """One line per verdict; CSV (';', UTF-8 with BOM, for French Excel) if path ends in .csv."""
    if Path(path).suffix.lower() == ".csv":
        _write_verdicts_csv(Path(path), verdicts)
    else:
        _write_verdicts_xlsx(Path(path), verdicts)


def _verdict_values(verdict: Verdict) -> tuple[int, str, str, str, str]:
    return (verdict.row_number, verdict.serial, verdict.status, verdict.reason, verdict.message)


def _write_verdicts_xlsx(path: Path, verdicts: Sequence[Verdict]) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert isinstance(sheet, Worksheet)
    sheet.title = "Verdicts"
    _write_header_row(sheet, VERDICT_HEADERS, (8, 26, 18, 28, 70))
    for row, verdict in enumerate(verdicts, start=2):
        for column, value in enumerate(_verdict_values(verdict), start=1):
            cell = sheet.cell(row=row, column=column, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # openpyxl would store '=...' as a formula
    workbook.save(path)


def _write_verdicts_csv(path: Path, verdicts: Sequence[Verdict]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(VERDICT_HEADERS)
        for verdict in verdicts:
            writer.writerow([csv_safe(value) for value in _verdict_values(verdict)])


def csv_safe(value: object) -> str:
    """Neutralise spreadsheet formula injection: prefix ' to text starting with = + - @ tab CR."""
    text = "" if value is None else str(value)
    if isinstance(value, str) and text.startswith(_CSV_DANGEROUS_START):
        return "'" + text
    return text
