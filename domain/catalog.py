"""The maker's record of produced devices, as a port."""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import NamedTuple, Protocol


class CatalogEntry(NamedTuple):
    """One device the maker made (an immutable value: a named tuple, the cheapest to build per lookup)."""

    serial: str
    device_type: str
    production_date: date
    country_of_sale: str


class DeviceCatalog(Protocol):
    def lookup(self, serial: str) -> CatalogEntry | None:
        """The entry of a normalised serial, or None when the maker never made it."""
        ...


class InMemoryCatalog:
    """A catalog held in a dict; adapters load one from CSV."""

    def __init__(self, entries: Iterable[CatalogEntry] = ()) -> None:
        self._entries: dict[str, CatalogEntry] = {e.serial: e for e in entries}

    def lookup(self, serial: str) -> CatalogEntry | None:
        return self._entries.get(serial)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> Mapping[str, CatalogEntry]:
        return self._entries


class CompactCatalog:
    """A catalog of millions of devices in little memory: sorted serials beside three parallel
    columns (device type and country as indexes into small tables, production date as an ordinal).

    A lookup is a binary search; the entry is built when asked for. Built from entries, or from the
    columns themselves (see adapters/catalog_cache.py, which keeps them in a file between starts)."""

    def __init__(
        self,
        serials: Sequence[str],
        type_index: Sequence[int],
        ordinals: Sequence[int],
        country_index: Sequence[int],
        types: Sequence[str],
        countries: Sequence[str],
    ) -> None:
        if not (len(serials) == len(type_index) == len(ordinals) == len(country_index)):
            raise ValueError("catalog columns of different lengths")
        self.serials, self.type_index, self.ordinals, self.country_index = serials, type_index, ordinals, country_index
        self.types, self.countries = tuple(types), tuple(countries)

    @classmethod
    def of(cls, entries: Iterable[CatalogEntry]) -> CompactCatalog:
        ordered = sorted(entries, key=lambda e: e.serial)
        types: dict[str, int] = {}
        countries: dict[str, int] = {}
        return cls(
            [e.serial for e in ordered],
            array("I", (types.setdefault(e.device_type, len(types)) for e in ordered)),
            array("i", (e.production_date.toordinal() for e in ordered)),
            array("I", (countries.setdefault(e.country_of_sale, len(countries)) for e in ordered)),
            list(types),
            list(countries),
        )

    def lookup(self, serial: str) -> CatalogEntry | None:
        i = bisect_left(self.serials, serial)
        if i == len(self.serials) or self.serials[i] != serial:
            return None
        return CatalogEntry(serial, self.types[self.type_index[i]], date.fromordinal(self.ordinals[i]),
                            self.countries[self.country_index[i]])

    def __len__(self) -> int:
        return len(self.serials)
