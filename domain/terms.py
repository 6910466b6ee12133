"""Campaign terms: the rules of one cashback campaign, validated.

Loaded from a TOML campaign file by an adapter; nothing campaign-specific
lives in code.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from functools import cached_property
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.normalise import normalise_device_type


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    COMMISSIONING_REPORT = "commissioning_report"


class RuleKind(StrEnum):
    """What a documents rule tests. Parameters live in the campaign file."""

    SOLD_IN_OTHER_COUNTRY = "sold_in_other_country"
    PRODUCED_BEFORE = "produced_before"
    INSTALLED_LONG_AFTER_PRODUCTION = "installed_long_after_production"
    DEVICE_TYPE_IN = "device_type_in"


class DocumentsRule(BaseModel):
    """A condition that sends a device to DOCS_REQUIRED with the documents it needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{2,40}$")]
    kind: RuleKind
    documents: Annotated[tuple[DocumentKind, ...], Field(min_length=1)]
    before: date | None = None
    days: Annotated[int, Field(gt=0)] | None = None
    device_types: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _parameters_match_kind(self) -> DocumentsRule:
        if self.kind is RuleKind.PRODUCED_BEFORE and self.before is None:
            raise ValueError(f"rule {self.code}: kind produced_before needs 'before'")
        if self.kind is RuleKind.INSTALLED_LONG_AFTER_PRODUCTION and self.days is None:
            raise ValueError(f"rule {self.code}: kind installed_long_after_production needs 'days'")
        if self.kind is RuleKind.DEVICE_TYPE_IN and not self.device_types:
            raise ValueError(f"rule {self.code}: kind device_type_in needs 'device_types'")
        return self


class EligibleType(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    device_type: str
    category: str
    amount_cents: Annotated[int, Field(gt=0)]

    @field_validator("device_type")
    @classmethod
    def _normalise(cls, value: str) -> str:
        normalised = normalise_device_type(value)
        if not normalised:
            raise ValueError("device_type is empty")
        return normalised


class CampaignTerms(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{2,63}$")]
    name: str
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"
    installation_from: date
    installation_to: date
    registration_deadline: date
    document_window_days: Annotated[int, Field(gt=0, le=365)] = 14
    timezone: str = "Europe/Paris"
    eligible_types: Annotated[tuple[EligibleType, ...], Field(min_length=1)]
    documents_rules: tuple[DocumentsRule, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {value!r} is not a known IANA time zone (e.g. Europe/Paris)") from None
        return value

    @model_validator(mode="after")
    def _dates_in_order(self) -> CampaignTerms:
        if self.installation_to < self.installation_from:
            raise ValueError("installation_to is before installation_from")
        if self.registration_deadline < self.installation_from:
            raise ValueError("registration_deadline is before installation_from")
        seen: set[str] = set()
        for eligible in self.eligible_types:
            if eligible.device_type in seen:
                raise ValueError(f"device type {eligible.device_type} listed twice")
            seen.add(eligible.device_type)
        return self

    def eligible(self, device_type: str) -> EligibleType | None:
        return self._by_type.get(normalise_device_type(device_type))

    @cached_property
    def _by_type(self) -> dict[str, EligibleType]:
        return {eligible.device_type: eligible for eligible in self.eligible_types}

    def amount_for(self, device_type: str) -> int | None:
        eligible = self.eligible(device_type)
        return eligible.amount_cents if eligible else None
