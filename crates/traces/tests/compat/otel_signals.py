"""Exports metrics and logs to tern-traces through the OpenTelemetry Python SDK's stock OTLP
exporters.

Usage: otel_signals.py grpc|http ENDPOINT cumulative|delta

ENDPOINT: the gRPC endpoint (http://HOST:PORT), or the OTLP/HTTP base (http://HOST:PORT,
/v1/metrics and /v1/logs are appended). Metrics, exported twice (two flushes):
  orders        counter, unit {order}, +3 then +4, attribute payment=card
  http.server.request.duration  histogram in s: 0.02 and 0.2 on /checkout (200), then 2.0
  queue.size    up-down counter: +5 then -2
Logs: one WARNING "payment declined" (attribute order.id=42) inside a span, one INFO
outside any span. Prints JSON: the span's ids (hex) and every export result; exits 1
unless every export succeeded.
"""

import json
import logging
import sys

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


def exporters(transport, endpoint, temporality):
    chosen = AggregationTemporality.DELTA if temporality == "delta" else AggregationTemporality.CUMULATIVE
    preferred = {Counter: chosen, Histogram: chosen, UpDownCounter: AggregationTemporality.CUMULATIVE}
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return (
            OTLPMetricExporter(endpoint=endpoint, insecure=True, timeout=10, preferred_temporality=preferred),
            OTLPLogExporter(endpoint=endpoint, insecure=True, timeout=10),
        )
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return (
        OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", timeout=10, preferred_temporality=preferred),
        OTLPLogExporter(endpoint=f"{endpoint}/v1/logs", timeout=10),
    )


class RecordingMetrics(MetricExporter):
    """Remembers each export's result: the SDK only logs failures."""

    def __init__(self, inner):
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner = inner
        self.results = []

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        result = self.inner.export(metrics_data, timeout_millis=timeout_millis)
        self.results.append(result.name)
        return result

    def force_flush(self, timeout_millis=10_000):
        return self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis=30_000, **kwargs):
        self.inner.shutdown()


class RecordingLogs(LogRecordExporter):
    def __init__(self, inner):
        self.inner = inner
        self.results = []

    def export(self, batch):
        result = self.inner.export(batch)
        self.results.append(result.name)
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30_000):
        return True


def main():
    transport, endpoint, temporality = sys.argv[1:4]
    metric_exporter, log_exporter = exporters(transport, endpoint, temporality)
    metrics = RecordingMetrics(metric_exporter)
    logs = RecordingLogs(log_exporter)
    resource = Resource.create({"service.name": "py-shop", "service.instance.id": f"py-shop-{transport}"})

    reader = PeriodicExportingMetricReader(metrics, export_interval_millis=3_600_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = meter_provider.get_meter("shop.meter", "1.0")
    orders = meter.create_counter("orders", unit="{order}", description="Orders placed.")
    duration = meter.create_histogram("http.server.request.duration", unit="s", description="Request time.")
    queue = meter.create_up_down_counter("queue.size", description="Queued jobs.")
    route = {"http.route": "/checkout", "http.response.status_code": 200, "http.request.method": "GET"}
    orders.add(3, {"payment": "card"})
    duration.record(0.02, route)
    duration.record(0.2, route)
    queue.add(5)
    meter_provider.force_flush(10_000)
    orders.add(4, {"payment": "card"})
    duration.record(2.0, route)
    queue.add(-2)
    meter_provider.force_flush(10_000)
    meter_provider.shutdown()

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(logs))
    logger = logging.getLogger("shop")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logger_provider))
    tracer = TracerProvider(resource=resource).get_tracer("shop")
    with tracer.start_as_current_span("checkout") as span:
        logger.warning("payment declined", extra={"order.id": 42})
    logger.info("queue drained")
    logger_provider.force_flush(10_000)
    logger_provider.shutdown()

    results = metrics.results + logs.results
    ok = len(metrics.results) >= 2 and bool(logs.results) and all(r == "SUCCESS" for r in results)
    print(
        json.dumps(
            {
                "ok": ok,
                "metric_results": metrics.results,
                "log_results": logs.results,
                "trace_id": format(span.get_span_context().trace_id, "032x"),
                "span_id": format(span.get_span_context().span_id, "016x"),
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
