"""Every boundary model and the file its JSON Schema is committed to."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.excel import ExcelRowV1
from schemas.feed import FeedRecordV1
from schemas.payout import PayoutResultV1, PayoutV1

MODELS: dict[str, type[BaseModel]] = {
    "feed-record.v1.json": FeedRecordV1,
    "payout.v1.json": PayoutV1,
    "payout-result.v1.json": PayoutResultV1,
    "excel-row.v1.json": ExcelRowV1,
}

SCHEMA_DIR = Path(__file__).parent


def render(model: type[BaseModel]) -> str:
    return json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    written = []
    for name, model in MODELS.items():
        path = directory / name
        path.write_text(render(model), encoding="utf-8")
        written.append(path)
    return written
