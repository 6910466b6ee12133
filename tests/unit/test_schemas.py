"""The committed JSON Schemas in schemas/ are what the models produce (regenerate: make schemas)."""

from __future__ import annotations

import json

import pytest

from schemas.registry import MODELS, SCHEMA_DIR, render


@pytest.mark.parametrize("filename", sorted(MODELS))
def test_committed_schema_matches_the_model(filename: str) -> None:
    committed = (SCHEMA_DIR / filename).read_text(encoding="utf-8")
    assert committed == render(MODELS[filename]), f"{filename} drifted from its model: run `make schemas`"


def test_every_schema_file_belongs_to_a_model() -> None:
    on_disk = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert on_disk == set(MODELS)


def test_feed_schema_carries_its_version() -> None:
    schema = json.loads((SCHEMA_DIR / "feed-record.v1.json").read_text(encoding="utf-8"))
    assert schema["properties"]["schema_version"]["const"] == 1
    assert "serial" in schema["required"]
