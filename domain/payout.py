"""Payout: one per payment run and company."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import DomainError
from domain.ids import payout_id
from domain.provenance import Provenance


@dataclass(frozen=True, slots=True)
class PayoutLine:
    serial: str
    device_type: str
    amount_cents: int
    registration_id: UUID

    def as_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "device_type": self.device_type,
            "amount_cents": self.amount_cents,
            "registration_id": str(self.registration_id),
        }


class Payout(Aggregate):
    class Event(Aggregate.Event):
        actor: str
        channel: str
        source: str

    class Issued(Aggregate.Created):
        actor: str
        channel: str
        source: str
        run_id: str
        campaign_id: str
        customer_no: str
        currency: str
        lines: list[dict[str, Any]]
        total_cents: int

    class Confirmed(Event):
        reference: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Payout)
            aggregate.state = "confirmed"
            aggregate.reference = self.reference

    class Failed(Event):
        reason: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Payout)
            aggregate.state = "failed"
            aggregate.failure = self.reason

    class ResultIgnored(Event):
        """A result that changes no money (a second confirmation, say), kept for audit."""

        result: str
        note: str

    def __init__(
        self,
        *,
        run_id: str,
        campaign_id: str,
        customer_no: str,
        currency: str,
        lines: list[dict[str, Any]],
        total_cents: int,
        **_: Any,
    ) -> None:
        self.run_id = run_id
        self.campaign_id = campaign_id
        self.customer_no = customer_no
        self.currency = currency
        self.lines = [dict(line) for line in lines]
        self.total_cents = total_cents
        self.state = "issued"
        self.reference: str | None = None
        self.failure: str | None = None

    @classmethod
    def issue(
        cls,
        *,
        run_id: str,
        campaign_id: str,
        customer_no: str,
        currency: str,
        lines: list[PayoutLine],
        by: Provenance,
        at: datetime,
    ) -> Payout:
        if not lines:
            raise DomainError("a payout needs at least one line")
        serials = [line.serial for line in lines]
        if len(set(serials)) != len(serials):
            raise DomainError("a payout cannot pay the same serial twice")
        if any(line.amount_cents <= 0 for line in lines):
            raise DomainError("payout line amounts must be positive")
        return cls._create(
            cls.Issued,
            id=payout_id(run_id, customer_no),
            timestamp=at,
            run_id=run_id,
            campaign_id=campaign_id,
            customer_no=customer_no,
            currency=currency,
            lines=[line.as_dict() for line in lines],
            total_cents=sum(line.amount_cents for line in lines),
            **by.as_kwargs(),
        )

    def confirm(self, reference: str, *, by: Provenance, at: datetime) -> bool:
        """True when this confirmation changes the payout; False when it is a repeat."""
        if self.state != "issued":
            self.trigger_event(
                self.ResultIgnored, timestamp=at, result="confirmed",
                note=f"payout already {self.state}", **by.as_kwargs(),
            )
            return False
        self.trigger_event(self.Confirmed, timestamp=at, reference=reference, **by.as_kwargs())
        return True

    def fail(self, reason: str, *, by: Provenance, at: datetime) -> bool:
        if self.state != "issued":
            self.trigger_event(
                self.ResultIgnored, timestamp=at, result="failed",
                note=f"payout already {self.state}", **by.as_kwargs(),
            )
            return False
        self.trigger_event(self.Failed, timestamp=at, reason=reason, **by.as_kwargs())
        return True

    @property
    def line_total(self) -> int:
        return sum(int(line["amount_cents"]) for line in self.lines)
