"""The maker's device catalog, read from a CSV export (serial,device_type,production_date,country_of_sale).

Parsing a catalog of a million devices takes seconds; every worker start would pay them. The parsed
columns are kept in a cache file named after the CSV's SHA-256 (adapters/catalog_cache.py): a start
with an unchanged catalog reads the columns back in a fraction of a second, a changed catalog (any
byte) is parsed and checked again.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import structlog

from adapters import catalog_cache
from domain.catalog import CatalogEntry, CompactCatalog
from domain.normalise import InvalidSerial, normalise_device_type, normalise_serial

FIELDS = ("serial", "device_type", "production_date", "country_of_sale")

log = structlog.get_logger(__name__)


class CatalogFileError(ValueError):
    pass


def load_catalog(path: Path, cache_dir: Path | None = None) -> CompactCatalog:
    """The catalog of the CSV file, from the cache in ``cache_dir`` when it holds this very file's."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CatalogFileError(f"catalog file {path} not found") from None
    digest = hashlib.sha256(raw).hexdigest()
    key = cache_key(digest)
    if cache_dir is not None and (cached := catalog_cache.read(cache_dir, key)) is not None:
        return cached
    catalog = CompactCatalog.of(_entries(path, raw))
    if not len(catalog):
        raise CatalogFileError(f"catalog file {path} lists no device: every registration would be refused")
    if cache_dir is not None:
        catalog_cache.write(cache_dir, key, catalog)
    log.info("catalog_loaded", path=str(path), devices=len(catalog), sha256=digest[:16])
    return catalog


def cache_key(csv_sha256: str) -> str:
    """The name of a CSV's parsed catalog in the cache: its bytes and the code that parses them."""
    return hashlib.sha256(f"{csv_sha256}:{_parser_fingerprint()}".encode()).hexdigest()


def _parser_fingerprint() -> str:
    """The code that turns CSV rows into entries: a cache made by other rules (another release's
    normalisation) is not this CSV's catalog any more."""
    import domain.catalog
    import domain.normalise

    digest = hashlib.sha256()
    for module_file in (__file__, domain.normalise.__file__, domain.catalog.__file__):
        digest.update(Path(module_file or "").read_bytes())
    return digest.hexdigest()


def _entries(path: Path, raw: bytes) -> Iterator[CatalogEntry]:
    try:
        yield from _rows(path, raw)
    except csv.Error as error:  # a field over the csv module's limit, a NUL byte, a broken quote
        raise CatalogFileError(f"catalog file {path}: not a readable CSV: {error}") from None


def _rows(path: Path, raw: bytes) -> Iterator[CatalogEntry]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CatalogFileError(f"catalog file {path} is not UTF-8 text: {error}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    missing = [f for f in FIELDS if f not in header]
    if missing:
        raise CatalogFileError(f"catalog file {path}: missing columns {', '.join(missing)}")
    at = [header.index(f) for f in FIELDS]
    width = max(at) + 1
    seen: dict[str, int] = {}
    dates: dict[str, date] = {}  # a catalog has few production dates: parse each once
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        row += [""] * (width - len(row))
        serial_text, type_text, date_text, country = (row[i] for i in at)
        try:
            serial = normalise_serial(serial_text)
            produced = dates.get(date_text)
            if produced is None:
                produced = dates[date_text] = date.fromisoformat(date_text)
        except (InvalidSerial, ValueError) as error:
            raise CatalogFileError(f"catalog file {path}, line {line_no}: {error}") from None
        device_type, country = normalise_device_type(type_text), country.strip().upper()
        if not device_type or not country:
            empty = "device_type" if not device_type else "country_of_sale"
            raise CatalogFileError(f"catalog file {path}, line {line_no}: {empty} is empty")
        if serial in seen:  # two records for one device: the decision would depend on the order
            raise CatalogFileError(
                f"catalog file {path}, line {line_no}: serial {serial} already on line {seen[serial]}"
            )
        seen[serial] = line_no
        yield CatalogEntry(serial, device_type, produced, country)


def write_catalog(path: Path, entries: list[CatalogEntry]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for e in entries:
            writer.writerow((e.serial, e.device_type, e.production_date.isoformat(), e.country_of_sale))
