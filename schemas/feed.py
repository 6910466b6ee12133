"""The monitoring portal's feed record (topic portal.device-registrations.v1)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, create_model, field_validator

FEED_TOPIC = "portal.device-registrations.v1"
MAX_RECORD_BYTES = 64 * 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _printable(value: str) -> str:
    # A control character is no part of a serial, a type or a customer number; NUL cannot even be stored.
    if found := _CONTROL.search(value):
        raise ValueError(f"must not contain control characters (found U+{ord(found.group()):04X})")
    return value


PlainText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text = Annotated[PlainText, AfterValidator(_printable)]


class FeedRecordV1(BaseModel):
    """One device of one plant, as published by the monitoring portal once a day."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="FeedRecordV1")

    schema_version: Literal[1] = Field(description="Version of this message shape (the integer 1).")
    serial: Text = Field(description="Device serial number as typed in the portal.")
    device_type: Text = Field(description="Device type, e.g. 'SB3.0-1AV-41'.")
    customer_no: Text = Field(description="Installer customer number from the user profile.")
    installed_on: date = Field(description="Commissioning date of the device (ISO date).")
    plant_id: Text = Field(description="Monitoring portal plant identifier.")
    reported_at: datetime | None = Field(default=None, description="When the portal published it.")

    @field_validator("schema_version", mode="before")
    @classmethod
    def _integer_only(cls, value: object) -> object:
        # Literal[1] alone takes the JSON number 1.0 and `true` (both == 1): not the integer 1.
        if type(value) is not int:
            raise ValueError(f"schema_version must be the integer 1, not {value!r}")
        return value


#: FeedRecordV1 without the control-character check, for records that cannot hold one: a JSON
#: string has a control character only through an escape (the parser refuses them raw) or as a raw
#: DEL, so a record with no backslash and no DEL byte needs no check (adapters/feed_records.py).
UncheckedFeedRecordV1 = create_model(
    "FeedRecordV1",
    __base__=FeedRecordV1,
    **{name: (PlainText, Field(description=field.description))  # type: ignore[call-overload]
       for name, field in FeedRecordV1.model_fields.items()
       if any(isinstance(m, AfterValidator) and m.func is _printable for m in field.metadata)},
)
