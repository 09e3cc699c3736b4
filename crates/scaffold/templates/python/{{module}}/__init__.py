"""The {{name}} service: a small CRUD resource (items) over SQLite, served by FastAPI."""
