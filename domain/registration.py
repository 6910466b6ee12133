"""DeviceRegistration: one aggregate per (campaign, normalised serial)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.decision import Decision
from domain.errors import TransitionNotAllowed
from domain.ids import registration_id
from domain.provenance import Channel, Provenance
from domain.statuses import Reason, Status
from domain.terms import DocumentKind
from domain.time_order import ForwardInTime

#: Status before the first decision event; never visible once a save completes.
NEW = "NEW"

#: Rejections caused by the request rather than by the device: a corrected request is decided again.
REOPENING_REASONS = frozenset(
    {Reason.UNKNOWN_SERIAL, Reason.TYPE_MISMATCH, Reason.OUTSIDE_VALIDITY_PERIOD, Reason.INSTALLED_IN_FUTURE,
     Reason.TYPE_NOT_ELIGIBLE}
)


class DeviceRegistration(ForwardInTime, Aggregate):
    """The life of one device in one campaign."""

    class Event(Aggregate.Event):
        actor: str
        channel: str
        source: str

    class Registered(Aggregate.Created):
        actor: str
        channel: str
        source: str
        campaign_id: str
        serial: str
        device_type: str
        customer_no: str
        installed_on: date
        outcome: str
        amount_cents: int

    class DocumentsRequested(Event):
        reasons: list[str]
        documents: list[str]
        deadline: date

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, DeviceRegistration)
            aggregate.status = Status.DOCS_REQUIRED
            aggregate.doc_reasons = list(self.reasons)
            aggregate.documents_needed = list(self.documents)
            aggregate.documents_received = []
            aggregate.deadline = self.deadline

    class DocumentUploaded(Event):
        """One file received. ``missing``: the needed kinds still not received after it (class_version 2).

        The device moves to DOCS_UPLOADED (the staff's review) only when nothing is missing; until then it
        stays DOCS_REQUIRED: uploads go on, the deadline and the reminder hold, expiry still applies."""

        kind: str
        sha256: str
        size: int
        missing: list[str]

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Version 1 moved the device to DOCS_UPLOADED at the first file: replayed as it happened.
            state["missing"] = []

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, DeviceRegistration)
            if not self.missing:
                aggregate.status = Status.DOCS_UPLOADED
            aggregate.uploads.append({"kind": self.kind, "sha256": self.sha256, "size": self.size})
            if self.kind not in aggregate.documents_received:
                aggregate.documents_received.append(self.kind)

    class DocumentsApproved(Event):
        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, DeviceRegistration)
            aggregate.status = Status.PAYMENT_PENDING

    class Rejected(Event):
        """class_version 2 (issue #7): ``reviewer`` is the staff member who refused the device,
        "" when the rejection was automatic (decision at registration, expired deadline)."""

        reason: str
        note: str
        reviewer: str

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Version 1 had no reviewer; only staff rejected by hand, and the actor was the reviewer.
            state["reviewer"] = state.get("actor", "") if state.get("channel") == "staff" else ""

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, DeviceRegistration)
            aggregate.status = Status.REJECTED
            aggregate.reason = self.reason
            aggregate.reviewer = self.reviewer or None

    class Reregistered(Event):
        """A new request for a device whose registration was rejected because of the request
        itself (a typo in the type, a date outside the window…): the request is decided again and
        its company becomes the owner. Followed, like Registered, by the decision's events."""

        customer_no: str
        previous_customer_no: str
        device_type: str
        installed_on: date
        outcome: str
        amount_cents: int

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, DeviceRegistration)
            aggregate.customer_no = self.customer_no
            aggregate.device_type = self.device_type
            aggregate.installed_on = self.installed_on
            aggregate.amount_cents = self.amount_cents
            aggregate.status = Status.PAYMENT_PENDING if self.outcome == Status.PAYMENT_PENDING else NEW
            aggregate.reason = None
            aggregate.doc_reasons = []
            aggregate.documents_needed = []
            aggregate.documents_received = []
            aggregate.deadline = None
            refused = [c for c in aggregate.refused_claims if c != self.customer_no]
            if self.previous_customer_no != self.customer_no and self.previous_customer_no not in refused:
                refused.append(self.previous_customer_no)  # the previous request no longer holds the serial
            aggregate.refused_claims = refused

    class ClaimRefused(Event):
        customer_no: str
        reason: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, DeviceRegistration)
            aggregate.refused_claims.append(self.customer_no)

    class AddedToPayout(Event):
        payout_id: UUID
        amount_cents: int

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, DeviceRegistration)
            aggregate.payout_id = self.payout_id

    class Paid(Event):
        payout_id: UUID
        amount_cents: int

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, DeviceRegistration)
            aggregate.status = Status.PAID
            aggregate.paid_cents = self.amount_cents

    class PayoutFailed(Event):
        payout_id: UUID
        reason: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, DeviceRegistration)
            aggregate.payout_id = None
            aggregate.last_payout_failure = self.reason

    def __init__(
        self,
        *,
        campaign_id: str,
        serial: str,
        device_type: str,
        customer_no: str,
        installed_on: date,
        outcome: str,
        amount_cents: int,
        **_: Any,
    ) -> None:
        self.campaign_id = campaign_id
        self.serial = serial
        self.device_type = device_type
        self.customer_no = customer_no
        self.installed_on = installed_on
        self.amount_cents = amount_cents
        self.status: str = Status.PAYMENT_PENDING if outcome == Status.PAYMENT_PENDING else NEW
        self.reason: str | None = None
        self.doc_reasons: list[str] = []
        self.documents_needed: list[str] = []
        #: Kinds received since the last DocumentsRequested (``uploads`` keeps every file).
        self.documents_received: list[str] = []
        self.deadline: date | None = None
        self.uploads: list[dict[str, Any]] = []
        self.refused_claims: list[str] = []
        self.payout_id: UUID | None = None
        self.paid_cents: int = 0
        self.last_payout_failure: str | None = None
        self.reviewer: str | None = None

    # --- creation ---------------------------------------------------------

    @classmethod
    def register(
        cls,
        *,
        campaign_id: str,
        serial: str,
        device_type: str,
        customer_no: str,
        installed_on: date,
        decision: Decision,
        deadline: date | None,
        by: Provenance,
        at: datetime,
    ) -> DeviceRegistration:
        """Create the aggregate and record the decision in the same breath."""
        registration = cls._create(
            cls.Registered,
            id=registration_id(campaign_id, serial),
            timestamp=at,
            campaign_id=campaign_id,
            serial=serial,
            device_type=device_type,
            customer_no=customer_no,
            installed_on=installed_on,
            outcome=str(decision.status),
            amount_cents=decision.amount_cents,
            **by.as_kwargs(),
        )
        registration._record_decision(decision, deadline, by, at)
        return registration

    # --- commands -----------------------------------------------------------

    def may_reregister(self, customer_no: str, device_type: str, installed_on: date) -> bool:
        """A rejection caused by the request (not by the device or its documents) does not keep the
        serial: a different request may be decided again. The same request again is a duplicate."""
        if self.status != Status.REJECTED or self.reason not in REOPENING_REASONS:
            return False
        return (customer_no, device_type, installed_on) != (self.customer_no, self.device_type, self.installed_on)

    def reregister(
        self,
        *,
        customer_no: str,
        device_type: str,
        installed_on: date,
        decision: Decision,
        deadline: date | None,
        by: Provenance,
        at: datetime,
    ) -> None:
        if not self.may_reregister(customer_no, device_type, installed_on):
            raise TransitionNotAllowed(self.serial, self.status, "register again")
        self.trigger_event(
            self.Reregistered,
            timestamp=at,
            customer_no=customer_no,
            previous_customer_no=self.customer_no,
            device_type=device_type,
            installed_on=installed_on,
            outcome=str(decision.status),
            amount_cents=decision.amount_cents,
            **by.as_kwargs(),
        )
        self._record_decision(decision, deadline, by, at)

    def _record_decision(self, decision: Decision, deadline: date | None, by: Provenance, at: datetime) -> None:
        if decision.status is Status.DOCS_REQUIRED:
            assert deadline is not None, "DOCS_REQUIRED needs a deadline"
            self.trigger_event(
                self.DocumentsRequested,
                timestamp=at,
                reasons=list(decision.doc_reasons),
                documents=[str(d) for d in decision.documents],
                deadline=deadline,
                **by.as_kwargs(),
            )
        elif decision.status is Status.REJECTED:
            assert decision.reason is not None
            self.trigger_event(
                self.Rejected, timestamp=at, reason=str(decision.reason), note="", reviewer="", **by.as_kwargs()
            )

    def refuse_claim(self, customer_no: str, *, by: Provenance, at: datetime) -> None:
        """A second company claims a serial already owned by another one."""
        if customer_no == self.customer_no:
            raise TransitionNotAllowed(self.serial, self.status, "refuse the owner's own claim")
        self.trigger_event(
            self.ClaimRefused,
            timestamp=at,
            customer_no=customer_no,
            reason=str(Reason.ALREADY_CLAIMED),
            **by.as_kwargs(),
        )

    def upload_document(
        self, kind: DocumentKind, sha256: str, size: int, *, today: date, by: Provenance, at: datetime
    ) -> bool:
        """Record an uploaded document; False when this very file was already recorded.

        The device stays DOCS_REQUIRED until every needed kind is received, then becomes DOCS_UPLOADED."""
        self._require(self.status in (Status.DOCS_REQUIRED, Status.DOCS_UPLOADED), "upload documents")
        if self.deadline is not None and today > self.deadline:
            raise TransitionNotAllowed(
                self.serial, self.status, f"upload documents after the deadline {self.deadline}"
            )
        if any(u["sha256"] == sha256 and u["kind"] == str(kind) for u in self.uploads):
            return False
        received = {*self.documents_received, str(kind)}
        self.trigger_event(
            self.DocumentUploaded, timestamp=at, kind=str(kind), sha256=sha256, size=size,
            missing=[d for d in self.documents_needed if d not in received], **by.as_kwargs(),
        )
        return True

    @property
    def documents_missing(self) -> list[str]:
        """The needed kinds not received yet (in the order they were asked for)."""
        return [d for d in self.documents_needed if d not in self.documents_received]

    def approve_documents(self, *, by: Provenance, at: datetime) -> None:
        self._require(self.status == Status.DOCS_UPLOADED, "approve documents")
        self.trigger_event(self.DocumentsApproved, timestamp=at, **by.as_kwargs())

    def reject(self, reason: Reason, note: str = "", *, by: Provenance, at: datetime) -> None:
        """Staff refuse the documents, or the deadline passed."""
        allowed = {
            Reason.DOCS_NOT_PROVIDED: (Status.DOCS_REQUIRED,),
        }.get(reason, (Status.DOCS_UPLOADED, Status.DOCS_REQUIRED))
        self._require(self.status in allowed, f"reject ({reason})")
        reviewer = by.actor if by.channel == Channel.STAFF else ""
        self.trigger_event(
            self.Rejected, timestamp=at, reason=str(reason), note=note, reviewer=reviewer, **by.as_kwargs()
        )

    def expire(self, *, today: date, by: Provenance, at: datetime) -> bool:
        """Reject when the document window has passed; False when not due."""
        if self.status != Status.DOCS_REQUIRED or self.deadline is None or today <= self.deadline:
            return False
        self.reject(Reason.DOCS_NOT_PROVIDED, by=by, at=at)
        return True

    def add_to_payout(self, payout_id: UUID, *, by: Provenance, at: datetime) -> None:
        self._require(self.status == Status.PAYMENT_PENDING and self.payout_id is None, "add to a payout")
        self.trigger_event(
            self.AddedToPayout, timestamp=at, payout_id=payout_id, amount_cents=self.amount_cents,
            **by.as_kwargs(),
        )

    def mark_paid(self, payout_id: UUID, *, by: Provenance, at: datetime) -> bool:
        """Record the payment; False when it is already recorded for this payout."""
        if self.status == Status.PAID and self.payout_id == payout_id:
            return False
        self._require(
            self.status == Status.PAYMENT_PENDING and self.payout_id == payout_id, "mark paid"
        )
        self.trigger_event(
            self.Paid, timestamp=at, payout_id=payout_id, amount_cents=self.amount_cents,
            **by.as_kwargs(),
        )
        return True

    def payout_failed(self, payout_id: UUID, reason: str, *, by: Provenance, at: datetime) -> bool:
        if self.status == Status.PAYMENT_PENDING and self.payout_id is None:
            return False
        self._require(
            self.status == Status.PAYMENT_PENDING and self.payout_id == payout_id, "fail the payout"
        )
        self.trigger_event(
            self.PayoutFailed, timestamp=at, payout_id=payout_id, reason=reason, **by.as_kwargs()
        )
        return True

    # --- helpers ------------------------------------------------------------

    @property
    def in_payout(self) -> bool:
        return self.payout_id is not None

    def _require(self, condition: bool, action: str) -> None:
        if not condition:
            raise TransitionNotAllowed(self.serial, self.status, action)
