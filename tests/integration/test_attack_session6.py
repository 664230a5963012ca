"""Adversarial regressions found in session 6 (content coding, compaction of compressed
batches, consumer group administration), each with real brokers.
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_attack_session6.py
"""
import base64
import json
import signal
import threading
import time

import brook  # noqa: F401
from brook import Cluster, start_brokers, wait_leader, wait_until

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


def committed(b, group):
    st, body, _ = b.get("/consumers/%s/offsets" % group)
    return st, body


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
        time.sleep(1.0)
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


TESTS = [test_delete_group_while_a_commit_is_written]

if __name__ == "__main__":
    import brook
    brook.run(TESTS)
