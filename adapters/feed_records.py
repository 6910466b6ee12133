"""Reading feed records (file lines or Kafka values) into registration requests."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from domain.decision import RegistrationRequest
from domain.normalise import InvalidSerial, normalise_customer_no, normalise_device_type, normalise_serial
from schemas.feed import MAX_RECORD_BYTES, FeedRecordV1, UncheckedFeedRecordV1

SUPPORTED_VERSIONS = (1,)


@dataclass(frozen=True, slots=True)
class BadRecord:
    reason: str


def parse_feed_record(raw: bytes | None, max_bytes: int = MAX_RECORD_BYTES) -> RegistrationRequest | BadRecord:
    """A normalised request, or the reason the record cannot be read."""
    if raw is not None and len(raw) <= max_bytes:
        model = UncheckedFeedRecordV1 if b"\\" not in raw and b"\x7f" not in raw else FeedRecordV1
        try:  # the common case in one pass of pydantic's JSON parser; any doubt: the explaining path below
            return _request(model.model_validate_json(raw))
        except (ValidationError, InvalidSerial):
            pass
    return _explain(raw, max_bytes)


def _explain(raw: bytes | None, max_bytes: int) -> RegistrationRequest | BadRecord:
    if raw is None:
        return BadRecord("empty record (tombstone)")
    if len(raw) > max_bytes:
        return BadRecord(f"oversize record: {len(raw)} bytes > {max_bytes}")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return BadRecord(f"bad JSON: {error}")
    if not isinstance(data, dict):
        return BadRecord(f"bad record: expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        return BadRecord(f"unknown schema_version {version!r} (supported: {SUPPORTED_VERSIONS})")
    try:
        record = FeedRecordV1.model_validate(data)
    except ValidationError as error:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        return BadRecord(f"schema violation: {fields}")
    try:
        return _request(record)
    except InvalidSerial as error:
        return BadRecord(f"schema violation: serial: {error}")


def _request(record: FeedRecordV1) -> RegistrationRequest:
    return RegistrationRequest(  # serial, device type, installation date, customer number
        normalise_serial(record.serial),
        normalise_device_type(record.device_type),
        record.installed_on,
        normalise_customer_no(record.customer_no),
    )
