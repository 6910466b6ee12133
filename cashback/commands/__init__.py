"""Command modules: each defines ``register(app, groups)`` adding its subcommands to the `cashback`
command; ``groups`` holds the shared sub-commands by name ("worker", "payouts", "ingest", ...).

Modules are discovered, so a capability adds its commands without editing the CLI's core.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer


def register_all(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        importlib.import_module(f"{__name__}.{module.name}").register(app, groups)
