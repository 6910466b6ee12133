"""Enrolled companies from a CSV file (customer_no,name,contact_email,enrolled_on)."""

from __future__ import annotations

import csv
from pathlib import Path

from pydantic import ValidationError

from domain.enrolment import Enrolment

FIELDS = ("customer_no", "name", "contact_email", "enrolled_on")


class CompaniesFileError(ValueError):
    pass


def load_companies(path: Path) -> list[Enrolment]:
    enrolments: list[Enrolment] = []
    errors: list[str] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [f for f in FIELDS if f not in (reader.fieldnames or [])]
        if missing:
            raise CompaniesFileError(f"{path}: missing columns {', '.join(missing)}")
        for line_no, row in enumerate(reader, start=2):
            try:
                enrolments.append(Enrolment.model_validate({k: row[k] for k in FIELDS}))
            except ValidationError as error:
                fields = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors())
                errors.append(f"line {line_no}: {fields}")
    if errors:
        raise CompaniesFileError(f"{path}: " + " | ".join(errors))
    return enrolments
