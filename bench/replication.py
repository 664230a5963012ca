#!/usr/bin/env python3
"""Replication benchmark (issue: RF=3 acks=all vs single-broker acks=1, and follower catch-up).

Runs, on this machine and in one invocation:
  1. a standalone broker, POST /produce?acks=1, wrk -c64 (the single-broker acks=1 figure);
  2. a private redis-server and three brokers (every topic on all three), POST /produce?acks=all
     to the leader, wrk -c64: the replicated figure, and its ratio to (1);
  3. follower catch-up: one follower is stopped, BATCHES x 1,000-record batches are written to
     the leader, the follower is started again and the time until its log end matches the
     leader's is measured (MB/s of record batches replicated).
Nothing is pinned: all brokers, redis and wrk share the machine's cores, as a local cluster
would. Usage: bench/replication.py BROOK_BINARY [seconds]"""
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
import brook  # noqa: E402  (the test harness: process management on loopback)

DURATION = int(sys.argv[2]) if len(sys.argv) > 2 else 10
BATCHES = int(os.environ.get("BATCHES", "200"))


def wrk(url, path):
    env = dict(os.environ, BENCH_DIR=HERE, PRODUCE_PATH=path)
    out = subprocess.run(["wrk", "-t1", "-c64", "-d%ds" % DURATION, "--latency", "-s",
                          os.path.join(HERE, "produce.lua"), url],
                         capture_output=True, text=True, env=env, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99, int(non2xx.group(1)) if non2xx else 0


def end_offset(b, topic):
    """The partition's log end on b (from /metrics: written, not necessarily replicated)."""
    st, text, _ = b.get("/metrics")
    m = re.search(r'brook_partition_log_end_offset\{topic="%s",partition="0"\} (\d+)' % topic,
                  text if st == 200 else "")
    return int(m.group(1)) if m else -1


def main():
    brook.BROOK_BIN = os.path.abspath(sys.argv[1])
    with brook.Cluster() as c:
        single = c.broker(name="single", standalone=True)
        single.produce("warm", topic="bench")
        rps1, p99_1, bad1 = wrk(single.url, "/produce?acks=1")
        single.terminate()
        print("single broker, acks=1:        %8.0f req/s  p99 %s  non-2xx %d" % (rps1, p99_1, bad1))

        r = c.redis()
        args = brook.cluster_args(3000, 1000, ["--min-insync-replicas", "2"])
        bs = [c.broker(name="r%d" % i, redis=r, args=args) for i in range(1, 4)]
        leader, _ = brook.wait_leader(bs, 15)
        assert leader.produce("warm", topic="bench")[0] == 200
        time.sleep(1.5)  # followers fetch and join the ISR
        rps3, p99_3, bad3 = wrk(leader.url, "/produce?acks=all")
        print("3 brokers RF=3, acks=all:     %8.0f req/s  p99 %s  non-2xx %d" % (rps3, p99_3, bad3))
        print("ratio acks=all RF=3 / acks=1 single: %.2f (target >= 0.40)" % (rps3 / rps1))

        follower = next(b for b in bs if b is not leader)
        follower.kill()
        body = brook_batch(1000)
        t0 = time.monotonic()
        for _ in range(BATCHES):
            st, _, _ = leader.post_json("/topics/catchup/partitions/0?acks=1", body,
                                        ctype="application/vnd.kafka.json.v2+json")
            assert st == 200, st
        target = end_offset(leader, "catchup")
        size = sum(os.path.getsize(os.path.join(dp, f))
                   for dp, _, fs in os.walk(os.path.join(leader.data_dir, "catchup-0"))
                   for f in fs if f.endswith(".log"))
        follower.start()
        t0 = time.monotonic()
        brook.wait_until(lambda: end_offset(follower, "catchup") == target, 120, 0.02,
                         what="follower catch-up")
        took = time.monotonic() - t0
        print("catch-up: %d records, %.1f MB of batches in %.2f s from restart = %.1f MB/s "
              "(includes the follower's start-up)" % (target, size / 1e6, took, size / 1e6 / took))


def brook_batch(n):
    value = ("abcdefghijklmnopqrstuvwxyz" * 4)[:100]
    return '{"records":[' + ",".join('{"value":"%s"}' % value for _ in range(n)) + "]}"


if __name__ == "__main__":
    main()
