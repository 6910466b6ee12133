"""parse_feed_record: a feed record becomes a request, or a reason a human can act on."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters.feed_records import BadRecord, parse_feed_record
from domain.decision import RegistrationRequest
from schemas.feed import MAX_RECORD_BYTES, FeedRecordV1, UncheckedFeedRecordV1

GOOD: dict[str, Any] = {
    "schema_version": 1,
    "serial": "3001 234\u00a0567",
    "device_type": "sb 3.0-1av-41",
    "customer_no": " c 100 ",
    "installed_on": "2026-05-04",
    "plant_id": "plant-8812",
    "reported_at": "2026-06-01T02:00:00Z",
}


def encode(record: object) -> bytes:
    return json.dumps(record).encode("utf-8")


def bad_reason(raw: bytes | None, **kwargs: Any) -> str:
    result = parse_feed_record(raw, **kwargs)
    assert isinstance(result, BadRecord), result
    return result.reason


def test_good_record_becomes_a_normalised_request() -> None:
    assert parse_feed_record(encode(GOOD)) == RegistrationRequest(
        serial="3001234567", device_type="SB3.0-1AV-41", installed_on=date(2026, 5, 4), customer_no="C100"
    )


def test_reported_at_is_optional() -> None:
    record = {k: v for k, v in GOOD.items() if k != "reported_at"}
    assert isinstance(parse_feed_record(encode(record)), RegistrationRequest)


@pytest.mark.parametrize("raw", [b"{not json", b'{"schema_version": 1', b"", b"\xff\xfe\x00"])
def test_bad_json_is_named_as_such(raw: bytes) -> None:
    assert bad_reason(raw).startswith("bad JSON")


@pytest.mark.parametrize(("raw", "kind"), [(b"[1, 2]", "list"), (b'"3001234567"', "str"), (b"42", "int")])
def test_json_that_is_not_an_object_is_refused(raw: bytes, kind: str) -> None:
    assert bad_reason(raw) == f"bad record: expected a JSON object, got {kind}"


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_unknown_schema_version_is_refused_naming_it(version: object) -> None:
    reason = bad_reason(encode({**GOOD, "schema_version": version}))
    assert reason.startswith("unknown schema_version")
    assert repr(version) in reason


def test_missing_schema_version_is_refused() -> None:
    record = {k: v for k, v in GOOD.items() if k != "schema_version"}
    assert bad_reason(encode(record)).startswith("unknown schema_version None")


@pytest.mark.parametrize("field", ["serial", "device_type", "customer_no", "installed_on", "plant_id"])
def test_missing_field_is_named(field: str) -> None:
    record = {k: v for k, v in GOOD.items() if k != field}
    reason = bad_reason(encode(record))
    assert reason.startswith("schema violation")
    assert f"{field}: Field required" in reason


def test_extra_field_is_named() -> None:
    reason = bad_reason(encode({**GOOD, "iban": "FR76..."}))
    assert reason.startswith("schema violation")
    assert "iban" in reason


def test_blank_field_is_named() -> None:
    assert "device_type" in bad_reason(encode({**GOOD, "device_type": "   "}))


def test_bad_date_is_named() -> None:
    assert "installed_on" in bad_reason(encode({**GOOD, "installed_on": "2026-13-01"}))


def test_every_bad_field_is_named() -> None:
    reason = bad_reason(encode({**GOOD, "serial": None, "installed_on": "yesterday"}))
    assert "serial" in reason and "installed_on" in reason


@pytest.mark.parametrize("serial", ["ab", "3001#234", "12.5"])
def test_unreadable_serial_is_named(serial: str) -> None:
    reason = bad_reason(encode({**GOOD, "serial": serial}))
    assert reason.startswith("schema violation: serial:")


def test_oversize_record_is_refused_before_reading_it() -> None:
    raw = encode({**GOOD, "plant_id": "x" * MAX_RECORD_BYTES})
    reason = bad_reason(raw)
    assert reason == f"oversize record: {len(raw)} bytes > {MAX_RECORD_BYTES}"


def test_size_limit_is_a_parameter() -> None:
    raw = encode(GOOD)
    assert isinstance(parse_feed_record(raw, max_bytes=len(raw)), RegistrationRequest)
    assert bad_reason(raw, max_bytes=len(raw) - 1).startswith("oversize record")


def test_tombstone_is_refused() -> None:
    assert bad_reason(None) == "empty record (tombstone)"


@pytest.mark.parametrize("version", [True, 1.0])
def test_schema_version_that_is_not_the_integer_one_is_refused(version: object) -> None:
    result = parse_feed_record(encode({**GOOD, "schema_version": version}))
    assert isinstance(result, BadRecord)
    assert "schema_version" in result.reason


@pytest.mark.parametrize("raw", [
    b'"\\u0000"', b'"A\\u001fB"', b'"A\\tB"', b'"A\\nB"', b'"A\x7fB"', b'"A\\u007fB"',
])
@pytest.mark.parametrize("field", ["serial", "device_type", "customer_no", "plant_id"])
def test_a_control_character_in_any_text_field_is_refused_however_it_is_written(raw: bytes, field: str) -> None:
    text = json.dumps({**GOOD, field: "MARK"}).encode()
    bad = text.replace(b'"MARK"', raw, 1)
    result = parse_feed_record(bad)
    assert isinstance(result, BadRecord)
    assert f"{field}: Value error, must not contain control characters" in result.reason


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["serial", "device_type", "customer_no", "plant_id"]),
                       st.text(alphabet=st.characters(codec="utf-8"), max_size=12), min_size=1))
def test_records_without_escapes_read_the_same_with_or_without_the_control_check(texts: dict[str, str]) -> None:
    # The fast path (no backslash, no DEL: no control character possible) agrees with the checking model.
    raw = json.dumps({**GOOD, **texts}, ensure_ascii=False).encode()
    assume(b"\\" not in raw and b"\x7f" not in raw)
    outcomes = []
    for model in (FeedRecordV1, UncheckedFeedRecordV1):
        try:
            outcomes.append(model.model_validate_json(raw).model_dump())
        except ValidationError as error:
            outcomes.append([e["loc"] for e in error.errors()])
    assert outcomes[0] == outcomes[1]
