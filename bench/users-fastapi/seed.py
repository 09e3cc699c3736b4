"""Seeds a users database with N users (the users service's schema) and writes their ids,
shuffled, one a line, for `tern bench http --ids`.

    python3 seed.py DB IDS_FILE [N]

The table is created if it is not there (a database the Rust users service made with its
migrations already has it); the users are inserted straight into SQLite, with UUIDv7 ids in
creation order and RFC 3339 UTC times with microseconds, as both services write them.
"""

import random
import secrets
import sqlite3
import sys
from datetime import datetime, timedelta, timezone

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT NOT NULL UNIQUE,
  create_time TEXT NOT NULL,
  update_time TEXT NOT NULL
)
"""


def uuid7(milliseconds: int) -> str:
    value = milliseconds << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def main() -> None:
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    database, ids_file = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) == 4 else 10_000
    start = datetime.now(timezone.utc) - timedelta(milliseconds=count)
    rows = []
    for n in range(count):
        created = start + timedelta(milliseconds=n)
        time = created.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        user_id = uuid7(int(created.timestamp() * 1000))
        rows.append((user_id, f"User {n}", f"user{n}@example.com", time, time))
    connection = sqlite3.connect(database)
    with connection:
        connection.execute(SCHEMA)
        connection.executemany(
            "INSERT INTO users (id, name, email, create_time, update_time) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    connection.close()
    ids = [row[0] for row in rows]
    random.shuffle(ids)
    with open(ids_file, "w") as out:
        out.write("\n".join(ids) + "\n")


if __name__ == "__main__":
    main()
