"""Exports one trace to tern-traces through the OpenTelemetry Python SDK's stock OTLP exporter.

Usage: otel_export.py grpc|http ENDPOINT none|gzip

The trace: a server span "checkout" with two children, "reserve stock" and "charge card";
the second ends with status ERROR and carries an event. Prints JSON: the ids (hex) and
every export result; exits 1 unless every export succeeded.
"""

import json
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode


def exporter(transport, endpoint, compression):
    if transport == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        chosen = grpc.Compression.Gzip if compression == "gzip" else grpc.Compression.NoCompression
        return OTLPSpanExporter(endpoint=endpoint, insecure=True, compression=chosen, timeout=10)
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    chosen = Compression.Gzip if compression == "gzip" else Compression.NoCompression
    return OTLPSpanExporter(endpoint=endpoint, compression=chosen, timeout=10)


class Recording(SpanExporter):
    """Remembers each export's result: the SDK only logs failures."""

    def __init__(self, inner):
        self.inner = inner
        self.results = []

    def export(self, spans):
        result = self.inner.export(spans)
        self.results.append(result.name)
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self.inner.force_flush(timeout_millis)


def main():
    transport, endpoint, compression = sys.argv[1:4]
    recording = Recording(exporter(transport, endpoint, compression))
    resource = Resource.create(
        {"service.name": "py-shop", "service.instance.id": f"py-shop-{transport}"}
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(recording))
    tracer = provider.get_tracer("tern-traces-compat")

    with tracer.start_as_current_span("checkout", kind=SpanKind.SERVER) as parent:
        parent.set_attribute("http.route", "/checkout")
        with tracer.start_as_current_span("reserve stock") as reserve:
            reserve.set_attribute("items", 3)
        with tracer.start_as_current_span(
            "charge card", kind=SpanKind.CLIENT, record_exception=False, set_status_on_exception=False
        ) as charge:
            charge.add_event("retrying", {"attempt": 2})
            charge.set_status(Status(StatusCode.ERROR, "card declined"))

    flushed = provider.force_flush(10_000)
    provider.shutdown()
    ok = flushed and bool(recording.results) and all(r == "SUCCESS" for r in recording.results)
    print(
        json.dumps(
            {
                "ok": ok,
                "results": recording.results,
                "trace_id": format(parent.get_span_context().trace_id, "032x"),
                "parent": format(parent.get_span_context().span_id, "016x"),
                "reserve": format(reserve.get_span_context().span_id, "016x"),
                "charge": format(charge.get_span_context().span_id, "016x"),
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
