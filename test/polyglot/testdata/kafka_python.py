"""kafka-python against a Plexus broker, driven by test/polyglot.

Usage: kafka_python.py BOOTSTRAP TOPIC GROUP COUNT

It uses only kafka-python's public API, configured as for Apache Kafka:

1. KafkaAdminClient creates TOPIC with 3 partitions.
2. For every codec kafka-python can use here (none and gzip always; snappy,
   lz4 and zstd when their Python modules are installed), a KafkaProducer
   with acks=all sends COUNT keyed records with headers and flushes.
3. A KafkaConsumer in GROUP (auto commit off) reads every record back,
   checks key, value and headers against what was sent, and commits
   explicitly; then it checks the committed offsets equal the end offsets.
4. KafkaAdminClient lists the group's offsets (OffsetFetch).

It prints one JSON object on stdout (the summary the Go test checks) and
exits 0, or prints the reason on stderr and exits 1. kafka-python's own log
goes to stderr at WARNING (KAFKA_PYTHON_LOG_LEVEL=DEBUG for more).
"""

import json
import logging
import os
import sys
import time

import kafka
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import codec
from kafka.admin import NewTopic

PARTITIONS = 3
DEADLINE_S = 40


def fail(msg):
    print("kafka_python.py: " + msg, file=sys.stderr)
    sys.exit(1)


def record(codec_name, i):
    key = ("%s-%d" % (codec_name, i)).encode()
    # Compressible values so every codec really shrinks the batch.
    value = ("value of %s %d " % (codec_name, i)).encode() * 8
    headers = [
        ("codec", codec_name.encode()),
        ("i", str(i).encode()),
        ("empty", b""),
    ]
    return key, value, headers


def main():
    if len(sys.argv) != 5:
        fail("usage: kafka_python.py BOOTSTRAP TOPIC GROUP COUNT")
    bootstrap, topic, group, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    level = os.environ.get("KAFKA_PYTHON_LOG_LEVEL", "WARNING")
    logging.basicConfig(stream=sys.stderr, level=level)
    common = dict(bootstrap_servers=bootstrap, client_id="plexus-polyglot-kafka-python")

    codecs = ["none", "gzip"]
    missing = []
    for name, present in (("snappy", codec.has_snappy()), ("lz4", codec.has_lz4()), ("zstd", codec.has_zstd())):
        (codecs if present else missing).append(name)

    # 1. Create the topic.
    admin = KafkaAdminClient(**common)
    api_version = admin.config["api_version"]
    res = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)], timeout_ms=10000)
    for t, code, *_ in res.topic_errors:
        if code != 0:
            fail("create_topics %s: error code %d" % (t, code))

    # 2. Produce, one producer per codec.
    sent = {}  # key -> (value, headers, partition, offset)
    for c in codecs:
        producer = KafkaProducer(
            acks="all",
            compression_type=None if c == "none" else c,
            linger_ms=20,
            retries=3,
            **common,
        )
        futures = []
        for i in range(count):
            key, value, headers = record(c, i)
            futures.append((key, value, headers, producer.send(topic, key=key, value=value, headers=headers)))
        producer.flush(timeout=20)
        for key, value, headers, fut in futures:
            md = fut.get(timeout=20)
            sent[key] = (value, headers, md.partition, md.offset)
        producer.close(timeout=10)
    if len(sent) != count * len(codecs):
        fail("sent %d distinct keys, want %d" % (len(sent), count * len(codecs)))

    # 3. Consume everything back in a group, commit explicitly.
    consumer = KafkaConsumer(
        topic,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **common,
    )
    got = {}
    deadline = time.time() + DEADLINE_S
    while len(got) < len(sent) and time.time() < deadline:
        for tp, msgs in consumer.poll(timeout_ms=500).items():
            for m in msgs:
                if m.key in got:
                    fail("record %r read twice (partition %d offset %d)" % (m.key, m.partition, m.offset))
                got[m.key] = m
    if len(got) != len(sent):
        fail("consumed %d records, want %d (missing e.g. %r)" % (len(got), len(sent), sorted(set(sent) - set(got))[:5]))
    for key, m in got.items():
        if key not in sent:
            fail("consumed a record never sent: %r" % key)
        value, headers, partition, offset = sent[key]
        if m.value != value:
            fail("record %r: value %r, want %r" % (key, m.value, value))
        if list(m.headers) != headers:
            fail("record %r: headers %r, want %r" % (key, m.headers, headers))
        if (m.partition, m.offset) != (partition, offset):
            fail("record %r at %d/%d, acknowledged at %d/%d" % (key, m.partition, m.offset, partition, offset))
    consumer.commit()

    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    end = consumer.end_offsets(tps)
    committed = {}
    for tp in tps:
        committed[tp.partition] = consumer.committed(tp)
        if committed[tp.partition] != end[tp]:
            fail("partition %d: committed %r, end offset %d" % (tp.partition, committed[tp.partition], end[tp]))
    assignment = sorted(tp.partition for tp in consumer.assignment())
    consumer.close(autocommit=False)

    # 4. The group's offsets through the admin client.
    listed = admin.list_consumer_group_offsets(group)
    admin_offsets = {tp.partition: om.offset for tp, om in listed.items() if tp.topic == topic}
    if admin_offsets != committed:
        fail("admin list_consumer_group_offsets %r, consumer committed %r" % (admin_offsets, committed))
    admin.close()

    per_partition = {}
    for m in got.values():
        per_partition[m.partition] = per_partition.get(m.partition, 0) + 1
    print(json.dumps({
        "client": "kafka-python",
        "version": kafka.__version__,
        "api_version": ".".join(map(str, api_version)),
        "codecs": codecs,
        "codecs_missing": missing,
        "produced": len(sent),
        "consumed": len(got),
        "assignment": assignment,
        "per_partition": {str(p): n for p, n in sorted(per_partition.items())},
        "committed": {str(p): o for p, o in sorted(committed.items())},
    }, sort_keys=True))


if __name__ == "__main__":
    main()
