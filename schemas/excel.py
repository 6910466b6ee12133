"""One row of the campaign's Excel template, after cell clean-up."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]

#: Column headers of the template, in order (French, as the installers see them).
HEADERS: tuple[str, ...] = ("Numéro de série", "Type d'appareil", "Date d'installation", "Référence chantier")


class ExcelRowV1(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, title="ExcelRowV1")

    serial: Text
    device_type: Text
    installed_on: date
    site_reference: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
