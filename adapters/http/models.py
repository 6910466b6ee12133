"""Versioned bodies of the portal API (v1). The OpenAPI document at /openapi.json publishes them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.statuses import Status

Text64 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class RegistrationV1(BaseModel):
    """One device registered by hand. The company is the caller's, from its token: never in the body."""

    model_config = ConfigDict(extra="forbid", title="RegistrationV1",
                              json_schema_extra={"examples": [{"serial": "3129728319", "device_type": "STP10.0-3AV-40",
                                                               "installed_on": "2026-05-19"}]})

    serial: Annotated[Text64, Field(description="Serial number as printed on the device label.")]
    device_type: Annotated[Text64, Field(description="Device type, e.g. SB3.0-1AV-41.")]
    installed_on: Annotated[date, Field(description="Installation date (ISO 8601).")]
    site_reference: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""


class RegistrationOutcomeV1(BaseModel):
    model_config = ConfigDict(title="RegistrationOutcomeV1")

    serial: str
    outcome: Literal["registered", "duplicate", "claim_refused"]
    status: Status
    label: str
    reason: str | None = None
    reason_text: str = ""
    amount_cents: int = 0


class VerdictV1(BaseModel):
    model_config = ConfigDict(title="VerdictV1")

    row: int
    serial: str
    status: str
    reason: str
    message: str
    #: The status as installers read it, in the portal language ("Ligne invalide" for status ERROR).
    label: str = ""


class WorkbookResultV1(BaseModel):
    model_config = ConfigDict(title="WorkbookResultV1")

    upload_id: str
    rows: int
    counts: dict[str, int]
    verdicts: list[VerdictV1]


class DeviceV1(BaseModel):
    model_config = ConfigDict(title="DeviceV1")

    serial: str
    device_type: str
    status: Status
    label: str
    amount_cents: int
    installed_on: str | None
    registered_at: str
    updated_at: str
    deadline: str | None
    documents_needed: list[str]
    reason: str | None
    reason_text: str
    in_payout: bool
    paid_at: str | None
    channel: str


class TotalsV1(BaseModel):
    model_config = ConfigDict(title="TotalsV1")

    collected_cents: int
    pending_cents: int
    count: int
    count_by_status: dict[str, int]


class DevicePageV1(BaseModel):
    model_config = ConfigDict(title="DevicePageV1")

    company: str
    matching: int = Field(description="Devices matching the filters (all pages).")
    limit: int
    offset: int
    totals: TotalsV1
    items: list[DeviceV1]


class HistoryEntryV1(BaseModel):
    model_config = ConfigDict(title="HistoryEntryV1")

    at: datetime
    kind: str
    text: str
    status: Status | None
    label: str
    reason: str | None = None
    reason_text: str = ""
    channel: str
    document_kind: str | None = None


class DeviceDetailV1(BaseModel):
    model_config = ConfigDict(title="DeviceDetailV1")

    device: DeviceV1
    history: list[HistoryEntryV1]
    documents_missing: list[str] = Field(
        default_factory=list, description="DOCS_REQUIRED, for its owner: the needed documents not received yet "
                                          "(the device goes to review once this is empty).")


class ReceivedDocumentV1(BaseModel):
    model_config = ConfigDict(title="ReceivedDocumentV1")

    kind: str | None
    sha256: str | None
    size: int | None


class ReviewItemV1(BaseModel):
    model_config = ConfigDict(title="ReviewItemV1")

    company: str
    company_name: str
    serial: str
    device_type: str
    amount_cents: int
    deadline: str | None
    reasons: list[str]
    documents_needed: list[str]
    documents_missing: list[str] = Field(default_factory=list, description="Needed documents not received.")
    uploaded_at: str
    received: list[ReceivedDocumentV1]


class ReviewListV1(BaseModel):
    model_config = ConfigDict(title="ReviewListV1")

    items: list[ReviewItemV1]


class RejectV1(BaseModel):
    """Why the documents are refused (required, like `cashback review reject --reason`)."""

    model_config = ConfigDict(extra="forbid", title="RejectV1",
                              json_schema_extra={"examples": [{"note": "facture illisible"}]})

    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
                    Field(description="Why the documents are refused; kept with the rejection.")]


class ReviewResultV1(BaseModel):
    model_config = ConfigDict(title="ReviewResultV1")

    serial: str
    status: Status
    label: str


class DocumentResultV1(BaseModel):
    model_config = ConfigDict(title="DocumentResultV1")

    serial: str
    kind: str
    sha256: str
    size: int
    media_type: str
    recorded: bool = Field(description="False when this very file was already recorded for the device.")
    status: Status
    label: str
    documents_missing: list[str] = Field(
        default_factory=list, description="Needed documents still not received: the device stays DOCS_REQUIRED "
                                          "until this is empty.")


class ProblemV1(BaseModel):
    """RFC 9457 problem details (application/problem+json)."""

    model_config = ConfigDict(title="ProblemV1")

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    code: str = Field(description="What went wrong, for programs: `invalid_request`, `unknown_device`, …")
    errors: list[dict[str, object]] | None = None
    request_id: str | None = None


class HealthV1(BaseModel):
    model_config = ConfigDict(title="HealthV1")

    status: str
