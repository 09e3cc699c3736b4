-- IDs are UUIDv7 text, so their order is creation order (keyset pagination by id).
-- Timestamps are RFC 3339 UTC text: the same on SQLite and PostgreSQL.
CREATE TABLE {{resources}} (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    create_time TEXT NOT NULL,
    update_time TEXT NOT NULL
);
