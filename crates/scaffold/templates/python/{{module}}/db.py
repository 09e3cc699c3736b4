"""The service's SQLite database: migrations run at start, and the items table's queries."""

import sqlite3
import uuid
from datetime import datetime, timezone
from pathlib import Path

# Each migration runs once, in order; `PRAGMA user_version` records how many have run.
# Add new ones at the end, never edit one that has shipped.
MIGRATIONS = [
    """
    CREATE TABLE items (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      create_time TEXT NOT NULL,   -- RFC 3339 UTC, microseconds, 'Z'
      update_time TEXT NOT NULL
    );
    """,
]


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA busy_timeout = 5000")
    return connection


def migrate(path: Path) -> int:
    """Creates the database if needed and runs the migrations it has not run yet;
    returns the schema version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = connect(path)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("BEGIN IMMEDIATE")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        for number, statement in enumerate(MIGRATIONS[version:], start=version + 1):
            connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number}")
        connection.execute("COMMIT")
        return len(MIGRATIONS)
    finally:
        connection.close()


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Items:
    """The items table, one connection per request."""

    def __init__(self, connection: sqlite3.Connection):
        self.connection = connection

    def create(self, name: str) -> sqlite3.Row:
        time = now()
        item_id = str(uuid.uuid4())
        self.connection.execute(
            "INSERT INTO items (id, name, create_time, update_time) VALUES (?, ?, ?, ?)",
            (item_id, name, time, time),
        )
        return self.get(item_id)

    def get(self, item_id: str) -> sqlite3.Row | None:
        return self.connection.execute(
            "SELECT rowid, * FROM items WHERE id = ?", (item_id,)
        ).fetchone()

    def page(self, size: int, after: int) -> list[sqlite3.Row]:
        """Up to `size` items in creation order, after the one with rowid `after`."""
        return self.connection.execute(
            "SELECT rowid, * FROM items WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (after, size),
        ).fetchall()

    def update(self, item_id: str, name: str) -> sqlite3.Row | None:
        self.connection.execute(
            "UPDATE items SET name = ?, update_time = ? WHERE id = ?",
            (name, now(), item_id),
        )
        return self.get(item_id)

    def delete(self, item_id: str) -> bool:
        cursor = self.connection.execute("DELETE FROM items WHERE id = ?", (item_id,))
        return cursor.rowcount > 0
