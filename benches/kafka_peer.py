#!/usr/bin/env python3
"""The librdkafka peer of benches/run.sh: produce a file's lines to a Kafka-compatible broker,
or consume a topic with a consumer group until a count of records is reached, through the
confluent-kafka client. Prints the seconds taken. Not a test.

    kafka_peer.py produce BROKERS TOPIC FILE
    kafka_peer.py consume BROKERS TOPIC COUNT
"""
import sys
import time

from confluent_kafka import Consumer, Producer


def produce(brokers, topic, path):
    producer = Producer({
        "bootstrap.servers": brokers,
        "acks": "1",
        "linger.ms": 50,
        "batch.size": 1 << 20,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1 << 20,
    })
    start = time.monotonic()
    with open(path, "rb") as lines:
        for line in lines:
            while True:
                try:
                    producer.produce(topic, line.rstrip(b"\n"))
                    break
                except BufferError:
                    producer.poll(0.01)
    left = producer.flush(120)
    if left:
        sys.exit(f"{left} records were not delivered")
    return time.monotonic() - start


def consume(brokers, topic, count):
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": f"bench-{time.time_ns()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "fetch.max.bytes": 50 << 20,
        "max.partition.fetch.bytes": 50 << 20,
    })
    start = time.monotonic()
    consumer.subscribe([topic])
    seen = 0
    out = sys.stdout.buffer
    while seen < count:
        for message in consumer.consume(10_000, 1.0):
            if message.error():
                sys.exit(str(message.error()))
            out.write(message.value() + b"\n")
            seen += 1
    consumer.close()
    return time.monotonic() - start


if __name__ == "__main__":
    command, brokers, topic, arg = sys.argv[1:5]
    seconds = produce(brokers, topic, arg) if command == "produce" else consume(brokers, topic, int(arg))
    print(f"{seconds:.2f}", file=sys.stderr)
