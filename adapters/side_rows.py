"""Rows written in the same transaction as the events they go with.

The event store's recorders accept them as keyword arguments of
``insert_events`` so that, for instance, a feed batch stores its events, the
Kafka offsets of every partition it consumed, the records it parked and the
records it dead-lettered atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from eventsourcing.persistence import IntegrityError, Tracking


@dataclass(frozen=True)
class BatchTracking(Tracking):
    """The position a batch reaches in one partition, with the position of its first record: the
    PostgreSQL recorder stores it only while the stored position is before ``first_id``, in the
    batch's own transaction, so a batch some of whose records are stored already (by another member
    of the group, after a rebalance) fails whole instead of storing them twice. Elsewhere it is a
    plain ``Tracking``."""

    first_id: int


class PositionsStoredAlready(IntegrityError):
    """A ``BatchTracking`` found its partition stored at or after the batch's first record."""


@dataclass(frozen=True, slots=True)
class CompanyRow:
    campaign_id: str
    customer_no: str
    name: str
    contact_email: str
    enrolled_on: date


@dataclass(frozen=True, slots=True)
class ParkedRow:
    """A record for a customer number that is not (yet) enrolled: kept, never registered later."""

    campaign_id: str
    customer_no: str
    serial: str
    source: str
    payload: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    """A record that could not be read, with where it came from and why."""

    source: str
    position: str
    reason: str
    payload: bytes
    received_at: datetime


# Portable SQL (psycopg placeholders; the SQLite recorder swaps them for '?').
CREATE_STATEMENTS: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS cashback_companies ("
    " campaign_id TEXT NOT NULL, customer_no TEXT NOT NULL, name TEXT NOT NULL,"
    " contact_email TEXT NOT NULL, enrolled_on DATE NOT NULL,"
    " PRIMARY KEY (campaign_id, customer_no))",
    "CREATE TABLE IF NOT EXISTS cashback_parked ("
    " campaign_id TEXT NOT NULL, customer_no TEXT NOT NULL, serial TEXT NOT NULL,"
    " source TEXT NOT NULL, payload TEXT NOT NULL, received_at TIMESTAMP NOT NULL,"
    " PRIMARY KEY (campaign_id, customer_no, serial))",
    "CREATE TABLE IF NOT EXISTS cashback_dead_letters ("
    " source TEXT NOT NULL, position TEXT NOT NULL, reason TEXT NOT NULL,"
    " payload BYTEA NOT NULL, received_at TIMESTAMP NOT NULL,"
    " PRIMARY KEY (source, position))",
)

UPSERT_COMPANY = (
    "INSERT INTO cashback_companies VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT (campaign_id, customer_no) DO UPDATE"
    " SET name = excluded.name, contact_email = excluded.contact_email"
)
INSERT_PARKED = (
    "INSERT INTO cashback_parked VALUES (%s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (campaign_id, customer_no, serial) DO NOTHING"
)
INSERT_DEAD_LETTER = (
    "INSERT INTO cashback_dead_letters VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT (source, position) DO NOTHING"
)


def company_params(rows: list[CompanyRow]) -> list[tuple[object, ...]]:
    return [(r.campaign_id, r.customer_no, r.name, r.contact_email, r.enrolled_on) for r in rows]


def parked_params(rows: list[ParkedRow]) -> list[tuple[object, ...]]:
    return [(r.campaign_id, _text(r.customer_no), _text(r.serial), _text(r.source), _text(r.payload), r.received_at)
            for r in rows]


def dead_letter_params(rows: list[DeadLetterRow]) -> list[tuple[object, ...]]:
    return [(_text(r.source), _text(r.position), _text(r.reason), r.payload, r.received_at) for r in rows]


def _text(value: str) -> str:
    """PostgreSQL text cannot hold NUL: a bad record's reason may quote one (a JSON key "a\u0000b")."""
    return value.replace("\x00", "\\u0000") if "\x00" in value else value
