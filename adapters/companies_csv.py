"""Enrolled companies from a CSV file (customer_no,name,contact_email,enrolled_on)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from domain.enrolment import Enrolment

FIELDS = ("customer_no", "name", "contact_email", "enrolled_on")


class CompaniesFileError(ValueError):
    pass


def _dialect(handle: TextIO) -> type[csv.Dialect]:
    """Comma or semicolon separated (French Excel writes semicolons)."""
    sample = handle.read(4096)
    handle.seek(0)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;")
    except csv.Error:
        return csv.excel


def _date_iso(field: str, value: str | None) -> str | None:
    """enrolled_on as ISO or dd/mm/yyyy, as elsewhere."""
    if field == "enrolled_on" and value and "/" in value:
        day, month, year = ([*value.strip().split("/"), "", "", ""])[:3]
        return f"{year}-{month.zfill(2)}-{day.zfill(2)}"
    return value


def load_companies(path: Path) -> list[Enrolment]:
    enrolments: list[Enrolment] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:  # -sig: Excel's "CSV UTF-8" starts with a BOM
        reader = csv.DictReader(handle, dialect=_dialect(handle))
        missing = [f for f in FIELDS if f not in (reader.fieldnames or [])]
        if missing:
            raise CompaniesFileError(f"{path}: missing columns {', '.join(missing)}")
        for line_no, row in enumerate(reader, start=2):
            try:
                enrolment = Enrolment.model_validate({k: _date_iso(k, row[k]) for k in FIELDS})
            except ValidationError as error:
                fields = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors())
                errors.append(f"line {line_no}: {fields}")
                continue
            if enrolment.customer_no in seen:
                errors.append(f"line {line_no}: customer_no {enrolment.customer_no} already on line "
                              f"{seen[enrolment.customer_no]}")
                continue
            seen[enrolment.customer_no] = line_no
            enrolments.append(enrolment)
    if errors:
        raise CompaniesFileError(f"{path}: " + " | ".join(errors))
    return enrolments
