"""The maker's device catalog, read from a CSV export (serial,device_type,production_date,country_of_sale)."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from domain.catalog import CatalogEntry, InMemoryCatalog
from domain.normalise import InvalidSerial, normalise_device_type, normalise_serial

FIELDS = ("serial", "device_type", "production_date", "country_of_sale")


class CatalogFileError(ValueError):
    pass


def load_catalog(path: Path) -> InMemoryCatalog:
    entries = []
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise CatalogFileError(f"catalog file {path} not found") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [f for f in FIELDS if f not in (reader.fieldnames or [])]
        if missing:
            raise CatalogFileError(f"catalog file {path}: missing columns {', '.join(missing)}")
        seen: dict[str, int] = {}
        for line_no, row in enumerate(reader, start=2):
            try:
                entry = CatalogEntry(
                    serial=normalise_serial(row["serial"]),
                    device_type=normalise_device_type(row["device_type"]),
                    production_date=date.fromisoformat(row["production_date"] or ""),
                    country_of_sale=(row["country_of_sale"] or "").strip().upper(),
                )
            except (InvalidSerial, ValueError, AttributeError) as error:
                raise CatalogFileError(f"catalog file {path}, line {line_no}: {error}") from None
            if entry.serial in seen:  # two records for one device: the decision would depend on the order
                raise CatalogFileError(
                    f"catalog file {path}, line {line_no}: serial {entry.serial} already on line {seen[entry.serial]}"
                )
            seen[entry.serial] = line_no
            entries.append(entry)
    return InMemoryCatalog(entries)


def write_catalog(path: Path, entries: list[CatalogEntry]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for e in entries:
            writer.writerow((e.serial, e.device_type, e.production_date.isoformat(), e.country_of_sale))
