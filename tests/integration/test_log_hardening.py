"""Storage-side hardening of issue 9, with real brokers and a private redis-server on loopback:
retention never passes the high watermark (D2), the high watermark survives restarts (D9), a
re-created topic never adopts a deleted one's records and every legal topic name deletes (D7),
and truncation at a segment base leaves the segment layout a fresh copy has (D10).
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_log_hardening.py
"""
import os
import signal
import threading
import time

import brook
from brook import (Cluster, cluster_args, current_leader, produce_acks, redis_isr, visible_end,
                   wait_port, wait_until)

LEASE_MS = 2000
RENEW_MS = 500


def start_one(c, r, name, extra=()):
    b = c.broker(name=name, redis=r, args=cluster_args(LEASE_MS, RENEW_MS, extra), start=False)
    b.start(wait=False)
    wait_port(b.port, proc=b.proc)
    return b


def wait_leader_is(bs, b, timeout=20.0):
    return wait_until(lambda: (current_leader(bs) or (None,))[0] is b, timeout=timeout,
                      what="%s to lead" % b.name)


def wait_isr(r, names, timeout=20.0):
    want = sorted(names)
    return wait_until(lambda: (redis_isr(r) or {}).get("isr") and
                      sorted(redis_isr(r)["isr"]) == want, timeout=timeout,
                      what="Redis ISR == %s" % want)


def create_topic(b, name, partitions=1, configs=None):
    body = {"name": name, "partitions": partitions}
    if configs:
        body["configs"] = {k: str(v) for k, v in configs.items()}
    st, resp, _ = b.post_json("/topics", body)
    assert st == 201, (st, resp)


def offsets(b, topic, partition=0):
    st, body, _ = b.get("/topics/%s/partitions/%d/offsets" % (topic, partition))
    assert st == 200, (b.name, st, body)
    return body["beginning_offset"], body["end_offset"]


def read_from(b, topic, offset, partition=0):
    """(status, body) of one read of up to 1000 records from offset."""
    st, body, _ = b.get("/topics/%s/partitions/%d/records?offset=%d&max_records=1000"
                        % (topic, partition, offset))
    return st, body


def two_brokers(c, r, leader_extra=(), follower_extra=(), lag_ms=60000):
    """broker1 leads (started first), broker2 follows; both in the ISR Redis holds."""
    common = ["--replica-lag-ms", str(lag_ms)]
    b1 = start_one(c, r, "broker1", common + list(leader_extra))
    wait_leader_is([b1], b1)
    b2 = start_one(c, r, "broker2", common + list(follower_extra))
    wait_leader_is([b1, b2], b1)
    wait_isr(r, ["broker1", "broker2"])
    return b1, b2


# ---- D2 --------------------------------------------------------------------------------------

def test_retention_waits_for_the_high_watermark():
    """segment.bytes 4096, retention.bytes 12000, the follower paused while in the ISR, ten
    3 KB acks=all writes: the leader's retention must not delete what the follower lacks. The
    old binary deleted offsets up to 7 at once, showed beginning > end on /offsets, and the
    follower, resumed, started over after them: seven acknowledged records existed nowhere."""
    with Cluster() as c:
        r = c.redis()
        b1, b2 = two_brokers(c, r, leader_extra=["--retention-check-ms", "100"])
        create_topic(b1, "ret", configs={"segment.bytes": 4096, "retention.bytes": 12000})
        wait_until(lambda: visible_end(b2, "ret") == 0, timeout=20, what="the follower's copy")
        wait_isr(r, ["broker1", "broker2"])
        b2.signal(signal.SIGSTOP)
        results = [None] * 10

        def write(i):
            results[i] = produce_acks(b1.port, ("v%d-" % i) + "x" * 3000, "ret", timeout=60)
        threads = [threading.Thread(target=write, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        # Ten batches of ~3 KB, one per segment, all held back by the paused ISR member.
        wait_until(lambda: sum(1 for n in os.listdir(os.path.join(b1.data_dir, "ret-0"))
                               if n.endswith(".log")) >= 10 or
                   offsets(b1, "ret")[0] > 0, timeout=20, what="ten segments on the leader")
        deadline = time.monotonic() + 2.0  # twenty retention passes
        while time.monotonic() < deadline:
            begin, end = offsets(b1, "ret")
            assert begin <= end, "log start %d passed the high watermark %d" % (begin, end)
            assert begin == 0, "retention deleted up to %d before any replica held it" % begin
            time.sleep(0.1)
        b2.signal(signal.SIGCONT)
        for t in threads:
            t.join(90)
        assert all(res and res[0] == 200 for res in results), [res and res[0] for res in results]
        acked = {res[1]["offset"]: "v%d-" % i for i, res in enumerate(results)}
        assert sorted(acked) == list(range(10)), sorted(acked)
        # The follower (its retention runs every 5 minutes) got every acknowledged record.
        wait_until(lambda: visible_end(b2, "ret") == 10, timeout=20, what="follower HW 10")
        st, body = read_from(b2, "ret", 0)
        assert st == 200, (st, body)
        got = {rec["offset"]: rec["value"][:len(acked[rec["offset"]])] for rec in body["records"]}
        assert got == acked, (sorted(got), sorted(acked))
        # The leader may delete them now that they are committed, never past the HW.
        wait_until(lambda: offsets(b1, "ret")[0] > 0, timeout=20, what="leader retention")
        begin, end = offsets(b1, "ret")
        assert 0 < begin <= end == 10, (begin, end)


# ---- D9 --------------------------------------------------------------------------------------

def first_reads(b, topic, offset, seconds):
    """Statuses of reads of offset on b during the first `seconds` after it answers."""
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r = brook.try_get(b, "/topics/%s/partitions/0/records?offset=%d&max_records=1"
                          % (topic, offset), timeout=2.0)
        if r is not None:
            out.append((r[0], r[1]))
        time.sleep(0.1)
    return out


def test_high_watermark_survives_restarts():
    """50 acks=all records committed on both brokers. The follower is killed; the leader is
    killed and restarted alone: offset 49 stays readable at once (the old binary answered 416
    'readable 0 to 0' until the dead follower left the ISR, 10 s). Then the follower is
    restarted while the leader is down: it serves what it had shown before, at once."""
    with Cluster() as c:
        r = c.redis()
        b1, b2 = two_brokers(c, r, lag_ms=10000)
        create_topic(b1, "hw")
        for i in range(50):
            st, body, _ = produce_acks(b1.port, "hw-%d" % i, "hw", timeout=10)
            assert st == 200 and body["offset"] == i, (st, body)
        wait_until(lambda: visible_end(b2, "hw") == 50, timeout=20, what="follower HW 50")
        time.sleep(2.0)  # past a checkpoint interval: a kill -9 keeps what it wrote
        b2.kill()
        b1.kill()
        b1.start()
        wait_leader_is([b1], b1, timeout=30)
        reads = first_reads(b1, "hw", 49, 3.0)
        bad = [rd for rd in reads if rd[0] != 200 or rd[1]["records"][0]["value"] != "hw-49"]
        assert reads and not bad, "restarted leader: %d of %d reads failed, e.g. %r" % (
            len(bad), len(reads), bad[:1])
        assert offsets(b1, "hw") == (0, 50), offsets(b1, "hw")
        # The follower, restarted while the leader is down, answers what it had shown.
        b1.kill()
        b2.start()
        reads = first_reads(b2, "hw", 49, 2.0)
        bad = [rd for rd in reads if rd[0] != 200 or rd[1]["records"][0]["value"] != "hw-49"]
        assert reads and not bad, "restarted follower: %d of %d reads failed, e.g. %r" % (
            len(bad), len(reads), bad[:1])
        # Writes go on from there once both are back.
        b1.start()
        lb = wait_until(lambda: (current_leader([b1, b2]) or (None,))[0], timeout=30,
                        what="a leader")
        st, body, _ = produce_acks(lb.port, "hw-50", "hw", timeout=20)
        assert st == 200 and body["offset"] == 50, (st, body)


# ---- D7 --------------------------------------------------------------------------------------

def test_every_legal_topic_name_deletes():
    """Names of 235-249 characters were created but could not be deleted (500 'name too long':
    the trash entry '<20 digits>.<name>' passed 255 bytes)."""
    with Cluster() as c:
        b = c.broker(standalone=True)
        for n in (1, 234, 235, 249):
            name = ("d" * n)
            create_topic(b, name, partitions=2)
            st, body, _ = b.post_json("/topics/%s" % name,
                                      {"records": [{"value": "x", "partition": 1}]})
            assert st == 200, (n, st, body)
            st, body, _ = b.request("DELETE", "/topics/%s" % name)
            assert st == 200 and body == {"name": name, "deleted": True}, (n, st, body)
            st, body, _ = b.get("/topics/%s" % name)
            assert st == 404, (n, st, body)
            create_topic(b, name, partitions=2)  # the name is free again, with no old data
            assert offsets(b, name, 1) == (0, 0), (n, offsets(b, name, 1))
        trash = os.path.join(b.data_dir, "+trash")
        wait_until(lambda: not os.path.isdir(trash) or not os.listdir(trash), timeout=10,
                   what="the trash emptied")


def test_recreated_topic_never_adopts_deleted_records():
    """Topic t (3 partitions) deleted, t created with 1, a crash while the old one's trash
    entry was being removed (its metadata first, partitions 1 and 2 not yet: the order of an
    earlier version's walk, whose entries are named '<generation>.<name>'), restart, grow t to
    3: the old binary moved the old partitions back, and partition 1 served the old topic's
    records."""
    with Cluster() as c:
        b = c.broker(standalone=True)
        create_topic(b, "t", partitions=3)
        for i in range(3):
            st, body, _ = b.post_json("/topics/t", {"records": [{"value": "old-%d" % i,
                                                                 "partition": 1}]})
            assert st == 200, (st, body)
        b.kill()
        aside = os.path.join(c.dir, "aside")
        os.mkdir(aside)
        for f in ("t-0", "t-1", "t-2", "t.topic"):
            os.rename(os.path.join(b.data_dir, f), os.path.join(aside, f))
        b.start()
        create_topic(b, "t", partitions=1)
        b.kill()
        entry = os.path.join(b.data_dir, "+trash", "00000000000000000001.t")
        os.makedirs(entry)
        for f in ("t-1", "t-2"):
            os.rename(os.path.join(aside, f), os.path.join(entry, f))
        b.start()
        st, body, _ = b.post_json("/topics/t/partitions", {"partitions": 3})
        assert st == 200, (st, body)
        for p in range(3):
            assert offsets(b, "t", p) == (0, 0), (p, offsets(b, "t", p))
            st, body = read_from(b, "t", 0, partition=p)
            assert st == 200 and body["records"] == [], (p, st, body)
        wait_until(lambda: not os.listdir(os.path.join(b.data_dir, "+trash")), timeout=10,
                   what="the trash emptied")


if __name__ == "__main__":
    brook.run([test_retention_waits_for_the_high_watermark, test_high_watermark_survives_restarts,
               test_every_legal_topic_name_deletes,
               test_recreated_topic_never_adopts_deleted_records])
