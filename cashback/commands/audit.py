"""`cashback audit …` (history, verify, export) and `cashback projections …` (check, rebuild): issue #7.

See docs/audit.md.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from cashback.cli_support import State, _settings, engine, fail


class StderrProgress:
    """Progress on stderr: one rewritten line on a terminal, a line every few seconds otherwise."""

    def __init__(self, label: str, total: int | None = None, every: float = 2.0) -> None:
        self.label, self.total, self.every = label, total, every
        self.started = self.last = time.perf_counter()
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last < (0.2 if self.tty else self.every) and done != self.total:
            return
        self.last = now
        rate = done / (now - self.started) if now > self.started else 0.0
        share = f" ({done * 100 // self.total}%)" if self.total else ""
        text = f"{self.label}: {done:,}{f' / {self.total:,}' if self.total else ''} events{share}, {rate:,.0f} events/s"
        sys.stderr.write(("\r" + text) if self.tty else (text + "\n"))
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def _key() -> bytes:
    from adapters import chain

    key = _settings().audit_key.get_secret_value().encode("utf-8")
    if chain.is_development_key(key):
        typer.secho("warning: CASHBACK_AUDIT_KEY is not set: chains are sealed and checked with the public "
                    "development key, which anyone can use to forge them. Production must set its own key.",
                    fg="yellow", err=True)
    return key


def _expected_heads(path: Path) -> dict[str, tuple[int, str]]:
    """The manifest's chain heads; a file that is no manifest is a usage error (exit 2), not tampering (exit 1)."""
    from cashback.audit_chain import load_heads

    try:
        return load_heads(path)
    except ValueError as error:
        fail(f"{path} is not an audit manifest ({error})")


def _campaign(eng: object, campaign: str | None) -> str:
    return campaign or eng.terms.id  # type: ignore[attr-defined]


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    audit = typer.Typer(help="For auditors: device history, state as of any moment, tamper evidence, export.",
                        no_args_is_help=True)
    projections = typer.Typer(help="Read models: check them against a rebuild from zero, rebuild them.",
                              no_args_is_help=True)
    app.add_typer(audit, name="audit")
    app.add_typer(projections, name="projections")
    groups["audit"] = audit
    groups["projections"] = projections

    @audit.command("history")
    def audit_history(
        serial: Annotated[str, typer.Argument(help="The device's serial number.")],
        campaign: Annotated[Optional[str], typer.Option(help="Campaign id (default: the configured campaign).")] = None,
        as_of: Annotated[Optional[str], typer.Option(
            "--as-of", help="Show the state at this moment: ISO datetime (no offset: campaign time zone) or "
                            "date (its end).")] = None,
        output: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
        payouts: Annotated[bool, typer.Option(help="Include the events of the device's payouts.")] = True,
    ) -> None:
        """Every event of a device in order (time, kind, actor, channel, source, status after), replayed from
        the event store; with --as-of, the state at that moment rebuilt from the events up to it."""
        from cashback.audit import device_history, parse_moment, render_csv, render_json, render_table
        from domain.normalise import InvalidSerial

        if output not in ("table", "json", "csv"):
            fail("--format must be table, json or csv")
        with engine() as eng:
            moment = None
            if as_of:
                try:
                    moment = parse_moment(as_of, eng.terms.timezone)
                except ValueError:
                    fail(f"--as-of {as_of!r} is not an ISO date or datetime")
            try:
                history = device_history(eng.app, serial, campaign_id=_campaign(eng, campaign), as_of=moment,
                                         payouts=payouts)
            except InvalidSerial as error:
                fail(f"serial: {error}")
        if history is None:
            fail(f"device {serial} has no events in campaign {_campaign(eng, campaign)}", code=1)
        render = {"table": render_table, "json": render_json, "csv": render_csv}[output]
        typer.echo(render(history), nl=output == "json")

    @audit.command("verify")
    def audit_verify(
        serial: Annotated[Optional[str], typer.Option(help="Only this device's chain.")] = None,
        campaign: Annotated[Optional[str], typer.Option(help="Campaign of --serial (default: configured).")] = None,
        heads: Annotated[Optional[Path], typer.Option(
            help="An export's manifest.json (or its folder): also detect newest events or aggregates removed since.",
        )] = None,
        output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
        batch: Annotated[int, typer.Option(help="Rows fetched per round trip.")] = 5000,
    ) -> None:
        """Walk every aggregate's hash chain; report edited, deleted, reordered, inserted events. Exit 1 if any."""
        from adapters.chain import originator_text
        from cashback.audit_chain import Finding, verify
        from cashback.event_rows import count_events, stream_events
        from domain.ids import registration_id
        from domain.normalise import normalise_serial

        key = _key()
        expected_heads = _expected_heads(heads) if heads else None
        with engine() as eng:
            rid = None
            if serial:
                rid = registration_id(_campaign(eng, campaign), normalise_serial(serial))
                if expected_heads is not None:
                    expected_heads = {k: v for k, v in expected_heads.items() if k == originator_text(rid)}
            total = None if rid else count_events(eng.app.recorder)
            progress = StderrProgress("verify", total)
            on_finding: Callable[[Finding], None] | None = (
                (lambda f: typer.echo(f.line())) if output == "text" else None
            )
            rows = stream_events(eng.app.recorder, "aggregate", batch=batch, originator_id=rid)
            report = verify(rows, key, heads=expected_heads, on_finding=on_finding, progress=progress)
            progress.close()
        if output == "json":
            typer.echo(json.dumps(report.as_dict(), indent=2))
        else:
            verdict = "OK" if report.ok else (
                f"{sum(report.counts.values())} problem(s): "
                + ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())))
            typer.echo(f"verified {report.events:,} events of {report.aggregates:,} aggregates in "
                       f"{report.seconds:.2f} s ({report.rate:,.0f} events/s): {verdict}")
        if not report.ok:
            raise typer.Exit(1)

    @audit.command("export")
    def audit_export(
        out_dir: Annotated[Path, typer.Argument(help="Folder to write events.csv, events.jsonl, manifest.json.")],
        campaign: Annotated[Optional[str], typer.Option(help="Campaign id (default: the configured campaign).")] = None,
    ) -> None:
        """Every event of the campaign as CSV and JSON Lines, with manifest.json (counts, times, sha256,
        chain heads)."""
        from cashback.audit_export import export

        key = _key()
        with engine() as eng:
            result = export(eng.app.recorder, _campaign(eng, campaign), out_dir, key, now=State.clock.now())
        manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
        typer.echo(f"exported {result.events:,} events of {result.aggregates:,} aggregates to {out_dir}")
        if result.events == 0:
            fail(f"no event belongs to campaign {manifest['campaign_id']}", code=1)
        for name, info in manifest["files"].items():
            typer.echo(f"  {name:<14} {info['bytes']:>12,} bytes  sha256 {info['sha256']}")
        typer.echo(f"  manifest.json  {manifest['chain_heads']['count']:,} chain heads, "
                   f"digest {manifest['chain_heads']['digest']}")

    @projections.command("check")
    def projections_check(
        names: Annotated[Optional[list[str]], typer.Argument(help="Projections to check (default: all).")] = None,
        output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
        keep_shadow: Annotated[bool, typer.Option(help="Keep the shadow_ tables to look into differences.")] = False,
    ) -> None:
        """Rebuild each projection from zero into shadow tables and compare with the live ones, row by row.
        Exit 1 when anything differs."""
        from projections.rebuild import PROJECTIONS, check

        reports = []
        with engine() as eng:
            for name in names or sorted(PROJECTIONS):
                if name not in PROJECTIONS:
                    fail(f"unknown projection {name!r}; known: {', '.join(sorted(PROJECTIONS))}")
                progress = StderrProgress(f"rebuild {name} (shadow)")
                report = check(eng.app, eng.read_db, name, progress=progress, keep_shadow=keep_shadow,
                               on_difference=(lambda d: typer.echo(d.line())) if output == "text" else None)
                progress.close()
                reports.append(report)
        bad = [r for r in reports if not r.ok]
        if output == "json":
            typer.echo(json.dumps([{"name": r.name, "position": r.position, "ok": r.ok, "rows": r.rows,
                                    "counts": r.counts, "differences": [d.as_dict() for d in r.differences]}
                                   for r in reports], indent=2, default=str))
        else:
            for r in reports:
                rows = ", ".join(f"{t} {n:,} rows" for t, n in r.rows.items())
                verdict = "same as a rebuild from zero" if r.ok else (
                    "DIFFERS: " + ", ".join(f"{k} {v}" for k, v in sorted(r.counts.items())))
                typer.echo(f"projection {r.name} at position {r.position:,} ({rows}): {verdict}")
        if bad:
            raise typer.Exit(1)

    @projections.command("rebuild")
    def projections_rebuild(name: Annotated[str, typer.Argument(help="The projection, e.g. overview.")]) -> None:
        """Rebuild into shadow tables while the live ones keep serving, then switch them in one transaction."""
        from projections.rebuild import PROJECTIONS, rebuild

        if name not in PROJECTIONS:
            fail(f"unknown projection {name!r}; known: {', '.join(sorted(PROJECTIONS))}")
        with engine() as eng:
            progress = StderrProgress(f"rebuild {name}")
            result = rebuild(eng.app, eng.read_db, name, progress=progress)
            progress.close()
        typer.echo(f"projection {name} rebuilt up to position {result.position:,} in {result.seconds:.2f} s; "
                   f"switched in {result.switch_seconds * 1000:.0f} ms ({result.events_in_switch} late events)")
