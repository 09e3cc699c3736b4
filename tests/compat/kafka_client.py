"""Stock Kafka clients against tern's broker: confluent-kafka (librdkafka) and kafka-python.

usage: kafka_client.py HOST PORT CHECK [ARGS...]
CHECK is one of:
  confluent      produce with keys, headers and timestamps (acks=all, idempotence on), then
                 consume them back in a group and compare
  group          a consumer group of two members sharing a 4-partition topic, rebalancing
                 when one leaves, and a restarted consumer resuming from committed offsets
  python-auto    kafka-python with api_version negotiated (ApiVersions)
  python-0.11    kafka-python with api_version pinned to (0, 11)

Prints one JSON object ({"ok": bool, "checks": {...}, "versions": {...}}) and exits 0
when every check passed, 1 otherwise.

Streaming modes for the broker's kill -9 tests (confluent-kafka; each output line is
flushed as soon as the broker acknowledged what it reports; they run until killed or
SECONDS pass):
  produce-acked TOPIC PARTITIONS SECONDS
                 creates TOPIC, then produces "v-N" round robin over its partitions
                 (acks=all, idempotence on) and prints "ACK PARTITION OFFSET VALUE END"
                 for every delivery report without error
  commit-acked TOPIC GROUP SECONDS
                 consumes TOPIC in GROUP from the earliest offset, commits every message
                 synchronously and prints "COMMITTED PARTITION OFFSET END" for every
                 acknowledged commit
  consume-all TOPIC PARTITIONS
                 reads every partition of TOPIC from the start to its high watermark
                 (no group) and prints {"ok": bool, "records": [[PARTITION, OFFSET, VALUE]],
                 "high": [HIGH WATERMARK per partition]}
"""

import json
import sys
import time
import uuid


def wait_until(what, condition, timeout=30.0, step=None):
    """Calls `step` (if any) then `condition` until it holds or `timeout` passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if step:
            step()
        last = condition()
        if last:
            return True
        if not step:
            time.sleep(0.05)
    print(f"timed out waiting for {what}; last: {last!r}", file=sys.stderr)
    return False


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- confluent-kafka -------------------------------------------------------------------

def confluent_versions():
    import confluent_kafka
    return {"confluent_kafka": confluent_kafka.__version__,
            "librdkafka": confluent_kafka.libversion()[0]}


def confluent_produce_consume(bootstrap):
    from confluent_kafka import Consumer, Producer

    topic = unique("ck-events")
    checks = {}
    delivered = []
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            delivered.append((msg.partition(), msg.offset()))

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5})
    base_ts = 1_700_000_000_000
    sent = []
    for i in range(200):
        key = f"key-{i % 7}".encode()
        value = f"value-{i}".encode()
        headers = [("trace", f"t-{i}".encode()), ("n", str(i).encode())]
        producer.produce(topic, value=value, key=key, headers=headers, timestamp=base_ts + i,
                         on_delivery=on_delivery)
        sent.append((key, value, headers, base_ts + i))
        producer.poll(0)
    remaining = producer.flush(30)
    checks["all_delivered"] = remaining == 0 and not errors and len(delivered) == 200
    if errors:
        print(f"delivery errors: {errors[:5]}", file=sys.stderr)
    offsets = sorted(o for _, o in delivered)
    checks["offsets_dense"] = offsets == list(range(200))

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("ck-group"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    received = []

    def poll():
        msg = consumer.poll(0.2)
        if msg is None:
            return
        if msg.error():
            print(f"consume error: {msg.error()}", file=sys.stderr)
            return
        received.append(msg)

    checks["consumed_all"] = wait_until("200 messages", lambda: len(received) >= 200, step=poll)
    got = [(m.key(), m.value(), m.headers(), m.timestamp()[1]) for m in received[:200]]
    checks["keys_values_headers_timestamps"] = got == sent
    if got != sent and got:
        print(f"first mismatch: got {got[0]!r} sent {sent[0]!r}", file=sys.stderr)
    consumer.commit(asynchronous=False)
    committed = consumer.committed(consumer.assignment(), timeout=10)
    checks["committed"] = [tp.offset for tp in committed] == [200]
    consumer.close()
    return checks


def confluent_group(bootstrap):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = unique("ck-shared")
    group = unique("ck-shared-group")
    checks = {}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])
    futures[topic].result(15)
    metadata = admin.list_topics(topic, timeout=10)
    checks["four_partitions"] = len(metadata.topics[topic].partitions) == 4

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True})

    def produce(count, tag):
        for i in range(count):
            producer.produce(topic, value=f"{tag}-{i}".encode(), partition=i % 4)
        return producer.flush(30) == 0

    checks["produced"] = produce(400, "first")

    def consumer(name):
        # "foreign": messages from a partition not assigned to this member when consumed.
        state = {"assigned": set(), "seen": [], "foreign": [], "name": name}

        def on_assign(c, partitions):
            state["assigned"] = {p.partition for p in partitions}

        def on_revoke(c, partitions):
            state["assigned"] = set()

        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                      "auto.offset.reset": "earliest", "enable.auto.commit": False,
                      "session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
                      "client.id": name})
        c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
        state["consumer"] = c
        return state

    def poll(state):
        msg = state["consumer"].poll(0.05)
        if msg is not None and not msg.error():
            state["seen"].append((msg.partition(), msg.offset()))
            if msg.partition() not in state["assigned"]:
                state["foreign"].append((msg.partition(), msg.offset()))

    a = consumer("member-a")
    b = consumer("member-b")

    def both():
        poll(a)
        poll(b)

    split = lambda: (len(a["assigned"]) == 2 and len(b["assigned"]) == 2
                     and a["assigned"] | b["assigned"] == {0, 1, 2, 3})
    checks["two_members_share_partitions"] = wait_until("a 2+2 split", split, step=both)
    everything = lambda: len(set(a["seen"]) | set(b["seen"])) >= 400
    checks["consumed_by_both"] = wait_until("400 messages by the two", everything, step=both)
    checks["each_consumed_its_own"] = not a["foreign"] and not b["foreign"]
    a["consumer"].commit(asynchronous=False)
    b["consumer"].commit(asynchronous=False)
    b["consumer"].close()  # leaves the group: a gets every partition
    checks["rebalanced_after_leave"] = wait_until(
        "a owns all four", lambda: a["assigned"] == {0, 1, 2, 3}, step=lambda: poll(a))
    committed = a["consumer"].committed([TopicPartition(topic, p) for p in range(4)], timeout=10)
    checks["offsets_committed"] = [tp.offset for tp in committed] == [100, 100, 100, 100]
    a["consumer"].close()

    checks["produced_more"] = produce(8, "second")
    c = consumer("member-c")
    checks["restart_resumes_from_committed"] = wait_until(
        "the 8 new messages", lambda: len(c["seen"]) >= 8, step=lambda: poll(c))
    checks["no_redelivery"] = sorted(o for _, o in c["seen"]) == [100, 100, 100, 100, 101, 101, 101, 101]
    if not checks["no_redelivery"]:
        print(f"restarted consumer saw {sorted(c['seen'])}", file=sys.stderr)
    c["consumer"].close()
    return checks


# --- streaming modes for the kill -9 tests -----------------------------------------------

def produce_acked(bootstrap, topic, partitions, seconds):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions,
                                  replication_factor=1)])[topic].result(15)

    def on_delivery(err, msg):
        if err is None:
            print(f"ACK {msg.partition()} {msg.offset()} {msg.value().decode()} END", flush=True)

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 2,
                         "queue.buffering.max.messages": 2000})
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        try:
            producer.produce(topic, value=f"v-{n}".encode(), partition=n % partitions,
                             on_delivery=on_delivery)
            n += 1
            producer.poll(0)
        except BufferError:
            producer.poll(0.05)
    producer.flush(10)
    return 0


def commit_acked(bootstrap, topic, group, seconds):
    from confluent_kafka import Consumer, KafkaException

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
    consumer.subscribe([topic])
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        msg = consumer.poll(0.1)
        if msg is None or msg.error():
            continue
        try:
            committed = consumer.commit(message=msg, asynchronous=False)
        except KafkaException as e:
            print(f"commit failed: {e}", file=sys.stderr)
            continue
        for tp in committed or []:
            if tp.error is None:
                print(f"COMMITTED {tp.partition} {tp.offset} END", flush=True)
    consumer.close()
    return 0


def consume_all(bootstrap, topic, partitions):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("consume-all"),
                         "enable.auto.commit": False, "enable.partition.eof": True})
    high = [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)]
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    records = []
    done = set()

    def poll():
        msg = consumer.poll(0.2)
        if msg is None:
            return
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                done.add(msg.partition())
            else:
                print(f"consume error: {msg.error()}", file=sys.stderr)
            return
        records.append([msg.partition(), msg.offset(), msg.value().decode()])

    ok = wait_until("every partition read to its end",
                    lambda: len(done) == partitions, step=poll)
    consumer.close()
    print(json.dumps({"ok": ok, "records": records, "high": high}))
    return 0 if ok else 1


# --- kafka-python ----------------------------------------------------------------------

def kafka_python(bootstrap, api_version):
    import kafka
    from kafka import KafkaConsumer, KafkaProducer

    topic = unique("kp-events")
    checks = {}
    producer = KafkaProducer(bootstrap_servers=bootstrap, api_version=api_version, acks="all",
                             request_timeout_ms=15000)
    futures = [producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode(),
                             headers=[("h", f"{i}".encode())])
               for i in range(50)]
    producer.flush(30)
    results = [f.get(timeout=30) for f in futures]
    checks["produced"] = sorted(r.offset for r in results) == list(range(50))
    producer.close()

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, api_version=api_version,
                             group_id=unique("kp-group"), auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=20000)
    received = []
    for message in consumer:
        received.append(message)
        if len(received) >= 50:
            break
    checks["consumed"] = [(m.key, m.value) for m in received] == [
        (f"k{i}".encode(), f"v{i}".encode()) for i in range(50)]
    checks["headers"] = [m.headers for m in received[:1]] == [[("h", b"0")]]
    consumer.commit()
    tp = kafka.TopicPartition(topic, 0)
    checks["committed"] = consumer.committed(tp) == 50
    consumer.close()
    return checks, {"kafka_python": kafka.__version__, "api_version": str(api_version)}


def main(host, port, check, args):
    bootstrap = f"{host}:{port}"
    versions = {}
    if check == "produce-acked" and len(args) == 3:
        return produce_acked(bootstrap, args[0], int(args[1]), float(args[2]))
    if check == "commit-acked" and len(args) == 3:
        return commit_acked(bootstrap, args[0], args[1], float(args[2]))
    if check == "consume-all" and len(args) == 2:
        return consume_all(bootstrap, args[0], int(args[1]))
    if args:
        print(__doc__, file=sys.stderr)
        return 2
    if check == "confluent":
        checks = confluent_produce_consume(bootstrap)
        versions = confluent_versions()
    elif check == "group":
        checks = confluent_group(bootstrap)
        versions = confluent_versions()
    elif check == "python-auto":
        checks, versions = kafka_python(bootstrap, None)
    elif check == "python-0.11":
        checks, versions = kafka_python(bootstrap, (0, 11))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    ok = all(checks.values())
    print(json.dumps({"ok": ok, "checks": checks, "versions": versions}))
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]))
