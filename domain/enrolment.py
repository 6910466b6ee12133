"""Company enrolment in a campaign."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from domain.normalise import normalise_customer_no


class Enrolment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_no: Annotated[str, Field(min_length=3, max_length=20)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    contact_email: EmailStr
    enrolled_on: date

    @field_validator("customer_no", mode="before")
    @classmethod
    def _normalise(cls, value: object) -> str:
        return normalise_customer_no(value)
