"""`python -m {{module}}`: serves the API on 127.0.0.1:$PORT until SIGTERM or Ctrl-C.

Run it under `opentelemetry-instrument` for traces, metrics and logs (see README.md); the
code itself has no telemetry setup.
"""

import logging

import uvicorn

from .app import create_app
from .settings import Settings


def configure_logging(level: str) -> None:
    # Everything goes through the root logger (uvicorn's too, with log_config=None), so an
    # OpenTelemetry log handler installed there sees it; lines also go to stderr, which
    # tern keeps (`tern logs {{name}}`).
    root = logging.getLogger()
    root.setLevel(level.upper())
    if not any(type(handler) is logging.StreamHandler for handler in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)


def main() -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host="127.0.0.1",
        port=settings.port,
        log_config=None,
        log_level=settings.log_level,
        # Every request is already a span in `tern traces`; the health probe every second
        # would bury the other lines.
        access_log=False,
    )


if __name__ == "__main__":
    main()
