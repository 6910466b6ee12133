"""The application: turns channel requests into saved events, in batches.

Everything here goes through the event store; reads for the portal come from
projections. Saves are batched: one transaction per batch, never per record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, NamedTuple
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, StoredEvent, Tracking, Transcoding

from adapters.side_rows import CompanyRow, DeadLetterRow, ParkedRow
from cashback.clock import Clock, local_date
from cashback.registered_encoding import RegisteredEncoder, RegisteredRow
from cashback.registered_encoding import stored_events as registered_events
from domain.catalog import DeviceCatalog
from domain.company import Company
from domain.deadline import document_deadline
from domain.decision import RegistrationRequest, decide
from domain.enrolment import Enrolment
from domain.errors import DomainError
from domain.ids import company_id, registration_id
from domain.payout import Payout, PayoutLine
from domain.provenance import Provenance
from domain.registration import DeviceRegistration
from domain.statuses import Reason, Status
from domain.terms import CampaignTerms, DocumentKind

log = structlog.get_logger(__name__)

OutcomeKind = Literal["registered", "duplicate", "claim_refused", "parked", "not_enrolled"]


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class Intake(NamedTuple):
    """One registration request from a channel, with where it came from (an immutable value)."""

    request: RegistrationRequest
    by: Provenance
    park_unknown_company: bool = False
    payload: str = ""


PAYMENT_PENDING = str(Status.PAYMENT_PENDING)


class Outcome(NamedTuple):
    """What became of one request (an immutable value; a named tuple: the feed builds one per record)."""

    kind: OutcomeKind
    serial: str
    status: str | None = None
    reason: str | None = None
    amount_cents: int = 0
    #: For a device awaiting documents (DOCS_REQUIRED): why (the documents rules' codes), the documents
    #: asked for and the last day they are accepted.
    doc_reasons: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    deadline: date | None = None


@dataclass
class BatchResult:
    outcomes: list[Outcome] = field(default_factory=list)
    attempts: int = 1

    def count(self, kind: OutcomeKind) -> int:
        return sum(1 for o in self.outcomes if o.kind == kind)


@dataclass
class DecidedBatch:
    """A batch decided but not yet stored: its outcomes, the aggregates it changed, their stored
    events, the plain new registrations still to encode (cashback/registered_encoding.py) and its
    parked rows."""

    outcomes: list[Outcome]
    aggregates: list[Any]
    stored: list[StoredEvent]
    parked: list[ParkedRow]
    #: devices of the batch the store already had (None: not asked, see ``assume_new``)
    existing: int | None = None
    registered: list[RegisteredRow] = field(default_factory=list)
    at: datetime | None = None

    def stored_events(self) -> list[StoredEvent]:
        """Every event of the batch, encoded: the aggregates' first, then the plain registrations."""
        if not self.registered:
            return self.stored
        assert self.at is not None
        return [*self.stored, *registered_events(self.registered, self.at)]


class ConcurrencyExhausted(RuntimeError):
    pass


class CashbackApp(Application[UUID]):
    """Event-sourced application of one campaign."""

    name = "Cashback"

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        terms: CampaignTerms,
        catalog: DeviceCatalog,
        clock: Clock,
    ) -> None:
        self.terms = terms
        self.catalog = catalog
        self.clock = clock
        super().__init__(env=dict(env))
        self.registered_encoder = RegisteredEncoder(self.mapper)

    # The library merges os.environ into the application's environment; settings
    # are read once at the entry point instead, so only the given env counts.
    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Any:
        from eventsourcing.utils import Environment

        return Environment(name, dict(env or {}))

    def construct_recorder(self) -> Any:
        return self.factory.process_recorder()

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """The library's save, without its per-object runtime Protocol checks (costly in big batches):
        collect the aggregates' pending events, record them with ``kwargs`` in one transaction."""
        if any(not isinstance(obj, Aggregate) for obj in objs if obj is not None):
            return super().save(*objs, **kwargs)
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for aggregate in objs:
            if aggregate is not None:
                processing_event.events.extend(aggregate.collect_events())
                processing_event.aggregates[aggregate.id] = aggregate
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # --- time -------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        return local_date(self.clock.now(), self.terms.timezone)

    # --- companies ----------------------------------------------------------------

    def enrol(self, enrolments: Iterable[Enrolment], by: Provenance) -> tuple[int, int, int]:
        """Enrol companies; returns (new, updated, unchanged)."""
        new = updated = unchanged = 0
        companies: list[Company] = []
        rows: list[CompanyRow] = []
        at = self.now()
        for enrolment in enrolments:
            cid = company_id(self.terms.id, enrolment.customer_no)
            try:
                company: Company = self.repository.get(cid)
            except AggregateNotFoundError:
                company = Company.enrol(self.terms.id, enrolment, by=by, at=at)
                new += 1
            else:
                if company.update_contact(enrolment, by=by, at=at):
                    updated += 1
                else:
                    unchanged += 1
                    continue
            companies.append(company)
            rows.append(
                CompanyRow(self.terms.id, company.customer_no, company.name, company.contact_email, company.enrolled_on)
            )
        if companies:
            self.save(*companies, companies=rows)
        return new, updated, unchanged

    def enrolments(self) -> dict[str, Enrolment]:
        """Enrolled companies, read for every batch (a company enrolled a second ago counts)."""
        rows = self.recorder.fetch_all(  # type: ignore[attr-defined]
            "SELECT customer_no, name, contact_email, enrolled_on FROM cashback_companies WHERE campaign_id = %s",
            (self.terms.id,),
        )
        return {row[0]: self._enrolment(tuple(row)) for row in rows}

    def _enrolment(self, row: tuple[Any, ...]) -> Enrolment:
        # Validating e-mail addresses is slow; rows seen before are not validated again.
        memo: dict[tuple[Any, ...], Enrolment] = self.__dict__.setdefault("_enrolment_memo", {})
        if row not in memo:
            enrolled_on = row[3] if isinstance(row[3], date) else date.fromisoformat(str(row[3]))
            memo[row] = Enrolment(customer_no=row[0], name=row[1], contact_email=row[2], enrolled_on=enrolled_on)
        return memo[row]

    # --- registrations ------------------------------------------------------------

    def register_batch(
        self,
        items: Sequence[Intake],
        *,
        trackings: Sequence[Tracking] = (),
        dead_letters: Sequence[DeadLetterRow] = (),
        max_attempts: int = 5,
    ) -> BatchResult:
        """Decide and save a batch in one transaction, with its tracking positions.

        A concurrent writer taking one of the devices first makes the whole
        transaction fail on the event store's uniqueness; the batch is then
        decided again against the new state.
        """
        for attempt in range(1, max_attempts + 1):
            try:
                decided = self.decide_batch(items)
                self.record_batch(decided, trackings=trackings, dead_letters=dead_letters)
                return BatchResult(outcomes=decided.outcomes, attempts=attempt)
            except IntegrityError as error:
                if trackings and "tracking" in str(error).lower():
                    raise
                log.warning("batch_conflict_retry", attempt=attempt, error=str(error))
                self.forget_cached()
        raise ConcurrencyExhausted(f"batch still conflicting after {max_attempts} attempts")

    def decide_batch(self, items: Sequence[Intake], *, assume_new: bool = False) -> DecidedBatch:
        """The first half of ``register_batch``: decisions and encoded events, nothing stored.

        ``assume_new``: without asking the store which devices it already has; every enrolled request is then decided
        as a new device, and if one is not, its first event collides with the stored one on the
        store's uniqueness and the transaction fails whole (decide again without the assumption)."""
        at = self.now()
        outcomes, aggregates, registered, parked, existing = self._decide_batch(items, at, assume_new=assume_new)
        stored = [self.mapper.to_stored_event(e) for aggregate in aggregates for e in aggregate.collect_events()]
        return DecidedBatch(outcomes, aggregates, stored, parked, existing=existing, registered=registered, at=at)

    def record_batch(
        self, decided: DecidedBatch, *, trackings: Sequence[Tracking] = (), dead_letters: Sequence[DeadLetterRow] = ()
    ) -> None:
        """The second half: the events, positions and side rows of a decided batch in one transaction."""
        self.recorder.insert_events(decided.stored_events(), trackings=list(trackings), parked=decided.parked,
                                    dead_letters=list(dead_letters))
        self.remember(decided)

    def remember(self, decided: DecidedBatch) -> None:
        """A decided batch was stored (here or by another process): its aggregates are current."""
        if self.repository.cache is not None:
            for aggregate in decided.aggregates:
                self.repository.cache.put(aggregate.id, aggregate)

    def forget_cached(self) -> None:
        """After a batch that was not stored: its aggregates, changed in memory, must be read again."""
        if self.repository.cache is not None and hasattr(self.repository.cache, "clear"):
            self.repository.cache.clear()

    def _decide_batch(
        self, items: Sequence[Intake], at: datetime, *, assume_new: bool = False
    ) -> tuple[list[Outcome], list[DeviceRegistration], list[RegisteredRow], list[ParkedRow], int | None]:
        """Outcomes, the aggregates changed, the rows of plain new registrations (see
        cashback/registered_encoding.py), the parked rows of a batch and how many of its devices
        were already stored (None with ``assume_new``)."""
        today = self.today()
        enrolments = self.enrolments()
        ids = [registration_id(self.terms.id, it.request.serial) for it in items]
        # serials, not ids, are counted: a str keeps its hash, a UUID computes it at every lookup
        repeated = {serial for serial, count in Counter(it.request.serial for it in items).items() if count > 1}
        registered: list[RegisteredRow] = []
        versions = {} if assume_new else self.recorder.select_versions(list(set(ids)))  # type: ignore[attr-defined]
        touched: dict[UUID, DeviceRegistration] = {rid: self.repository.get(rid) for rid in versions}
        changed: dict[UUID, DeviceRegistration] = {}
        outcomes: list[Outcome] = []
        parked: list[ParkedRow] = []
        already_parked = self._parked_keys(items, enrolments, today)
        for item, rid in zip(items, ids, strict=True):
            request = item.request
            enrolment = enrolments.get(request.customer_no)
            if not _enrolled(enrolments, request.customer_no, today):
                if item.park_unknown_company and (request.customer_no, request.serial) in already_parked:
                    # A republished record of a parked one: one parked row per customer number and serial.
                    outcomes.append(Outcome("duplicate", request.serial, reason=str(Reason.COMPANY_NOT_ENROLLED)))
                elif item.park_unknown_company:
                    already_parked.add((request.customer_no, request.serial))
                    parked.append(
                        ParkedRow(self.terms.id, request.customer_no, request.serial, item.by.source, item.payload, at)
                    )
                    outcomes.append(Outcome("parked", request.serial, reason=str(Reason.COMPANY_NOT_ENROLLED)))
                else:
                    outcomes.append(Outcome("not_enrolled", request.serial, reason=str(Reason.COMPANY_NOT_ENROLLED)))
                continue
            existing = touched.get(rid) if touched else None  # a UUID's hash is Python code: not for nothing
            if existing is not None and not existing.may_reregister(
                request.customer_no, request.device_type, request.installed_on
            ):
                outcomes.append(self._existing(existing, request, item.by, at, changed))
                continue
            decision = decide(request, self.catalog.lookup(request.serial), self.terms, enrolment, today)
            deadline = (
                document_deadline(today, self.terms.document_window_days)
                if decision.status is Status.DOCS_REQUIRED
                else None
            )
            if existing is not None:  # its rejection was caused by the request: decide the new one
                if decision.status is Status.REJECTED:  # rejected again: the first record keeps the serial
                    outcomes.append(self._existing(existing, request, item.by, at, changed))
                    continue
                existing.reregister(customer_no=request.customer_no, device_type=request.device_type,
                                    installed_on=request.installed_on, decision=decision, deadline=deadline,
                                    by=item.by, at=at)
                changed[rid] = existing
                outcomes.append(self._registered(request.serial, decision, deadline))
                continue
            if decision.status is Status.PAYMENT_PENDING and request.serial not in repeated:
                row = self.registered_encoder.row(
                    rid, campaign_id=self.terms.id, serial=request.serial, device_type=request.device_type,
                    customer_no=request.customer_no, installed_on=request.installed_on,
                    outcome=PAYMENT_PENDING, amount_cents=decision.amount_cents, by=item.by,
                )
                if row is not None:
                    registered.append(row)
                    outcomes.append(Outcome("registered", request.serial, PAYMENT_PENDING, None, decision.amount_cents))
                    continue
            registration = DeviceRegistration.register(
                campaign_id=self.terms.id,
                serial=request.serial,
                device_type=request.device_type,
                customer_no=request.customer_no,
                installed_on=request.installed_on,
                decision=decision,
                deadline=deadline,
                by=item.by,
                at=at,
            )
            touched[rid] = changed[rid] = registration
            outcomes.append(self._registered(request.serial, decision, deadline))
        return outcomes, list(changed.values()), registered, parked, None if assume_new else len(versions)

    def _parked_keys(
        self, items: Sequence[Intake], enrolments: Mapping[str, Enrolment], today: date
    ) -> set[tuple[str, str]]:
        """(customer number, serial) already parked, among the batch's records for companies not enrolled."""
        serials = sorted({it.request.serial for it in items
                          if it.park_unknown_company and not _enrolled(enrolments, it.request.customer_no, today)})
        found: set[tuple[str, str]] = set()
        for start in range(0, len(serials), 500):
            chunk = serials[start:start + 500]
            rows = self.recorder.fetch_all(  # type: ignore[attr-defined]
                "SELECT customer_no, serial FROM cashback_parked WHERE campaign_id = %s"
                f" AND serial IN ({', '.join(['%s'] * len(chunk))})",
                (self.terms.id, *chunk),
            )
            found.update((str(row[0]), str(row[1])) for row in rows)
        return found

    @staticmethod
    def _registered(serial: str, decision: Any, deadline: date | None = None) -> Outcome:
        reason = str(decision.reason) if decision.reason else ",".join(decision.doc_reasons) or None
        return Outcome("registered", serial, status=str(decision.status), reason=reason,
                       amount_cents=decision.amount_cents,
                       doc_reasons=tuple(decision.doc_reasons) if deadline else (),
                       documents=tuple(str(d) for d in decision.documents) if deadline else (), deadline=deadline)

    def _existing(
        self,
        registration: DeviceRegistration,
        request: RegistrationRequest,
        by: Provenance,
        at: datetime,
        changed: dict[UUID, DeviceRegistration],
    ) -> Outcome:
        if registration.customer_no == request.customer_no:
            awaiting = registration.status == Status.DOCS_REQUIRED
            return Outcome("duplicate", request.serial, status=registration.status, reason=registration.reason,
                           doc_reasons=tuple(registration.doc_reasons) if awaiting else (),
                           documents=tuple(registration.documents_needed) if awaiting else (),
                           deadline=registration.deadline if awaiting else None)
        if request.customer_no not in registration.refused_claims:
            registration.refuse_claim(request.customer_no, by=by, at=at)
            changed[registration.id] = registration
        return Outcome("claim_refused", request.serial, status=str(Status.REJECTED), reason=str(Reason.ALREADY_CLAIMED))

    def get_registration(self, serial: str) -> DeviceRegistration | None:
        try:
            return self.repository.get(registration_id(self.terms.id, serial))
        except AggregateNotFoundError:
            return None

    # --- documents and review -------------------------------------------------------

    def record_upload(self, serial: str, kind: DocumentKind, sha256: str, size: int, by: Provenance) -> bool:
        registration = self._require_registration(serial)
        recorded = registration.upload_document(kind, sha256, size, today=self.today(), by=by, at=self.now())
        if recorded:
            self.save(registration)
        return recorded

    def approve(self, serial: str, by: Provenance) -> DeviceRegistration:
        registration = self._require_registration(serial)
        registration.approve_documents(by=by, at=self.now())
        self.save(registration)
        return registration

    def reject(self, serial: str, note: str, by: Provenance) -> DeviceRegistration:
        registration = self._require_registration(serial)
        registration.reject(Reason.DOCS_REFUSED, note, by=by, at=self.now())
        self.save(registration)
        return registration

    def expire(self, registration_ids: Iterable[UUID], by: Provenance) -> int:
        """Reject every given DOCS_REQUIRED device whose window has passed."""
        today, at = self.today(), self.now()
        expired = []
        for rid in registration_ids:
            registration: DeviceRegistration = self.repository.get(rid)
            if registration.expire(today=today, by=by, at=at):
                expired.append(registration)
        if expired:
            self.save(*expired)
        return len(expired)

    def _require_registration(self, serial: str) -> DeviceRegistration:
        registration = self.get_registration(serial)
        if registration is None:
            raise DomainError(f"device {serial} is not registered in campaign {self.terms.id}")
        return registration

    # --- payouts ----------------------------------------------------------------------

    def payment_run(
        self, candidate_ids: Iterable[UUID], run_id: str, by: Provenance, max_attempts: int = 5
    ) -> list[Payout]:
        """One payout per company over the given devices that are still payable, in one transaction."""
        candidates = list(dict.fromkeys(candidate_ids))
        for attempt in range(1, max_attempts + 1):
            at = self.now()
            by_company: dict[str, list[DeviceRegistration]] = {}
            for rid in candidates:
                registration: DeviceRegistration = self.repository.get(rid)
                if registration.status == Status.PAYMENT_PENDING and not registration.in_payout:
                    by_company.setdefault(registration.customer_no, []).append(registration)
            payouts: list[Payout] = []
            devices: list[DeviceRegistration] = []
            for customer_no, registrations in sorted(by_company.items()):
                registrations.sort(key=lambda r: r.serial)
                payout = Payout.issue(
                    run_id=run_id,
                    campaign_id=self.terms.id,
                    customer_no=customer_no,
                    currency=self.terms.currency,
                    lines=[PayoutLine(r.serial, r.device_type, r.amount_cents, r.id) for r in registrations],
                    by=by,
                    at=at,
                )
                for registration in registrations:
                    registration.add_to_payout(payout.id, by=by, at=at)
                payouts.append(payout)
                devices.extend(registrations)
            if not payouts:
                return []
            try:
                self.save(*payouts, *devices)
                return payouts
            except IntegrityError as error:
                log.warning("payment_run_conflict_retry", attempt=attempt, error=str(error))
        raise ConcurrencyExhausted("payment run kept conflicting with another writer")

    def settle_payout(
        self,
        payout_id: UUID,
        result: Literal["confirmed", "failed"],
        by: Provenance,
        reference: str = "",
        reason: str = "",
        serials: Sequence[str] | None = None,
        trackings: Sequence[Tracking] = (),
        max_attempts: int = 5,
    ) -> Literal["applied", "repeat", "unknown"]:
        """Apply finance's result to a payout (or some of its lines) and its devices in one transaction.

        A result for an unknown payout is kept as a dead letter; a repeated result is recorded on the
        payout (ResultIgnored) and changes no money. ``trackings`` (the results topic's offsets) are
        stored in the same transaction.
        """
        for attempt in range(1, max_attempts + 1):
            try:
                return self._settle(payout_id, result, by, reference, reason, serials, trackings)
            except IntegrityError as error:
                if trackings and "tracking" in str(error).lower():
                    raise
                log.warning("settle_conflict_retry", attempt=attempt, payout_id=str(payout_id), error=str(error))
        raise ConcurrencyExhausted(f"payout {payout_id} kept conflicting with another writer")

    def _settle(
        self,
        payout_id: UUID,
        result: Literal["confirmed", "failed"],
        by: Provenance,
        reference: str,
        reason: str,
        serials: Sequence[str] | None,
        trackings: Sequence[Tracking],
    ) -> Literal["applied", "repeat", "unknown"]:
        at = self.now()
        try:
            payout: Payout = self.repository.get(payout_id)
        except AggregateNotFoundError:
            note = DeadLetterRow("finance:unknown-payout", by.source, f"unknown payout {payout_id} ({result})",
                                 str(payout_id).encode(), at)
            self.save(trackings=list(trackings), dead_letters=[note])
            return "unknown"
        wanted = list(serials) if serials is not None else None
        if result == "confirmed":
            settled = payout.confirm(reference, serials=wanted, by=by, at=at)
        else:
            settled = payout.fail(reason or "failed", serials=wanted, by=by, at=at)
        devices = []
        for serial in settled:
            registration: DeviceRegistration = self.repository.get(UUID(payout.line(serial)["registration_id"]))
            done = (
                registration.mark_paid(payout.id, by=by, at=at)
                if result == "confirmed"
                else registration.payout_failed(payout.id, reason or "failed", by=by, at=at)
            )
            if done:
                devices.append(registration)
        self.save(payout, *devices, trackings=list(trackings))
        return "applied" if settled else "repeat"


def _enrolled(enrolments: Mapping[str, Enrolment], customer_no: str, today: date) -> bool:
    """Enrolled by today: a record for a company enrolled later is not transferred back (parked)."""
    enrolment = enrolments.get(customer_no)
    return enrolment is not None and enrolment.enrolled_on <= today
