"""Binary COPY rows built before the table lock, and the ids spliced in under it."""

from __future__ import annotations

import struct
from uuid import UUID, uuid4

from eventsourcing.persistence import StoredEvent

from adapters import chain
from adapters.copy_binary import HEADER, TRAILER, RowEncoder, payload


def _rows(data: bytes) -> list[list[bytes]]:
    """PostgreSQL's binary COPY format read back: each row's fields."""
    assert data.startswith(HEADER) and data.endswith(TRAILER)
    at, rows = len(HEADER), []
    while at < len(data) - len(TRAILER):
        (count,) = struct.unpack_from(">h", data, at)
        at += 2
        fields = []
        for _ in range(count):
            (length,) = struct.unpack_from(">i", data, at)
            at += 4
            fields.append(data[at:at + length])
            at += length
        rows.append(fields)
    return rows


def test_each_row_carries_the_event_its_hash_and_the_next_notification_id() -> None:
    ids = [uuid4(), uuid4()]
    events = [StoredEvent(originator_id=i, originator_version=v, topic="a.b:C", state=f'{{"n":{v}}}'.encode())
              for i, v in zip(ids, (1, 7), strict=True)]
    hashes = [b"\x01" * 32, b"\x02" * 32]
    rows = _rows(payload(RowEncoder(uuid_ids=True).prefixes(events, hashes), 41))
    assert rows == [
        [ids[0].bytes, struct.pack(">q", 1), b"a.b:C", b'{"n":1}', b"\x01" * 32, struct.pack(">q", 41)],
        [ids[1].bytes, struct.pack(">q", 7), b"a.b:C", b'{"n":7}', b"\x02" * 32, struct.pack(">q", 42)],
    ]


def test_an_id_given_as_its_16_bytes_is_the_same_row_and_the_same_hash() -> None:
    rid = UUID("0b6f3c8e-1d2a-5f4b-9c7e-2a1b3c4d5e6f")
    as_uuid = StoredEvent(originator_id=rid, originator_version=1, topic="t", state=b"{}")
    as_bytes = StoredEvent(originator_id=rid.bytes, originator_version=1, topic="t", state=b"{}")  # type: ignore[arg-type]
    encoder = RowEncoder(uuid_ids=True)
    assert encoder.prefix(as_uuid, b"h") == encoder.prefix(as_bytes, b"h")
    assert chain.originator_text(rid.bytes) == str(rid)
    assert chain.chain_batch(b"k", [as_uuid], {}) == chain.chain_batch(b"k", [as_bytes], {})


def test_text_ids_are_written_as_text() -> None:
    event = StoredEvent(originator_id="device-1", originator_version=1, topic="t", state=b"{}")  # type: ignore[arg-type]
    (row,) = _rows(payload(RowEncoder(uuid_ids=False).prefixes([event], [b"h"]), 1))
    assert row[0] == b"device-1"


def test_an_empty_batch_is_a_valid_stream() -> None:
    assert _rows(payload([], 1)) == []
