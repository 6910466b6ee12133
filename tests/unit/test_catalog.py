"""The maker's catalog: CSV checks, the compact in-memory form and the cache file between starts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters import catalog_cache, catalog_csv
from adapters.catalog_csv import CatalogFileError, load_catalog, write_catalog
from domain.catalog import CatalogEntry, CompactCatalog

SERIALS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=4, max_size=12)
ENTRY = st.builds(
    CatalogEntry,
    serial=SERIALS,
    device_type=st.sampled_from(["SB3.0-1AV-41", "STP8.0-3SE-40", "HS-9.8"]),
    production_date=st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31)),
    country_of_sale=st.sampled_from(["FR", "BE", "DE", ""]),
)


@given(st.lists(ENTRY, unique_by=lambda e: e.serial, max_size=60), st.lists(SERIALS, max_size=20))
def test_the_compact_catalog_answers_as_a_dictionary_would(entries: list[CatalogEntry], probes: list[str]) -> None:
    catalog = CompactCatalog.of(entries)
    by_serial = {e.serial: e for e in entries}
    assert len(catalog) == len(entries)
    for serial in [*by_serial, *probes, "", "ZZZZZZZZZZZZZ"]:
        assert catalog.lookup(serial) == by_serial.get(serial)


def csv_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.csv"
    path.write_text(text, encoding="utf-8")
    return path


HEADER = "serial,device_type,production_date,country_of_sale\n"


def test_serials_and_types_are_normalised_and_a_bom_or_blank_lines_do_not_matter(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_bytes(("\ufeff" + HEADER + "3001-234 567,sb3.0-1av-41,2025-06-01, fr \n\n").encode("utf-8"))
    assert load_catalog(path).lookup("3001234567") == CatalogEntry("3001234567", "SB3.0-1AV-41", date(2025, 6, 1), "FR")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("serial,device_type\n1234,SB3\n", "missing columns production_date, country_of_sale"),
        (HEADER + "30012345,SB3,2025-13-01,FR\n", "line 2"),
        (HEADER + "30012345,SB3,2025-01-01,FR\n3001-2345,SB3,2025-01-01,FR\n",
         "line 3: serial 30012345 already on line 2"),
        (HEADER + "??,SB3,2025-01-01,FR\n", "line 2: serial"),
        (HEADER, "lists no device"),
        (HEADER + "30012345,SB3," + "9" * 200_000 + ",FR\n", "not a readable CSV: field larger than field limit"),
        (HEADER + "30012345,SB3,2025-01-01\n", "line 2: country_of_sale is empty"),
        (HEADER + "30012345, ,2025-01-01,FR\n", "line 2: device_type is empty"),
    ],
)
def test_a_bad_catalog_is_refused_with_its_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CatalogFileError, match=message):
        load_catalog(csv_file(tmp_path, text))


def test_a_missing_or_binary_catalog_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogFileError, match="not found"):
        load_catalog(tmp_path / "nowhere.csv")
    binary = tmp_path / "catalog.xlsx"
    binary.write_bytes(b"PK\x03\x04\xff\xfe\x00garbage")
    with pytest.raises(CatalogFileError, match="not UTF-8"):
        load_catalog(binary)


ENTRIES = [CatalogEntry(f"40000{i:05d}", ["SB3.0-1AV-41", "HS-9.8"][i % 2], date(2025, 1, 1 + i % 28), "FR")
           for i in range(500)]


def test_a_second_start_reads_the_cache_made_by_the_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv_path, cache = tmp_path / "catalog.csv", tmp_path / "cache"
    write_catalog(csv_path, ENTRIES)
    first = load_catalog(csv_path, cache_dir=cache)
    assert len(list(cache.iterdir())) == 1

    def no_parsing(*_: object) -> None:
        raise AssertionError("the CSV was parsed again")

    monkeypatch.setattr(catalog_csv, "_entries", no_parsing)
    second = load_catalog(csv_path, cache_dir=cache)
    assert all(second.lookup(e.serial) == e == first.lookup(e.serial) for e in ENTRIES)
    assert second.lookup("4000099999") is None


def test_a_changed_catalog_is_parsed_again_not_served_from_the_cache(tmp_path: Path) -> None:
    csv_path, cache = tmp_path / "catalog.csv", tmp_path / "cache"
    write_catalog(csv_path, ENTRIES)
    load_catalog(csv_path, cache_dir=cache)
    changed = [*ENTRIES[:-1], CatalogEntry(ENTRIES[-1].serial, "STP8.0-3SE-40", date(2024, 2, 2), "BE")]
    write_catalog(csv_path, changed)
    assert load_catalog(csv_path, cache_dir=cache).lookup(ENTRIES[-1].serial) == changed[-1]
    write_catalog(csv_path, [*ENTRIES, CatalogEntry("30012345", "SB3.0-1AV-41", date(2025, 1, 1), "FR")])
    csv_path.write_text(csv_path.read_text() + "3001-2345,SB3.0-1AV-41,2025-01-01,FR\n")
    with pytest.raises(CatalogFileError, match="already on line"):  # checked again, not trusted from a cache
        load_catalog(csv_path, cache_dir=cache)


def test_a_cache_made_by_other_parsing_rules_is_not_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv_path, cache = tmp_path / "catalog.csv", tmp_path / "cache"
    write_catalog(csv_path, ENTRIES)
    load_catalog(csv_path, cache_dir=cache)
    parsed = []
    real_entries = catalog_csv._entries
    monkeypatch.setattr(catalog_csv, "_entries", lambda *a: parsed.append(1) or real_entries(*a))
    monkeypatch.setattr(catalog_csv, "_parser_fingerprint", lambda: "another release's normalisation")
    assert load_catalog(csv_path, cache_dir=cache).lookup(ENTRIES[0].serial) == ENTRIES[0]
    assert parsed == [1]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_file", "one_byte_of_a_column"])
def test_a_damaged_cache_is_ignored_and_written_again(tmp_path: Path, damage: str) -> None:
    csv_path, cache = tmp_path / "catalog.csv", tmp_path / "cache"
    write_catalog(csv_path, ENTRIES)
    load_catalog(csv_path, cache_dir=cache)
    (cached,) = cache.iterdir()
    data = cached.read_bytes()
    if damage == "truncate":
        cached.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        cached.write_bytes(b"\x00" * 100)
    elif damage == "other_file":
        cached.write_bytes(data.replace(data[data.index(b'"sha256": "') + 11:][:8], b"00000000", 1))
    else:  # the same length, one production date changed: the file reads back but would decide otherwise
        flipped = bytearray(data)
        flipped[-len(ENTRIES) * 4 * 2] ^= 1
        cached.write_bytes(bytes(flipped))
    catalog = load_catalog(csv_path, cache_dir=cache)
    assert all(catalog.lookup(e.serial) == e for e in ENTRIES)
    assert catalog_cache.read(cache, catalog_csv.cache_key(_digest(csv_path))) is not None  # rewritten whole


def test_an_unwritable_cache_folder_only_costs_the_parse(tmp_path: Path) -> None:
    csv_path = tmp_path / "catalog.csv"
    write_catalog(csv_path, ENTRIES)
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the folder would be")
    assert load_catalog(csv_path, cache_dir=blocker).lookup(ENTRIES[0].serial) == ENTRIES[0]


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
