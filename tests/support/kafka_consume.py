#!/usr/bin/python3
"""Reads every record of a Kafka topic from the beginning, all partitions, with kafka-python
(Debian's python3-kafka 2.0.2), an independent client: not the daemon's code.

    kafka_consume.py --bootstrap 127.0.0.1:9092 --topic T --expected N --timeout 30
                     [--security-protocol SASL_SSL --cafile ca.pem
                      --sasl-mechanism SCRAM-SHA-256 --username u --password p]

Prints one JSON object per record, one a line, in the order fetched (per partition, by offset):
    {"partition": P, "offset": O, "key": "..." | null, "headers": {"name": "value"}, "value": "..."}
Keys, header values and values are decoded as UTF-8 (invalid bytes become U+FFFD). Once N
records were read it reads on to the end offsets of every partition as they are then, so that
records past N (duplicates) are printed too; at the timeout it stops wherever it is. Exits 0
either way: the caller counts. Errors (no broker, unknown topic at the deadline) go to stderr with exit status 2.

`--sqlite tansu.db --topic T` prints the same lines from tansu's own sqlite database (read-only),
not over the Kafka protocol: tansu 0.6 stores records decompressed, and cannot compress a fetch
answer with snappy ("UnexpectedType(Snappy)": it closes the connection), so a topic that got a
snappy batch can only be read this way.

Decompression of gzip, snappy, lz4 and zstd batches needs python3-snappy, python3-lz4 and
python3-zstandard; `--check` exits 0 only when kafka-python and all four codecs import.
"""

import argparse
import json
import signal
import sys
import time

# Pinned, so that no connection is spent probing: kafka-python 2.0.2 would guess (2, 5, 0)
# against tansu 0.6 anyway. It selects Produce v7, Fetch v4 and v2 record batches (headers).
API_VERSION = (2, 5, 0)


def check():
    try:
        import kafka  # noqa: F401
        from kafka.codec import has_gzip, has_lz4, has_snappy, has_zstd
    except ImportError as error:
        print(f"kafka-python is missing: {error}", file=sys.stderr)
        return 1
    missing = [name for name, ok in
               [("gzip", has_gzip()), ("snappy (python3-snappy)", has_snappy()),
                ("lz4 (python3-lz4)", has_lz4()), ("zstd (python3-zstandard)", has_zstd())]
               if not ok]
    if missing:
        print("kafka-python cannot decompress: " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


def text(raw):
    if raw is None:
        return None
    return raw.decode("utf-8", errors="replace")


def client_settings(args):
    settings = {
        "bootstrap_servers": args.bootstrap,
        "api_version": API_VERSION,
        "security_protocol": args.security_protocol,
        "request_timeout_ms": 10000,
    }
    if args.cafile:
        settings["ssl_cafile"] = args.cafile
        settings["ssl_check_hostname"] = True
    if args.sasl_mechanism:
        settings["sasl_mechanism"] = args.sasl_mechanism
        settings["sasl_plain_username"] = args.username
        settings["sasl_plain_password"] = args.password
    return settings


def add_client_arguments(parser):
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--security-protocol", default="PLAINTEXT")
    parser.add_argument("--cafile")
    parser.add_argument("--sasl-mechanism")
    parser.add_argument("--username")
    parser.add_argument("--password")


def from_sqlite(path, topic):
    import sqlite3

    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = db.execute(
        "select tp.id, tp.partition, r.offset_id, r.k, r.v from record r"
        " join topition tp on tp.id = r.topition join topic t on t.id = tp.topic"
        " where t.name = ? order by tp.partition, r.offset_id", (topic,)).fetchall()
    for topition, partition, offset, key, value in rows:
        headers = db.execute("select k, v from header where topition = ? and offset_id = ?",
                             (topition, offset)).fetchall()
        print(json.dumps({
            "partition": partition,
            "offset": offset,
            "key": text(key),
            "headers": {text(k): text(v) for k, v in headers},
            "value": text(value),
        }, ensure_ascii=False))
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    if "--check" in sys.argv:
        return check()
    if "--sqlite" in sys.argv:
        parser.add_argument("--sqlite", required=True)
        parser.add_argument("--topic", required=True)
        args = parser.parse_args()
        return from_sqlite(args.sqlite, args.topic)
    add_client_arguments(parser)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--expected", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    from kafka import KafkaConsumer, TopicPartition

    # kafka-python can wait for ever on metadata it never gets (a failed authentication, a
    # refused certificate): the whole run is bounded.
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(f"no answer within {args.timeout + 5:.0f}s (authentication or TLS failing?)"))
    signal.alarm(int(args.timeout) + 5)

    deadline = time.monotonic() + args.timeout
    consumer = KafkaConsumer(
        **client_settings(args),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
        fetch_max_wait_ms=200,
    )
    partitions = None
    while time.monotonic() < deadline:
        partitions = consumer.partitions_for_topic(args.topic)
        if partitions:
            break
        consumer.topics()  # refreshes the metadata
        time.sleep(0.2)
    if not partitions:
        print(f"topic {args.topic!r} has no partitions (does it exist?)", file=sys.stderr)
        consumer.close()
        return 2
    assigned = [TopicPartition(args.topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_beginning(*assigned)

    count = 0
    ends = None
    while True:
        batches = consumer.poll(timeout_ms=200, max_records=5000)
        for tp, records in sorted(batches.items(), key=lambda item: item[0].partition):
            for record in records:
                print(json.dumps({
                    "partition": tp.partition,
                    "offset": record.offset,
                    "key": text(record.key),
                    "headers": {name: text(value) for name, value in (record.headers or [])},
                    "value": text(record.value),
                }, ensure_ascii=False))
                count += 1
        sys.stdout.flush()
        if time.monotonic() >= deadline:
            break
        if count >= args.expected:
            # Then read on to the end of every partition as it is now, so that records past
            # the expected count (duplicates) are seen too.
            if ends is None:
                ends = consumer.end_offsets(assigned)
            if all(consumer.position(tp) >= ends[tp] for tp in assigned):
                break
    consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
