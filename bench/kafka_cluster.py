#!/usr/bin/env python3
"""Kafka-protocol replication benchmark (issue 13): a librdkafka producer (bench/kafka_bench.c)
sending 100-byte records to one standalone broker with acks=1, then to a three-broker cluster
(a private redis-server, --min-insync-replicas 2, topic created with replication_factor 3) with
acks=all, and the ratio. Every broker runs with --fsync=always (the default). Nothing is pinned:
brokers, redis and the client share the machine's cores, as bench/replication.py does.
Uses the test harness (tests/lib/brook.py) for process management; only 127.0.0.1.

Usage: bench/kafka_cluster.py BROOK_BINARY KAFKA_BENCH_BINARY [records]
Prints one 'kafka ...' line per measurement and one with the ratio."""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
import brook  # noqa: E402

CLIENT = os.path.abspath(sys.argv[2])
RECORDS = int(sys.argv[3]) if len(sys.argv) > 3 else 1000000


def produce(bootstrap, acks):
    out = subprocess.run([CLIENT, "produce", bootstrap, "bench", str(RECORDS), "100", acks],
                         capture_output=True, text=True, timeout=600)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("KBENCH")), "")
    kv = dict(w.split("=", 1) for w in line.split()[1:])
    if not kv:
        raise RuntimeError("kafka_bench failed: %s" % out.stderr[-400:])
    return kv


def create_topic(b, rf):
    st, body, _ = b.post_json("/topics", {"name": "bench", "partitions": 1,
                                          "replication_factor": rf})
    if st != 201:
        raise RuntimeError("create topic: %s %s" % (st, body))


def show(label, kv):
    print("kafka    %-34s %9.0f rec/s %6.1f MB/s  failed %s (%s)" % (
        label, float(kv["rps"]), float(kv["mbps"]), kv["failed"], kv["first_error"]), flush=True)


def main():
    brook.BROOK_BIN = os.path.abspath(sys.argv[1])
    with brook.Cluster() as c:
        kport = brook.free_port()
        single = c.broker(name="single", standalone=True, args=["--kafka-port", str(kport)])
        create_topic(single, 1)
        one = produce("127.0.0.1:%d" % kport, "1")
        show("1 broker, acks=1 (unpinned)", one)
        single.terminate()

        r = c.redis()
        ports = [brook.free_port() for _ in range(3)]
        bs = [c.broker(name="r%d" % i, redis=r,
                       args=brook.cluster_args(3000, 1000, ["--min-insync-replicas", "2",
                                                            "--kafka-port", str(ports[i])]))
              for i in range(3)]
        leader, _ = brook.wait_leader(bs, 15)
        # Followers must have fetched recently to count as alive for replication_factor 3.
        brook.wait_until(lambda: leader.post_json(
            "/topics", {"name": "warm", "partitions": 1, "replication_factor": 3})[0] == 201,
            20, 0.2, what="three live brokers")
        create_topic(leader, 3)
        time.sleep(1.5)  # followers fetch the new topic and join its in-sync set
        three = produce(",".join("127.0.0.1:%d" % p for p in ports), "all")
        show("3 brokers RF=3, acks=all (unpinned)", three)
        print("kafka    RF=3 acks=all / 1 broker acks=1: %.2f" % (
            float(three["rps"]) / float(one["rps"])), flush=True)


if __name__ == "__main__":
    main()
