"""`cashback demo`: the main job on the embedded default (SQLite), on the example inputs.

Each step is the real `cashback` command an operator would type, run as its own process on a
fresh data folder with a fixed clock, so the run is reproducible and shows exactly what the
commands print. `make run` calls it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_NOW = "2026-12-01T09:00:00+01:00"
REPO_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _steps(data: Path, examples: Path) -> list[tuple[list[str], Callable[[str], str] | None]]:
    workbook = str(examples / "workbook.xlsx")
    return [
        (["enrol", str(examples / "companies.csv")], None),
        (["ingest", "feed", str(examples / "feed.jsonl")], None),
        (["template", "excel", str(data / "template.xlsx")], None),
        (["ingest", "excel", workbook, "--company", "100000", "--verdicts", str(data / "verdicts.xlsx")],
         _verdict_digest),
        (["ingest", "excel", workbook, "--company", "100000"], _summary_only),  # a re-upload changes nothing
        (["register", "--company", "100037", "--serial", "3 229 477 322", "--type", "stp 10.0-3av-40",
          "--installed-on", "19/05/2026"], None),
        (["register", "--company", "100074", "--serial", "3229477322", "--type", "STP10.0-3AV-40",
          "--installed-on", "2026-05-19"], None),  # a second company claims the same device: refused
        (["status", "--company", "100000", "--limit", "10"], None),
        (["stats"], None),
        (["payment-run", "--out", str(data / "payouts.jsonl")], None),
        (["payouts", "confirm", str(data / "payouts.jsonl")], None),
        (["payment-run"], None),  # nothing left to pay
        (["status", "--company", "100000", "--limit", "0"], None),
        (["stats"], None),
        (["inspect", "parked", "--limit", "5"], None),
        (["inspect", "dead-letters", "--limit", "5"], None),
    ]


def _verdict_digest(out: str) -> str:
    """The first rows, every row that is not a plain success, and the summary."""
    rows = [line for line in out.splitlines() if line.startswith("row ")]
    others = [line for line in out.splitlines() if not line.startswith("row ")]
    notable = [line for line in rows[5:] if "PAYMENT_PENDING" not in line]
    lines = rows[:5]
    if notable:
        lines.append(f"… {len(rows) - 5} more rows; those that are not PAYMENT_PENDING, first 20 of {len(notable)}:")
        lines.extend(notable[:20])
    return "\n".join(lines + others) + "\n"


def _summary_only(out: str) -> str:
    return "\n".join(line for line in out.splitlines() if not line.startswith("row ")) + "\n"


MARKER = ".cashback-demo"
#: What a demo writes (also before the marker existed): such a folder is an earlier demo's.
DEMO_FILES = ("events.sqlite", "overview.sqlite", "payouts.jsonl", "verdicts.xlsx", "template.xlsx")


def refusal(data: Path) -> str | None:
    """Why the demo will not empty this folder: only a missing or empty one, or an earlier demo's."""
    if not data.exists():
        return None
    if not data.is_dir():
        return f"{data} is not a folder"
    made_by_a_demo = (data / MARKER).is_file() or all(p.name.startswith(DEMO_FILES) for p in data.iterdir())
    if not made_by_a_demo:
        return f"{data} is not empty and was not made by `cashback demo`: choose another --data-dir"
    return None


def run_demo(data: Path, examples: Path, now: str, echo: Callable[[str], None] = typer.echo) -> int:
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    (data / MARKER).write_text("made by `cashback demo`: emptied by its next run\n", encoding="utf-8")
    env = {**os.environ, "CASHBACK_STORE": "sqlite", "CASHBACK_DATA_DIR": str(data),
           "CASHBACK_CAMPAIGN_FILE": str(examples / "campaign.toml"),
           "CASHBACK_CATALOG_FILE": str(examples / "catalog.csv")}
    for args, shorten in _steps(data, examples):
        echo(f"\n$ cashback {' '.join(_quoted(args))}")
        code = _run(args, now, env, shorten)
        if code != 0:
            echo(f"demo stopped: `cashback {' '.join(args)}` exited with {code}")
            return code
    echo(f"\ndone: data in {data} (events.sqlite, overview.sqlite, payouts.jsonl, verdicts.xlsx)")
    return 0


def _run(args: Sequence[str], now: str, env: dict[str, str], shorten: Callable[[str], str] | None) -> int:
    command = [sys.executable, "-m", "cashback.cli", "--now", now, *args]
    if shorten is None:  # output and progress straight through
        return subprocess.run(command, env=env, check=False).returncode
    result = subprocess.run(command, env=env, check=False, stdout=subprocess.PIPE, text=True)
    sys.stdout.write(shorten(result.stdout))
    sys.stdout.flush()
    return result.returncode


def _quoted(args: Sequence[str]) -> list[str]:
    return [f'"{a}"' if " " in a else a for a in args]


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    @app.command()
    def demo(
        data_dir: Annotated[Path, typer.Option(help="Data folder: new, empty, or an earlier demo's (emptied first).")
                            ] = Path("var/run"),
        examples: Annotated[Path, typer.Option(help="Folder with campaign.toml, catalog.csv, companies.csv, "
                                                    "feed.jsonl and workbook.xlsx.")] = REPO_EXAMPLES,
        now: Annotated[str, typer.Option("--at", help="The fixed moment the demo acts at.")] = DEFAULT_NOW,
    ) -> None:
        """The main job on the embedded default (SQLite, no server): enrol the example companies,
        ingest the 20,314-record feed and the 627-row workbook (twice: nothing changes), register by
        hand, show an overview and the statistics, pay, confirm, and show the devices PAID.
        The data folder must be new, empty or an earlier demo's: it is emptied first."""
        if not examples.is_dir():
            typer.echo(f"error: --examples {examples} is not a folder", err=True)
            raise typer.Exit(2)
        missing = [n for n in ("campaign.toml", "catalog.csv", "companies.csv", "feed.jsonl", "workbook.xlsx")
                   if not (examples / n).is_file()]
        if missing:
            typer.echo(f"error: {examples} lacks {', '.join(missing)}", err=True)
            raise typer.Exit(2)
        if why := refusal(data_dir):
            typer.echo(f"error: {why}; nothing was changed", err=True)
            raise typer.Exit(2)
        raise typer.Exit(run_demo(data_dir, examples, now))
