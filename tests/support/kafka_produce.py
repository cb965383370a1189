#!/usr/bin/python3
"""Produces records to a Kafka topic with kafka-python (acks='all'), for the harness's own test.

    kafka_produce.py --bootstrap 127.0.0.1:9092 --topic T [--compression gzip]
                     [the TLS and SASL options of kafka_consume.py]

Reads one JSON object a line from stdin, {"key": "..." | null, "headers": {"name": "value"},
"value": "..."}, sends each, waits for every acknowledgement, and prints one JSON object a line,
{"partition": P, "offset": O}, in input order. Exits 2 when a send fails.
"""

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kafka_consume import add_client_arguments, client_settings  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    add_client_arguments(parser)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--compression")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    from kafka import KafkaProducer

    producer = KafkaProducer(
        **client_settings(args),
        acks="all",
        compression_type=args.compression,
        retries=3,
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
