"""The users service's REST API written the usual FastAPI way, for benchmarking against
the Rust users service on the same SQLite data (bench/users-rest.sh).

    USERS_DB=path/to/users.db uvicorn app:app --workers 1 --port PORT

Same routes, JSON and errors as the Rust service's REST side:

    POST   /v1/users              {"name", "email"}        -> the created user
    GET    /v1/users/{id}                                   -> the user
    GET    /v1/users?page_size=&page_token=                -> {"users": [...], "nextPageToken"}
    PATCH  /v1/users/{id}         {"name"?, "email"?}      -> the updated user
    DELETE /v1/users/{id}                                   -> {}

A user is {"id", "name", "email", "createTime", "updateTime"} (id a UUIDv7, times RFC 3339
UTC with microseconds). Errors are {"code": <gRPC code>, "message", "details": []}: 400 (3)
for a bad email or a missing name, 404 (5) for an unknown id, 409 (6) for a duplicate email.

The handlers are plain `def`s, which FastAPI runs in its thread pool as it advises for
blocking I/O (sqlite3); each thread keeps one connection.
"""

import os
import secrets
import sqlite3
import threading
import time
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from starlette.exceptions import HTTPException

DATABASE = os.environ.get("USERS_DB", "users.db")
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT NOT NULL UNIQUE,
  create_time TEXT NOT NULL,
  update_time TEXT NOT NULL
)
"""

GRPC_CODES = {400: 3, 404: 5, 405: 12, 409: 6}


class Message(BaseModel):
    """camelCase JSON, as the proto3 JSON mapping writes it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class User(Message):
    id: str
    name: str
    email: str
    create_time: str
    update_time: str


class CreateUser(Message):
    name: str = Field(min_length=1)
    email: str = Field(pattern=EMAIL)


class UpdateUser(Message):
    name: str | None = Field(default=None, min_length=1)
    email: str | None = Field(default=None, pattern=EMAIL)


class UserList(Message):
    users: list[User]
    next_page_token: str


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message


def uuid7() -> str:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits, so ids sort in
    creation order."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant 10
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def now() -> str:
    """The stored form of the current time: RFC 3339 UTC with microseconds."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def json_time(stored: str) -> str:
    """A stored time as the proto3 JSON mapping writes a google.protobuf.Timestamp (and so
    the Rust service): 0, 3 or 6 fractional digits, whichever keeps every non-zero one."""
    seconds, _, fraction = stored.removesuffix("Z").partition(".")
    fraction = fraction.ljust(6, "0")
    if fraction == "000000":
        return f"{seconds}Z"
    if fraction.endswith("000"):
        return f"{seconds}.{fraction[:3]}Z"
    return f"{seconds}.{fraction}Z"


_local = threading.local()


def database() -> sqlite3.Connection:
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = sqlite3.connect(DATABASE, isolation_level=None, check_same_thread=False)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA busy_timeout = 5000")
        _local.connection = connection
    return connection


Database = Annotated[sqlite3.Connection, Depends(database)]


def user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        create_time=json_time(row["create_time"]),
        update_time=json_time(row["update_time"]),
    )


def find(db: sqlite3.Connection, user_id: str) -> sqlite3.Row:
    row = db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
    if row is None:
        raise ApiError(404, f"user {user_id} not found")
    return row


def status(code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": GRPC_CODES.get(code, 2), "message": message, "details": []},
        status_code=code,
    )


@asynccontextmanager
async def lifespan(_: FastAPI):
    # The Rust service's migrations made the table already when it ran first on this file.
    database().execute(SCHEMA)
    yield


app = FastAPI(title="users (FastAPI)", lifespan=lifespan)


@app.exception_handler(ApiError)
async def api_error(_: Request, error: ApiError) -> JSONResponse:
    return status(error.status, error.message)


@app.exception_handler(RequestValidationError)
async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
    return status(
        400,
        "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()
        ),
    )


@app.exception_handler(HTTPException)
async def http_error(_: Request, error: HTTPException) -> JSONResponse:
    response = status(error.status_code, str(error.detail))
    response.headers.update(error.headers or {})
    return response


@app.get("/healthz")
def healthz(db: Database) -> dict:
    db.execute("SELECT 1")
    return {"status": "SERVING"}


@app.post("/v1/users")
def create_user(body: CreateUser, db: Database) -> User:
    created = now()
    user_id = uuid7()
    try:
        db.execute(
            "INSERT INTO users (id, name, email, create_time, update_time) VALUES (?, ?, ?, ?, ?)",
            (user_id, body.name, body.email, created, created),
        )
    except sqlite3.IntegrityError:
        raise ApiError(409, f"a user with email {body.email} already exists") from None
    return user(find(db, user_id))


@app.get("/v1/users/{user_id}")
def get_user(user_id: str, db: Database) -> User:
    return user(find(db, user_id))


@app.get("/v1/users")
def list_users(
    db: Database,
    page_size: Annotated[int, Query(ge=0, le=1000)] = 0,
    page_token: str = "",
) -> UserList:
    size = page_size or 50
    rows = db.execute(
        "SELECT * FROM users WHERE id > ? ORDER BY id LIMIT ?", (page_token, size + 1)
    ).fetchall()
    page = rows[:size]
    return UserList(
        users=[user(row) for row in page],
        next_page_token=page[-1]["id"] if len(rows) > size else "",
    )


@app.patch("/v1/users/{user_id}")
def update_user(user_id: str, body: UpdateUser, db: Database) -> User:
    row = find(db, user_id)
    name = body.name if body.name is not None else row["name"]
    email = body.email if body.email is not None else row["email"]
    try:
        db.execute(
            "UPDATE users SET name = ?, email = ?, update_time = ? WHERE id = ?",
            (name, email, now(), user_id),
        )
    except sqlite3.IntegrityError:
        raise ApiError(409, f"a user with email {email} already exists") from None
    return user(find(db, user_id))


@app.delete("/v1/users/{user_id}")
def delete_user(user_id: str, db: Database) -> dict:
    if db.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount == 0:
        raise ApiError(404, f"user {user_id} not found")
    return {}
