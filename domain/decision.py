"""The decision: is the cashback owed for this device, on these terms, today?"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import NamedTuple

from domain.catalog import CatalogEntry
from domain.enrolment import Enrolment
from domain.normalise import normalise_device_type
from domain.statuses import Reason, Status
from domain.terms import CampaignTerms, DocumentKind, DocumentsRule, RuleKind


class RegistrationRequest(NamedTuple):
    """What a channel asks for, already normalised by the channel's parser (an immutable value; a named
    tuple: the feed builds one per record)."""

    serial: str
    device_type: str
    installed_on: date
    customer_no: str


@dataclass(frozen=True, slots=True)
class Decision:
    status: Status
    amount_cents: int = 0
    reason: Reason | None = None
    doc_reasons: tuple[str, ...] = ()
    documents: tuple[DocumentKind, ...] = field(default_factory=tuple)

    @classmethod
    def rejected(cls, reason: Reason) -> Decision:
        return cls(status=Status.REJECTED, reason=reason)


def decide(
    request: RegistrationRequest,
    entry: CatalogEntry | None,
    terms: CampaignTerms,
    enrolment: Enrolment | None,
    today: date,
) -> Decision:
    """PAYMENT_PENDING with an amount, DOCS_REQUIRED with reasons, or REJECTED."""
    if enrolment is None or enrolment.enrolled_on > today:
        return Decision.rejected(Reason.COMPANY_NOT_ENROLLED)
    if today > terms.registration_deadline:
        return Decision.rejected(Reason.REGISTERED_LATE)
    if entry is None:
        return Decision.rejected(Reason.UNKNOWN_SERIAL)
    if normalise_device_type(request.device_type) != entry.device_type:
        return Decision.rejected(Reason.TYPE_MISMATCH)
    eligible = terms.eligible(entry.device_type)
    if eligible is None:
        return Decision.rejected(Reason.TYPE_NOT_ELIGIBLE)
    if not (terms.installation_from <= request.installed_on <= terms.installation_to):
        return Decision.rejected(Reason.OUTSIDE_VALIDITY_PERIOD)
    if request.installed_on > today:
        return Decision.rejected(Reason.INSTALLED_IN_FUTURE)
    if request.installed_on < entry.production_date:
        return Decision.rejected(Reason.OUTSIDE_VALIDITY_PERIOD)

    triggered = [rule for rule in terms.documents_rules if _applies(rule, request, entry, terms)]
    if triggered:
        documents: list[DocumentKind] = []
        for rule in triggered:
            documents.extend(d for d in rule.documents if d not in documents)
        return Decision(
            status=Status.DOCS_REQUIRED,
            amount_cents=eligible.amount_cents,
            doc_reasons=tuple(rule.code for rule in triggered),
            documents=tuple(documents),
        )
    return _payable(eligible.amount_cents)


@lru_cache(maxsize=256)
def _payable(amount_cents: int) -> Decision:
    # A decision is an immutable value: the feed's bulk shares one per amount instead of building one per device.
    return Decision(status=Status.PAYMENT_PENDING, amount_cents=amount_cents)


def _applies(
    rule: DocumentsRule, request: RegistrationRequest, entry: CatalogEntry, terms: CampaignTerms
) -> bool:
    match rule.kind:
        case RuleKind.SOLD_IN_OTHER_COUNTRY:
            return entry.country_of_sale != terms.country
        case RuleKind.PRODUCED_BEFORE:
            assert rule.before is not None
            return entry.production_date < rule.before
        case RuleKind.INSTALLED_LONG_AFTER_PRODUCTION:
            assert rule.days is not None
            return (request.installed_on - entry.production_date).days > rule.days
        case RuleKind.DEVICE_TYPE_IN:
            wanted = {normalise_device_type(t) for t in rule.device_types}
            return entry.device_type in wanted
    return False  # pragma: no cover - exhaustive match
