"""Invariants held under random use (hypothesis).

* only the transitions of the allowed graph happen; a refused command records nothing;
* a device is paid at most once;
* a payout's total equals the sum of its lines;
* replaying the same input twice changes nothing.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from adapters.http.service import Portal
from cashback.app import CashbackApp, Intake
from domain.decision import Decision, RegistrationRequest
from domain.errors import DomainError, TransitionNotAllowed
from domain.ids import registration_id
from domain.payout import Payout, PayoutLine
from domain.provenance import Channel, Provenance
from domain.registration import NEW, REOPENING_REASONS, DeviceRegistration
from domain.statuses import Reason, Status
from domain.terms import DocumentKind
from projections import queries
from projections.db import SQLiteProjectionDB
from projections.overview import OverviewProjection, changes_for
from projections.projector import Projector
from tests.unit.conftest import (
    CAMPAIGN,
    ENROLLED,
    ENROLLED_LATER,
    ENROLLED_TOO,
    FINANCE,
    NOT_ELIGIBLE,
    PAYABLE_SB3,
    PAYABLE_SB5,
    PAYABLE_STP,
    SB3,
    SB5,
    SOLD_ABROAD,
    STAFF,
    STP,
    SYSTEM,
    UNKNOWN,
    UNKNOWN_COMPANY,
    both_documents_terms,
    build_app,
)

PP, DR, DU, PAID, REJ = (
    Status.PAYMENT_PENDING,
    Status.DOCS_REQUIRED,
    Status.DOCS_UPLOADED,
    Status.PAID,
    Status.REJECTED,
)
STATUSES = {str(s) for s in Status}

#: The allowed graph of ARCHITECTURE.md (a status may also stay as it is).
ALLOWED = {
    (NEW, PP),
    (NEW, DR),
    (NEW, REJ),
    (DR, DU),
    (DR, REJ),
    (DU, DU),
    (DU, PP),
    (DU, REJ),
    (PP, PAID),
    # Re-registration (docs/design-notes.md): a rejection caused by the request does not keep the
    # serial; a different request is decided again.
    (REJ, PP),
    (REJ, DR),
}

AT = datetime(2026, 6, 1, 10, tzinfo=UTC)
DEADLINE = date(2026, 6, 15)
DAYS = st.dates(min_value=date(2026, 6, 1), max_value=date(2026, 7, 1))
PAYOUTS = [UUID(int=1), UUID(int=2)]
#: What a DOCS_REQUIRED decision asks for: one document (sold abroad) or two (old stock).
NEEDED = st.sampled_from([(DocumentKind.INVOICE,), (DocumentKind.INVOICE, DocumentKind.COMMISSIONING_REPORT),
                          (DocumentKind.COMMISSIONING_REPORT, DocumentKind.INVOICE)])
OWNER = "C100"
BY = Provenance("someone", Channel.SYSTEM, "hypothesis")


# --- (a) DeviceRegistration against a model of the allowed graph -----------------------------


def projected_status(events: list[Any]) -> str:
    """The owner row's status in the overview projection built from ``events`` alone."""
    projection = OverviewProjection()
    db = sqlite3.connect(":memory:")
    try:
        for statement in projection.create_statements():
            db.execute(statement)
        for change in changes_for(projection, events):
            db.execute(change.sql.replace("%s", "?"), change.params)
        (status,) = db.execute("SELECT status FROM overview WHERE is_owner = 1").fetchone()
        return str(status)
    finally:
        db.close()


def portal_status_after(events: list[Any], event: Any, owner: str = OWNER) -> str | None:
    """The status the portal's device history shows beside ``event`` (the owner's view)."""
    portal = Portal.__new__(Portal)
    store = SimpleNamespace(get=lambda _id: events)
    portal.engine = SimpleNamespace(app=SimpleNamespace(repository=SimpleNamespace(event_store=store)),  # type: ignore[assignment]
                                    terms=SimpleNamespace(id=CAMPAIGN, documents_rules=[]))
    portal.language = "en"
    entries = portal._history("3001000001", owner, True)
    shown = [e for e in entries if e["at"] == event.timestamp and e["kind"] == "document_uploaded"]
    assert len(shown) == 1
    status = shown[0]["status"]
    return None if status is None else str(status)


class RegistrationMachine(RuleBasedStateMachine):
    """Random commands on one device; the model says which must be refused."""

    registration: DeviceRegistration

    @initialize(outcome=st.sampled_from([PP, DR, REJ]), deadline=DAYS, documents=NEEDED)
    def register(self, outcome: Status, deadline: date, documents: tuple[DocumentKind, ...]) -> None:
        decision = {
            PP: Decision(PP, amount_cents=5000),
            DR: Decision(DR, amount_cents=5000, doc_reasons=("RULE",), documents=documents),
            REJ: Decision.rejected(Reason.UNKNOWN_SERIAL),
        }[outcome]
        self.registration = DeviceRegistration.register(
            campaign_id=CAMPAIGN,
            serial="3001000001",
            device_type=SB3,
            customer_no=OWNER,
            installed_on=date(2026, 5, 4),
            decision=decision,
            deadline=deadline if outcome is DR else None,
            by=BY,
            at=AT,
        )
        self.events: list[Any] = list(self.registration.collect_events())
        self.status: str = outcome
        self.deadline = deadline if outcome is DR else None
        self.payout: UUID | None = None
        self.uploads: set[tuple[str, str]] = set()
        # What the request asks for and which kinds came in since: DOCS_UPLOADED once needed <= received.
        self.needed: list[str] = [str(d) for d in documents] if outcome is DR else []
        self.received: set[str] = set()
        self.claims: list[str] = []
        self.transitions: list[tuple[str, str]] = [(NEW, outcome)]
        self.clock = AT
        self.owner = OWNER
        self.request = (OWNER, SB3, date(2026, 5, 4))
        self.reason: Reason | None = Reason.UNKNOWN_SERIAL if outcome is REJ else None

    def _at(self) -> datetime:
        self.clock += timedelta(minutes=1)
        return self.clock

    def _run(self, command: Any, *, refused: bool, returns: bool | None = None, records: int = 1) -> None:
        before = self.registration.status
        if refused:
            with pytest.raises(TransitionNotAllowed):
                command()
            assert self.registration.collect_events() == [], "a refused command recorded an event"
        else:
            result = command()
            if returns is not None:
                assert result is returns
            new = self.registration.collect_events()
            assert len(new) == records
            self.events.extend(new)
        self.transitions.append((before, self.registration.status))

    @rule(kind=st.sampled_from(list(DocumentKind)), sha=st.sampled_from(["a" * 64, "b" * 64]), today=DAYS)
    def upload(self, kind: DocumentKind, sha: str, today: date) -> None:
        late = self.deadline is not None and today > self.deadline
        refused = self.status not in (DR, DU) or late
        repeat = (str(kind), sha) in self.uploads
        self._run(
            lambda: self.registration.upload_document(kind, sha, 10, today=today, by=BY, at=self._at()),
            refused=refused,
            returns=not repeat,
            records=0 if repeat else 1,
        )
        if not refused and not repeat:
            self.uploads.add((str(kind), sha))
            self.received.add(str(kind))
            if set(self.needed) <= self.received:
                self.status = DU  # every needed kind is in: the staff's review
            # else: still DOCS_REQUIRED (upload allowed, deadline and expiry hold)

    @rule()
    def approve(self) -> None:
        refused = self.status != DU
        self._run(lambda: self.registration.approve_documents(by=STAFF, at=self._at()), refused=refused)
        if not refused:
            self.status = PP

    @rule()
    def reject(self) -> None:
        refused = self.status not in (DR, DU)
        self._run(lambda: self.registration.reject(Reason.DOCS_REFUSED, by=STAFF, at=self._at()), refused=refused)
        if not refused:
            self.status, self.reason = REJ, Reason.DOCS_REFUSED

    @rule(customer_no=st.sampled_from([OWNER, "C200"]), device_type=st.sampled_from([SB3, SB5]),
          installed_on=st.sampled_from([date(2026, 5, 4), date(2026, 5, 20)]), outcome=st.sampled_from([PP, DR, REJ]),
          deadline=DAYS, documents=NEEDED)
    def reregister(self, customer_no: str, device_type: str, installed_on: date, outcome: Status,
                   deadline: date, documents: tuple[DocumentKind, ...]) -> None:
        reopening = self.status == REJ and self.reason in REOPENING_REASONS
        refused = not reopening or (customer_no, device_type, installed_on) == self.request
        decision = {
            PP: Decision(PP, amount_cents=5000),
            DR: Decision(DR, amount_cents=5000, doc_reasons=("RULE",), documents=documents),
            REJ: Decision.rejected(Reason.TYPE_MISMATCH),
        }[outcome]
        self._run(
            lambda: self.registration.reregister(
                customer_no=customer_no, device_type=device_type, installed_on=installed_on, decision=decision,
                deadline=deadline if outcome is DR else None, by=BY, at=self._at()),
            refused=refused,
            records=1 if outcome is PP else 2,
        )
        if refused:
            return
        self.claims = [c for c in self.claims if c != customer_no]
        if self.owner != customer_no and self.owner not in self.claims:
            self.claims.append(self.owner)
        self.owner, self.request, self.status = customer_no, (customer_no, device_type, installed_on), outcome
        self.deadline = deadline if outcome is DR else None
        self.reason = Reason.TYPE_MISMATCH if outcome is REJ else None
        self.uploads = set()
        self.needed = [str(d) for d in documents] if outcome is DR else []
        self.received = set()

    @rule(today=DAYS)
    def expire(self, today: date) -> None:
        due = self.status == DR and self.deadline is not None and today > self.deadline
        self._run(
            lambda: self.registration.expire(today=today, by=BY, at=self._at()),
            refused=False,
            returns=due,
            records=1 if due else 0,
        )
        if due:
            self.status, self.reason = REJ, Reason.DOCS_NOT_PROVIDED

    @rule(payout=st.sampled_from(PAYOUTS))
    def add_to_payout(self, payout: UUID) -> None:
        refused = not (self.status == PP and self.payout is None)
        self._run(lambda: self.registration.add_to_payout(payout, by=SYSTEM, at=self._at()), refused=refused)
        if not refused:
            self.payout = payout

    @rule(payout=st.sampled_from(PAYOUTS))
    def mark_paid(self, payout: UUID) -> None:
        repeat = self.status == PAID and self.payout == payout
        refused = not repeat and not (self.status == PP and self.payout == payout)
        self._run(
            lambda: self.registration.mark_paid(payout, by=FINANCE, at=self._at()),
            refused=refused,
            returns=not repeat,
            records=0 if repeat else 1,
        )
        if not refused and not repeat:
            self.status = PAID

    @rule(payout=st.sampled_from(PAYOUTS))
    def payout_failed(self, payout: UUID) -> None:
        repeat = self.status == PP and self.payout is None
        refused = not repeat and not (self.status == PP and self.payout == payout)
        self._run(
            lambda: self.registration.payout_failed(payout, "bounced", by=FINANCE, at=self._at()),
            refused=refused,
            returns=not repeat,
            records=0 if repeat else 1,
        )
        if not refused and not repeat:
            self.payout = None

    @rule(customer_no=st.sampled_from([OWNER, "C200", "C300"]))
    def refuse_claim(self, customer_no: str) -> None:
        refused = customer_no == self.owner
        self._run(lambda: self.registration.refuse_claim(customer_no, by=BY, at=self._at()), refused=refused)
        if not refused:
            self.claims.append(customer_no)

    @invariant()
    def state_follows_the_model(self) -> None:
        registration = self.registration
        assert registration.status in STATUSES
        assert registration.status == self.status
        assert registration.payout_id == self.payout
        assert registration.refused_claims == self.claims
        assert registration.customer_no == self.owner
        assert registration.reason == self.reason
        assert registration.version == len(self.events)
        if self.status in (DR, DU):
            assert registration.documents_missing == [d for d in self.needed if d not in self.received]

    @invariant()
    def only_allowed_transitions_happen(self) -> None:
        for before, after in self.transitions:
            assert before == after or (before, after) in ALLOWED, f"{before} -> {after}"

    @invariant()
    def paid_at_most_once(self) -> None:
        assert sum(isinstance(e, DeviceRegistration.Paid) for e in self.events) <= 1
        assert self.registration.paid_cents in (0, 5000)

    @invariant()
    def history_rebuilds_the_state(self) -> None:
        rebuilt: Any = None
        for event in self.events:
            rebuilt = event.mutate(rebuilt)
        assert rebuilt.status == self.registration.status
        assert rebuilt.payout_id == self.registration.payout_id
        assert rebuilt.uploads == self.registration.uploads
        assert rebuilt.documents_missing == self.registration.documents_missing

    @invariant()
    def every_reader_derives_the_same_status(self) -> None:
        """The overview projection and the portal's history say what the aggregate (and the audit
        history's "status after", which replays it) says."""
        assert projected_status(self.events) == self.registration.status
        after: Any = None
        statuses = []
        for event in self.events:
            after = event.mutate(after)
            statuses.append(str(after.status))
        for event, status in zip(self.events, statuses, strict=True):
            if isinstance(event, DeviceRegistration.DocumentUploaded):  # uploads come from the current owner
                assert portal_status_after(self.events, event, self.owner) == status


TestRegistrationMachine = RegistrationMachine.TestCase
TestRegistrationMachine.settings = settings(max_examples=200, stateful_step_count=30, deadline=None, database=None)


# --- (b) payout total ---------------------------------------------------------------------------

LINES = st.lists(
    st.tuples(st.text(alphabet="0123456789ABC", min_size=4, max_size=12), st.integers(min_value=1, max_value=10**7)),
    min_size=1,
    max_size=30,
    unique_by=lambda pair: pair[0],
)


@settings(max_examples=100, deadline=None, database=None)
@given(LINES)
def test_payout_total_is_the_sum_of_its_lines(pairs: list[tuple[str, int]]) -> None:
    lines = [PayoutLine(serial, SB3, amount, uuid4()) for serial, amount in pairs]
    payout = Payout.issue(
        run_id="run", campaign_id=CAMPAIGN, customer_no=OWNER, currency="EUR", lines=lines, by=BY, at=AT
    )
    assert payout.total_cents == sum(amount for _, amount in pairs) == payout.line_total
    (issued,) = payout.collect_events()
    rebuilt = issued.mutate(None)
    assert rebuilt.total_cents == rebuilt.line_total == payout.total_cents


@settings(max_examples=50, deadline=None, database=None)
@given(LINES, st.data())
def test_payout_with_a_repeated_serial_is_refused(pairs: list[tuple[str, int]], data: st.DataObject) -> None:
    repeated = data.draw(st.sampled_from(pairs))
    lines = [PayoutLine(serial, SB3, amount, uuid4()) for serial, amount in [*pairs, repeated]]
    with pytest.raises(DomainError):
        Payout.issue(run_id="run", campaign_id=CAMPAIGN, customer_no=OWNER, currency="EUR", lines=lines, by=BY, at=AT)


# --- (c) the application under random feed intakes, payment runs and finance results ---------------

TYPE_OF = {
    PAYABLE_SB3: SB3,
    PAYABLE_SB5: SB5,
    PAYABLE_STP: STP,
    SOLD_ABROAD: SB3,
    NOT_ELIGIBLE: "SMC6000A",
    UNKNOWN: SB3,
}
SERIALS = list(TYPE_OF)
COMPANIES = [ENROLLED, ENROLLED_TOO, ENROLLED_LATER, UNKNOWN_COMPANY]
NOT_ENROLLED = {ENROLLED_LATER, UNKNOWN_COMPANY}
FEED = Provenance("portal-feed", Channel.FEED, "portal.device-registrations.v1/0/1")

ITEM = st.tuples(st.sampled_from(SERIALS), st.sampled_from(COMPANIES), st.booleans(), st.booleans())
BATCH = st.lists(ITEM, min_size=1, max_size=8)


def make_intake(serial: str, company: str, park: bool, typo: bool) -> Intake:
    device_type = TYPE_OF[serial]
    if typo:
        device_type = SB5 if device_type != SB5 else SB3
    request = RegistrationRequest(serial, device_type, date(2026, 5, 4), company)
    return Intake(request=request, by=FEED, park_unknown_company=park, payload=f"{serial}/{company}")


def expected_status(serial: str, typo: bool) -> Status:
    if serial in (UNKNOWN, NOT_ELIGIBLE) or typo:
        return REJ
    return DR if serial == SOLD_ABROAD else PP


@dataclass
class PayoutModel:
    amounts: dict[str, int]  # serial -> cents
    results: dict[str, str] = field(default_factory=dict)  # serial -> confirmed / failed


class AppMachine(RuleBasedStateMachine):
    """Feed batches, replays, document approvals, payment runs and finance results in random order."""

    def __init__(self) -> None:
        super().__init__()
        # A device sold abroad needs two documents here: it goes to review only once both are in.
        self.app: CashbackApp = build_app(terms=both_documents_terms())
        self.read_db = SQLiteProjectionDB(Path(":memory:"))
        self.projector = Projector(self.app, self.read_db)
        self.owner: dict[str, str] = {}
        self.parked_keys: set[tuple[str, str]] = set()
        self.request: dict[str, tuple[str, bool]] = {}  # serial -> (company, typo) of the recorded request
        self.batches: list[list[Intake]] = []
        self.payouts: dict[UUID, PayoutModel] = {}
        self.paid: set[str] = set()
        self.runs = 0

    # helpers
    def events(self) -> int:
        return len(self.app.recorder.select_notifications(start=1, limit=10**6))

    def parked(self) -> list[tuple[Any, ...]]:
        return self.app.recorder.fetch_all("SELECT * FROM cashback_parked ORDER BY customer_no, serial")  # type: ignore[attr-defined]

    def registration(self, serial: str) -> DeviceRegistration:
        registration = self.app.get_registration(serial)
        assert registration is not None
        return registration

    def replay_changes_nothing(self, batch: list[Intake]) -> None:
        before, parked = self.events(), self.parked()
        result = self.app.register_batch(batch)
        assert self.events() == before, "replaying a batch recorded events"
        assert self.parked() == parked
        assert result.count("registered") == 0

    # rules
    @rule(items=BATCH)
    def feed_batch(self, items: list[tuple[str, str, bool, bool]]) -> None:
        batch = [make_intake(*item) for item in items]
        result = self.app.register_batch(batch)
        assert len(result.outcomes) == len(batch)
        for (serial, company, park, typo), outcome in zip(items, result.outcomes, strict=True):
            assert outcome.serial == serial
            if company in NOT_ENROLLED:
                if not park:
                    assert outcome.kind == "not_enrolled"
                elif (company, serial) in self.parked_keys:
                    assert outcome.kind == "duplicate"  # parked once per customer number and serial
                else:
                    assert outcome.kind == "parked"
                    self.parked_keys.add((company, serial))
            elif serial not in self.owner:
                assert outcome.kind == "registered"
                assert outcome.status == expected_status(serial, typo)
                self.owner[serial] = company
                self.request[serial] = (company, typo)
            elif self.request[serial] == (company, typo):
                assert outcome.kind == "duplicate"
            elif self.request[serial][1] or serial in (UNKNOWN, NOT_ELIGIBLE):
                # rejected because of its request: a different request is decided again
                if expected_status(serial, typo) == REJ:
                    expected = "duplicate" if self.owner[serial] == company else "claim_refused"
                    assert (outcome.kind, outcome.status) == (expected, "REJECTED")
                else:
                    assert (outcome.kind, outcome.status) == ("registered", expected_status(serial, typo))
                    self.owner[serial] = company
                    self.request[serial] = (company, typo)
            elif self.owner[serial] == company:
                assert outcome.kind == "duplicate"
            else:
                assert (outcome.kind, outcome.reason) == ("claim_refused", "ALREADY_CLAIMED")
        self.batches.append(batch)
        self.replay_changes_nothing(batch)

    @precondition(lambda self: bool(self.batches))
    @rule(data=st.data())
    def replay_an_earlier_batch(self, data: st.DataObject) -> None:
        self.replay_changes_nothing(data.draw(st.sampled_from(self.batches)))

    @precondition(lambda self: SOLD_ABROAD in self.owner)
    @rule(kinds=st.lists(st.sampled_from(list(DocumentKind)), unique=True, max_size=2), approve=st.booleans())
    def review_documents(self, kinds: list[DocumentKind], approve: bool) -> None:
        before = self.registration(SOLD_ABROAD)
        if before.status != DR:
            return
        missing = [d for d in before.documents_missing if d not in {str(k) for k in kinds}]
        for kind in kinds:
            self.app.record_upload(SOLD_ABROAD, kind, ("d" if kind is DocumentKind.INVOICE else "e") * 64, 100, FEED)
        registration = self.registration(SOLD_ABROAD)
        assert registration.documents_missing == missing
        if missing:  # one of the two is still missing: not reviewable, nothing recorded
            assert registration.status == DR
            count = self.events()
            with pytest.raises(TransitionNotAllowed):
                self.app.approve(SOLD_ABROAD, STAFF)
            assert self.events() == count
            return
        assert registration.status == DU
        if approve:
            self.app.approve(SOLD_ABROAD, STAFF)
        else:
            self.app.reject(SOLD_ABROAD, "unreadable", STAFF)

    @rule()
    def payment_run(self) -> None:
        payable = {s for s in self.owner if self.registration(s).status == PP and not self.registration(s).in_payout}
        self.runs += 1
        candidates = [registration_id(CAMPAIGN, s) for s in self.owner]  # as the payment queue lists them
        payouts = self.app.payment_run(candidates, f"run-{self.runs}", SYSTEM)
        paid_now = [line["serial"] for p in payouts for line in p.lines]
        assert sorted(paid_now) == sorted(payable), "every payable device lands in exactly one payout"
        for payout in payouts:
            assert payout.total_cents == sum(line["amount_cents"] for line in payout.lines)
            assert {self.owner[line["serial"]] for line in payout.lines} == {payout.customer_no}
            assert payout.id not in self.payouts
            self.payouts[payout.id] = PayoutModel({line["serial"]: line["amount_cents"] for line in payout.lines})
        for serial in self.owner:
            registration = self.registration(serial)
            assert not (registration.status == PP and not registration.in_payout)

    @precondition(lambda self: bool(self.payouts))
    @rule(data=st.data(), result=st.sampled_from(["confirmed", "failed"]), times=st.integers(1, 2))
    def finance_result(self, data: st.DataObject, result: str, times: int) -> None:
        payout_id = data.draw(st.sampled_from(sorted(self.payouts)))
        payout = self.payouts[payout_id]
        lines = list(payout.amounts)
        serials = data.draw(st.none() | st.lists(st.sampled_from([*lines, UNKNOWN]), unique=True, max_size=3))
        settled_now = [s for s in (lines if serials is None else serials) if s in lines and s not in payout.results]
        for attempt in range(times):
            answer = self.app.settle_payout(
                payout_id, result, FINANCE, reference="REF", reason="bounced", serials=serials  # type: ignore[arg-type]
            )
            assert answer == ("applied" if settled_now and attempt == 0 else "repeat")
        for serial in settled_now:
            payout.results[serial] = result
            registration = self.registration(serial)
            if result == "confirmed":
                assert serial not in self.paid
                self.paid.add(serial)
                assert registration.status == PAID
            else:
                assert (registration.status, registration.payout_id) == (PP, None)

    @rule()
    def unknown_payout(self) -> None:
        before = self.events()
        assert self.app.settle_payout(uuid4(), "confirmed", FINANCE) == "unknown"
        assert self.events() == before

    # invariants
    @invariant()
    def the_overview_shows_the_aggregates_status(self) -> None:
        self.projector.catch_up()
        rows = dict(self.read_db.query("SELECT serial, status FROM overview WHERE is_owner = 1"))
        assert rows == {s: str(self.registration(s).status) for s in self.owner}
        review = {serial for _, serial, _, _ in queries.awaiting_review(self.read_db, CAMPAIGN)}
        assert review == {s for s in self.owner if self.registration(s).status == DU}

    @invariant()
    def each_serial_has_exactly_one_owner(self) -> None:
        for serial in SERIALS:
            registration = self.app.get_registration(serial)
            if serial not in self.owner:
                assert registration is None
                continue
            assert registration is not None
            assert registration.customer_no == self.owner[serial]
            assert self.owner[serial] not in registration.refused_claims
            assert len(set(registration.refused_claims)) == len(registration.refused_claims)
            assert registration.status in STATUSES

    @invariant()
    def a_serial_is_paid_at_most_once(self) -> None:
        paid_devices = set()
        paid_cents = 0
        for serial in self.owner:
            history = self.app.repository.event_store.get(registration_id(CAMPAIGN, serial))
            payments = [e for e in history if isinstance(e, DeviceRegistration.Paid)]
            assert len(payments) <= 1
            if payments:
                paid_devices.add(serial)
                paid_cents += payments[0].amount_cents
        assert paid_devices == self.paid
        confirmed = [
            (serial, payout.amounts[serial])
            for payout in self.payouts.values()
            for serial, result in payout.results.items()
            if result == "confirmed"
        ]
        assert sorted(serial for serial, _ in confirmed) == sorted(paid_devices)  # each paid by one payout line
        assert sum(amount for _, amount in confirmed) == paid_cents

    @invariant()
    def payouts_keep_their_totals(self) -> None:
        for payout_id, model in self.payouts.items():
            payout = self.app.repository.get(payout_id)
            assert payout.total_cents == payout.line_total == sum(model.amounts.values())
            assert payout.line_results == model.results


TestAppMachine = AppMachine.TestCase
TestAppMachine.settings = settings(
    max_examples=80, stateful_step_count=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
