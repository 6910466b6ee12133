"""The one `cashback` command. Thin: parse arguments, build the engine, call the application."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from cashback import __version__
from cashback.cli_support import State, _settings, engine, fail, money
from cashback.clock import FixedClock
from cashback.commands import register_all
from cashback.logging import configure

app = typer.Typer(
    help="Cashback status engine: registrations, documents, payouts, audit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
ingest_app = typer.Typer(help="Bring registrations in from files.", no_args_is_help=True)
template_app = typer.Typer(help="Write templates for installers.", no_args_is_help=True)
payouts_app = typer.Typer(help="Payouts to finance and their results.", no_args_is_help=True)
worker_app = typer.Typer(help="Long-running workers (restartable at any moment).", no_args_is_help=True)
schemas_app = typer.Typer(help="JSON Schemas of the boundary messages.", no_args_is_help=True)
inspect_app = typer.Typer(help="What operations look at: parked and dead-lettered records.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(template_app, name="template")
app.add_typer(payouts_app, name="payouts")
app.add_typer(worker_app, name="worker")
app.add_typer(schemas_app, name="schemas")
app.add_typer(inspect_app, name="inspect")
feed_app = typer.Typer(help="The portal feed on Kafka.", no_args_is_help=True)
app.add_typer(feed_app, name="feed")


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def main_options(
    now: Annotated[
        Optional[str], typer.Option(help="Act as if it were this moment (ISO date or datetime); for replays and demos.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING.")] = "WARNING",
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    configure(log_level)
    if now is not None:
        try:
            moment = datetime.fromisoformat(now.strip())
        except ValueError:
            fail(f"--now {now!r} is not an ISO date or datetime (e.g. 2026-12-01 or 2026-12-01T09:00:00+01:00)")
        if moment.tzinfo is None:
            moment = moment.replace(hour=moment.hour or 12, tzinfo=UTC)
        State.clock = FixedClock(moment)


def _devices(count: int) -> str:
    return f"{count} device" if count == 1 else f"{count} devices"


def _progress(label: str, total: int | None = None):  # type: ignore[no-untyped-def]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
        console=__import__("rich.console").console.Console(stderr=True),
    )


# --- companies ---------------------------------------------------------------------


@app.command()
def enrol(
    file: Annotated[Optional[Path], typer.Argument(help="CSV: customer_no,name,contact_email,enrolled_on")] = None,
    customer_no: Annotated[Optional[str], typer.Option(help="Enrol one company: its customer number.")] = None,
    name: Annotated[Optional[str], typer.Option()] = None,
    email: Annotated[Optional[str], typer.Option()] = None,
    enrolled_on: Annotated[Optional[str], typer.Option(help="ISO date; default today.")] = None,
) -> None:
    """Enrol companies in the campaign (a CSV file, or one with the options)."""
    from pydantic import ValidationError

    from adapters.companies_csv import CompaniesFileError, load_companies
    from domain.enrolment import Enrolment
    from domain.provenance import Channel, Provenance

    with engine() as eng:
        if file is not None:
            try:
                enrolments = load_companies(file)
            except (CompaniesFileError, FileNotFoundError) as error:
                fail(str(error))
        elif customer_no and name and email:
            try:
                enrolments = [
                    Enrolment(
                        customer_no=customer_no,
                        name=name,
                        contact_email=email,
                        enrolled_on=enrolled_on or eng.app.today(),
                    )
                ]
            except ValidationError as error:
                fail("; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors()))
        else:
            fail("give a CSV file, or --customer-no, --name and --email")
        by = Provenance(actor="cli", channel=Channel.STAFF, source=str(file or "cli"))
        new, updated, unchanged = eng.app.enrol(enrolments, by)
        typer.echo(f"enrolled: {new} new, {updated} updated, {unchanged} unchanged")


# --- intake ----------------------------------------------------------------------------


def _check_feed_text(file: Path) -> None:
    from cashback.intake import NotJsonLines, check_text_file

    try:
        check_text_file(file)
    except NotJsonLines as error:
        fail(f"{file} is not a JSON Lines text file ({error}); nothing was published")


@ingest_app.command("feed")
def ingest_feed(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines, one portal record per line.")],
) -> None:
    """Register the devices of a feed file (same records as the portal's Kafka topic)."""
    from cashback.intake import NotJsonLines, ingest_feed_file

    with engine() as eng, _progress("feed") as bar:
        total = sum(1 for _ in file.open("rb"))  # every line, blank ones too: the report counts them all
        task = bar.add_task("feed", total=total)
        try:
            report = ingest_feed_file(
                eng.app, file, eng.settings.batch_size, progress=lambda n: bar.update(task, completed=n)
            )
        except NotJsonLines as error:
            fail(f"{file} is not a JSON Lines text file ({error}); nothing was stored")
        bar.update(task, completed=total)
    c = report.counts
    typer.echo(
        f"lines read: {report.lines}\n"
        f"  registered:     {c['registered']}\n"
        f"  duplicates:     {c['duplicates']}\n"
        f"  claims refused: {c['claims_refused']}  (serial already registered by another company)\n"
        f"  parked:         {c['parked']}  (customer number not enrolled)\n"
        f"  dead-lettered:  {c['dead_lettered']}  (see `cashback inspect dead-letters`)\n"
        f"  blank lines skipped: {c['blank']}"
    )
    if report.accounted != report.lines:
        fail(f"counts do not add up: {report.accounted} accounted for {report.lines} lines", code=3)


def _cannot_create(path: Path) -> str | None:
    """Open the file for writing as the real write will (permissions, read-only places, /proc and /sys
    alike); a file made only for the check is removed again."""
    existed = path.exists()
    try:
        with path.open("ab"):
            pass
    except OSError as error:
        return error.strerror or str(error)
    if not existed:
        path.unlink(missing_ok=True)
    return None


def _check_verdicts_path(verdicts: Path, workbook: Path) -> None:
    """Before any row is ingested: verdicts that could not be written would leave the installer without them."""
    why = None
    if verdicts.exists() and verdicts.samefile(workbook):
        why = "it is the workbook being ingested, which would be overwritten"
    elif verdicts.is_dir():
        why = "it is a folder"
    elif not verdicts.parent.is_dir():
        why = f"folder {verdicts.parent} does not exist"
    else:
        why = _cannot_create(verdicts)
    if why:
        fail(f"--verdicts {verdicts}: cannot write there ({why}); nothing was ingested")


@ingest_app.command("excel")
def ingest_excel(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Workbook made from the campaign template.")
    ],
    company: Annotated[str, typer.Option(help="Customer number of the installer uploading it.")],
    verdicts: Annotated[Optional[Path], typer.Option(help="Write the verdicts to this .xlsx or .csv file.")] = None,
) -> None:
    """Register a workbook: every row gets a verdict; good rows go through when others are bad."""
    from adapters.excel import WorkbookError
    from cashback.excel_intake import ingest_workbook

    if verdicts:
        _check_verdicts_path(verdicts, file)
    with engine() as eng:
        try:
            result = ingest_workbook(eng.app, file.read_bytes(), company, actor=f"cli:{company}",
                                     language=eng.settings.language)
        except WorkbookError as error:
            fail(f"{file}: {error}")
        except PermissionError as error:
            fail(str(error))
    for v in result.verdicts:
        typer.echo(f"row {v.row_number:>5}  {v.serial or '-':<16} {v.status:<16} {v.reason or ''} {v.message}")
    typer.echo(result.summary())
    if verdicts:
        from adapters.excel import write_verdicts

        write_verdicts(verdicts, result.verdicts, language=eng.settings.language)
        typer.echo(f"verdicts written to {verdicts}")


@template_app.command("excel")
def template_excel(out: Annotated[Path, typer.Argument(help="Where to write the .xlsx template.")]) -> None:
    """Write the campaign's workbook template (French headers, instructions sheet)."""
    from adapters.campaign_file import load_terms
    from adapters.excel import write_template

    write_template(out, load_terms(_settings().campaign_file))
    typer.echo(f"template written to {out}")


@app.command()
def register(
    company: Annotated[str, typer.Option(help="Customer number of the installer.")],
    serial: Annotated[str, typer.Option()],
    device_type: Annotated[str, typer.Option("--type", help="Device type, e.g. SB3.0-1AV-41.")],
    installed_on: Annotated[str, typer.Option(help="Installation date, YYYY-MM-DD or DD/MM/YYYY.")],
) -> None:
    """Register one device by hand."""
    from cashback.intake import register_one
    from cashback.requests import RequestError, build_request
    from domain.provenance import Channel

    try:
        request = build_request(serial=serial, device_type=device_type, installed_on=installed_on, customer_no=company)
    except RequestError as error:
        fail(str(error))
    with engine() as eng:
        outcome = register_one(
            eng.app, request, actor=f"cli:{company}", channel=Channel.MANUAL, source=f"cli:{uuid.uuid4()}"
        )
        eng.projector().catch_up()
    if outcome.kind == "not_enrolled":
        fail(f"company {company} is not enrolled in campaign {eng.terms.id}")
    typer.echo(f"{outcome.serial}: {outcome.kind} {outcome.status or ''} {outcome.reason or ''}".rstrip())


# --- read side -----------------------------------------------------------------------------


@app.command()
def project() -> None:
    """Bring the projections up to date (the projector worker does this continuously)."""
    with engine() as eng:
        n = eng.projector().catch_up()
        typer.echo(f"projected {n} events")


@app.command()
def status(
    company: Annotated[str, typer.Option(help="Customer number.")],
    status_filter: Annotated[Optional[str], typer.Option("--status", help="Only this status code.")] = None,
    limit: Annotated[int, typer.Option(min=0, help="Rows to print (0 = totals only).")] = 20,
    output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """The status overview of a company, with totals."""
    from domain.normalise import normalise_customer_no
    from domain.statuses import Status
    from projections import queries

    if status_filter and status_filter.upper() not in Status.__members__:
        fail(f"--status must be one of {', '.join(Status.__members__)}")
    status_filter = status_filter.upper() if status_filter else None
    if output not in ("table", "json"):
        fail("--format must be table or json")
    customer_no = normalise_customer_no(company)
    with engine() as eng:
        if customer_no not in eng.app.enrolments():
            typer.secho(f"note: company {customer_no} is not enrolled in campaign {eng.terms.id}", err=True)
        eng.projector().catch_up()
        lang = eng.settings.language
        rows = queries.overview(eng.read_db, eng.terms.id, customer_no, status=status_filter, limit=limit)
        totals = queries.totals(eng.read_db, eng.terms.id, customer_no)
    if output == "json":
        typer.echo(
            json.dumps(
                {
                    "company": customer_no,
                    "collected_cents": totals.collected_cents,
                    "pending_cents": totals.pending_cents,
                    "count_by_status": totals.count_by_status,
                    "rows": [r.as_dict(lang) for r in rows],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    typer.echo(
        f"company {customer_no}: {_devices(totals.count)} — collected {money(totals.collected_cents)}, "
        f"pending {money(totals.pending_cents)}"
    )
    for code, n in sorted(totals.count_by_status.items()):
        typer.echo(f"  {code:<16} {n}")
    for r in rows:
        typer.echo(
            f"{r.serial:<14} {r.device_type:<15} {r.status:<16} {money(r.amount_cents):>10}  {r.label(lang)}"
            + (f"  [{r.reason_text(lang)}]" if r.reason else "")
            + (f"  deadline {r.deadline}" if r.deadline else "")
        )


@app.command()
def stats() -> None:
    """Campaign statistics: counts and amounts by status."""
    from projections import queries

    with engine() as eng:
        eng.projector().catch_up()
        totals = queries.totals(eng.read_db, eng.terms.id)
    typer.echo(
        f"campaign {eng.terms.id}: {_devices(totals.count)}; collected {money(totals.collected_cents)}, "
        f"pending {money(totals.pending_cents)}"
    )
    for code, n in sorted(totals.count_by_status.items()):
        typer.echo(f"  {code:<16} {n}")


Limit = Annotated[int, typer.Option(min=0, help="Rows to print.")]


@inspect_app.command("parked")
def inspect_parked(limit: Limit = 20) -> None:
    """Feed records for customer numbers that are not enrolled (never registered by themselves)."""
    with engine() as eng:
        rec = eng.app.recorder
        total = rec.fetch_all("SELECT customer_no, COUNT(*) FROM cashback_parked GROUP BY customer_no ORDER BY 2 DESC")  # type: ignore[attr-defined]
    typer.echo(f"parked records: {sum(n for _, n in total)} from {len(total)} customer numbers")
    for customer_no, n in total[:limit]:
        typer.echo(f"  {customer_no:<12} {n}")


@inspect_app.command("dead-letters")
def inspect_dead_letters(limit: Limit = 20) -> None:
    """Records that could not be read, with where they came from and why."""
    with engine() as eng:
        rows = eng.app.recorder.fetch_all(  # type: ignore[attr-defined]
            "SELECT source, position, reason FROM cashback_dead_letters ORDER BY received_at LIMIT %s", (limit,)
        )
        n = eng.app.recorder.fetch_all("SELECT COUNT(*) FROM cashback_dead_letters")[0][0]  # type: ignore[attr-defined]
    typer.echo(f"dead letters: {n}")
    for source, position, reason in rows:
        typer.echo(f"  {source} @ {position}: {reason}")


# --- payouts ----------------------------------------------------------------------------------


@app.command("payment-run")
def payment_run(
    as_of: Annotated[Optional[str], typer.Option(help="Pay devices payable before the end of this date (ISO).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write the payout messages (JSON Lines) here.")] = None,
) -> None:
    """Turn PAYMENT_PENDING devices into one payout per company.

    On Kafka deployments `cashback worker payouts` publishes the payouts; without Kafka, `--out`
    (or later `cashback payouts export`) writes the messages for finance."""
    from cashback.payments import payout_message, run_payment

    if as_of:
        try:
            date.fromisoformat(as_of)
        except ValueError:
            fail(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)")
    handle = None
    if out:
        try:  # before the run: a file that cannot be written must not leave payouts without messages
            handle = out.open("a", encoding="utf-8")
        except OSError as error:
            fail(f"--out {out}: cannot write there ({error.strerror}); no payment run was made")
    with engine() as eng:
        payouts = run_payment(eng, as_of=as_of)
        if handle is not None:
            with handle:
                for payout in payouts:
                    handle.write(payout_message(payout).model_dump_json() + "\n")
    total = sum(p.total_cents for p in payouts)
    typer.echo(f"payouts issued: {len(payouts)}, devices: {sum(len(p.lines) for p in payouts)}, total {money(total)}")
    if out and payouts:
        typer.echo(f"payout messages appended to {out}")


@payouts_app.command("export")
def payouts_export(
    out: Annotated[Path, typer.Argument(help="JSON Lines file of payout messages (overwritten).")],
    state: Annotated[str, typer.Option(help="issued, confirmed, failed, partially_settled or all.")] = "issued",
) -> None:
    """Write the payout messages of payouts in a state (default: issued, i.e. still unanswered) for finance."""
    from uuid import UUID

    from cashback.payments import payout_message
    from projections import queries

    states = ("issued", "confirmed", "failed", "partially_settled", "all")
    if state not in states:
        fail(f"--state must be one of {', '.join(states)}")
    with engine() as eng:
        eng.projector().catch_up()
        rows = queries.payouts(eng.read_db, eng.terms.id, None if state == "all" else state)
        try:
            with out.open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(payout_message(eng.app.repository.get(UUID(str(row[0])))).model_dump_json() + "\n")
        except OSError as error:
            fail(f"{out}: cannot write there ({error.strerror})")
    typer.echo(f"{len(rows)} payout messages written to {out}")


@payouts_app.command("confirm")
def payouts_confirm(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Payout messages or finance results (JSON Lines).")
    ],
) -> None:
    """Apply finance's answers: a payouts file confirms each payout in it; a results file confirms or fails."""
    from cashback.payments import settle_file

    with engine() as eng:
        try:  # the file is read whole before any line is applied
            counts = settle_file(eng, file)
        except UnicodeDecodeError as error:
            fail(f"{file} is not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8; "
                 "nothing was applied")
    if not counts:
        fail(f"{file} holds no payout messages or results")
    labels = {"applied": "applied", "repeat": "already answered (no money changed)",
              "unknown": "unknown payouts (kept as dead letters)", "invalid": "unreadable lines"}
    typer.echo(", ".join(f"{labels.get(k, k)}: {v}" for k, v in counts.items()))
    if counts.get("invalid"):
        fail(f"{counts['invalid']} lines of {file} could not be read and were not applied "
             "(line numbers and reasons: the payout_result_invalid warnings above)", code=3)
    if counts.get("unknown"):
        fail(f"{counts['unknown']} results name a payout this campaign never issued", code=3)


@payouts_app.command("list")
def payouts_list(
    state: Annotated[Optional[str], typer.Option(help="issued, confirmed, failed or partially_settled")] = None,
) -> None:
    """Payouts with their state and totals."""
    from projections import queries

    if state and state not in ("issued", "confirmed", "failed", "partially_settled"):
        fail("--state must be one of issued, confirmed, failed, partially_settled")

    with engine() as eng:
        eng.projector().catch_up()
        rows = queries.payouts(eng.read_db, eng.terms.id, state)
    for payout_id, _run_id, customer_no, _currency, total, lines, st, issued_at in rows:
        typer.echo(f"{payout_id}  {customer_no:<10} {lines:>5} lines {money(int(total)):>14} {st:<10} {issued_at}")


# --- workers ----------------------------------------------------------------------------------


@worker_app.command("projector")
def worker_projector() -> None:
    """Keep the projections up to date until SIGTERM/SIGINT."""
    from workers.signals import stop_on_signals

    with engine() as eng:
        eng.projector().follow(stop_on_signals())


@worker_app.command("feed")
def worker_feed(
    group: Annotated[Optional[str], typer.Option(help="Consumer group (default from settings).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Records per transaction.")] = None,
) -> None:
    """Consume the portal topic; events and offsets of every partition in one transaction."""
    from adapters.kafka_clients import ensure_topics, feed_source
    from cashback.bootstrap import dead_letter_sender, feed_writer
    from workers.feed import FeedWorker
    from workers.heap import freeze_startup_heap
    from workers.signals import stop_on_signals

    stop = stop_on_signals()
    s = _settings()
    size = batch_size or s.batch_size
    writer = feed_writer(s)  # forked first: before anything connects
    source = None
    try:
        ensure_topics(s.kafka_bootstrap, {s.feed_topic: 4, s.feed_dead_letter_topic: 1})
        source = feed_source(s.kafka_bootstrap, group or s.feed_group)
        source.subscribe([s.feed_topic])  # joins the group while the engine is being built
        with engine() as eng:
            freeze_startup_heap()
            worker = FeedWorker(
                eng.app,
                source,
                s.feed_topic,
                send_dead_letters=dead_letter_sender(s),
                batch_size=size,
                writer=writer,
            )
            stats = worker.run(stop)
    finally:
        if source is not None:
            source.close()  # already closed by the worker when it ran
        if writer is not None:
            writer.close()
    typer.echo(
        f"feed worker stopped: {stats.records} records in {stats.batches} batches; "
        f"registered {stats.registered}, duplicates {stats.duplicates}, parked {stats.parked}, "
        f"dead-lettered {stats.dead_lettered}"
    )


@feed_app.command("status")
def feed_status() -> None:
    """Per partition: offset stored in the database, end offset in Kafka, lag."""
    from adapters.kafka_clients import feed_consumer
    from workers.feed import feed_lag
    from workers.offsets import OffsetsBeyondTopic, beyond_end

    s = _settings()
    with engine() as eng:
        consumer = feed_consumer(s.kafka_bootstrap, s.feed_group + "-status", 1, client_id="cashback-feed-status")
        try:
            rows = feed_lag(eng.app, consumer, s.feed_topic)
        finally:
            consumer.close(autocommit=False)
    if not rows:
        typer.echo(f"topic {s.feed_topic}: no such topic (yet); nothing consumed")
        return
    typer.echo(f"topic {s.feed_topic}")
    typer.echo(f"{'partition':>9} {'stored':>10} {'end':>10} {'lag':>8}")
    beyond = beyond_end({p: st for p, st, _, _ in rows if st >= 0}, {p: end for p, _, end, _ in rows})
    for partition, stored, end, lag in rows:
        note = "  <- stored past the end: topic recreated?" if partition in beyond else ""
        typer.echo(f"{partition:>9} {stored:>10} {end:>10} {lag:>8}{note}")
    typer.echo(f"total lag: {sum(r[3] for r in rows)}")
    if beyond:
        typer.secho(str(OffsetsBeyondTopic(s.feed_topic, beyond)), fg="red", err=True)
        raise typer.Exit(1)


@feed_app.command("reset-offsets")
def feed_reset_offsets(
    yes: Annotated[bool, typer.Option("--yes", help="Really forget them.")] = False,
) -> None:
    """Forget the feed topic's stored positions (after the topic was made again): the next worker reads it
    from the beginning; registrations already stored are recognised as duplicates."""
    from workers.offsets import tracking_prefix

    s = _settings()
    if not yes:
        typer.secho("error: this forgets where the feed worker is; stop the workers first and add --yes",
                    fg="red", err=True)
        raise typer.Exit(2)
    with engine() as eng:
        removed = eng.app.recorder.forget_trackings(tracking_prefix(s.feed_topic))  # type: ignore[attr-defined]
    typer.echo(f"topic {s.feed_topic}: {removed} stored position(s) forgotten")


@feed_app.command("produce")
def feed_produce(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines of feed records.")],
) -> None:
    """Publish a JSON Lines file to the portal topic (key = serial), as the portal would."""
    from adapters.kafka_clients import ensure_topics, reliable_producer

    _check_feed_text(file)
    s = _settings()
    ensure_topics(s.kafka_bootstrap, {s.feed_topic: 4})
    producer = reliable_producer(s.kafka_bootstrap, "cashback-feed-producer")
    n = 0
    for line in file.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            key = str(json.loads(line).get("serial", "")).encode()
        except (ValueError, AttributeError):
            key = None
        producer.send(s.feed_topic, key=key, value=line)
        n += 1
    producer.flush()
    producer.close()
    typer.echo(f"produced {n} records to {s.feed_topic}")


# --- schemas ------------------------------------------------------------------------------------


@schemas_app.command("write")
def schemas_write() -> None:
    """Regenerate the committed JSON Schema files in schemas/."""
    from schemas.registry import write_all

    for path in write_all():
        typer.echo(f"wrote {path}")


register_all(
    app,
    {
        "ingest": ingest_app,
        "template": template_app,
        "payouts": payouts_app,
        "worker": worker_app,
        "schemas": schemas_app,
        "inspect": inspect_app,
        "feed": feed_app,
    },
)


def main() -> None:
    """Run the command; expected failures (bad files, refused commands) end with a clear message, not a traceback."""
    from adapters.campaign_file import CampaignFileError
    from adapters.catalog_csv import CatalogFileError
    from adapters.companies_csv import CompaniesFileError
    from adapters.kafka_clients import TopicsUnavailable
    from domain.errors import DomainError
    from workers.feed_writer import WriterFailed
    from workers.offsets import OffsetsBeyondTopic

    try:
        app()  # usage errors are handled by typer; what escapes it is ours to explain
    except KeyboardInterrupt:
        sys.exit(130)
    except (CampaignFileError, CatalogFileError, CompaniesFileError, DomainError) as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        sys.exit(2)
    except UnicodeDecodeError as error:
        typer.secho(f"error: a file is not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8",
                    fg="red", err=True)
        sys.exit(2)
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        typer.secho(f"error:{where}: {error.strerror or error}", fg="red", err=True)
        sys.exit(2)
    except OffsetsBeyondTopic as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        sys.exit(2)
    except WriterFailed as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        sys.exit(4)
    except TopicsUnavailable as error:
        typer.secho(f"error: {error}; is the broker up (CASHBACK_KAFKA_BOOTSTRAP)?", fg="red", err=True)
        sys.exit(3)
    except Exception as error:
        kafka_errors = sys.modules.get("kafka.errors")  # loaded only by the commands that talk to Kafka
        if kafka_errors is None or not isinstance(error, kafka_errors.KafkaTimeoutError):
            raise
        typer.secho(f"error: Kafka does not answer at CASHBACK_KAFKA_BOOTSTRAP ({error}); is the broker up?",
                    fg="red", err=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
