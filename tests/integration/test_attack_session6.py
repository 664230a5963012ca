"""Adversarial regressions found in session 6 (content coding, compaction of compressed
batches, consumer group administration), each with real brokers.
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_attack_session6.py
"""
import json
import signal
import socket
import struct
import threading
import time

import brook  # noqa: F401
from brook import Cluster, start_brokers, wait_leader, wait_until
from kafka_wire import frame, kstr, read_frame

V2 = "application/vnd.kafka.v2+json"
V2_BIN = "application/vnd.kafka.binary.v2+json"


def post(b, path, obj=None, ctype=V2, **kw):
    body = b"" if obj is None else json.dumps(obj)
    return b.request("POST", path, body=body, headers={"Content-Type": ctype}, **kw)


def in_background(fn):
    got = {}

    def run():
        try:
            got["r"] = fn()
        except OSError as e:
            got["r"] = e
    t = threading.Thread(target=run)
    t.start()
    return t, got


def health_role(b):
    try:
        st, body, _ = b.get("/health", timeout=2)
    except OSError:
        return None
    return body.get("role") if st == 200 else None


def committed(b, group):
    st, body, _ = b.get("/consumers/%s/offsets" % group)
    return st, body


def test_204_has_no_content_length():
    """A 204 answer carries no Content-Length (RFC 9110 8.6: a server MUST NOT send one) and
    no Content-Type, and the connection stays usable for a request pipelined behind it."""
    with Cluster() as c:
        b = c.broker(standalone=True)
        st, body, _ = post(b, "/consumers/g204", {"name": "i1", "format": "json"})
        assert st == 200, (st, body)
        with socket.create_connection(("127.0.0.1", b.port), timeout=10) as s:
            s.sendall(b"DELETE /consumers/g204/instances/i1 HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"}"):
                chunk = s.recv(65536)
                assert chunk, data
                data += chunk
        first, rest = data.split(b"\r\n\r\n", 1)
        assert first.startswith(b"HTTP/1.1 204"), first
        assert b"content-length" not in first.lower(), first
        assert b"content-type" not in first.lower(), first
        assert rest.startswith(b"HTTP/1.1 200"), rest
        assert b.terminate(timeout=30) == 0


def test_delete_group_while_a_commit_is_written():
    """A group commit still waiting for its replicas when DELETE /consumers/{g} arrives: the
    delete must not answer 204 and leave that commit behind (the group alive with offsets, and
    back after every replay)."""
    with Cluster() as c:
        redis = c.redis()
        bs = start_brokers(c, redis, 2, extra=["--min-insync-replicas", "2",
                                               "--replica-lag-ms", "20000"])
        leader = wait_leader(bs)[0]
        follower = [x for x in bs if x is not leader][0]
        st, body, _ = leader.post_json("/topics", {"name": "t", "partitions": 2}, timeout=30)
        assert st == 201, (st, body)

        def first_commit():
            st, body, _ = post(leader, "/consumers/g/offsets",
                               {"offsets": [{"topic": "t", "partition": 0, "offset": 1}]},
                               timeout=30)
            assert st in (200, 503), (st, body)
            return st == 200
        wait_until(first_commit, timeout=30, interval=0.3, what="a first group commit")
        follower.signal(signal.SIGSTOP)
        t1, c1 = in_background(lambda: post(
            leader, "/consumers/g/offsets",
            {"offsets": [{"topic": "t", "partition": 1, "offset": 7}]}, timeout=60))
        time.sleep(2.0)
        assert "r" not in c1, c1  # waiting for the stopped follower
        t2, c2 = in_background(lambda: leader.request("DELETE", "/consumers/g", timeout=60))
        time.sleep(1.0)
        follower.signal(signal.SIGCONT)
        t1.join(60)
        t2.join(60)
        st1 = c1["r"][0]
        st2, body2, _ = c2["r"]
        assert st1 == 200, c1
        if st2 == 204:
            # deleted: nothing of the group may remain, now or after a replay
            st, body = committed(leader, "g")
            assert st == 404, ("group deleted (204) but still has offsets", st, body)
        else:
            assert st2 == 503, (st2, body2)
            st, body = committed(leader, "g")
            assert st == 200 and len(body["offsets"]) == 2, body


def test_offsets_expiry_spares_a_commit_being_written():
    """A group's old commit is due to expire while a new commit of the same partition waits for
    its replicas: the expiry's tombstone, appended behind the new commit, must not delete it
    (it was answered 200 and is fresh)."""
    with Cluster() as c:
        redis = c.redis()
        bs = start_brokers(c, redis, 2, extra=["--min-insync-replicas", "2",
                                               "--replica-lag-ms", "30000",
                                               "--offsets-retention-ms", "14000"])
        leader = wait_leader(bs)[0]
        follower = [x for x in bs if x is not leader][0]
        st, body, _ = leader.post_json("/topics", {"name": "t", "partitions": 1}, timeout=30)
        assert st == 201, (st, body)

        def commit(offset):
            return post(leader, "/consumers/old/offsets",
                        {"offsets": [{"topic": "t", "partition": 0, "offset": offset}]},
                        timeout=60)

        wait_until(lambda: commit(1)[0] == 200, timeout=30, interval=0.3,
                   what="a first group commit")
        t0 = time.monotonic()
        # retention 14 s, expiry every 7 s: the first commit expires at 14 s and is tombstoned
        # by 21 s, while the second (sent at 11 s, not due before 25 s) waits for the follower
        time.sleep(11.0)
        follower.signal(signal.SIGSTOP)
        t1, c1 = in_background(lambda: commit(7))
        time.sleep(max(0.0, t0 + 21.5 - time.monotonic()))
        assert "r" not in c1, c1
        follower.signal(signal.SIGCONT)
        t1.join(60)
        st, body, _ = c1["r"]
        assert st == 200, (st, body)
        assert time.monotonic() - t0 < 24.5, "too slow to tell an expiry of the second commit"
        time.sleep(0.3)  # the expiry's tombstone, if any, is acknowledged right behind it
        st, body = committed(leader, "old")
        assert st == 200, ("a commit answered 200 just now is gone", st, body)
        assert [(o["partition"], o["committed"]) for o in body["offsets"]] == [(0, 8)], body
        # what a new leader replays from __consumer_offsets must say the same
        time.sleep(1.0)  # the follower copies both records
        leader.kill()
        wait_until(lambda: health_role(follower) == "leader", timeout=30, what="a new leader")
        got = {}

        def replayed():
            got["r"] = committed(follower, "old")
            return got["r"][0] != 503
        wait_until(replayed, timeout=30, interval=0.3, what="the groups replayed")
        st, body = got["r"]
        assert st == 200, ("the commit answered 200 is gone after a failover", st, body)
        assert [(o["partition"], o["committed"]) for o in body["offsets"]] == [(0, 8)], body


def test_commits_acknowledged_together_apply_in_log_order():
    """Two commits of one partition wait for the same stopped follower; once it fetches, one
    high watermark move acknowledges both. The coordinator must apply them in log order, so it
    answers what __consumer_offsets says (and what a new leader would replay): the second."""
    with Cluster() as c:
        redis = c.redis()
        bs = start_brokers(c, redis, 2, extra=["--min-insync-replicas", "2",
                                               "--replica-lag-ms", "30000"])
        leader = wait_leader(bs)[0]
        follower = [x for x in bs if x is not leader][0]
        st, body, _ = leader.post_json("/topics", {"name": "t", "partitions": 1}, timeout=30)
        assert st == 201, (st, body)

        def commit(offset):
            return post(leader, "/consumers/ord/offsets",
                        {"offsets": [{"topic": "t", "partition": 0, "offset": offset}]},
                        timeout=60)
        wait_until(lambda: commit(0)[0] == 200, timeout=30, interval=0.3,
                   what="a first group commit")
        follower.signal(signal.SIGSTOP)
        time.sleep(3.0)  # its parked fetch is answered (empty): it will fetch both at once
        ta, ca = in_background(lambda: commit(4))
        time.sleep(1.0)
        tb, cb = in_background(lambda: commit(9))
        time.sleep(1.0)
        assert "r" not in ca and "r" not in cb, (ca, cb)
        follower.signal(signal.SIGCONT)
        ta.join(60)
        tb.join(60)
        assert ca["r"][0] == 200 and cb["r"][0] == 200, (ca, cb)
        st, body = committed(leader, "ord")
        assert st == 200, (st, body)
        assert [(o["partition"], o["committed"]) for o in body["offsets"]] == [(0, 10)], \
            ("the coordinator applied the commits out of log order", body)




def test_kafka_commit_during_group_delete_is_refused():
    """A Kafka OffsetCommit (standalone: generation -1, no member) to a group whose DELETE
    /consumers/{g} is still writing its tombstones answers COORDINATOR_NOT_AVAILABLE (15,
    retriable) at once, as the HTTP routes answer 503; before, it was taken and written behind
    the tombstones, so the group came back with that offset after the delete's 204."""
    with Cluster() as c:
        redis = c.redis()
        bs = []
        for i in range(2):
            port = brook.free_port()
            b = c.broker(name="broker%d" % (i + 1), redis=redis, start=False,
                         args=brook.cluster_args(2000, 500, [
                             "--kafka-port", str(port), "--min-insync-replicas", "2",
                             "--replica-lag-ms", "20000"]))
            b.kport = port
            bs.append(b)
        for b in bs:
            b.start(wait=False)
        for b in bs:
            brook.wait_port(b.port, proc=b.proc)
            brook.wait_port(b.kport, proc=b.proc)
        leader = wait_leader(bs)[0]
        follower = [x for x in bs if x is not leader][0]
        st, body, _ = leader.post_json("/topics", {"name": "t", "partitions": 2}, timeout=30)
        assert st == 201, (st, body)

        def first_commit():
            st, body, _ = post(leader, "/consumers/g/offsets",
                               {"offsets": [{"topic": "t", "partition": 0, "offset": 1}]},
                               timeout=30)
            assert st in (200, 503), (st, body)
            return st == 200
        wait_until(first_commit, timeout=30, interval=0.3, what="a first group commit")
        follower.signal(signal.SIGSTOP)
        t2, c2 = in_background(lambda: leader.request("DELETE", "/consumers/g", timeout=60))
        time.sleep(1.5)
        assert "r" not in c2, c2  # the tombstones wait for the stopped follower
        body = (kstr("g") + struct.pack(">i", -1) + kstr("") + struct.pack(">q", -1) +
                struct.pack(">i", 1) + kstr("t") + struct.pack(">i", 1) +
                struct.pack(">iq", 1, 5) + struct.pack(">h", -1))
        with socket.create_connection(("127.0.0.1", leader.kport), timeout=5) as s:
            s.sendall(frame(8, 2, 11, body, client="attack"))
            data = read_frame(s, timeout=5)  # a timeout here: the commit was taken, waiting
        corr, ntopics = struct.unpack(">ii", data[:8])
        (nlen,) = struct.unpack(">h", data[8:10])
        nparts, part, err = struct.unpack(">iih", data[10 + nlen:20 + nlen])
        assert (corr, ntopics, nparts, part, err) == (11, 1, 1, 1, 15), (corr, part, err)
        follower.signal(signal.SIGCONT)
        t2.join(60)
        st2 = c2["r"][0]
        assert st2 == 204, c2
        st, body = committed(leader, "g")
        assert st == 404, ("deleted group has offsets", st, body)


def test_bodies_that_yajl_takes_but_are_not_json():
    """A produce body with an unterminated string after its object, or a vertical tab as
    whitespace, is not JSON: 400, nothing written (yajl's end of parse took both: 200)."""
    with Cluster() as c:
        b = c.broker(standalone=True)
        st, body, _ = b.post_json("/produce", {"message": "first", "topic": "q"})
        assert st == 200, (st, body)
        for bad in (b'{"message":"x","topic":"q"} "abc', b'{"message":"x","topic":"q"}\x0b',
                    b'{"message":"x","topic":"q"} "ab}'):
            st, body, _ = b.request("POST", "/produce", body=bad,
                                    headers={"Content-Type": "application/json"})
            assert st == 400 and "malformed JSON" in body["message"], (bad, st, body)
        st, body, _ = b.request("POST", "/topics/q", body=b'{"records":[{"value":1}]} "x',
                                headers={"Content-Type": "application/vnd.kafka.json.v2+json"})
        assert st == 400, (st, body)
        st, page, _ = b.get("/topics/q/partitions/0/records")
        assert st == 200 and [r["value"] for r in page["records"]] == ["first"], page
        assert b.terminate(timeout=30) == 0


if __name__ == "__main__":
    brook.run(brook.tests_in(globals()))
