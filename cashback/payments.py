"""Payment run and finance results on top of the application and the payment queue."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Literal
from uuid import UUID

import structlog
from pydantic import ValidationError

from cashback.bootstrap import Engine
from domain.payout import Payout
from domain.provenance import Channel, Provenance
from projections import queries
from schemas.payout import PayoutResultV1, PayoutV1

log = structlog.get_logger(__name__)


def run_payment(engine: Engine, as_of: str | None = None) -> list[Payout]:
    """Pay every PAYMENT_PENDING device not already in a payout (as of a date, if given)."""
    engine.projector().catch_up()
    before = None
    if as_of:
        before = (date.fromisoformat(as_of) + timedelta(days=1)).isoformat()
    candidates = [UUID(r) for r in queries.payment_queue(engine.read_db, engine.terms.id, before)]
    run_id = f"run-{engine.app.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    by = Provenance(actor="payment-run", channel=Channel.SYSTEM, source=run_id)
    payouts = engine.app.payment_run(candidates, run_id, by)
    for payout in payouts:
        log.info(
            "payout_issued",
            payout_id=str(payout.id),
            company=payout.customer_no,
            lines=len(payout.lines),
            total_cents=payout.total_cents,
            run_id=run_id,
        )
    engine.projector().catch_up()
    return payouts


def payout_message(payout: Payout) -> PayoutV1:
    """The message finance receives for a payout: the same as the relay publishes from its Issued event."""
    from workers.payout_relay import message_from_event

    return message_from_event(_IssuedView(payout))


class _IssuedView:
    """A payout seen through the fields of its Issued event."""

    def __init__(self, payout: Payout) -> None:
        self.originator_id = payout.id
        self.run_id = payout.run_id
        self.campaign_id = payout.campaign_id
        self.customer_no = payout.customer_no
        self.currency = payout.currency
        self.total_cents = payout.total_cents
        self.lines = payout.lines
        self.timestamp = payout.created_on


def settle(engine: Engine, result: PayoutResultV1, source: str) -> Literal["applied", "repeat", "unknown"]:
    by = Provenance(actor="finance", channel=Channel.FINANCE, source=source)
    outcome = engine.app.settle_payout(
        result.payout_id, result.result, by, reference=result.reference, reason=result.reason, serials=result.serials
    )
    log.info("payout_result", payout_id=str(result.payout_id), result=result.result, outcome=outcome, source=source)
    return outcome


def settle_file(engine: Engine, path: Path) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if data.get("message_type") == "payout":
                payout = PayoutV1.model_validate(data)
                result = PayoutResultV1(
                    payout_id=payout.payout_id, result="confirmed", reference=f"{path.name}:{number}"
                )
            else:
                result = PayoutResultV1.model_validate(data)
        except (json.JSONDecodeError, ValidationError, AttributeError) as error:
            log.warning("payout_result_invalid", file=str(path), line=number, error=str(error)[:300])
            counts["invalid"] += 1
            continue
        counts[settle(engine, result, f"file:{path.name}:line {number}")] += 1
    engine.projector().catch_up()
    return dict(counts)
