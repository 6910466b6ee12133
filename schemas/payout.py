"""Payout messages to finance and finance's results (topics cashback.payouts.v1,
finance.payout-results.v1).

Contract: each payout message carries ``event_id`` (also in the Kafka header
``event_id``). A crash after Kafka acknowledged but before the relay saved its
position may publish the same payout again with the same ``event_id``;
finance de-duplicates on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

PAYOUT_TOPIC = "cashback.payouts.v1"
RESULTS_TOPIC = "finance.payout-results.v1"

Cents = Annotated[int, Field(gt=0, description="Amount in integer cents.")]


class PayoutLineV1(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    serial: str
    device_type: str
    amount_cents: Cents


class PayoutV1(BaseModel):
    """A payout to one company from one payment run."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="PayoutV1")

    schema_version: Literal[1] = 1
    message_type: Literal["payout"] = "payout"
    event_id: UUID = Field(description="Stable id of this payout event; finance de-duplicates on it.")
    payout_id: UUID
    run_id: str
    campaign_id: str
    customer_no: str
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    total_cents: Cents
    lines: Annotated[list[PayoutLineV1], Field(min_length=1)]
    issued_at: datetime


class PayoutResultV1(BaseModel):
    """Finance's answer for a payout: confirmed or failed."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="PayoutResultV1")

    schema_version: Literal[1] = 1
    message_type: Literal["payout_result"] = "payout_result"
    payout_id: UUID
    result: Literal["confirmed", "failed"]
    reference: str = ""
    reason: str = ""
    serials: list[str] | None = Field(
        default=None, description="When set, the result applies to these lines only."
    )
