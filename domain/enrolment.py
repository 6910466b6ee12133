"""Company enrolment in a campaign."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from domain.normalise import normalise_customer_no


def _email(value: str) -> str:
    """pydantic's ``EmailStr`` check and normalisation, with email-validator loaded at the first
    address checked rather than when this module is imported (25 ms of every command's start)."""
    from pydantic.networks import validate_email

    return validate_email(value)[1]


Email = Annotated[str, AfterValidator(_email), WithJsonSchema({"type": "string", "format": "email"})]


class Enrolment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_no: Annotated[str, Field(min_length=3, max_length=20)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    contact_email: Email
    enrolled_on: date

    @field_validator("customer_no", mode="before")
    @classmethod
    def _normalise(cls, value: object) -> str:
        return normalise_customer_no(value)
