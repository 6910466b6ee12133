"""A parsed device catalog kept in a file between starts, named after the SHA-256 of its CSV.

The name and the header carry a key made of the CSV's SHA-256 and a fingerprint of the parsing code
(adapters/catalog_csv.py), so another release's normalisation never serves this release's lookups.
Layout: a magic line, one JSON header line (row count, the type and country tables, the column sizes,
the byte order, the SHA-256 of the columns), then the columns back to back: the sorted serials as
ASCII joined by newlines, the type indexes (uint32), the production dates as ordinals (int32), the
country indexes (uint32). A file
that does not read back exactly (truncated, another layout, another byte order) is ignored and
rewritten: the CSV stays the source. The columns' checksum is verified at every read (about 30 ms
for a million devices): a flipped byte never turns into a wrong decision.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import time
from array import array
from pathlib import Path

import structlog

from domain.catalog import CompactCatalog

MAGIC = b"cashback-catalog 3\n"

log = structlog.get_logger(__name__)


def path_for(cache_dir: Path, digest: str) -> Path:
    return cache_dir / f"catalog-{digest[:32]}.bin"


def read(cache_dir: Path, digest: str) -> CompactCatalog | None:
    path = path_for(cache_dir, digest)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        catalog = _decode(data, digest)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        log.warning("catalog_cache_ignored", path=str(path), error=str(error))
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # in use: not stale
    return catalog


def write(cache_dir: Path, digest: str, catalog: CompactCatalog) -> None:
    """Best effort: a folder that cannot be written only costs the next start its parsing time."""
    path = path_for(cache_dir, digest)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_dir, prefix=".catalog-", delete=False) as handle:
            try:
                handle.write(_encode(catalog, digest))
                handle.flush()
                os.fsync(handle.fileno())
            except OSError:
                os.unlink(handle.name)
                raise
        try:
            os.chmod(handle.name, 0o644)  # other service users may read it: the maker's catalog, no secret
            os.replace(handle.name, path)  # readers see the whole file or none
        except OSError:
            os.unlink(handle.name)
            raise
    except OSError as error:
        log.warning("catalog_cache_not_written", path=str(path), error=str(error))
        return
    _remove_stale(cache_dir, keep=path)


def _remove_stale(cache_dir: Path, keep: Path, older_than_s: float = 86_400.0) -> None:
    """Caches of former catalogs (or of former releases' parsing) go after a day unused."""
    now = time.time()
    for other in cache_dir.glob("catalog-*.bin"):
        try:
            if other != keep and now - other.stat().st_mtime > older_than_s:
                other.unlink()
        except OSError:
            continue


def _encode(catalog: CompactCatalog, digest: str) -> bytes:
    serials = "\n".join(catalog.serials).encode("ascii")
    columns = [array("I", catalog.type_index), array("i", catalog.ordinals), array("I", catalog.country_index)]
    header = {
        "sha256": digest,
        "rows": len(catalog),
        "types": list(catalog.types),
        "countries": list(catalog.countries),
        "byteorder": sys.byteorder,
        "sizes": [len(serials), *(len(c) * c.itemsize for c in columns)],
    }
    body = b"".join([serials, *(c.tobytes() for c in columns)])
    header["body_sha256"] = hashlib.sha256(body).hexdigest()
    return b"".join([MAGIC, json.dumps(header).encode("utf-8"), b"\n", body])


def _decode(data: bytes, digest: str) -> CompactCatalog:
    if not data.startswith(MAGIC):
        raise ValueError("not a catalog cache of this layout")
    end = data.index(b"\n", len(MAGIC))
    header = json.loads(data[len(MAGIC):end])
    if header["sha256"] != digest or header["byteorder"] != sys.byteorder:
        raise ValueError("made from another file or on another machine")
    sizes, rows, at = header["sizes"], int(header["rows"]), end + 1
    if len(data) != at + sum(sizes):
        raise ValueError("truncated")
    if hashlib.sha256(memoryview(data)[at:]).hexdigest() != header["body_sha256"]:
        raise ValueError("its columns do not match their checksum")
    serials = data[at:at + sizes[0]].decode("ascii").split("\n") if rows else []
    at += sizes[0]
    columns = []
    for code, size in zip(("I", "i", "I"), sizes[1:], strict=True):
        column = array(code)
        column.frombytes(data[at:at + size])
        columns.append(column)
        at += size
    if len(serials) != rows or any(len(c) != rows for c in columns):
        raise ValueError("columns of the wrong length")
    # The indexes into the type and country tables are not checked one by one (18 ms for a million):
    # the columns are byte for byte those written after the parse, which made them from these tables.
    types, countries = header["types"], header["countries"]
    return CompactCatalog(serials, columns[0], columns[1], columns[2], types, countries)
