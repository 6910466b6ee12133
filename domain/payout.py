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
from domain.time_order import ForwardInTime


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


#: ``serials`` of a version 1 result event, which answered for the whole payout.
ALL_LINES = ["*"]


class Payout(ForwardInTime, Aggregate):
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
        """Finance paid these lines. class_version 2 added ``serials``; version 1 answered for the
        whole payout, so an upcast version 1 event answers for every line."""

        reference: str
        serials: list[str]

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["serials"] = ALL_LINES

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Payout)
            for serial in aggregate.answered_serials(self.serials):
                aggregate.line_results[serial] = "confirmed"
            aggregate.reference = self.reference

    class Failed(Event):
        """Finance could not pay these lines; their devices become payable again (class_version 2,
        as Confirmed)."""

        reason: str
        serials: list[str]

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["serials"] = ALL_LINES

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Payout)
            for serial in aggregate.answered_serials(self.serials):
                aggregate.line_results[serial] = "failed"
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
        self.line_results: dict[str, str] = {}
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

    @property
    def state(self) -> str:
        """issued, confirmed, failed, or partially_settled (some lines answered, or mixed answers)."""
        answers = set(self.line_results.values())
        if len(self.line_results) < len(self.lines):
            return "issued" if not answers else "partially_settled"
        if answers == {"confirmed"}:
            return "confirmed"
        if answers == {"failed"}:
            return "failed"
        return "partially_settled"

    def open_serials(self, serials: list[str] | None = None) -> list[str]:
        """Lines still waiting for an answer, among the given ones (all when None)."""
        wanted = [line["serial"] for line in self.lines] if serials is None else list(dict.fromkeys(serials))
        in_payout = {line["serial"] for line in self.lines}
        return [s for s in wanted if s in in_payout and s not in self.line_results]

    def confirm(self, reference: str, *, serials: list[str] | None = None, by: Provenance, at: datetime) -> list[str]:
        """Confirm the open lines among ``serials`` (all lines when None); returns the serials settled now."""
        return self._answer("confirmed", reference, serials, by=by, at=at)

    def fail(self, reason: str, *, serials: list[str] | None = None, by: Provenance, at: datetime) -> list[str]:
        """Fail the open lines among ``serials``; returns the serials whose devices become payable again."""
        return self._answer("failed", reason, serials, by=by, at=at)

    def _answer(
        self, result: str, text: str, serials: list[str] | None, *, by: Provenance, at: datetime
    ) -> list[str]:
        open_now = self.open_serials(serials)
        if not open_now:
            self.trigger_event(
                self.ResultIgnored, timestamp=at, result=result,
                note=f"no open line among {serials or 'all lines'} (payout {self.state})", **by.as_kwargs(),
            )
            return []
        if result == "confirmed":
            self.trigger_event(self.Confirmed, timestamp=at, reference=text, serials=open_now, **by.as_kwargs())
        else:
            self.trigger_event(self.Failed, timestamp=at, reason=text, serials=open_now, **by.as_kwargs())
        return open_now

    def answered_serials(self, serials: list[str]) -> list[str]:
        """The serials a result event answers for (every line for an upcast version 1 event)."""
        if serials == ALL_LINES:
            return [line["serial"] for line in self.lines]
        return serials

    def line(self, serial: str) -> dict[str, Any]:
        for line in self.lines:
            if line["serial"] == serial:
                return line
        raise KeyError(serial)

    @property
    def line_total(self) -> int:
        return sum(int(line["amount_cents"]) for line in self.lines)
