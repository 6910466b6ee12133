"""The maker's record of produced devices, as a port."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CatalogEntry:
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
