"""The campaign's Excel workbook: template, tolerant reader, verdict file.

Installers download a template (``write_template``), fill one row per device
and upload it back. ``read_workbook`` accepts what real users send: serials
typed as numbers, dates as text or Excel serial numbers, blank rows, extra
columns, workbooks re-saved by LibreOffice or Google Sheets. Whole-file
problems raise ``WorkbookError``; problems in one row only give that row an
``error`` and the other rows still parse. ``write_verdicts`` gives every row
its outcome back, as .xlsx or .csv.

Row errors and whole-file errors are written in the portal language (French by
default, English): each row error names the template column (the headers stay
French, as in the template) and quotes the cell, shortened when it is long.
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
from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula
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
#: Verdict file columns: the status label for people, its code for machines.
VERDICT_HEADERS_BY_LANGUAGE: dict[str, tuple[str, ...]] = {
    "fr": ("Ligne", "Numéro de série", "Statut", "Code statut", "Motif", "Message"),
    "en": ("Row", "Serial number", "Status", "Status code", "Reason", "Message"),
}
VERDICT_HEADERS: tuple[str, ...] = VERDICT_HEADERS_BY_LANGUAGE["fr"]

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
#: A cell quoted in a message is shortened beyond this many characters (to its first _QUOTE_HEAD ones).
_QUOTE_LIMIT = 40
_QUOTE_HEAD = 20

#: Installer-facing texts of this channel, per portal language. Row errors start with the column name.
TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        # one row
        "missing": "{column} : manquant",
        "duplicate": "{column} : {value} est un doublon de la ligne {row}",
        "rounded": (
            "{column} : {value} a été saisi comme un nombre et Excel l'a arrondi à 15 chiffres ; "
            "mettez la colonne au format Texte et saisissez à nouveau le numéro de série"
        ),
        "invalid_serial": "{column} : {value} doit comporter de 4 à 40 lettres ou chiffres",
        "invalid_date": "{column} : {value} n'est pas une date valide (attendu jj/mm/aaaa)",
        "serial_formula": (
            "{column} : la cellule contient une formule ({formula}), pas une valeur ; saisissez le numéro "
            "de série tel qu'imprimé sur l'étiquette (ou collez-le avec Collage spécial > Valeurs)"
        ),
        "formula_without_value": (
            "{column} : la cellule contient une formule ({formula}) sans valeur calculée ; "
            "saisissez la valeur elle-même"
        ),
        "too_long": "{column} : {value} dépasse {limit} caractères",
        "invalid": "{column} : valeur invalide ({detail})",
        "characters": "{count} caractères",
        # the whole file
        "empty": "le fichier est vide",
        "too_large": "fichier trop volumineux : {size} Mo, la limite est de {limit} Mo",
        "zip_bomb": "fichier trop volumineux une fois décompressé (possible bombe de décompression)",
        "xls": (
            "ancien fichier Excel 97-2003 (.xls) : ouvrez-le dans Excel et enregistrez-le "
            "au format « Classeur Excel (.xlsx) »"
        ),
        "encrypted": (
            "le classeur est protégé par un mot de passe (chiffré) : retirez le mot de passe "
            "(Fichier > Informations > Protéger le classeur) et importez-le à nouveau"
        ),
        "text_file": (
            "ce n'est pas un classeur Excel .xlsx : c'est un fichier texte/CSV (peut-être renommé en .xlsx) ; "
            "ouvrez-le dans Excel et enregistrez-le au format « Classeur Excel (.xlsx) »"
        ),
        "not_zip": "ce n'est pas un classeur Excel .xlsx (le fichier n'est pas une archive .xlsx valide)",
        "damaged_archive": "ce n'est pas un classeur Excel .xlsx (archive endommagée : {detail})",
        "ods": "fichier OpenDocument .ods : enregistrez-le au format « Classeur Excel (.xlsx) »",
        "zip_without_workbook": "ce n'est pas un classeur Excel .xlsx (une archive zip sans classeur à l'intérieur)",
        "unreadable": "ce n'est pas un classeur Excel .xlsx lisible ({detail})",
        "damaged": "le classeur est endommagé et ne peut pas être lu ({detail})",
        "no_worksheet": "le classeur ne contient aucune feuille",
        "not_the_template": (
            "ce n'est pas le modèle de la campagne : colonnes manquantes {missing} "
            "(ligne d'en-tête cherchée {where} ; attendu {expected})"
        ),
        "header_row": "à la ligne {row}",
        "header_rows": "dans les {count} premières lignes",
        "too_many_rows": "trop de lignes : plus de {limit} appareils dans un même classeur",
    },
    "en": {
        "missing": "{column}: missing",
        "duplicate": "{column}: {value} is a duplicate of row {row}",
        "rounded": (
            "{column}: {value} was typed as a number and Excel rounded it to 15 digits; "
            "format the column as text and type the serial again"
        ),
        "invalid_serial": "{column}: {value} must be 4 to 40 letters or digits",
        "invalid_date": "{column}: {value} is not a valid date (expected dd/mm/yyyy)",
        "serial_formula": (
            "{column}: the cell holds a formula ({formula}), not a value; type the serial number "
            "as printed on the label (or paste it with Paste Special > Values)"
        ),
        "formula_without_value": "{column}: the cell holds a formula ({formula}) without a computed value; "
        "type the value itself",
        "too_long": "{column}: {value} is longer than {limit} characters",
        "invalid": "{column}: invalid value ({detail})",
        "characters": "{count} characters",
        "empty": "the file is empty",
        "too_large": "file too large: {size} MB, the limit is {limit} MB",
        "zip_bomb": "file too large once uncompressed (possible zip bomb)",
        "xls": "old Excel 97-2003 .xls file: open it in Excel and save it as 'Classeur Excel (.xlsx)'",
        "encrypted": (
            "the workbook is password-protected (encrypted): remove the password "
            "(Fichier > Informations > Protéger le classeur) and upload it again"
        ),
        "text_file": (
            "not an Excel .xlsx workbook: this is a text/CSV file (perhaps renamed .xlsx); "
            "open it in Excel and save it as 'Classeur Excel (.xlsx)'"
        ),
        "not_zip": "not an Excel .xlsx workbook (the file is not a valid .xlsx archive)",
        "damaged_archive": "not an Excel .xlsx workbook (damaged archive: {detail})",
        "ods": "OpenDocument .ods file: save it as 'Classeur Excel (.xlsx)'",
        "zip_without_workbook": "not an Excel .xlsx workbook (a zip archive without a workbook inside)",
        "unreadable": "not a readable Excel .xlsx workbook ({detail})",
        "damaged": "the workbook is damaged and cannot be read ({detail})",
        "no_worksheet": "the workbook has no worksheet",
        "not_the_template": (
            "not the campaign template: missing columns {missing} (header row searched {where}; expected {expected})"
        ),
        "header_row": "in row {row}",
        "header_rows": "in the first {count} rows",
        "too_many_rows": "too many rows: more than {limit} devices in one workbook",
    },
}

#: Whole-file problem -> the problem code the portal answers with.
_PROBLEM_CODES: dict[str, str] = {
    "empty": "empty_file",
    "too_large": "too_large",
    "zip_bomb": "too_large",
    "encrypted": "password_protected",
    "damaged_archive": "damaged_workbook",
    "damaged": "damaged_workbook",
    "not_the_template": "not_the_template",
    "too_many_rows": "too_many_rows",
}


def message_text(key: str, language: str = "fr", **values: object) -> str:
    """One text of this channel in ``language`` (French for an unknown language)."""
    return TEXTS.get(language, TEXTS["fr"])[key].format(**values)


def quoted(value: object, language: str = "fr") -> str:
    """A cell quoted in a message: ``'SN123'``; a long one shortened, with its length."""
    shown = cell_text(value)
    if len(shown) <= _QUOTE_LIMIT:
        return f"'{shown}'"
    return f"'{shown[:_QUOTE_HEAD]}…' ({message_text('characters', language, count=len(shown))})"


class WorkbookError(ValueError):
    """The whole file is unusable: not a workbook, protected, too big, not the template.

    ``key`` names the problem, ``code`` is the problem code the portal answers with;
    ``message(language)`` says it to the installer. ``str()`` is the text in the
    language the workbook was read in.
    """

    def __init__(self, key: str, language: str = "fr", **values: object) -> None:
        self.key = key
        self.code = _PROBLEM_CODES.get(key, "not_a_workbook")
        self.values = values
        self.language = language
        super().__init__(self.message(language))

    def message(self, language: str = "fr") -> str:
        values = dict(self.values)
        if "header_row" in values:  # where the header row was searched
            row = values.pop("header_row")
            values["where"] = (message_text("header_row", language, row=row) if row
                               else message_text("header_rows", language, count=_HEADER_SEARCH_ROWS))
        for name in ("size", "limit"):
            if isinstance(values.get(name), float):
                shown = f"{values[name]:.1f}"
                values[name] = shown.replace(".", ",") if language == "fr" else shown
        return message_text(self.key, language, **values)


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
    #: The code (PAYMENT_PENDING, …, ERROR for a row that could not be read), for machines.
    status: str
    reason: str
    message: str
    #: The status as installers read it, in the portal language (the code when empty).
    label: str = ""


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
    workbook = _open_workbook(_read_source(source, 10 * 1024 * 1024, "fr"), "fr")
    try:
        for prop in workbook.custom_doc_props:
            if prop.name == CAMPAIGN_MARKER and isinstance(prop.value, str):
                return prop.value
        return None
    finally:
        workbook.close()


# --------------------------------------------------------------------------- reader


def read_workbook(
    source: Path | bytes,
    *,
    max_rows: int = 20000,
    max_bytes: int = 10 * 1024 * 1024,
    language: str = "fr",
) -> list[ParsedRow]:
    """Parse the devices sheet; raises WorkbookError when the whole file is unusable.

    Messages (row errors, the WorkbookError's text) are in ``language``.
    """
    data = _read_source(source, max_bytes, language)
    workbook = _open_workbook(data, language)
    computed: _ComputedValues | None = None
    try:
        sheet = _devices_sheet(workbook, language)
        computed = _ComputedValues(data, sheet.title)
        reader = _RowReader(max_rows=max_rows, epoch=workbook.epoch, language=language, computed=computed)
        return reader.parse(sheet)
    except (SyntaxError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise WorkbookError("damaged", language, detail=str(exc)) from exc
    finally:
        if computed is not None:
            computed.close()
        workbook.close()


def _read_source(source: Path | bytes, max_bytes: int, language: str) -> bytes:
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
    else:
        path = Path(source)
        _check_size(path.stat().st_size, max_bytes, language)
        data = path.read_bytes()
    _check_size(len(data), max_bytes, language)
    return data


def _check_size(size: int, max_bytes: int, language: str) -> None:
    if size > max_bytes:
        raise WorkbookError("too_large", language, size=size / 1_048_576, limit=max_bytes / 1_048_576)


def _load(data: bytes, *, data_only: bool) -> Any:
    return load_workbook(io.BytesIO(data), read_only=True, data_only=data_only)


def _open_workbook(data: bytes, language: str) -> Any:
    """The workbook with its formulas as formulas (``'=1+1'``): a formula is not what the
    installer typed, and its computed value may be missing (files written by programs)
    or stale; ``_ComputedValues`` gives the values Excel computed, when they are needed."""
    _check_signature(data, language)
    try:
        return _load(data, data_only=False)
    except Exception as exc:  # untrusted file: openpyxl raises many kinds of errors
        raise WorkbookError("unreadable", language, detail=f"{exc.__class__.__name__}: {exc}") from exc


def _check_signature(data: bytes, language: str) -> None:
    if not data:
        raise WorkbookError("empty", language)
    if data.startswith(_OLE2_SIGNATURE):
        raise WorkbookError(_ole2_problem(data), language)
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise WorkbookError(_not_zip_problem(data), language)
    _check_archive(data, language)


def _ole2_problem(data: bytes) -> str:
    if _ENCRYPTION_STREAM not in data and any(name in data for name in _XLS_STREAMS):
        return "xls"
    return "encrypted"


def _not_zip_problem(data: bytes) -> str:
    head = data[:2048]
    if b"\x00" not in head and _looks_like_text(head):
        return "text_file"
    return "not_zip"


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 4  # cut in the middle of a character
    return True


def _check_archive(data: bytes, language: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            uncompressed = sum(info.file_size for info in archive.infolist())
            mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        raise WorkbookError("damaged_archive", language, detail=str(exc)) from exc
    if mimetype.startswith(_ODS_MIMETYPE):
        raise WorkbookError("ods", language)
    if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
        raise WorkbookError("zip_without_workbook", language)
    if uncompressed > _MAX_COMPRESSION_RATIO * max(len(data), 1_048_576):
        raise WorkbookError("zip_bomb", language)


def _devices_sheet(workbook: Any, language: str = "fr") -> Any:
    if DEVICES_SHEET in workbook.sheetnames:
        sheet = workbook[DEVICES_SHEET]
    elif workbook.worksheets:
        sheet = workbook.worksheets[0]
    else:
        raise WorkbookError("no_worksheet", language)
    sheet.reset_dimensions()  # some writers store a wrong dimension: read every row
    return sheet


def _rows_of(sheet: Any) -> Iterator[tuple[int, tuple[Any, ...]]]:
    return enumerate(sheet.iter_rows(values_only=True), start=1)


def is_formula(value: object) -> bool:
    """A formula as openpyxl reads it without ``data_only``: text starting with '=', or an array/table one."""
    return (isinstance(value, str) and value.startswith("=")) or isinstance(value, ArrayFormula | DataTableFormula)


def _formula_text(value: object) -> str:
    if isinstance(value, ArrayFormula):
        return str(value.text or "=")
    if isinstance(value, DataTableFormula):
        return "=TABLE()"
    return str(value)


class _ComputedValues:
    """The values Excel computed for the sheet's formulas (``data_only``), read only when a row
    holds a formula: the workbook is opened a second time and read in step with the first reading."""

    def __init__(self, data: bytes, title: str) -> None:
        self._data = data
        self._title = title
        self._workbook: Any = None
        self._rows: Iterator[tuple[int, tuple[Any, ...]]] | None = None
        self._current: tuple[int, tuple[Any, ...]] = (0, ())
        self._head: dict[int, tuple[Any, ...]] = {}

    def row(self, number: int) -> tuple[Any, ...]:
        """Row ``number``'s computed values; rows are asked for in increasing order (the same row may be
        asked for again: the header search reads the first rows before the device rows are read)."""
        if self._rows is None:
            self._workbook = _load(self._data, data_only=True)
            sheet = self._workbook[self._title]
            sheet.reset_dimensions()
            self._rows = _rows_of(sheet)
        while self._current[0] < number:
            self._current = next(self._rows, (number, ()))
            if self._current[0] <= _HEADER_SEARCH_ROWS:
                self._head[self._current[0]] = self._current[1]
        if number in self._head:
            return self._head[number]
        return self._current[1] if self._current[0] == number else ()

    def close(self) -> None:
        if self._workbook is not None:
            self._workbook.close()


@dataclass(frozen=True, slots=True)
class _Formula:
    """A formula cell of a device row: what it says, and the value Excel computed (None if none)."""

    text: str
    computed: Any


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


def _find_header(head: list[tuple[int, tuple[Any, ...]]], language: str = "fr") -> tuple[int, dict[str, int]]:
    best_number = 0
    best_columns: dict[str, int] = {}
    for number, values in head:
        columns = _columns_of(values)
        if all(field in columns for field in _REQUIRED_FIELDS):
            return number, columns
        if len(columns) > len(best_columns):
            best_number, best_columns = number, columns
    missing = [FIELD_HEADERS[f] for f in _REQUIRED_FIELDS if f not in best_columns]
    raise WorkbookError(
        "not_the_template",
        language,
        missing=", ".join(f'"{name}"' for name in missing),
        header_row=best_number if best_columns else 0,
        expected=", ".join(f'"{header}"' for header in HEADERS),
    )


# -------------------------------------------------------------------------- data rows


@dataclass
class _RowReader:
    """Reads the device rows of one sheet; its messages are in ``language``."""

    max_rows: int
    epoch: datetime
    language: str
    computed: _ComputedValues

    def parse(self, sheet: Any) -> list[ParsedRow]:
        rows = _rows_of(sheet)
        head = list(islice(rows, _HEADER_SEARCH_ROWS))
        header_number, columns = _find_header([self._computed_head(n, values) for n, values in head], self.language)
        return self._parse_data_rows(_chain_after(head, header_number, rows), columns)

    def _computed_head(self, number: int, values: tuple[Any, ...]) -> tuple[int, tuple[Any, ...]]:
        """A row of the header search, with computed values in place of its formulas."""
        if not any(is_formula(value) for value in values):
            return number, values
        computed = self.computed.row(number)
        return number, tuple(
            _cell(computed, index) if is_formula(value) else value for index, value in enumerate(values)
        )

    def _parse_data_rows(
        self, rows: Iterable[tuple[int, tuple[Any, ...]]], columns: dict[str, int]
    ) -> list[ParsedRow]:
        parsed: list[ParsedRow] = []
        first_row_of: dict[str, int] = {}
        for number, values in rows:
            cells = self._cells(number, values, columns)
            if all(_is_blank(_value(value)) for value in cells.values()):
                continue  # a formula computing '' (a column of formulas dragged down) is blank too
            if len(parsed) >= self.max_rows:
                raise WorkbookError("too_many_rows", self.language, limit=self.max_rows)
            parsed.append(self._parse_row(number, cells, first_row_of))
        return parsed

    def _cells(self, number: int, values: tuple[Any, ...], columns: dict[str, int]) -> dict[str, Any]:
        cells = {field: _cell(values, index) for field, index in columns.items()}
        if any(is_formula(value) for value in cells.values()):
            computed = self.computed.row(number)
            for field, value in cells.items():
                if is_formula(value):
                    result = _cell(computed, columns[field])
                    # text typed as text ('=abc) reads the same both ways: it is no formula
                    formula = _formula_text(value)
                    cells[field] = value if result == value else _Formula(formula, result)
        return cells

    def _say(self, key: str, field: str, **values: object) -> str:
        return message_text(key, self.language, column=FIELD_HEADERS[field], **values)

    def _quoted(self, value: object) -> str:
        return quoted(value, self.language)

    def _parse_row(self, number: int, cells: dict[str, Any], first_row_of: dict[str, int]) -> ParsedRow:
        raw_serial = cells.get("serial")
        serial_text = raw_serial.text if isinstance(raw_serial, _Formula) else cell_text(raw_serial)
        errors: list[str] = []
        serial = self._serial(raw_serial, errors)
        if serial is not None:
            if serial in first_row_of:
                first = first_row_of[serial]
                errors.insert(0, self._say("duplicate", "serial", value=self._quoted(serial_text), row=first))
            else:
                first_row_of[serial] = number
        device_type = self._device_type(self._computed(cells, "device_type", errors), errors)
        installed_on = self._installed_on(self._computed(cells, "installed_on", errors), errors)
        site_reference = _value(cells.get("site_reference"))
        if errors or serial is None or device_type is None or installed_on is None:
            return ParsedRow(number, None, self._joined(errors), serial_text)
        return self._build_row(number, serial, device_type, installed_on, site_reference, serial_text)

    def _computed(self, cells: dict[str, Any], field: str, errors: list[str]) -> Any:
        """The cell's value; a formula without a computed value is an error (and None)."""
        value = cells.get(field)
        if not isinstance(value, _Formula):
            return value
        if _is_blank(value.computed):
            errors.append(self._say("formula_without_value", field, formula=_shortened(value.text)))
            return _NO_VALUE
        return value.computed

    def _build_row(
        self,
        number: int,
        serial: str,
        device_type: str,
        installed_on: date,
        site_reference: Any,
        serial_text: str,
    ) -> ParsedRow:
        try:
            row = ExcelRowV1(
                serial=serial,
                device_type=device_type,
                installed_on=installed_on,
                site_reference=cell_text(site_reference),
            )
        except ValidationError as exc:
            return ParsedRow(number, None, self._validation_message(exc), serial_text)
        return ParsedRow(number, row, None, serial_text)

    def _validation_message(self, exc: ValidationError) -> str:
        parts = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            column = FIELD_HEADERS.get(field, field)
            limit = (error.get("ctx") or {}).get("max_length")
            if error["type"] == "string_too_long" and limit is not None:
                parts.append(message_text("too_long", self.language, column=column,
                                          value=self._quoted(error["input"]), limit=limit))
            else:
                parts.append(message_text("invalid", self.language, column=column, detail=error["msg"]))
        return self._joined(parts)

    def _joined(self, errors: list[str]) -> str:
        return (" ; " if self.language == "fr" else "; ").join(errors)

    def _serial(self, value: Any, errors: list[str]) -> str | None:
        if isinstance(value, _Formula):
            errors.append(self._say("serial_formula", "serial", formula=_shortened(value.text)))
            return None
        if _is_blank(value):
            errors.append(self._say("missing", "serial"))
            return None
        if isinstance(value, float) and abs(value) >= _EXCEL_EXACT_DIGITS_LIMIT:
            errors.append(self._say("rounded", "serial", value=self._quoted(value)))
            return None
        try:
            return normalise_serial(value.strip() if isinstance(value, str) else value)
        except InvalidSerial:
            errors.append(self._say("invalid_serial", "serial", value=self._quoted(value)))
            return None

    def _device_type(self, value: Any, errors: list[str]) -> str | None:
        if value is _NO_VALUE:
            return None
        device_type = normalise_device_type(cell_text(value) or None)
        if not device_type:
            errors.append(self._say("missing", "device_type"))
            return None
        return device_type

    def _installed_on(self, value: Any, errors: list[str]) -> date | None:
        if value is _NO_VALUE:
            return None
        if _is_blank(value):
            errors.append(self._say("missing", "installed_on"))
            return None
        parsed = parse_date_cell(value, epoch=self.epoch)
        if parsed is None:
            errors.append(self._say("invalid_date", "installed_on", value=self._quoted(value)))
        return parsed


#: A formula cell without a computed value (already reported).
_NO_VALUE = object()


def _value(cell: Any) -> Any:
    """What a cell holds: a formula's computed value, else the cell's value."""
    return cell.computed if isinstance(cell, _Formula) else cell


def _shortened(value: str) -> str:
    return value if len(value) <= _QUOTE_LIMIT else value[:_QUOTE_HEAD] + "…"


def _chain_after(
    head: list[tuple[int, tuple[Any, ...]]],
    header_number: int,
    rest: Iterator[tuple[int, tuple[Any, ...]]],
) -> Iterator[tuple[int, tuple[Any, ...]]]:
    yield from (item for item in head if item[0] > header_number)
    yield from rest


def _cell(values: tuple[Any, ...], index: int) -> Any:
    return values[index] if index < len(values) else None


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not _BLANKS.sub("", value))


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


def write_verdicts(path: Path, verdicts: Sequence[Verdict], language: str = "fr") -> None:
    """One line per verdict; CSV (';', UTF-8 with BOM, for French Excel) if path ends in .csv.

    Columns: row, serial, the status label (``Verdict.label``), the status code, the reason code and
    the message; headers in ``language``.
    """
    headers = VERDICT_HEADERS_BY_LANGUAGE.get(language, VERDICT_HEADERS)
    if Path(path).suffix.lower() == ".csv":
        _write_verdicts_csv(Path(path), verdicts, headers)
    else:
        _write_verdicts_xlsx(Path(path), verdicts, headers)


def _verdict_values(verdict: Verdict) -> tuple[int, str, str, str, str, str]:
    return (verdict.row_number, verdict.serial, verdict.label or verdict.status, verdict.status, verdict.reason,
            verdict.message)


def _write_verdicts_xlsx(path: Path, verdicts: Sequence[Verdict], headers: Sequence[str]) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert isinstance(sheet, Worksheet)
    sheet.title = "Verdicts"
    _write_header_row(sheet, headers, (8, 26, 48, 18, 28, 70))
    for row, verdict in enumerate(verdicts, start=2):
        for column, value in enumerate(_verdict_values(verdict), start=1):
            cell = sheet.cell(row=row, column=column, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # openpyxl would store '=...' as a formula
    workbook.save(path)


def _write_verdicts_csv(path: Path, verdicts: Sequence[Verdict], headers: Sequence[str]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(headers)
        for verdict in verdicts:
            writer.writerow([csv_safe(value) for value in _verdict_values(verdict)])


def csv_safe(value: object) -> str:
    """Neutralise spreadsheet formula injection: prefix ' to text starting with = + - @ tab CR."""
    text = "" if value is None else str(value)
    if isinstance(value, str) and text.startswith(_CSV_DANGEROUS_START):
        return "'" + text
    return text
