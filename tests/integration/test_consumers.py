"""Consumer groups over HTTP (REST Proxy v2 consumer instances) with real brokers: three
instances of one group on a 6-partition topic get disjoint assignments covering every
partition, and a deleted or idle instance's partitions move to the others; consuming with
explicit commits while instances come and go reads every record at least once; every
acknowledged commit survives kill -9 of a standalone broker and the loss of the leader in a
three-broker cluster; every error code with its status; __consumer_offsets is internal.
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_consumers.py
"""
import base64
import json
import time

import brook
from brook import Cluster, start_brokers, wait_leader, wait_until

V2 = "application/vnd.kafka.v2+json"
V2_BIN = "application/vnd.kafka.binary.v2+json"
V2_JSON = "application/vnd.kafka.json.v2+json"


def post(b, path, obj=None, ctype=V2, **kw):
    body = b"" if obj is None else json.dumps(obj)
    return b.request("POST", path, body=body, headers={"Content-Type": ctype}, **kw)


def new_instance(b, group, **cfg):
    st, body, _ = post(b, "/consumers/%s" % group, cfg)
    assert st == 200, (st, body)
    assert body["base_uri"].endswith("/consumers/%s/instances/%s" % (group, body["instance_id"]))
    return body["instance_id"]


def inst(group, name, rest=""):
    return "/consumers/%s/instances/%s%s" % (group, name, rest)


def subscribe(b, group, name, topics):
    st, body, _ = post(b, inst(group, name, "/subscription"), {"topics": topics})
    assert st == 204, (st, body)


def assigned(b, group, name):
    st, body, _ = b.get(inst(group, name, "/assignments"))
    assert st == 200, (st, body)
    return sorted((p["topic"], p["partition"]) for p in body["partitions"])


def records(b, group, name, timeout=0, accept=V2_BIN, max_bytes=None):
    q = "?timeout=%d" % timeout + ("&max_bytes=%d" % max_bytes if max_bytes else "")
    return b.get(inst(group, name, "/records" + q), headers={"Accept": accept},
                 timeout=timeout / 1000.0 + 10)


def create_topic(b, name, partitions):
    st, body, _ = b.post_json("/topics", {"name": name, "partitions": partitions})
    assert st == 201, (st, body)


def produce(b, topic, values, partition=None):
    path = "/topics/%s" % topic + ("/partitions/%d" % partition if partition is not None else "")
    recs = [{"value": base64.b64encode(v.encode()).decode()} for v in values]
    st, body, _ = b.post_json(path, {"records": recs}, ctype=V2_BIN, timeout=30)
    assert st == 200, (st, body)


def value(r):
    return base64.b64decode(r["value"]).decode()


def check_error(resp, status, code):
    st, body, _ = resp
    assert st == status, "expected %d, got %d %s" % (status, st, body)
    assert isinstance(body, dict) and body.get("message"), body
    assert body["error_code"] == code, "expected error_code %d, got %s" % (code, body)


def stable_cover(b, group, names, topic, parts):
    """Waits until every instance sees its part of one assignment; returns {name: parts}."""
    def ok():
        got = {n: assigned(b, group, n) for n in names}
        flat = sorted(p for ps in got.values() for p in ps)
        return got if flat == [(topic, i) for i in range(parts)] else None
    return wait_until(ok, timeout=15, what="assignment covering every partition once")


def test_three_instances_split_and_rebalance():
    """Disjoint assignments covering all 6 partitions; a deleted instance's partitions move;
    an instance idle past --consumer-instance-timeout-ms is deleted and its partitions move."""
    with Cluster() as c:
        b = c.broker(standalone=True, args=["--consumer-instance-timeout-ms", "1500"])
        create_topic(b, "six", 6)
        names = [new_instance(b, "g1", name="c%d" % i) for i in range(3)]
        for n in names:
            subscribe(b, "g1", n, ["six"])

        def touch_all(ns):  # keeps instances from idling out while the test waits
            for n in ns:
                assert b.get(inst("g1", n, "/subscription"))[0] == 200

        got = stable_cover(b, "g1", names, "six", 6)
        assert all(len(v) == 2 for v in got.values()), got  # range: 2 each
        st, view, _ = b.get("/consumers/g1")
        assert st == 200 and view["state"] == "Stable" and len(view["members"]) == 3, view
        st, groups, _ = b.get("/consumers")
        assert st == 200 and "g1" in [g["group_id"] for g in groups["groups"]], groups
        # delete one: the other two cover everything
        st, _, _ = b.request("DELETE", inst("g1", "c0"))
        assert st == 204
        check_error(b.get(inst("g1", "c0", "/assignments")), 404, 40403)
        touch_all(names[1:])
        got = stable_cover(b, "g1", names[1:], "six", 6)
        assert all(len(v) == 3 for v in got.values()), got
        # one idles past the timeout: the survivor (kept busy) takes all six
        def members():  # the group view: looking does not keep c2 alive
            st, view, _ = b.get("/consumers/g1")
            return sorted(m["member_id"] for m in view["members"])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and members() != ["c1"]:
            touch_all(["c1"])
            time.sleep(0.2)
        check_error(b.get(inst("g1", "c2", "/assignments")), 404, 40403)
        got = stable_cover(b, "g1", ["c1"], "six", 6)
        assert len(got["c1"]) == 6


def test_errors():
    """Every error code of the consumer API with its status; nothing changes on a refusal."""
    with Cluster() as c:
        b = c.broker(standalone=True)
        create_topic(b, "t", 2)
        check_error(post(b, "/consumers/g", {"format": "avro"}), 422, 42204)
        check_error(post(b, "/consumers/g", {"auto.offset.reset": "sideways"}), 422, 42204)
        check_error(post(b, "/consumers/g", {"auto.commit.enable": "maybe"}), 422, 42204)
        check_error(post(b, "/consumers/g", {"fetch.min.bytes": "-5"}), 422, 42204)
        check_error(post(b, "/consumers/g", {"name": "bad/name"}), 422, 42204)
        new_instance(b, "g", name="a", format="binary")
        check_error(post(b, "/consumers/g", {"name": "a"}), 409, 40902)
        check_error(b.get(inst("g", "nobody", "/subscription")), 404, 40403)
        check_error(b.request("DELETE", inst("g", "nobody")), 404, 40403)
        check_error(records(b, "g", "nobody"), 404, 40403)
        subscribe(b, "g", "a", ["t"])
        check_error(post(b, inst("g", "a", "/assignments"),
                         {"partitions": [{"topic": "t", "partition": 0}]}), 409, 40903)
        check_error(post(b, inst("g", "a", "/subscription"), {"topics": ["t"],
                                                            "topic_pattern": "t.*"}), 422, 42204)
        check_error(records(b, "g", "a", accept=V2_JSON), 406, 40601)
        new_instance(b, "g", name="m", format="json")
        st, _, _ = post(b, inst("g", "m", "/assignments"),
                        {"partitions": [{"topic": "t", "partition": 1}]})
        assert st == 204
        check_error(post(b, inst("g", "m", "/subscription"), {"topics": ["t"]}), 409, 40903)
        check_error(post(b, inst("g", "m", "/positions"),
                         {"offsets": [{"topic": "t", "partition": 0, "offset": 0}]}), 409, 40903)
        check_error(post(b, inst("g", "m", "/positions/beginning"),
                         {"partitions": [{"topic": "t", "partition": 0}]}), 409, 40903)
        check_error(post(b, inst("g", "m", "/positions/end"),
                         {"partitions": [{"topic": "t", "partition": 0}]}), 409, 40903)
        check_error(records(b, "g", "m", accept=V2_BIN), 406, 40601)
        # a reset policy of none with nothing committed
        new_instance(b, "g", name="n", **{"auto.offset.reset": "none"})
        st, _, _ = post(b, inst("g", "n", "/assignments"),
                        {"partitions": [{"topic": "t", "partition": 0}]})
        assert st == 204
        check_error(records(b, "g", "n"), 409, 40903)
        # __consumer_offsets is internal
        st, body, _ = b.post_json("/topics/__consumer_offsets", {"records": [{"value": "x"}]},
                                  ctype=V2_JSON)
        assert st == 403 and body["error_code"] == 40301, (st, body)
        st, body, _ = b.produce("x", topic="__consumer_offsets")
        assert st == 403, (st, body)
        st, body, _ = b.request("DELETE", "/topics/__consumer_offsets")
        assert st == 403, (st, body)
        st, body, _ = b.get("/topics/__consumer_offsets")
        assert st == 200 and body["internal"] is True, body
        assert b.get("/topics/t")[1]["internal"] is False


def test_consume_commit_and_seek():
    """Records in the instance's format with topic, partition, offset, timestamp and headers;
    an empty-body commit commits what was returned (not more); explicit commits store
    offset + 1; positions seek; a records call waits for data (long-poll)."""
    with Cluster() as c:
        b = c.broker(standalone=True)
        create_topic(b, "t", 1)
        produce(b, "t", ["a", "b", "c"])
        i = new_instance(b, "g", name="i", **{"auto.offset.reset": "earliest"})
        st, _, _ = post(b, inst("g", i, "/assignments"),
                        {"partitions": [{"topic": "t", "partition": 0}]})
        assert st == 204
        st, recs, hdrs = records(b, "g", i, max_bytes=1)
        assert st == 200 and hdrs["content-type"].startswith(V2_BIN), (st, recs, hdrs)
        assert len(recs) == 1 and recs[0]["topic"] == "t" and recs[0]["partition"] == 0
        assert recs[0]["offset"] == 0 and value(recs[0]) == "a"
        assert "timestamp" in recs[0] and recs[0]["headers"] == [] and recs[0]["key"] is None
        st, body, _ = post(b, inst("g", i, "/offsets"))  # commits offset 1: what was returned
        assert st == 200, (st, body)
        st, body, _ = b.request("GET", inst("g", i, "/offsets"),
                                body=json.dumps({"partitions": [{"topic": "t", "partition": 0}]}),
                                headers={"Content-Type": V2})
        assert st == 200 and body["offsets"][0]["offset"] == 1, (st, body)
        st, body, _ = post(b, inst("g", i, "/offsets"),
                           {"offsets": [{"topic": "t", "partition": 0, "offset": 1,
                                         "metadata": "m"}]})
        assert st == 200
        st, body, _ = b.get("/consumers/g/offsets")
        o = body["offsets"][0]
        assert o["committed"] == 2 and o["metadata"] == "m" and o["end"] == 3 and o["lag"] == 1, o
        st, recs, _ = records(b, "g", i)
        assert [value(r) for r in recs] == ["b", "c"], recs
        st, _, _ = post(b, inst("g", i, "/positions"),
                        {"offsets": [{"topic": "t", "partition": 0, "offset": 2}]})
        assert st == 204
        st, recs, _ = records(b, "g", i)
        assert [value(r) for r in recs] == ["c"], recs
        st, _, _ = post(b, inst("g", i, "/positions/beginning"),
                        {"partitions": [{"topic": "t", "partition": 0}]})
        assert st == 204
        st, recs, _ = records(b, "g", i)
        assert [r["offset"] for r in recs] == [0, 1, 2], recs
        # long-poll: an empty answer after the timeout, or records as soon as they come
        t0 = time.monotonic()
        st, recs, _ = records(b, "g", i, timeout=700)
        assert st == 200 and recs == [] and time.monotonic() - t0 >= 0.6, recs
        import threading
        threading.Timer(0.5, lambda: produce(b, "t", ["d"])).start()
        t0 = time.monotonic()
        st, recs, _ = records(b, "g", i, timeout=10000)
        assert st == 200 and [value(r) for r in recs] == ["d"], recs
        assert time.monotonic() - t0 < 8
        # a json-format instance embeds JSON values
        j = new_instance(b, "g", name="j", format="json", **{"auto.offset.reset": "earliest"})
        st, body, _ = b.post_json("/topics/t", {"records": [{"value": {"x": 1}}]}, ctype=V2_JSON)
        assert st == 200
        post(b, inst("g", j, "/assignments"), {"partitions": [{"topic": "t", "partition": 0}]})
        st, recs, _ = records(b, "g", j, accept=V2_JSON)
        assert st == 200 and recs[-1]["value"] == {"x": 1}, recs


def test_clean_stop_with_instances_and_a_waiting_poll():
    """SIGTERM with instances, a pattern subscription and a records request waiting: the
    waiting request is answered, the broker exits 0 with no sanitizer report; restarted, it
    still knows the group's committed offsets."""
    import threading
    with Cluster() as c:
        b = c.broker(standalone=True)
        create_topic(b, "pat-a", 2)
        produce(b, "pat-a", ["x"], partition=0)
        i = new_instance(b, "g", name="i", **{"auto.offset.reset": "earliest"})
        st, _, _ = post(b, inst("g", i, "/subscription"), {"topic_pattern": "pat-.*"})
        assert st == 204
        st, sub, _ = b.get(inst("g", i, "/subscription"))
        assert sub == {"topics": ["pat-a"], "topic_pattern": "pat-.*"}, sub
        got = wait_until(lambda: records(b, "g", i, timeout=200)[1], timeout=10,
                         what="the record of the pattern's topic")
        assert [value(r) for r in got] == ["x"]
        assert post(b, inst("g", i, "/offsets"))[0] == 200
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("r", records(b, "g", i,
                                                                        timeout=20000)))
        t.start()
        time.sleep(0.5)
        assert b.terminate() == 0
        t.join(10)
        assert out.get("r") and out["r"][0] == 200 and out["r"][1] == [], out
        assert brook.sanitizer_reports([b]) == []
        b.start()
        st, body, _ = b.get("/consumers/g/offsets")
        assert st == 200 and body["offsets"][0]["committed"] == 1, body
        st, view, _ = b.get("/consumers/g")
        assert st == 200 and [m["member_id"] for m in view["members"]] == ["i"], view


def test_offsets_of_an_empty_group_expire():
    """--offsets-retention-ms: once the group has been empty that long its offsets go
    (tombstones in __consumer_offsets), also after a restart; a group with members keeps them."""
    with Cluster() as c:
        b = c.broker(standalone=True, args=["--offsets-retention-ms", "1500"])
        create_topic(b, "t", 1)
        for g in ("gone", "kept"):
            new_instance(b, g, name="i")
            post(b, inst(g, "i", "/assignments"), {"partitions": [{"topic": "t", "partition": 0}]})
            assert post(b, inst(g, "i", "/offsets"),
                        {"offsets": [{"topic": "t", "partition": 0, "offset": 4}]})[0] == 200
        assert b.request("DELETE", inst("gone", "i"))[0] == 204
        time.sleep(0.5)

        def expired():
            assert b.get(inst("kept", "i", "/assignments"))[0] == 200  # stays busy
            st, body, _ = b.get("/consumers/gone/offsets")
            return st == 404 or (st == 200 and body["offsets"] == [])
        wait_until(expired, timeout=20, what="the empty group's offsets to expire")
        st, body, _ = b.get("/consumers/kept/offsets")
        assert st == 200 and body["offsets"][0]["committed"] == 5, body
        b.kill()
        b.start()
        st, body, _ = b.get("/consumers/gone/offsets")
        assert st == 404 or body["offsets"] == [], (st, body)


def consume_all(b, group, names, expect, rounds=400):
    """Reads with explicit empty-body commits until every value in expect was seen."""
    seen = set()
    for _ in range(rounds):
        for n in names:
            st, recs, _ = records(b, group, n, timeout=100)
            if st == 404:
                continue
            assert st == 200, (st, recs)
            seen.update(value(r) for r in recs)
            st, _, _ = post(b, inst(group, n, "/offsets"))
            assert st in (200, 404), st
        if expect <= seen:
            return seen
    raise AssertionError("missing %d records" % len(expect - seen))


def test_at_least_once_while_instances_come_and_go():
    with Cluster() as c:
        b = c.broker(standalone=True)
        create_topic(b, "six", 6)
        expect = set()
        for p in range(6):
            vals = ["p%d-%d" % (p, k) for k in range(50)]
            produce(b, "six", vals, partition=p)
            expect.update(vals)
        names = [new_instance(b, "g", name="w%d" % k, **{"auto.offset.reset": "earliest"})
                 for k in range(3)]
        for n in names:
            subscribe(b, "g", n, ["six"])
        seen = set()
        for r in range(3):  # some reading, then one instance goes and another comes
            for n in names:
                st, recs, _ = records(b, "g", n, timeout=200, max_bytes=64)
                if st == 200:
                    seen.update(value(x) for x in recs)
                    post(b, inst("g", n, "/offsets"))
            gone = names.pop(0)
            assert b.request("DELETE", inst("g", gone))[0] == 204
            n = new_instance(b, "g", name="late%d" % r, **{"auto.offset.reset": "earliest"})
            subscribe(b, "g", n, ["six"])
            names.append(n)
        seen |= consume_all(b, "g", names, expect - seen)
        assert expect <= seen
        st, body, _ = b.get("/consumers/g/offsets")
        assert sum(o["lag"] for o in body["offsets"]) == 0, body


def commit_checker(b, group, name, n, start=0):
    """Commits offsets start..start+n-1 of partition 0 one by one; returns the acknowledged."""
    acked = []
    for k in range(start, start + n):
        try:
            st, _, _ = post(b, inst(group, name, "/offsets"),
                            {"offsets": [{"topic": "t", "partition": 0, "offset": k}]}, timeout=5)
        except OSError:
            break
        if st == 200:
            acked.append(k + 1)
    return acked


def test_commits_survive_kill9_standalone():
    with Cluster() as c:
        b = c.broker(standalone=True)
        create_topic(b, "t", 1)
        new_instance(b, "g", name="i")
        post(b, inst("g", "i", "/assignments"), {"partitions": [{"topic": "t", "partition": 0}]})
        acked = commit_checker(b, "g", "i", 30)
        assert len(acked) == 30
        b.kill()
        b.start()
        st, body, _ = b.get("/consumers/g/offsets")
        assert st == 200 and body["offsets"][0]["committed"] == acked[-1], body
        st, body, _ = b.get("/topics")
        assert st == 200


def test_commits_survive_leader_loss_in_cluster():
    """Three brokers with min.insync 2: every commit acknowledged by the leader is read back
    from the new leader after the old one is killed; a follower forwards group requests."""
    with Cluster() as c:
        redis = c.redis()
        bs = start_brokers(c, redis, 3, extra=["--min-insync-replicas", "2",
                                               "--follower-writes", "proxy"])
        leader = wait_leader(bs)[0]
        create_topic(leader, "t", 1)
        new_instance(leader, "g", name="i")
        follower = [x for x in bs if x is not leader][0]
        # a follower relays group requests to the leader
        st, body, _ = post(follower, inst("g", "i", "/assignments"),
                           {"partitions": [{"topic": "t", "partition": 0}]})
        assert st == 204, (st, body)
        acked = commit_checker(leader, "g", "i", 20)
        assert len(acked) == 20
        leader.kill()
        rest = [x for x in bs if x is not leader]
        new = wait_leader(rest, timeout=30)[0]

        def committed():
            st, body, _ = new.get("/consumers/g/offsets")
            return body if st == 200 else None
        body = wait_until(committed, timeout=30, what="the new leader answers group offsets")
        assert body["offsets"][0]["committed"] == acked[-1], (body, acked)


if __name__ == "__main__":
    brook.run([test_three_instances_split_and_rebalance, test_errors,
               test_consume_commit_and_seek, test_clean_stop_with_instances_and_a_waiting_poll,
               test_at_least_once_while_instances_come_and_go,
               test_offsets_of_an_empty_group_expire, test_commits_survive_kill9_standalone, test_commits_survive_leader_loss_in_cluster])
