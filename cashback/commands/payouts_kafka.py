"""Payouts over Kafka: the relay to finance and the finance results consumer."""

from __future__ import annotations

import typer

from cashback.cli_support import _settings, engine


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    worker = groups["worker"]

    @worker.command("payouts")
    def worker_payouts() -> None:
        """Publish issued payouts to the finance topic (transactional outbox; finance de-duplicates on event_id)."""
        from adapters.kafka_clients import ensure_topics, reliable_producer
        from workers.payout_relay import PayoutRelay
        from workers.signals import stop_on_signals

        stop = stop_on_signals()
        s = _settings()
        def connect() -> object:  # called by the relay, again after each failure: it starts without Kafka
            ensure_topics(s.kafka_bootstrap, {s.payout_topic: 4})
            return reliable_producer(s.kafka_bootstrap, "cashback-payout-relay", max_block_ms=10_000)

        with engine() as eng:
            relay = PayoutRelay(eng.app, eng.read_db, connect, s.payout_topic)
            relay.follow(stop)
        typer.echo(f"payout relay stopped: {relay.published} payouts published")

    @worker.command("finance-results")
    def worker_finance_results() -> None:
        """Apply finance's confirmations and failures; offsets stored with the events."""
        from adapters.kafka_clients import ensure_topics, feed_consumer
        from workers.finance_results import FinanceResultsWorker
        from workers.signals import stop_on_signals

        stop = stop_on_signals()
        s = _settings()
        with engine() as eng:
            ensure_topics(s.kafka_bootstrap, {s.results_topic: 1})
            consumer = feed_consumer(s.kafka_bootstrap, f"{s.feed_group}-finance-results", 200,
                                     client_id="cashback-finance")
            counts = FinanceResultsWorker(eng.app, consumer, s.results_topic).run(stop)
        typer.echo("finance results worker stopped: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
