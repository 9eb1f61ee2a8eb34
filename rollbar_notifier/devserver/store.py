"""SQLite storage: tokens, items with their occurrences, and deploys.

One connection guarded by a lock: SQLite serialises writers anyway, and a single
connection means no "database is locked" retries and nothing half-written when many
posters arrive at once. WAL mode keeps the file readable by other tools meanwhile.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any, Dict, Iterable, List, Mapping, Optional

from ..contract import LEVELS

DEPLOY_TIMEOUT = 60 * 60

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

_ITEM_COLUMNS = (
    "id, id AS counter, title, level, status, environment, fingerprint, total_occurrences, "
    "first_occurrence_timestamp, last_occurrence_timestamp, last_occurrence_id"
)
_OCCURRENCE_COLUMNS = "id, item_id, uuid, timestamp, level, payload"
_DEPLOY_COLUMNS = (
    "id, environment, revision, status, comment, local_username, rollbar_username, "
    "start_time, finish_time"
)


class Store:
    """All reads and writes of one database file; safe to share between threads."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def tokens(self) -> Dict[str, frozenset[str]]:
        with self._lock:
            rows = self._db.execute("SELECT token, scopes FROM tokens").fetchall()
        return {row["token"]: frozenset(row["scopes"].split(",")) for row in rows}

    def save_tokens(self, tokens: Mapping[str, Iterable[str]]) -> None:
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO tokens (token, scopes) VALUES (?, ?)",
                [(token, ",".join(sorted(scopes))) for token, scopes in tokens.items()],
            )

    def add_occurrence(
        self,
        payload: Mapping[str, Any],
        *,
        uuid: str,
        environment: str,
        fingerprint: str,
        title: str,
        level: str,
        timestamp: int,
    ) -> bool:
        """Store one occurrence under its item; False when the uuid was already stored.

        The item shows its most severe occurrence's level, while each occurrence keeps
        its own, so an `info` repeat of a `critical` error is still listed as `info`.
        """
        with self._lock, self._transaction():
            if self._db.execute("SELECT 1 FROM occurrences WHERE uuid = ?", (uuid,)).fetchone():
                return False
            item = self._db.execute(
                "SELECT id, level FROM items WHERE environment = ? AND fingerprint = ?",
                (environment, fingerprint),
            ).fetchone()
            if item is None:
                item_id = self._insert(
                    "INSERT INTO items (environment, fingerprint, title, level, "
                    "first_occurrence_timestamp, last_occurrence_timestamp) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (environment, fingerprint, title, level, timestamp, timestamp),
                )
                item_level = level
            else:
                item_id = item["id"]
                item_level = max(item["level"], level, key=LEVELS.index)
            occurrence_id = self._insert(
                "INSERT INTO occurrences (item_id, uuid, timestamp, level, payload) "
                "VALUES (?, ?, ?, ?, ?)",
                (item_id, uuid, timestamp, level, json.dumps(payload)),
            )
            self._db.execute(
                "UPDATE items SET total_occurrences = total_occurrences + 1, level = ?, "
                "status = CASE status WHEN 'resolved' THEN 'active' ELSE status END, "
                "first_occurrence_timestamp = MIN(first_occurrence_timestamp, ?), "
                "last_occurrence_timestamp = MAX(last_occurrence_timestamp, ?), "
                "last_occurrence_id = ? WHERE id = ?",
                (item_level, timestamp, timestamp, occurrence_id, item_id),
            )
            return True

    def items(self) -> List[Dict[str, Any]]:
        return self._all(f"SELECT {_ITEM_COLUMNS} FROM items ORDER BY id")

    def item(self, item_id: int) -> Optional[Dict[str, Any]]:
        return self._one(f"SELECT {_ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,))

    def item_by_uuid(self, uuid: str) -> Optional[Dict[str, Any]]:
        return self._one(
            f"SELECT {_ITEM_COLUMNS} FROM items WHERE id = "
            "(SELECT item_id FROM occurrences WHERE uuid = ?)",
            (uuid,),
        )

    def set_item_status(self, item_id: int, status: str) -> Optional[Dict[str, Any]]:
        with self._lock:
            self._db.execute("UPDATE items SET status = ? WHERE id = ?", (status, item_id))
        return self.item(item_id)

    def occurrences(self, item_id: Optional[int] = None) -> List[Dict[str, Any]]:
        """Occurrences oldest first, each with its stored payload decoded."""
        if item_id is None:
            rows = self._all(f"SELECT {_OCCURRENCE_COLUMNS} FROM occurrences ORDER BY id")
        else:
            rows = self._all(
                f"SELECT {_OCCURRENCE_COLUMNS} FROM occurrences WHERE item_id = ? ORDER BY id",
                (item_id,),
            )
        return [_decoded(row) for row in rows]

    def occurrence(self, occurrence_id: int) -> Optional[Dict[str, Any]]:
        row = self._one(
            f"SELECT {_OCCURRENCE_COLUMNS} FROM occurrences WHERE id = ?", (occurrence_id,)
        )
        return None if row is None else _decoded(row)

    def count_occurrences(self) -> int:
        with self._lock:
            count: int = self._db.execute("SELECT COUNT(*) FROM occurrences").fetchone()[0]
        return count

    def add_deploy(self, fields: Mapping[str, Any], now: int) -> int:
        status = fields.get("status") or "succeeded"
        with self._lock, self._transaction():
            return self._insert(
                "INSERT INTO deploys (environment, revision, status, comment, local_username, "
                "rollbar_username, start_time, finish_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (fields["environment"], fields["revision"], status, fields.get("comment"),
                 fields.get("local_username"), fields.get("rollbar_username"), now,
                 None if status == "started" else now),
            )

    def update_deploy(
        self, deploy_id: int, fields: Mapping[str, Any], now: int
    ) -> Optional[Dict[str, Any]]:
        status, comment = fields.get("status"), fields.get("comment")
        with self._lock, self._transaction():
            self._db.execute(
                "UPDATE deploys SET status = COALESCE(?, status), "
                "comment = COALESCE(?, comment), "
                "finish_time = CASE WHEN COALESCE(?, status) = 'started' THEN NULL "
                "ELSE COALESCE(finish_time, ?) END WHERE id = ?",
                (status, comment, status, now, deploy_id),
            )
        return self.deploy(deploy_id, now)

    def deploy(self, deploy_id: int, now: int) -> Optional[Dict[str, Any]]:
        self._time_out_deploys(now)
        return self._one(f"SELECT {_DEPLOY_COLUMNS} FROM deploys WHERE id = ?", (deploy_id,))

    def deploys(self, now: int) -> List[Dict[str, Any]]:
        self._time_out_deploys(now)
        return self._all(f"SELECT {_DEPLOY_COLUMNS} FROM deploys ORDER BY id DESC")

    def _time_out_deploys(self, now: int) -> None:
        """Deploys left `started` expire lazily, when someone looks at them."""
        with self._lock:
            self._db.execute(
                "UPDATE deploys SET status = 'timed_out', finish_time = start_time + ? "
                "WHERE status = 'started' AND start_time <= ?",
                (DEPLOY_TIMEOUT, now - DEPLOY_TIMEOUT),
            )

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


def _decoded(row: Dict[str, Any]) -> Dict[str, Any]:
    row["payload"] = json.loads(row["payload"])
    return row
