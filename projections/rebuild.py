"""Rebuild a projection from zero beside the live one, compare them, and switch atomically.

* ``check``: rebuilds the projection into shadow tables (``OverviewProjection(prefix="shadow_")``,
  the very same logic) up to the live projection's position, then compares every table row by
  row in one snapshot: rows missing from the live tables, extra rows, and rows whose columns
  differ (each column named, with both values). Nothing is skipped. The shadow tables are
  dropped afterwards unless asked to keep them (to look into the differences).
* ``rebuild``: rebuilds into the shadow tables while the portal keeps reading the live ones, then
  in ONE transaction catches the shadow up to the head of the log, drops the live tables, renames
  the shadow tables (and their indexes) into place and sets the live tracking position. The live
  tracking row is locked first, as the projector does, so a projector running at the same time
  waits and then carries on from the new position.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog

from projections.db import ProjectionDB
from projections.overview import TABLES, OverviewProjection, changes_for

log = structlog.get_logger(__name__)

SHADOW = "shadow_"
PROJECTIONS: dict[str, type[OverviewProjection]] = {"overview": OverviewProjection}


@dataclass(frozen=True, slots=True)
class Difference:
    table: str
    kind: str  # missing (in the rebuilt rows, not in the live table), extra, different, schema
    key: dict[str, Any]
    columns: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # column -> (live, rebuilt)

    def line(self) -> str:
        key = ", ".join(f"{k}={v}" for k, v in self.key.items())
        if self.kind == "different":
            cols = "; ".join(f"{c}: live={a!r} rebuilt={b!r}" for c, a, b in
                             ((c, *v) for c, v in self.columns.items()))
            return f"{self.table}: different [{key}] {cols}"
        if self.kind == "schema":
            return f"{self.table}: schema differs: {self.key}"
        return f"{self.table}: {self.kind} [{key}]"

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "kind": self.kind, "key": self.key,
                "columns": {c: {"live": a, "rebuilt": b} for c, (a, b) in self.columns.items()}}


@dataclass
class CheckReport:
    name: str
    position: int
    rows: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)
    kept: int = 10000

    @property
    def ok(self) -> bool:
        return not self.counts

    def add(self, difference: Difference) -> None:
        self.counts[difference.kind] = self.counts.get(difference.kind, 0) + 1
        if len(self.differences) < self.kept:
            self.differences.append(difference)


def _projection(name: str, prefix: str = "") -> OverviewProjection:
    try:
        return PROJECTIONS[name](prefix)
    except KeyError:
        raise ValueError(f"unknown projection {name!r}; known: {', '.join(sorted(PROJECTIONS))}") from None


def _position(cur: Any, name: str, lock: bool = False, dialect: str = "sqlite") -> int:
    cur.execute("INSERT INTO projection_tracking (name, position) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING",
                (name,))
    suffix = " FOR UPDATE" if lock and dialect == "postgres" else ""
    cur.execute(f"SELECT position FROM projection_tracking WHERE name = %s{suffix}", (name,))
    return int(cur.fetchone()[0])


def _advance(app: Any, cur: Any, projection: OverviewProjection, tracking: str, position: int,
             upto: int | None, batch: int, *, batches: int | None = None) -> tuple[int, int]:
    """Project the notifications after ``position`` (up to ``upto``, at most ``batches`` batches) with
    ``cur``; returns (new position, events read)."""
    events = 0
    done = 0
    while batches is None or done < batches:
        notifications = app.recorder.select_notifications(start=position, limit=batch, stop=upto,
                                                          inclusive_of_start=False)
        if not notifications:
            break
        for change in changes_for(projection, [app.mapper.to_domain_event(n) for n in notifications]):
            cur.execute(change.sql, change.params)
        position = notifications[-1].id
        events += len(notifications)
        done += 1
        cur.execute("UPDATE projection_tracking SET position = %s WHERE name = %s", (position, tracking))
        if len(notifications) < batch:
            break
    return position, events


def build_shadow(app: Any, db: ProjectionDB, name: str = "overview", *, upto: int | None = None,
                 batch: int = 1000, progress: Callable[[int], None] | None = None) -> int:
    """Shadow tables rebuilt from zero (up to notification ``upto``, else the head); their position."""
    shadow = _projection(name, SHADOW)
    tracking = SHADOW + shadow.name
    with db.schema_transaction() as cur:
        for table in TABLES:
            cur.execute(f"DROP TABLE IF EXISTS {SHADOW}{table}")
        for statement in shadow.create_statements():
            cur.execute(statement)
        cur.execute("DELETE FROM projection_tracking WHERE name = %s", (tracking,))
        cur.execute("INSERT INTO projection_tracking (name, position) VALUES (%s, 0)", (tracking,))
    position, total = 0, 0
    while True:  # one transaction per batch: the live tables stay free all along
        with db.transaction() as cur:
            position, n = _advance(app, cur, shadow, tracking, position, upto, batch, batches=1)
        total += n
        if progress:
            progress(total)
        if n < batch:
            return position


# --- comparing --------------------------------------------------------------------------------------

def _columns(db: ProjectionDB, cur: Any, table: str) -> tuple[list[str], list[str], set[str]]:
    """(columns, primary key columns, text columns) of a table."""
    if db.dialect == "postgres":
        cur.execute("SELECT column_name, data_type FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position", (table,))
        rows = cur.fetchall()
        columns = [r[0] for r in rows]
        text = {r[0] for r in rows if r[1] in ("text", "character varying", "character")}
        cur.execute("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
                    " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary"
                    " ORDER BY array_position(i.indkey::int2[], a.attnum)", (table,))
        return columns, [r[0] for r in cur.fetchall()], text
    cur.execute(f"PRAGMA table_info({table})")
    rows = cur.fetchall()
    columns = [r[1] for r in rows]
    key = [r[1] for r in sorted((r for r in rows if r[5]), key=lambda r: r[5])]
    return columns, key, {r[1] for r in rows if "TEXT" in str(r[2]).upper()}


def _stream(db: ProjectionDB, cur: Any, statement: str, name: str, batch: int = 2000) -> Iterator[tuple[Any, ...]]:
    if db.dialect == "postgres":
        with cur.connection.cursor(name=name) as server:
            server.itersize = batch
            server.execute(statement)
            while rows := server.fetchmany(batch):
                yield from (tuple(r) for r in rows)
        return
    sqlite_cursor = cur._cursor.connection.cursor()  # a second cursor on the transaction's connection
    sqlite_cursor.execute(statement)
    while rows := sqlite_cursor.fetchmany(batch):
        yield from (tuple(r) for r in rows)
    sqlite_cursor.close()


def _order(db: ProjectionDB, key: list[str], text: set[str]) -> str:
    # Byte order on both sides, so that the merge below agrees with the database's ORDER BY.
    if db.dialect == "postgres":
        return ", ".join(f'{c} COLLATE "C"' if c in text else c for c in key)
    return ", ".join(key)


def _sortable(value: Any) -> tuple[int, Any]:
    return (0, "") if value is None else (1, value)


def compare_table(db: ProjectionDB, cur: Any, table: str, on_difference: Callable[[Difference], None]) -> int:
    """Merge the live and the rebuilt table ordered by primary key; returns the rebuilt rows read."""
    live_columns, key, text = _columns(db, cur, table)
    shadow_columns, shadow_key, _ = _columns(db, cur, SHADOW + table)
    if live_columns != shadow_columns or key != shadow_key:
        on_difference(Difference(table, "schema", {"live": live_columns, "rebuilt": shadow_columns,
                                                   "live_key": key, "rebuilt_key": shadow_key}))
        return 0
    if not key:  # no primary key: compare the whole row
        key = live_columns
    select = ", ".join(live_columns)
    order = _order(db, key, text)
    positions = [live_columns.index(k) for k in key]
    live = _stream(db, cur, f"SELECT {select} FROM {table} ORDER BY {order}", "cmp_live")
    rebuilt = _stream(db, cur, f"SELECT {select} FROM {SHADOW}{table} ORDER BY {order}", "cmp_rebuilt")
    a, b = next(live, None), next(rebuilt, None)
    count = 0

    def key_of(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(_sortable(row[p]) for p in positions)

    def key_dict(row: tuple[Any, ...]) -> dict[str, Any]:
        return {k: row[p] for k, p in zip(key, positions, strict=True)}

    while a is not None or b is not None:
        if b is not None and (a is None or key_of(b) < key_of(a)):
            on_difference(Difference(table, "missing", key_dict(b)))
            b = next(rebuilt, None)
            count += 1
        elif a is not None and (b is None or key_of(a) < key_of(b)):
            on_difference(Difference(table, "extra", key_dict(a)))
            a = next(live, None)
        else:
            assert a is not None and b is not None
            if a != b:
                columns = {c: (x, y) for c, x, y in zip(live_columns, a, b, strict=True) if x != y}
                on_difference(Difference(table, "different", key_dict(b), columns))
            a, b = next(live, None), next(rebuilt, None)
            count += 1
    return count


def drop_shadow(db: ProjectionDB, name: str = "overview") -> None:
    shadow = _projection(name, SHADOW)
    with db.transaction() as cur:
        for table in TABLES:
            cur.execute(f"DROP TABLE IF EXISTS {SHADOW}{table}")
        cur.execute("DELETE FROM projection_tracking WHERE name = %s", (SHADOW + shadow.name,))


def check(app: Any, db: ProjectionDB, name: str = "overview", *, batch: int = 1000,
          progress: Callable[[int], None] | None = None,
          on_difference: Callable[[Difference], None] | None = None, keep_shadow: bool = False) -> CheckReport:
    live = _projection(name)
    tracking = live.name
    with db.schema_transaction() as cur:  # the live tables exist, even on a fresh store
        for statement in live.create_statements():
            cur.execute(statement)
        live_position = _position(cur, tracking)
    shadow_position = build_shadow(app, db, name, upto=live_position, batch=batch, progress=progress)
    shadow = _projection(name, SHADOW)
    with db.transaction() as cur:
        if db.dialect == "postgres":
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        live_position = _position(cur, tracking)
        if live_position > shadow_position:  # the live projection moved on meanwhile: follow it
            shadow_position, _ = _advance(app, cur, shadow, SHADOW + tracking, shadow_position, live_position, batch)
        report = CheckReport(name=name, position=live_position)
        if shadow_position != live_position:
            raise RuntimeError(f"rebuilt projection at {shadow_position}, live at {live_position}: run check again")

        def add(difference: Difference) -> None:
            report.add(difference)
            if on_difference:
                on_difference(difference)

        for table in TABLES:
            report.rows[table] = compare_table(db, cur, table, add)
    if not keep_shadow:
        drop_shadow(db, name)
    return report


# --- switching ------------------------------------------------------------------------------------

def _rename_indexes(db: ProjectionDB, cur: Any, table: str, live: OverviewProjection) -> None:
    if db.dialect == "postgres":
        cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s",
                    (table,))
        for (index,) in cur.fetchall():
            if index.startswith(SHADOW):
                # Renaming a primary key's index renames its constraint too.
                cur.execute(f'ALTER INDEX "{index}" RENAME TO "{index[len(SHADOW):]}"')
        return
    cur.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL", (table,))
    for (index,) in cur.fetchall():
        if index.startswith(SHADOW):
            cur.execute(f'DROP INDEX "{index}"')
    for statement in live.create_statements():  # IF NOT EXISTS: only the live-named indexes are made
        cur.execute(statement)


@dataclass
class RebuildResult:
    name: str
    position: int
    events_in_switch: int
    seconds: float
    switch_seconds: float


def rebuild(app: Any, db: ProjectionDB, name: str = "overview", *, batch: int = 1000,
            progress: Callable[[int], None] | None = None) -> RebuildResult:
    started = time.perf_counter()
    live = _projection(name)
    shadow = _projection(name, SHADOW)
    tracking = live.name
    position = build_shadow(app, db, name, batch=batch, progress=progress)
    switch_started = time.perf_counter()
    with db.transaction() as cur:
        _position(cur, tracking, lock=True, dialect=db.dialect)  # the projector takes this lock first too
        position, late = _advance(app, cur, shadow, SHADOW + tracking, position, None, batch)
        for table in TABLES:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute(f"ALTER TABLE {SHADOW}{table} RENAME TO {table}")
        for table in TABLES:
            _rename_indexes(db, cur, table, live)
        cur.execute("UPDATE projection_tracking SET position = %s WHERE name = %s", (position, tracking))
        cur.execute("DELETE FROM projection_tracking WHERE name = %s", (SHADOW + tracking,))
    switched = time.perf_counter()
    log.info("projection_rebuilt", projection=name, position=position, seconds=round(switched - started, 3),
             switch_seconds=round(switched - switch_started, 4), caught_up_in_switch=late)
    return RebuildResult(name=name, position=position, events_in_switch=late, seconds=switched - started,
                         switch_seconds=switched - switch_started)
