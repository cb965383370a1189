#!/usr/bin/python3
"""Produces records to a Kafka topic with kafka-python (acks='all'), for the harness's own test.

    kafka_produce.py --bootstrap 127.0.0.1:9092 --topic T [--compression gzip]

Reads one JSON object a line from stdin, {"key": "..." | null, "headers": {"name": "value"},
"value": "..."}, sends each, waits for every acknowledgement, and prints one JSON object a line,
{"partition": P, "offset": O}, in input order. Exits 2 when a send fails.
"""

import argparse
import json
import sys

API_VERSION = (2, 5, 0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--compression")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=args.bootstrap,
        api_version=API_VERSION,
        acks="all",
        compression_type=args.compression,
        retries=3,
        request_timeout_ms=10000,
    )
    futures = []
    for line in sys.stdin:
        if not line.strip():
            continue
        record = json.loads(line)
        key = record.get("key")
        futures.append(producer.send(
            args.topic,
            key=None if key is None else key.encode("utf-8"),
            value=record["value"].encode("utf-8"),
            headers=[(name, value.encode("utf-8")) for name, value in record.get("headers", {}).items()],
        ))
    producer.flush(timeout=args.timeout)
    status = 0
    for future in futures:
        try:
            metadata = future.get(timeout=args.timeout)
            print(json.dumps({"partition": metadata.partition, "offset": metadata.offset}))
        except Exception as error:  # noqa: BLE001 (any failure is reported the same way)
            print(f"send failed: {error!r}", file=sys.stderr)
            status = 2
    producer.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
