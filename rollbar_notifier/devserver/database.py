"""The SQLite file itself: opening it, its schema, bringing an older file up to date, and
the locked, transactional access every query goes through.

One connection guarded by a lock: SQLite serialises writers anyway, and a single
connection means no "database is locked" retries and nothing half-written when many
posters arrive at once. WAL mode keeps the file readable by other tools meanwhile.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from .summary import summarize

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    scopes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    environment TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    title TEXT NOT NULL,
    level TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    total_occurrences INTEGER NOT NULL DEFAULT 0,
    first_occurrence_timestamp INTEGER NOT NULL,
    last_occurrence_timestamp INTEGER NOT NULL,
    last_occurrence_id INTEGER,
    UNIQUE (environment, fingerprint)
);
CREATE TABLE IF NOT EXISTS occurrences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id INTEGER NOT NULL REFERENCES items (id),
    uuid TEXT NOT NULL UNIQUE,
    timestamp INTEGER NOT NULL,
    level TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS occurrences_by_item ON occurrences (item_id, id);
CREATE TABLE IF NOT EXISTS deploys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    environment TEXT NOT NULL,
    revision TEXT NOT NULL,
    status TEXT NOT NULL,
    comment TEXT,
    local_username TEXT,
    rollbar_username TEXT,
    start_time INTEGER NOT NULL,
    finish_time INTEGER
);
"""

_ADDED_COLUMNS: Mapping[str, Sequence[str]] = {
    "items": ("framework", "message"),
    "occurrences": ("number", "location", "code_version", "host"),
}
"""Columns added after the first release; an older database gets them on open."""


class StoreError(Exception):
    """The database file cannot be opened or used; the message names the file and why."""


class Database:
    """One database file, opened and brought up to date; safe to share between threads.

    `Store` adds the queries; this class only owns the connection and its lock.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as error:
            raise StoreError(f"cannot open the database {path}: {error}") from None
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
            self._upgrade()
        except sqlite3.Error as error:
            self._db.close()
            raise StoreError(f"cannot use the database {path}: {error}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _upgrade(self) -> None:
        """Add the newer columns to an older database and fill them from the payloads,
        one occurrence at a time so a large database does not have to fit in memory."""
        missing = [(table, column) for table, columns in _ADDED_COLUMNS.items()
                   for column in columns if column not in self._columns(table)]
        if not missing:
            return
        with self._transaction():
            for table, column in missing:
                kind = "INTEGER" if column == "number" else "TEXT"
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            last = 0
            while True:
                row = self._db.execute(
                    "SELECT id, item_id, payload FROM occurrences WHERE id > ? ORDER BY id "
                    "LIMIT 1", (last,)).fetchone()
                if row is None:
                    break
                last = row["id"]
                summary = summarize(decoded(dict(row))["payload"].get("data"))
                self._db.execute(
                    "UPDATE occurrences SET number = (SELECT COUNT(*) FROM occurrences "
                    "WHERE item_id = ? AND id <= ?), location = ?, code_version = ?, host = ? "
                    "WHERE id = ?",
                    (row["item_id"], last, summary["location"], summary["code_version"],
                     summary["host"], last))
                self._db.execute("UPDATE items SET framework = ?, message = ? WHERE id = ?",
                                 (summary["framework"], summary["message"], row["item_id"]))

    def _columns(self, table: str) -> List[str]:
        return [row["name"] for row in self._db.execute(f"PRAGMA table_info({table})")]

    def _transaction(self) -> sqlite3.Connection:
        """`with` on the connection commits or rolls back; BEGIN IMMEDIATE takes the write lock."""
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def _insert(self, sql: str, args: Iterable[Any]) -> int:
        row_id = self._db.execute(sql, tuple(args)).lastrowid
        assert row_id is not None
        return row_id

    def _all(self, sql: str, args: Iterable[Any] = ()) -> List[Dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(sql, tuple(args)).fetchall()
        return [dict(row) for row in rows]

    def _one(self, sql: str, args: Iterable[Any]) -> Optional[Dict[str, Any]]:
        rows = self._all(sql, args)
        return rows[0] if rows else None

    def _count(self, sql: str, args: Iterable[Any] = ()) -> int:
        with self._lock:
            count: int = self._db.execute(sql, tuple(args)).fetchone()[0]
        return count


def decoded(row: Dict[str, Any]) -> Dict[str, Any]:
    """`row` with its payload decoded. A number JSON cannot carry (`NaN`, `Infinity`,
    stored before ingestion refused them) comes back as that word in a string, so every
    answer built from it is valid JSON."""
    row["payload"] = json.loads(row["payload"], parse_constant=str)
    return row
