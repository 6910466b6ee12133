"""Example consumer for finance: read payouts, de-duplicate by event id, print a remittance
summary per company, and (with --confirm or --fail) publish the results back.

    python examples/finance_consumer.py --bootstrap 127.0.0.1:59092 [--confirm | --fail REASON]

The contract (schemas/payout.v1.json): each payout message carries a stable `event_id` (also in
the Kafka header `event_id`). The cashback engine may publish the same payout twice after a
crash; a consumer keeps the ids it has processed (here in a JSON file) and skips repeats.
Depends only on kafka-python, not on the cashback code.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default="127.0.0.1:59092")
    parser.add_argument("--payouts-topic", default="cashback.payouts.v1")
    parser.add_argument("--results-topic", default="finance.payout-results.v1")
    parser.add_argument("--group", default="finance-example")
    parser.add_argument("--seen", type=Path, default=Path("finance-seen.json"), help="processed event ids")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--confirm", action="store_true", help="confirm every new payout")
    action.add_argument("--fail", metavar="REASON", help="fail every new payout with this reason")
    parser.add_argument("--idle-ms", type=int, default=5000, help="stop after this long without messages")
    args = parser.parse_args()

    seen: set[str] = set(json.loads(args.seen.read_text())) if args.seen.exists() else set()
    consumer = KafkaConsumer(args.payouts_topic, bootstrap_servers=args.bootstrap, group_id=args.group,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=args.idle_ms)
    producer = KafkaProducer(bootstrap_servers=args.bootstrap, acks="all") if (args.confirm or args.fail) else None
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # company -> payouts, lines, cents
    new = repeats = 0
    for message in consumer:
        payout = json.loads(message.value)
        if payout["event_id"] in seen:
            repeats += 1
            continue
        new += 1
        company = totals[payout["customer_no"]]
        company[0] += 1
        company[1] += len(payout["lines"])
        company[2] += payout["total_cents"]
        if producer is not None:
            result = {"schema_version": 1, "message_type": "payout_result", "payout_id": payout["payout_id"],
                      "result": "confirmed" if args.confirm else "failed",
                      "reference": f"VIR-{payout['payout_id'][:8]}", "reason": args.fail or ""}
            producer.send(args.results_topic, key=payout["customer_no"].encode(), value=json.dumps(result).encode())
        seen.add(payout["event_id"])
    if producer is not None:
        producer.flush()
    consumer.commit()
    consumer.close()
    args.seen.write_text(json.dumps(sorted(seen)))
    print(f"payouts: {new} new, {repeats} repeats skipped")
    print(f"{'company':<10} {'payouts':>7} {'lines':>7} {'amount':>14}")
    for customer_no, (payouts, lines, cents) in sorted(totals.items()):
        print(f"{customer_no:<10} {payouts:>7} {lines:>7} {cents / 100:>12,.2f} €")
    if producer is not None:
        print(f"{'confirmed' if args.confirm else 'failed'}: {new} payouts sent to {args.results_topic}")


if __name__ == "__main__":
    main()
