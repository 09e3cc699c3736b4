"""The HTTP API: /v1/items (create, get, list, update, delete) and /healthz.

Errors are JSON in the shape of google.rpc.Status, as tern's own services answer them:
``{"code": <gRPC code>, "message": "...", "details": []}`` (400 → 3 INVALID_ARGUMENT,
404 → 5 NOT_FOUND).
"""

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from starlette.exceptions import HTTPException

from . import db
from .settings import NAME, Settings

log = logging.getLogger(__name__)

GRPC_CODES = {400: 3, 404: 5, 405: 12, 409: 6}


class Message(BaseModel):
    """JSON with camelCase field names (the proto3 JSON mapping's)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Item(Message):
    id: str
    name: str
    create_time: str
    update_time: str


class CreateItem(Message):
    name: str = Field(min_length=1, max_length=200)


class UpdateItem(Message):
    name: str | None = Field(default=None, min_length=1, max_length=200)


class ItemList(Message):
    items: list[Item]
    next_page_token: str


class Health(Message):
    status: str


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message


def status_body(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": GRPC_CODES.get(status, 2), "message": message, "details": []},
        status_code=status,
    )


def item(row: sqlite3.Row) -> Item:
    return Item(
        id=row["id"],
        name=row["name"],
        create_time=row["create_time"],
        update_time=row["update_time"],
    )


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI):
        version = db.migrate(settings.database)
        log.info("%s: database %s at schema version %d", NAME, settings.database, version)
        yield

    app = FastAPI(title=NAME, lifespan=lifespan)

    def items() -> Iterator[db.Items]:
        connection = db.connect(settings.database)
        try:
            yield db.Items(connection)
        finally:
            connection.close()

    Items = Annotated[db.Items, Depends(items)]

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return status_body(error.status, error.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()
        )
        return status_body(400, problems)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        response = status_body(error.status_code, str(error.detail))
        response.headers.update(error.headers or {})
        return response

    @app.get("/healthz")
    def healthz(store: Items) -> Health:
        store.connection.execute("SELECT 1")
        return Health(status="SERVING")

    @app.post("/v1/items")
    def create_item(body: CreateItem, store: Items) -> Item:
        return item(store.create(body.name))

    @app.get("/v1/items/{item_id}")
    def get_item(item_id: str, store: Items) -> Item:
        row = store.get(item_id)
        if row is None:
            raise ApiError(404, f"item {item_id} not found")
        return item(row)

    @app.get("/v1/items")
    def list_items(
        store: Items,
        page_size: Annotated[int, Query(ge=0, le=1000)] = 0,
        page_token: str = "",
    ) -> ItemList:
        size = page_size or 50
        if page_token and not page_token.isdigit():
            raise ApiError(400, f"invalid page_token {page_token!r}")
        rows = store.page(size + 1, int(page_token or 0))
        more = len(rows) > size
        rows = rows[:size]
        return ItemList(
            items=[item(row) for row in rows],
            next_page_token=str(rows[-1]["rowid"]) if more else "",
        )

    @app.patch("/v1/items/{item_id}")
    def update_item(item_id: str, body: UpdateItem, store: Items) -> Item:
        row = store.get(item_id)
        if row is not None and body.name is not None:
            row = store.update(item_id, body.name)
        if row is None:
            raise ApiError(404, f"item {item_id} not found")
        return item(row)

    @app.delete("/v1/items/{item_id}")
    def delete_item(item_id: str, store: Items) -> dict:
        if not store.delete(item_id):
            raise ApiError(404, f"item {item_id} not found")
        return {}

    return app
