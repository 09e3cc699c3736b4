"""Consumer throughput with librdkafka's queue backoff at its default and lowered.

perf.py's consumer (librdkafka defaults: queued.min.messages=100000 per partition,
fetch.queue.backoff.ms=1000) stops fetching for a whole second whenever a partition's
local queue holds more than 100k messages, so a broker that answers faster than Python
drains the queue gets one idle second per ~300k messages (3 partitions). This reads
the same topic with the same settings twice, once with fetch.queue.backoff.ms at its
default and once at 10 ms, checking every sequence number arrives exactly once, and
counts librdkafka's "Fetch backoff ... Queue full" debug lines.

    consume_backoff.py BOOTSTRAP TOPIC COUNT
"""
import logging
import struct
import sys
import time
import uuid

from confluent_kafka import Consumer

SEQ = struct.Struct(">Q")


class BackoffCounter(logging.Handler):
    count = 0

    def emit(self, record):
        if "Queue full" in record.getMessage():
            self.count += 1


def consume(bootstrap, topic, count, queue_backoff_ms):
    backoffs = BackoffCounter()
    logger = logging.getLogger(f"rdkafka-{queue_backoff_ms}")
    logger.addHandler(backoffs)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": f"backoff-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "fetch.max.bytes": 52_428_800,
        "max.partition.fetch.bytes": 1_048_576,
        "fetch.wait.max.ms": 500,
        "queued.max.messages.kbytes": 262_144,
        "debug": "fetch",
        "logger": logger,
    }
    if queue_backoff_ms is not None:
        conf["fetch.queue.backoff.ms"] = queue_backoff_ms
    c = Consumer(conf)
    assigned = []
    c.subscribe([topic], on_assign=lambda *_: assigned.append(time.perf_counter()))
    seen = bytearray(count)
    got = dups = 0
    deadline = time.time() + 120
    while got < count and time.time() < deadline:
        for m in c.consume(num_messages=min(10000, count - got), timeout=0.5):
            if m.error() is not None:
                continue
            seq = SEQ.unpack_from(m.value(), 0)[0]
            if seen[seq]:
                dups += 1
            else:
                seen[seq] = 1
                got += 1
    elapsed = time.perf_counter() - assigned[0]
    c.close()
    label = "default (1000)" if queue_backoff_ms is None else str(queue_backoff_ms)
    print(f"fetch.queue.backoff.ms={label}: {got} messages ({dups} duplicates) in {elapsed:.3f} s"
          f" = {got / elapsed:,.0f} msg/s; 'Queue full' backoffs: {backoffs.count}")


def main():
    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    consume(bootstrap, topic, count, None)
    consume(bootstrap, topic, count, 10)


if __name__ == "__main__":
    main()
