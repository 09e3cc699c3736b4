//! The JSON Schema of the platform file, for editors (taplo, Even Better TOML) and
//! `tern config schema`.
//!
//! Written by hand next to the decoder rather than derived: the decoder works on a located
//! TOML tree, not on serde types. A test checks that every table here allows exactly the
//! keys the decoder allows. The schema describes shapes only (types, allowed keys, value
//! forms); rules between keys (`builtin` xor `command`) and between services are left to
//! the decoder, so the same schema fits overlay files, whose keys are all optional.

use serde_json::{json, Value};

const DURATION_PATTERN: &str = r"^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$";
const NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9-]{0,62}$";

/// The JSON Schema (draft 2020-12) of `tern.toml` and its overlays, pretty-printed.
pub fn json_schema() -> String {
    serde_json::to_string_pretty(&schema()).unwrap_or_default()
}

pub(crate) fn schema() -> Value {
    let duration =
        |description: &str| json!({ "$ref": "#/$defs/duration", "description": description });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "tern platform file (tern.toml)",
        "description": "What `tern up` runs: the registry, the supervisor and the services. Reference: docs/platform.md.",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "registry": {
                "description": "The service registry: embedded (default) or external.",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "embedded": { "type": "boolean", "default": true, "description": "Run the registry inside `tern up`. Default: true unless `external` is set." },
                    "http": { "$ref": "#/$defs/socketAddress", "default": "127.0.0.1:8500", "description": "HTTP API address of the embedded registry." },
                    "dns": { "$ref": "#/$defs/socketAddress", "default": "127.0.0.1:8600", "description": "DNS address (UDP and TCP) of the embedded registry." },
                    "external": { "type": "string", "pattern": r"^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$", "description": "HOST:PORT of a registry's HTTP API to use instead of the embedded one." },
                    "token": { "type": "string", "minLength": 1, "description": "ACL token (X-Consul-Token)." }
                }
            },
            "broker": {
                "description": "The Kafka-compatible broker: embedded (default), external, or off (`embedded = false`).",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "embedded": { "type": "boolean", "default": true, "description": "Run the broker inside `tern up`. `false` without `external`: no broker." },
                    "listen": { "$ref": "#/$defs/socketAddress", "default": "127.0.0.1:9092", "description": "Kafka protocol address of the embedded broker." },
                    "advertised": { "type": "string", "pattern": r"^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$", "description": "HOST:PORT given to clients in metadata. Default: the bound address." },
                    "partitions": { "type": "integer", "minimum": 1, "default": 1, "description": "Partitions of a topic created on first use." },
                    "flush": { "type": "string", "default": "always", "description": "\"always\" (acks=all answered once durable), \"os\", or an interval like \"100ms\"." },
                    "external": { "type": "string", "pattern": r"^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$", "description": "Bootstrap HOST:PORT of a Kafka cluster to use instead of the embedded broker." }
                }
            },
            "telemetry": {
                "description": "What `tern up` collects from services: traces (an embedded OTLP receiver, an external collector, or off) and StatsD.",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "traces": { "type": "boolean", "default": true, "description": "Collect spans. `false`: services export none." },
                    "otlp_grpc": { "$ref": "#/$defs/socketAddress", "default": "127.0.0.1:4317", "description": "OTLP/gRPC address of the embedded receiver." },
                    "otlp_http": { "$ref": "#/$defs/socketAddress", "default": "127.0.0.1:4318", "description": "OTLP/HTTP address of the embedded receiver, also serving the trace API (`tern traces`)." },
                    "max_spans": { "type": "integer", "minimum": 1, "default": 100000, "description": "Spans the embedded receiver keeps; the oldest traces go first." },
                    "otlp_external": { "type": "string", "pattern": r"^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$", "description": "OTLP/gRPC HOST:PORT of a collector (OpenTelemetry Collector, Jaeger) services export to instead." },
                    "statsd": { "type": "boolean", "default": true, "description": "Run the StatsD receiver." },
                    "statsd_listen": { "$ref": "#/$defs/socketAddress", "default": "127.0.0.1:8125", "description": "UDP address of the StatsD receiver." },
                    "statsd_metrics": { "$ref": "#/$defs/socketAddress", "default": "127.0.0.1:9102", "description": "Where what StatsD received is served as Prometheus metrics (`GET /metrics`)." }
                }
            },
            "supervisor": {
                "description": "How `tern up` itself runs.",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "data_dir": { "type": "string", "minLength": 1, "default": ".tern", "description": "Data directory, relative to the file's directory." },
                    "log_max_bytes": {
                        "description": "Maximum log size per service: bytes, or a string like \"16MiB\".",
                        "default": "16MiB",
                        "oneOf": [
                            { "type": "integer", "minimum": 1 },
                            { "type": "string", "pattern": "^[0-9]+(B|KiB|MiB|GiB|KB|MB|GB)?$" }
                        ]
                    }
                }
            },
            "services": {
                "description": "The services, one table [services.NAME] each.",
                "type": "object",
                "propertyNames": { "pattern": NAME_PATTERN },
                "additionalProperties": { "$ref": "#/$defs/service" }
            }
        },
        "$defs": {
            "duration": {
                "description": "A Go duration: \"500ms\", \"10s\", \"1m30s\", \"1.5h\".",
                "type": "string",
                "pattern": DURATION_PATTERN
            },
            "socketAddress": {
                "description": "IP:PORT, e.g. \"127.0.0.1:8500\" or \"[::1]:8500\".",
                "type": "string"
            },
            "service": {
                "description": "One service. Exactly one of `builtin` and `command`.",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "builtin": { "enum": ["search"], "description": "A service built into tern." },
                    "command": {
                        "type": "array", "minItems": 1, "items": { "type": "string" },
                        "description": "Any program: the program, then its arguments."
                    },
                    "build": {
                        "type": "array", "minItems": 1, "items": { "type": "string" },
                        "description": "Commands only: what makes the program (e.g. [\"cargo\", \"build\", \"-p\", \"users\"]), run in workdir by `tern up` before anything starts."
                    },
                    "workdir": { "type": "string", "minLength": 1, "description": "Working directory, relative to the file's directory (the default)." },
                    "register_as": { "type": "string", "pattern": NAME_PATTERN, "description": "Registry service name. Default: the built-in's (\"search-service\") or the table name." },
                    "replicas": { "type": "integer", "minimum": 0, "maximum": u32::MAX, "default": 1, "description": "Processes to run; 0 = declared but stopped." },
                    "env": {
                        "type": "object", "additionalProperties": { "type": "string" },
                        "description": "Extra environment variables."
                    },
                    "register": { "enum": ["supervisor", "self"], "default": "supervisor", "description": "Who registers a command's replicas: the supervisor (as REGISTER_AS-N on PORT), or the program itself (found by its listening sockets, deregistered when it exits). Commands only." },
                    "tags": {
                        "type": "array", "items": { "type": "string", "minLength": 1 },
                        "description": "Registry tags of each replica. Commands registered by the supervisor only."
                    },
                    "meta": {
                        "type": "object", "maxProperties": 64,
                        "propertyNames": { "pattern": "^[A-Za-z0-9_-]{1,128}$" },
                        "additionalProperties": { "type": "string", "maxLength": 512 },
                        "description": "Registry Meta of each replica. Commands registered by the supervisor only."
                    },
                    "metrics_path": { "type": "string", "pattern": "^/", "description": "Path of the replica's Prometheus endpoint, registered as the metrics_path meta key (Prometheus discovery, tern top). Commands registered by the supervisor only." },
                    "health": {
                        "description": "How the registry probes each replica. Default kind: grpc for built-ins, tcp for commands.",
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                            "kind": { "enum": ["grpc", "http", "tcp"] },
                            "path": { "type": "string", "pattern": "^/", "default": "/healthz", "description": "HTTP path (kind = \"http\" only)." },
                            "interval": duration("Time between probes. Default 1s."),
                            "timeout": duration("Probe timeout. Default 1s.")
                        }
                    },
                    "readiness_timeout": duration("A new replica must be healthy within this. Default 30s; not 0."),
                    "restart": { "enum": ["always", "on-failure", "never"], "default": "always", "description": "When an exited process is restarted." },
                    "unhealthy_restart_after": duration("Restart a replica critical this long. Default 10s."),
                    "config_prefix": { "type": "string", "pattern": "^[^/].*/$", "description": "Registry KV prefix of its configuration. Default config/NAME/ (config/ENV/NAME/ with an environment)." },
                    "restart_on_change": { "type": "boolean", "default": false, "description": "Rolling restart when a key under config_prefix changes." },
                    "depends_on": {
                        "type": "array", "items": { "type": "string", "pattern": NAME_PATTERN },
                        "description": "Services (table names) started before this one."
                    },
                    "drain": duration("Time between deregistration and SIGTERM. Default 1s."),
                    "stop_timeout": duration("Time between SIGTERM and SIGKILL. Default 10s.")
                }
            }
        }
    })
}
