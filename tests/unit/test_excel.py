"""Excel adapter: template, tolerant reader with per-row errors, verdict files."""

from __future__ import annotations

import csv
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from adapters.excel import (
    CAMPAIGN_MARKER,
    ParsedRow,
    Verdict,
    WorkbookError,
    format_euros,
    read_workbook,
    template_campaign_id,
    write_template,
    write_verdicts,
)
from domain.terms import CampaignTerms
from schemas.excel import HEADERS, ExcelRowV1


@pytest.fixture
def terms() -> CampaignTerms:
    return CampaignTerms(
        id="fr-2026",
        name="Cashback onduleurs 2026",
        country="FR",
        installation_from=date(2026, 1, 1),
        installation_to=date(2026, 12, 31),
        registration_deadline=date(2027, 1, 31),
        eligible_types=[
            {"device_type": "SB3.0-1AV-41", "category": "inverter", "amount_cents": 5000},
            {"device_type": "STP10.0-3AV-40", "category": "inverter", "amount_cents": 123456},
        ],
    )


def make_workbook(tmp_path: Path, rows: list[list[Any] | None], headers: tuple[str, ...] | list[str] = HEADERS) -> Path:
    """A workbook with ``headers`` in row 1 and ``rows`` below (None rows stay empty)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(list(headers))
    for number, row in enumerate(rows, start=2):
        for column, value in enumerate(row or [], start=1):
            if value is not None:
                sheet.cell(row=number, column=column, value=value)
    path = tmp_path / "devices.xlsx"
    workbook.save(path)
    return path


def only(parsed: list[ParsedRow]) -> ParsedRow:
    assert len(parsed) == 1, parsed
    return parsed[0]


# ----------------------------------------------------------------------------- template


def test_template_round_trip(tmp_path: Path, terms: CampaignTerms) -> None:
    path = tmp_path / "template.xlsx"
    write_template(path, terms)

    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames[0] == "Appareils"
    sheet = workbook["Appareils"]
    sheet.append(["3001 234 567", "SB3.0-1AV-41", datetime(2026, 3, 5), "Chantier Dupont"])
    sheet.append(["ab-12\u00a0cd", "stp10.0-3av-40", "6/4/2026", None])
    workbook.save(path)

    parsed = read_workbook(path)

    assert parsed == [
        ParsedRow(
            2,
            ExcelRowV1(
                serial="3001234567",
                device_type="SB3.0-1AV-41",
                installed_on=date(2026, 3, 5),
                site_reference="Chantier Dupont",
            ),
            None,
            "3001 234 567",
        ),
        ParsedRow(
            3,
            ExcelRowV1(serial="AB12CD", device_type="STP10.0-3AV-40", installed_on=date(2026, 4, 6)),
            None,
            "ab-12 cd",
        ),
    ]


def test_template_layout(tmp_path: Path, terms: CampaignTerms) -> None:
    path = tmp_path / "template.xlsx"
    write_template(path, terms)

    workbook = openpyxl.load_workbook(path)
    sheet = workbook["Appareils"]
    assert [cell.value for cell in sheet[1]] == list(HEADERS)
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["A"].number_format == "@"
    assert sheet.column_dimensions["C"].number_format.lower() == "dd/mm/yyyy"
    validations = {dv.type: dv for dv in sheet.data_validations.dataValidation}
    assert validations["list"].formula1 == "Types!$A$1:$A$2"
    assert (validations["date"].formula1, validations["date"].formula2) == ("46023", "46387")
    types = workbook["Types"]
    assert types.sheet_state == "hidden"
    assert [types.cell(row=r, column=1).value for r in (1, 2)] == ["SB3.0-1AV-41", "STP10.0-3AV-40"]
    assert workbook.properties.title == "Cashback onduleurs 2026"
    assert template_campaign_id(path) == "fr-2026"
    assert CAMPAIGN_MARKER in workbook.defined_names


def test_template_instructions_in_french(tmp_path: Path, terms: CampaignTerms) -> None:
    path = tmp_path / "template.xlsx"
    write_template(path, terms)

    sheet = openpyxl.load_workbook(path)["Instructions"]
    text = "\n".join(str(cell.value) for row in sheet.iter_rows() for cell in row if cell.value is not None)
    assert "une ligne par appareil" in text
    assert "01/01/2026" in text and "31/12/2026" in text
    assert "31/01/2027" in text
    assert "50,00 €" in text
    assert "inverter" in text
    assert "verdict" in text


def test_format_euros() -> None:
    assert format_euros(5000) == "50,00 €"
    assert format_euros(1999) == "19,99 €"
    assert format_euros(123456) == "1\u202f234,56 €"


def test_template_without_custom_properties_is_still_accepted(tmp_path: Path) -> None:
    path = make_workbook(tmp_path, [["SN123456", "SB3.0-1AV-41", date(2026, 3, 5)]])

    assert template_campaign_id(path) is None
    assert only(read_workbook(path)).row is not None


# ------------------------------------------------------------------------------- cells


def test_serial_typed_as_number(tmp_path: Path) -> None:
    path = make_workbook(
        tmp_path,
        [[3001234567, "SB3.0-1AV-41", date(2026, 3, 5)], [3001234568.0, "SB3.0-1AV-41", date(2026, 3, 5)]],
    )

    parsed = read_workbook(path)

    assert [p.row.serial for p in parsed if p.row] == ["3001234567", "3001234568"]
    assert [p.serial_text for p in parsed] == ["3001234567", "3001234568"]


def test_serial_rounded_by_excel_is_an_error(tmp_path: Path) -> None:
    path = make_workbook(tmp_path, [[1.2345678901234568e18, "SB3.0-1AV-41", date(2026, 3, 5)]])

    row = only(read_workbook(path))

    assert row.row is None
    assert "Excel l'a arrondi à 15 chiffres" in (row.error or "")
    assert "Excel rounded it to 15 digits" in (only(read_workbook(path, language="en")).error or "")


def test_invalid_serial_names_column_and_value(tmp_path: Path) -> None:
    path = make_workbook(tmp_path, [[12, "SB3.0-1AV-41", date(2026, 3, 5)]])

    row = only(read_workbook(path))

    assert row.row is None
    assert row.error == "Numéro de série : '12' doit comporter de 4 à 40 lettres ou chiffres"
    assert only(read_workbook(path, language="en")).error == "Numéro de série: '12' must be 4 to 40 letters or digits"


@pytest.mark.parametrize(
    "cell",
    [
        "05/03/2026",
        "5/3/2026",
        "05.03.2026",
        "2026-03-05",
        " 05/03/2026\u00a0",
        datetime(2026, 3, 5, 14, 30),
        date(2026, 3, 5),
        46086,
        46086.0,
    ],
)
def test_date_forms(tmp_path: Path, cell: object) -> None:
    path = make_workbook(tmp_path, [["SN123456", "SB3.0-1AV-41", cell]])

    row = only(read_workbook(path))

    assert row.error is None
    assert row.row is not None and row.row.installed_on == date(2026, 3, 5)


@pytest.mark.parametrize("cell", ["31/02/2026", "hier", "2026-13-01", 12])
def test_impossible_date_names_column_and_value(tmp_path: Path, cell: object) -> None:
    path = make_workbook(tmp_path, [["SN123456", "SB3.0-1AV-41", cell]])

    row = only(read_workbook(path))

    assert row.row is None
    assert row.error is not None
    assert row.error == f"Date d'installation : '{cell}' n'est pas une date valide (attendu jj/mm/aaaa)"
    english = only(read_workbook(path, language="en")).error
    assert english == f"Date d'installation: '{cell}' is not a valid date (expected dd/mm/yyyy)"


def test_missing_device_type_and_serial(tmp_path: Path) -> None:
    path = make_workbook(tmp_path, [[None, "  ", date(2026, 3, 5), "chantier"]])

    row = only(read_workbook(path))

    assert row.row is None
    assert row.error == "Numéro de série : manquant ; Type d'appareil : manquant"
    assert row.serial_text == ""
    assert only(read_workbook(path, language="en")).error == "Numéro de série: missing; Type d'appareil: missing"


def test_formula_without_computed_value_is_said_to_be_a_formula(tmp_path: Path) -> None:
    path = make_workbook(tmp_path, [["SN123456", "=B1", date(2026, 3, 5)]])

    row = only(read_workbook(path))

    assert row.error == "Type d'appareil : la cellule contient une formule (=B1) sans valeur calculée ; " \
        "saisissez la valeur elle-même"
    assert only(read_workbook(path, language="en")).error == (
        "Type d'appareil: the cell holds a formula (=B1) without a computed value; type the value itself")


def with_computed_values(path: Path, values: dict[str, tuple[str, str]]) -> Path:
    """The workbook as Excel saves it: each formula cell of ``values`` (coordinate -> (type, value))
    keeps the value Excel computed (openpyxl writes formulas without one)."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    for coordinate, (kind, value) in values.items():
        sheet, replaced = re.subn(rf'<c r="{coordinate}"([^>]*)><f>(.*?)</f><v ?/>',
                                  rf'<c r="{coordinate}" t="{kind}"\1><f>\2</f><v>{value}</v>', sheet)
        assert replaced == 1, coordinate
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def test_formula_in_the_serial_column_is_said_to_be_a_formula_not_a_value(tmp_path: Path) -> None:
    path = make_workbook(tmp_path, [["=1+1", "SB3.0-1AV-41", date(2026, 3, 5)],
                                    ["=A1&\"0001\"", "SB3.0-1AV-41", date(2026, 3, 5)]])
    # Excel computed a value for the second one: a serial is still typed, not computed.
    with_computed_values(path, {"A3": ("str", "SN0001")})

    first, second = read_workbook(path)

    assert first.row is None and second.row is None
    assert first.error == (
        "Numéro de série : la cellule contient une formule (=1+1), pas une valeur ; saisissez le numéro de "
        "série tel qu'imprimé sur l'étiquette (ou collez-le avec Collage spécial > Valeurs)")
    assert first.serial_text == "=1+1"
    assert second.error is not None and "formule (=A1&\"0001\")" in second.error
    english = read_workbook(path, language="en")[0].error
    assert english is not None and english.startswith("Numéro de série: the cell holds a formula (=1+1), not a value")


def test_computed_values_of_other_formulas_are_read(tmp_path: Path) -> None:
    path = make_workbook(tmp_path, [["SN123456", "=Types!A1", "=DATE(2026,3,5)", "=\"chantier\""],
                                    ["SN123457", "SB3.0-1AV-41", "05/03/2026", "=B1"]])
    with_computed_values(path, {"B2": ("str", "SB3.0-1AV-41"), "C2": ("n", "46086"), "D2": ("str", "chantier")})

    first, second = read_workbook(path)

    assert first.row == ExcelRowV1(serial="SN123456", device_type="SB3.0-1AV-41", installed_on=date(2026, 3, 5),
                                   site_reference="chantier")
    assert second.row is not None and second.row.site_reference == ""  # optional: no value, no error


def test_rows_of_formulas_computing_nothing_are_blank(tmp_path: Path) -> None:
    formula = '=IF(A2="","",A2)'
    path = make_workbook(tmp_path, [["SN123456", "SB3.0-1AV-41", date(2026, 3, 5)],
                                    [None, formula, formula], [None, formula, formula]])

    assert [p.row_number for p in read_workbook(path)] == [2]


def test_text_starting_with_an_equals_sign_is_not_a_formula(tmp_path: Path) -> None:
    path = make_workbook(tmp_path, [[None, "SB3.0-1AV-41", date(2026, 3, 5)]])
    workbook = openpyxl.load_workbook(path)
    cell = workbook.active.cell(row=2, column=1, value="=ABC123")
    cell.data_type = "s"  # typed as '=ABC123: text
    workbook.save(path)

    assert only(read_workbook(path)).error == "Numéro de série : '=ABC123' doit comporter de 4 à 40 lettres ou chiffres"


def test_formulas_in_the_header_row_are_read_as_their_values(tmp_path: Path) -> None:
    headers = ["=\"Numéro de série\"", "Type d'appareil", "Date d'installation"]
    path = make_workbook(tmp_path, [["SN123456", "SB3.0-1AV-41", date(2026, 3, 5)]], headers)
    with_computed_values(path, {"A1": ("str", "Numéro de série")})

    assert only(read_workbook(path)).row is not None


@pytest.mark.parametrize("cell", ["9" * 5000, 1e300, "A" * 41])
def test_long_serials_are_shortened_in_messages(tmp_path: Path, cell: object) -> None:
    path = make_workbook(tmp_path, [[cell, "SB3.0-1AV-41", date(2026, 3, 5)]])

    row = only(read_workbook(path))

    full = str(cell) if isinstance(cell, str) else str(int(cell))  # type: ignore[call-overload]
    assert row.error is not None and full not in row.error
    assert f"'{full[:20]}…' ({len(full)} caractères)" in row.error
    assert len(row.error) < 250
    english = only(read_workbook(path, language="en")).error
    assert english is not None and f"'{full[:20]}…' ({len(full)} characters)" in english


def test_too_long_texts_are_named_by_column(tmp_path: Path) -> None:
    path = make_workbook(tmp_path, [["SN123456", "SB3.0-1AV-41", date(2026, 3, 5), "x" * 101]])

    row = only(read_workbook(path))

    assert row.error == "Référence chantier : 'xxxxxxxxxxxxxxxxxxxx…' (101 caractères) dépasse 100 caractères"


# -------------------------------------------------------------------------------- rows


def test_blank_rows_skipped_and_row_numbers_kept(tmp_path: Path) -> None:
    path = make_workbook(
        tmp_path,
        [
            ["SN000001", "SB3.0-1AV-41", date(2026, 3, 5)],
            None,
            ["  ", "\u00a0", None, ""],
            ["SN000002", "SB3.0-1AV-41", date(2026, 3, 6)],
        ],
    )
    workbook = openpyxl.load_workbook(path)
    workbook.active.cell(row=40, column=1).number_format = "@"  # trailing formatting-only row
    workbook.save(path)

    parsed = read_workbook(path)

    assert [p.row_number for p in parsed] == [2, 5]
    assert all(p.error is None for p in parsed)


def test_bad_row_among_good_ones(tmp_path: Path) -> None:
    path = make_workbook(
        tmp_path,
        [
            ["SN000001", "SB3.0-1AV-41", date(2026, 3, 5)],
            ["SN000002", "SB3.0-1AV-41", "31/02/2026"],
            ["SN000003", "SB3.0-1AV-41", date(2026, 3, 7)],
        ],
    )

    parsed = read_workbook(path)

    assert [(p.row_number, p.row is not None) for p in parsed] == [(2, True), (3, False), (4, True)]
    assert parsed[1].error == "Date d'installation : '31/02/2026' n'est pas une date valide (attendu jj/mm/aaaa)"
    assert parsed[1].serial_text == "SN000002"


def test_duplicate_serial(tmp_path: Path) -> None:
    path = make_workbook(
        tmp_path,
        [
            ["SN-000001", "SB3.0-1AV-41", date(2026, 3, 5)],
            ["SN000002", "SB3.0-1AV-41", date(2026, 3, 5)],
            ["sn 000001", "SB3.0-1AV-41", date(2026, 3, 6)],
        ],
    )

    parsed = read_workbook(path)

    assert parsed[0].row is not None and parsed[1].row is not None
    assert parsed[2].row is None
    assert parsed[2].error == "Numéro de série : 'sn 000001' est un doublon de la ligne 2"
    assert read_workbook(path, language="en")[2].error == "Numéro de série: 'sn 000001' is a duplicate of row 2"


def test_extra_columns_and_header_variants(tmp_path: Path) -> None:
    headers = ["Commentaire", " NUMERO  DE SERIE ", "type d’appareil", "Date d'installation", "Autre"]
    path = make_workbook(tmp_path, [["note", "SN123456", "SB3.0-1AV-41", date(2026, 3, 5), "x"]], headers)

    row = only(read_workbook(path))

    assert row.row == ExcelRowV1(serial="SN123456", device_type="SB3.0-1AV-41", installed_on=date(2026, 3, 5))


def test_header_row_below_a_title(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Enregistrement des appareils"])
    sheet.append([])
    sheet.append(list(HEADERS))
    sheet.append(["SN123456", "SB3.0-1AV-41", "05/03/2026"])
    path = tmp_path / "titled.xlsx"
    workbook.save(path)

    assert only(read_workbook(path)).row_number == 4


def test_bytes_source(tmp_path: Path) -> None:
    path = make_workbook(tmp_path, [["SN123456", "SB3.0-1AV-41", "05/03/2026"]])

    assert only(read_workbook(path.read_bytes())).row is not None


# ---------------------------------------------------------------------- whole-file errors


@pytest.mark.parametrize(
    ("data", "french", "english", "code"),
    [
        (b"Numero de serie;Type;Date\nSN123456;SB3.0;05/03/2026\n", "fichier texte/CSV", "text/CSV file",
         "not_a_workbook"),
        (bytes(range(256)) * 8, r"ce n'est pas un classeur Excel \.xlsx", r"not an Excel \.xlsx workbook",
         "not_a_workbook"),
        (b"", "le fichier est vide", "the file is empty", "empty_file"),
    ],
)
def test_not_a_workbook(data: bytes, french: str, english: str, code: str) -> None:
    with pytest.raises(WorkbookError, match=french) as caught:
        read_workbook(data)
    assert caught.value.code == code
    assert re.search(english, caught.value.message("en"))
    with pytest.raises(WorkbookError, match=english):
        read_workbook(data, language="en")


def test_csv_renamed_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "devices.xlsx"
    path.write_text("Numéro de série,Type d'appareil\nSN123456,SB3.0\n", encoding="utf-8")

    with pytest.raises(WorkbookError, match=r"ce n'est pas un classeur Excel \.xlsx"):
        read_workbook(path)


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "devices.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hello")

    with pytest.raises(WorkbookError, match=r"ce n'est pas un classeur Excel \.xlsx"):
        read_workbook(path)


def test_encrypted_workbook() -> None:
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + "EncryptionInfo".encode("utf-16-le")

    with pytest.raises(WorkbookError, match="protégé par un mot de passe") as caught:
        read_workbook(data)
    assert caught.value.code == "password_protected"
    assert "password-protected" in caught.value.message("en")


def test_encrypted_signature_only() -> None:
    with pytest.raises(WorkbookError, match="password-protected"):
        read_workbook(b"\xd0\xcf\x11\xe0" + b"\x00" * 100, language="en")


def test_old_xls() -> None:
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + "Workbook".encode("utf-16-le")

    with pytest.raises(WorkbookError, match=r"ancien fichier Excel 97-2003 \(\.xls\)"):
        read_workbook(data)


def test_too_large(tmp_path: Path) -> None:
    path = make_workbook(tmp_path, [["SN123456", "SB3.0-1AV-41", "05/03/2026"]])

    with pytest.raises(WorkbookError, match=r"fichier trop volumineux : \d+,\d Mo, la limite est de 0,0 Mo"):
        read_workbook(path, max_bytes=1000)
    with pytest.raises(WorkbookError, match=r"too large: \d+\.\d MB, the limit is 0\.0 MB") as caught:
        read_workbook(path.read_bytes(), max_bytes=1000, language="en")
    assert caught.value.code == "too_large"


def test_too_many_rows(tmp_path: Path) -> None:
    rows = [[f"SN{n:06d}", "SB3.0-1AV-41", "05/03/2026"] for n in range(6)]
    path = make_workbook(tmp_path, rows)

    assert len(read_workbook(path, max_rows=6)) == 6
    with pytest.raises(WorkbookError, match="trop de lignes : plus de 5 appareils dans un même classeur"):
        read_workbook(path, max_rows=5)
    with pytest.raises(WorkbookError, match="too many rows: more than 5 devices"):
        read_workbook(path, max_rows=5, language="en")


def test_wrong_headers_name_missing_columns(tmp_path: Path) -> None:
    path = make_workbook(tmp_path, [["SN123456", "x", "y"]], ["Numéro de série", "Modèle", "Quand"])

    with pytest.raises(WorkbookError, match="ce n'est pas le modèle de la campagne") as caught:
        read_workbook(path)

    assert str(caught.value) == (
        'ce n\'est pas le modèle de la campagne : colonnes manquantes "Type d\'appareil", "Date d\'installation" '
        '(ligne d\'en-tête cherchée à la ligne 1 ; attendu "Numéro de série", "Type d\'appareil", '
        '"Date d\'installation", "Référence chantier")')
    assert caught.value.code == "not_the_template"
    assert caught.value.message("en").startswith(
        'not the campaign template: missing columns "Type d\'appareil", "Date d\'installation" '
        '(header row searched in row 1;')


def test_no_header_at_all(tmp_path: Path) -> None:
    path = make_workbook(tmp_path, [], ["a", "b", "c"])

    expected = 'colonnes manquantes "Numéro de série", "Type d\'appareil", "Date d\'installation" '
    with pytest.raises(WorkbookError, match=expected) as caught:
        read_workbook(path)
    assert "dans les 5 premières lignes" in str(caught.value)
    assert "in the first 5 rows" in caught.value.message("en")


# ---------------------------------------------------------------------------- verdicts


VERDICTS = [
    Verdict(2, "SN000001", "PAYMENT_PENDING", "", "", "Enregistrement réussi, paiement en attente"),
    Verdict(3, '=HYPERLINK("http://evil","x")', "ERROR", "INVALID_ROW", "-1 +2 @x", "Ligne invalide"),
]


def test_write_verdicts_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.xlsx"
    write_verdicts(path, VERDICTS)

    sheet = openpyxl.load_workbook(path).active
    rows = [tuple(cell.value for cell in row) for row in sheet.iter_rows()]
    assert rows[0] == ("Ligne", "Numéro de série", "Statut", "Code statut", "Motif", "Message")
    assert rows[1] == (2, "SN000001", "Enregistrement réussi, paiement en attente", "PAYMENT_PENDING", None, None)
    assert rows[2][2:5] == ("Ligne invalide", "ERROR", "INVALID_ROW")
    assert rows[2][1] == '=HYPERLINK("http://evil","x")'
    assert sheet.cell(row=3, column=2).data_type == "s"  # text, not a formula


def test_write_verdicts_csv_protects_formulas(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.csv"
    write_verdicts(path, VERDICTS)

    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    assert rows[0] == ["Ligne", "Numéro de série", "Statut", "Code statut", "Motif", "Message"]
    assert rows[1] == ["2", "SN000001", "Enregistrement réussi, paiement en attente", "PAYMENT_PENDING", "", ""]
    assert rows[2][1] == '\'=HYPERLINK("http://evil","x")'
    assert rows[2][5] == "'-1 +2 @x"


def test_verdicts_in_english_and_without_a_label(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.csv"
    write_verdicts(path, [Verdict(2, "SN000001", "PAYMENT_PENDING", "", "")], language="en")

    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    assert rows == [["Row", "Serial number", "Status", "Status code", "Reason", "Message"],
                    ["2", "SN000001", "PAYMENT_PENDING", "PAYMENT_PENDING", "", ""]]  # no label: the code
