"""Configuration from the environment, as tern's supervisor provides it.

- ``PORT``: the port to listen on (127.0.0.1); the supervisor picks it and registers it.
- ``TERN_DATA_DIR``: the data dir root; the database is ``$TERN_DATA_DIR/{{name}}/{{name}}.db``.
- ``LOG_LEVEL`` (and any other key under ``config/{{name}}/`` in the registry's KV store,
  uppercased): configuration, read at start.
- ``TERN_REGISTRY`` (``HOST:PORT`` of the Consul-compatible registry) and ``TERN_BROKER``
  (``HOST:PORT`` of the Kafka-compatible broker), for calling other services or producing
  events.
- ``OTEL_*``: read by ``opentelemetry-instrument``, not by this code.
"""

import os
from dataclasses import dataclass
from pathlib import Path

NAME = "{{name}}"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@dataclass(frozen=True)
class Settings:
    port: int = 8000
    data_dir: Path = Path(".tern")
    log_level: str = "info"
    registry: str = "127.0.0.1:8500"
    broker: str = "127.0.0.1:9092"

    @property
    def database(self) -> Path:
        return self.data_dir / NAME / f"{NAME}.db"

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ
        port = env.get("PORT", str(cls.port))
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise SystemExit(f"PORT must be a port number, got {port!r}")
        log_level = env.get("LOG_LEVEL", cls.log_level).lower()
        if log_level not in LOG_LEVELS:
            raise SystemExit(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
        return cls(
            port=int(port),
            data_dir=Path(env.get("TERN_DATA_DIR", str(cls.data_dir))),
            log_level=log_level,
            registry=env.get("TERN_REGISTRY", cls.registry),
            broker=env.get("TERN_BROKER", cls.broker),
        )
