"""Generate the realistic example inputs in examples/ (deterministic: same seed, same files).

python scripts/make_examples.py [--devices 30000] [--feed 20000]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

TYPES = ["SB3.0-1AV-41", "SB5.0-1AV-41", "STP10.0-3AV-40", "SBS3.7-10", "HM-20", "EVC22-3AC-10", "SI4.4M-13"]
NEWER_TYPES = ["STP8.0-3SE-40", "SBH5.0-1AV-10", "HS-9.8", "HS-6.5"]  # hybrid inverters, batteries
FAMILY_DEVICES = 200
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FIRST_NAMES = ["Solaire", "Soleil", "Photon", "Énergie", "Lumière", "Helio", "Toit", "Volt"]
CITIES = ["Lyon", "Nantes", "Lille", "Bordeaux", "Toulouse", "Rennes", "Dijon", "Nice", "Tours", "Metz"]


def serial_for(rng: random.Random) -> str:
    return str(rng.randint(3000000000, 3999999999))


def make(devices: int, feed: int, seed: int = 2026) -> None:
    rng = random.Random(seed)
    companies = []
    for i in range(60):
        customer_no = f"{100000 + i * 37}"
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(CITIES)} SARL {i}"
        companies.append(
            (customer_no, name, f"contact{i}@installateur{i}.example", date(2026, 2, 1) + timedelta(days=i))
        )
    with (EXAMPLES / "companies.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_no", "name", "contact_email", "enrolled_on"])
        for c in companies[:50]:  # the last ten are not enrolled: their feed records are parked
            writer.writerow([c[0], c[1], c[2], c[3].isoformat()])

    seen: set[str] = set()

    def older(rng: random.Random, serial: str) -> tuple[str, str, date, str]:
        produced = date(2024, 6, 1) + timedelta(days=rng.randint(0, 600))
        country = "FR" if rng.random() > 0.04 else rng.choice(["DE", "ES", "IT", "BE"])
        return (serial, rng.choice(TYPES), produced, country)

    catalog = devices_of(rng, seen, devices, older)
    catalog.extend(newer_families(seen, FAMILY_DEVICES))  # own generator: the rows above stay as they were
    with (EXAMPLES / "catalog.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["serial", "device_type", "production_date", "country_of_sale"])
        for row in catalog:
            writer.writerow([row[0], row[1], row[2].isoformat(), row[3]])

    lines: list[str] = []
    for n in range(feed):
        serial, dtype, produced, _ = catalog[n % len(catalog)]
        company = rng.choice(companies)
        installed = max(produced, date(2026, 3, 1)) + timedelta(days=rng.randint(0, 200))
        installed = min(installed, date(2026, 11, 30))
        record = {
            "schema_version": 1,
            "serial": serial,
            "device_type": dtype,
            "customer_no": company[0],
            "installed_on": installed.isoformat(),
            "plant_id": f"PLANT-{rng.randint(1, 999999):06d}",
            "reported_at": "2026-12-01T02:00:00+00:00",
        }
        roll = rng.random()
        if roll < 0.01:
            record["serial"] = serial[:-1] + str((int(serial[-1]) + 1) % 10) + "9"  # typo: unknown serial
        elif roll < 0.02:
            record["device_type"] = rng.choice([t for t in TYPES if t != dtype])  # serial and type do not match
        elif roll < 0.03:
            record["installed_on"] = "2025-12-15"  # outside the validity period
        elif roll < 0.04:
            record["serial"] = f"{serial[:3]} {serial[3:6]}-{serial[6:]}"  # blanks and dashes
            record["device_type"] = dtype.replace(".", ". ", 1).lower()
        if rng.random() < 0.008:
            lines.append(
                rng.choice(
                    [
                        '{"schema_version": 1, "serial": ',
                        "not json at all",
                        json.dumps({**record, "schema_version": 7}),
                        json.dumps({k: v for k, v in record.items() if k != "customer_no"}),
                    ]
                )
            )
            continue
        lines.append(json.dumps(record, ensure_ascii=False))
        if rng.random() < 0.01:  # the portal republishes the same device the next day
            lines.append(json.dumps(record, ensure_ascii=False))
        if rng.random() < 0.005:  # another company claims the same serial
            lines.append(json.dumps({**record, "customer_no": rng.choice(companies[:50])[0]}))
    (EXAMPLES / "feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    feed_owners = {}
    for line in lines:
        try:
            record = json.loads(line)
            feed_owners.setdefault(record["serial"], record["customer_no"])
        except (ValueError, KeyError, TypeError):
            continue
    make_workbook(catalog[25000:25032], rng, more=catalog[25032:25400] + catalog[devices:],
                  from_feed=[row for row in catalog[:400] if row[0] in feed_owners])


Device = tuple[str, str, date, str]


def devices_of(
    rng: random.Random, seen: set[str], count: int, make: Callable[[random.Random, str], Device]
) -> list[Device]:
    """``count`` catalog rows with serials not seen before (``seen`` grows)."""
    rows: list[Device] = []
    while len(rows) < count:
        serial = serial_for(rng)
        if serial in seen:
            continue
        seen.add(serial)
        rows.append(make(rng, serial))
    return rows


def newer_families(seen: set[str], count: int) -> list[Device]:
    """Hybrid inverters and batteries, from a generator of their own (the older rows do not move)."""

    def newer(rng: random.Random, serial: str) -> Device:
        produced = date(2025, 1, 15) + timedelta(days=rng.randint(0, 300))
        return (serial, rng.choice(NEWER_TYPES), produced, "FR" if rng.random() > 0.03 else "BE")

    return devices_of(random.Random(20260901), seen, count, newer)


def make_workbook(
    devices: list[tuple[str, str, date, str]],
    rng: random.Random,
    more: list[tuple[str, str, date, str]],
    from_feed: list[tuple[str, str, date, str]],
) -> None:
    """A workbook as installers really fill it: numbers, text dates, blanks, mistakes.

    Rows 2-36 are a small hand-made sample (the e2e tests name their rows); the rows after them
    are the bulk: devices of every family, with typos, wrong types, installations outside the
    period, blank rows, and devices that also came through the portal feed."""
    from datetime import datetime

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Appareils"
    ws.append(["Numéro de série", "Type d'appareil", "Date d'installation", "Référence chantier"])
    for i, (serial, dtype, produced, _) in enumerate(devices[:30]):
        installed = max(produced, date(2026, 3, 1)) + timedelta(days=rng.randint(0, 150))
        serial_cell: object = int(serial) if i % 3 == 0 else f" {serial[:4]} {serial[4:]} "
        date_cell: object = (
            datetime(installed.year, installed.month, installed.day) if i % 2 else installed.strftime("%d/%m/%Y")
        )
        ws.append([serial_cell, dtype, date_cell, f"Chantier {i + 1}"])
        if i == 10:
            ws.append([None, None, None, None])  # a blank row in the middle
    ws.append(["3999999999", "SB3.0-1AV-41", "12/05/2026", "faute de frappe"])  # unknown serial
    ws.append([devices[30][0], devices[30][1], "31/02/2026", "date impossible"])
    ws.append([devices[1][0], devices[1][1], "01/06/2026", "doublon"])
    ws.append([devices[31][0], "HM-20" if devices[31][1] != "HM-20" else "SB3.0-1AV-41", "01/06/2026", "mauvais type"])
    bulk = [(row, "") for row in more] + [(row, "aussi dans le flux du portail") for row in from_feed[:25]]
    rng.shuffle(bulk)
    all_types = TYPES[:-1] + NEWER_TYPES
    for i, ((serial, dtype, produced, _), note) in enumerate(bulk):
        installed = max(produced, date(2026, 3, 1)) + timedelta(days=rng.randint(0, 150))
        roll = rng.random()
        if roll < 0.02:
            serial, note = serial[:-2] + serial[-1] + serial[-2], "chiffres inversés"
        elif roll < 0.04:
            dtype, note = rng.choice([t for t in all_types if t != dtype]), "type d'un autre appareil"
        elif roll < 0.06:
            installed, note = date(2026, 1, rng.randint(5, 28)), "installé avant la campagne"
        serial_cell: object = int(serial) if i % 4 == 0 else (f"{serial[:5]} {serial[5:]}" if i % 4 == 1 else serial)
        type_cell = f" {dtype.lower()} " if i % 7 == 0 else dtype
        date_cell: object = (
            datetime(installed.year, installed.month, installed.day) if i % 3 else installed.strftime("%d/%m/%Y")
        )
        ws.append([serial_cell, type_cell, date_cell, note or f"Chantier {i + 37}"])
        if i % 97 == 50:
            ws.append([None, None, None, None])
    wb.save(EXAMPLES / "workbook.xlsx")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=30000)
    parser.add_argument("--feed", type=int, default=20000)
    args = parser.parse_args()
    make(args.devices, args.feed)


if __name__ == "__main__":
    main()
