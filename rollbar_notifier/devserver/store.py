"""SQLite storage: tokens, items with their occurrences, and deploys.

The queries only: the file, its schema and its upgrades are `database`'s.
Every list is read a page at a time, and only the API's instances decode payloads, one
row at a time: memory follows the page size, not what senders stored.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from ..contract import LEVELS
from .database import Database, StoreError, decoded
from .summary import summarize

__all__ = ["DEPLOY_TIMEOUT", "ItemFilter", "Store", "StoreError"]

DEPLOY_TIMEOUT = 60 * 60

_ITEM_COLUMNS = (
    "id, id AS counter, title, level, status, environment, fingerprint, total_occurrences, "
    "first_occurrence_timestamp, last_occurrence_timestamp, last_occurrence_id"
)
_OCCURRENCE_COLUMNS = "id, item_id, uuid, timestamp, level"
_LISTED_OCCURRENCE_COLUMNS = f"{_OCCURRENCE_COLUMNS}, number, location, code_version, host"
_DEPLOY_COLUMNS = (
    "id, environment, revision, status, comment, local_username, rollbar_username, "
    "start_time, finish_time"
)
_FEED_SELECT = (
    "SELECT o.id, o.item_id, i.id AS counter, o.number, i.total_occurrences, o.uuid, "
    "o.timestamp, o.level, i.environment, i.title, i.status, o.location "
    "FROM occurrences o JOIN items i ON i.id = o.item_id"
)


@dataclasses.dataclass(frozen=True)
class ItemFilter:
    """Which items a list shows; None matches everything."""

    environment: Optional[str] = None
    level: Optional[str] = None
    status: Optional[str] = None
    framework: Optional[str] = None
    text: Optional[str] = None
    """Matched anywhere in the title or the message, ignoring ASCII case."""

    def where(self) -> Tuple[str, List[Any]]:
        clauses: List[str] = []
        args: List[Any] = []
        for column in ("environment", "level", "status", "framework"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if self.text:
            pattern = "%" + self.text.replace("\\", "\\\\").replace("%", "\\%").replace(
                "_", "\\_") + "%"
            clauses.append("(title LIKE ? ESCAPE '\\' OR message LIKE ? ESCAPE '\\')")
            args += [pattern, pattern]
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


class Store(Database):
    """All reads and writes of one database file; safe to share between threads."""

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
    ) -> Optional[int]:
        """Store one occurrence under its item; its id, or None when the uuid was already stored.

        The item shows its most severe occurrence's level, while each occurrence keeps
        its own, so an `info` repeat of a `critical` error is still listed as `info`.
        A resolved item becomes active again, as on Rollbar; a muted one stays muted.
        """
        summary = summarize(payload.get("data"))
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        with self._lock, self._transaction():
            if self._db.execute("SELECT 1 FROM occurrences WHERE uuid = ?", (uuid,)).fetchone():
                return None
            item = self._db.execute(
                "SELECT id, level, total_occurrences FROM items "
                "WHERE environment = ? AND fingerprint = ?",
                (environment, fingerprint),
            ).fetchone()
            if item is None:
                item_id = self._insert(
                    "INSERT INTO items (environment, fingerprint, title, level, "
                    "first_occurrence_timestamp, last_occurrence_timestamp) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (environment, fingerprint, title, level, timestamp, timestamp),
                )
                item_level, number = level, 1
            else:
                item_id = item["id"]
                item_level = max(item["level"], level, key=LEVELS.index)
                number = item["total_occurrences"] + 1
            occurrence_id = self._insert(
                "INSERT INTO occurrences (item_id, uuid, timestamp, level, payload, number, "
                "location, code_version, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (item_id, uuid, timestamp, level, text, number, summary["location"],
                 summary["code_version"], summary["host"]),
            )
            self._db.execute(
                "UPDATE items SET total_occurrences = ?, level = ?, "
                "status = CASE status WHEN 'resolved' THEN 'active' ELSE status END, "
                "first_occurrence_timestamp = MIN(first_occurrence_timestamp, ?), "
                "last_occurrence_timestamp = MAX(last_occurrence_timestamp, ?), "
                "last_occurrence_id = ?, framework = ?, message = ? WHERE id = ?",
                (number, item_level, timestamp, timestamp, occurrence_id,
                 summary["framework"], summary["message"], item_id),
            )
            return occurrence_id

    def items(
        self,
        where: ItemFilter = ItemFilter(),
        *,
        offset: int = 0,
        limit: int = -1,
        newest_first: bool = False,
    ) -> List[Dict[str, Any]]:
        """Oldest first (by id), or most recently seen first."""
        clause, args = where.where()
        order = "last_occurrence_timestamp DESC, id DESC" if newest_first else "id"
        return self._all(
            f"SELECT {_ITEM_COLUMNS} FROM items{clause} ORDER BY {order} LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )

    def count_items(self, where: ItemFilter = ItemFilter()) -> int:
        clause, args = where.where()
        return self._count(f"SELECT COUNT(*) FROM items{clause}", args)

    def item_choices(self) -> Dict[str, List[str]]:
        """The environments and frameworks items have, for the page's filters."""
        return {
            column: [row[column] for row in self._all(
                f"SELECT DISTINCT {column} FROM items WHERE {column} IS NOT NULL "
                f"ORDER BY {column}")]
            for column in ("environment", "framework")
        }

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
        """Every occurrence oldest first, each with its stored payload decoded.

        For tests and small databases: it holds all payloads at once.
        """
        where, args = ("", ()) if item_id is None else (" WHERE item_id = ?", (item_id,))
        rows = self._all(f"SELECT {_OCCURRENCE_COLUMNS}, payload FROM occurrences{where} "
                         "ORDER BY id", args)
        return [decoded(row) for row in rows]

    def occurrence_ids(self, item_id: int, *, offset: int, limit: int) -> List[int]:
        """A page of an item's occurrence ids, oldest first: the caller reads the
        payloads one at a time."""
        rows = self._all("SELECT id FROM occurrences WHERE item_id = ? ORDER BY id "
                         "LIMIT ? OFFSET ?", (item_id, limit, offset))
        return [row["id"] for row in rows]

    def occurrence_list(self, item_id: int, *, offset: int, limit: int) -> List[Dict[str, Any]]:
        """A page of an item's occurrences newest first, without payloads."""
        return self._all(
            f"SELECT {_LISTED_OCCURRENCE_COLUMNS} FROM occurrences WHERE item_id = ? "
            "ORDER BY id DESC LIMIT ? OFFSET ?",
            (item_id, limit, offset),
        )

    def occurrence(self, occurrence_id: int) -> Optional[Dict[str, Any]]:
        row = self._one(
            f"SELECT {_LISTED_OCCURRENCE_COLUMNS}, payload FROM occurrences WHERE id = ?",
            (occurrence_id,),
        )
        return None if row is None else decoded(row)

    def count_occurrences(self, item_id: Optional[int] = None) -> int:
        if item_id is None:
            return self._count("SELECT COUNT(*) FROM occurrences")
        return self._count("SELECT COUNT(*) FROM occurrences WHERE item_id = ?", (item_id,))

    def feed(self, after: int, limit: int) -> List[Dict[str, Any]]:
        """Occurrences stored after occurrence `after`, oldest first, as the feed shows them."""
        return self._all(f"{_FEED_SELECT} WHERE o.id > ? ORDER BY o.id LIMIT ?", (after, limit))

    def last_occurrence_id(self) -> int:
        return self._count("SELECT COALESCE(MAX(id), 0) FROM occurrences")

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

    def deploys(self, now: int, *, offset: int = 0, limit: int = -1) -> List[Dict[str, Any]]:
        """Newest first."""
        self._time_out_deploys(now)
        return self._all(f"SELECT {_DEPLOY_COLUMNS} FROM deploys ORDER BY id DESC "
                         "LIMIT ? OFFSET ?", (limit, offset))

    def count_deploys(self) -> int:
        return self._count("SELECT COUNT(*) FROM deploys")

    def _time_out_deploys(self, now: int) -> None:
        """Deploys left `started` expire lazily, when someone looks at them."""
        with self._lock:
            self._db.execute(
                "UPDATE deploys SET status = 'timed_out', finish_time = start_time + ? "
                "WHERE status = 'started' AND start_time <= ?",
                (DEPLOY_TIMEOUT, now - DEPLOY_TIMEOUT),
            )
