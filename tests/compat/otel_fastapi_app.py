"""A FastAPI app with no tern-specific code, for `opentelemetry-instrument` under `tern up`.

It listens on 127.0.0.1:$PORT (what the supervisor gives a command), answers the health
probe on GET /healthz, and GET /items/{item_id} logs a warning through the standard
logging module and answers the item (404 for a negative id). Traces, metrics and logs
reach tern only through the OpenTelemetry distro's defaults and the OTEL_* environment.
"""

import logging
import os

import uvicorn
from fastapi import FastAPI, HTTPException

app = FastAPI()
log = logging.getLogger("shop")


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.get("/items/{item_id}")
def item(item_id: int):
    log.warning("item %s looked up", item_id)
    if item_id < 0:
        raise HTTPException(status_code=404, detail="no such item")
    return {"id": item_id, "name": f"item {item_id}"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="info")
