"""What every command module shares: settings read once, the engine, errors, money."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from cashback.bootstrap import Engine, build
from cashback.clock import Clock, SystemClock
from cashback.settings import Settings


class State:
    clock: Clock = SystemClock()
    settings: Settings | None = None


def _settings() -> Settings:
    if State.settings is None:
        State.settings = Settings()
    return State.settings


@contextmanager
def engine() -> Iterator[Engine]:
    built = build(_settings(), clock=State.clock)
    try:
        yield built
    finally:
        built.close()


def fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


def money(cents: int) -> str:
    return f"{cents / 100:,.2f}".replace(",", " ").replace(".", ",") + " €"


