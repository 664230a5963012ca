"""Consumer groups administered without an instance, with real brokers: POST
/consumers/{g}/offsets commits for a group that has no members (refused with 409 40903 while it
has some; unknown topics and partitions 404 40401/40402) and a new instance resumes there;
DELETE /consumers/{g} deletes an empty group for good (also across kill -9); /metrics shows
members, generation, state, rebalances, commits and lag per partition; an instance's
topic_pattern and manual assignment survive the loss of the leader; and POST /consumers/{g}
answers only once the instance's record is acknowledged (kill -9 right after the 200 keeps it,
too few in-sync replicas is a 503 with no instance left behind).
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_consumer_groups_admin.py
"""
import base64
import json
import re
import signal
import threading
import time

import brook
from brook import Cluster, start_brokers, wait_leader, wait_until

V2 = "application/vnd.kafka.v2+json"
V2_BIN = "application/vnd.kafka.binary.v2+json"


def post(b, path, obj=None, ctype=V2, **kw):
    body = b"" if obj is None else json.dumps(obj)
    return b.request("POST", path, body=body, headers={"Content-Type": ctype}, **kw)


def inst(group, name, rest=""):
    return "/consumers/%s/instances/%s%s" % (group, name, rest)


def new_instance(b, group, **cfg):
    st, body, _ = post(b, "/consumers/%s" % group, cfg, timeout=30)
    assert st == 200, (st, body)
    return body["instance_id"]


def new_instance_when_in_sync(b, group, name):
    """Right after an election the followers may not be in sync yet: the record of a new
    instance is then refused (503, nothing created); retry until it is acknowledged."""
    def made():
        st, body, _ = post(b, "/consumers/%s" % group, {"name": name}, timeout=30)
        assert st in (200, 503), (st, body)
        return st == 200
    wait_until(made, timeout=30, interval=0.3, what="the followers in sync")


def create_topic(b, name, partitions):
    st, body, _ = b.post_json("/topics", {"name": name, "partitions": partitions}, timeout=30)
    assert st == 201, (st, body)


def produce(b, topic, partition, n):
    recs = [{"value": base64.b64encode(b"v%d" % k).decode()} for k in range(n)]
    st, body, _ = b.post_json("/topics/%s/partitions/%d" % (topic, partition), {"records": recs},
                              ctype=V2_BIN, timeout=30)
    assert st == 200, (st, body)


def check_error(resp, status, code, words=()):
    st, body, _ = resp
    assert st == status, "expected %d, got %d %s" % (status, st, body)
    assert isinstance(body, dict) and body.get("message"), body
    assert body["error_code"] == code, "expected error_code %d, got %s" % (code, body)
    for w in words:
        assert w in body["message"], (w, body)


def committed(b, group):
    st, body, _ = b.get("/consumers/%s/offsets" % group)
    assert st == 200, (st, body)
    return {(o["topic"], o["partition"]): (o["committed"], o["metadata"], o["lag"])
            for o in body["offsets"]}


def group_ids(b):
    st, body, _ = b.get("/consumers")
    assert st == 200, (st, body)
    return sorted(g["group_id"] for g in body["groups"])


def commit(b, group, entries):
    return post(b, "/consumers/%s/offsets" % group, {"offsets": entries})


def test_group_commit_without_instance():
    with Cluster() as c:
        b = c.broker(standalone=True)
        create_topic(b, "t", 2)
        produce(b, "t", 0, 10)
        produce(b, "t", 1, 3)
        st, body, _ = commit(b, "reader", [{"topic": "t", "partition": 0, "offset": 4,
                                            "metadata": "batch-7"},
                                           {"topic": "t", "partition": 1, "offset": 0}])
        assert st == 200, (st, body)
        assert committed(b, "reader") == {("t", 0): (5, "batch-7", 5), ("t", 1): (1, "", 2)}
        assert "reader" in group_ids(b)
        # refusals change nothing
        check_error(commit(b, "reader", [{"topic": "nope", "partition": 0, "offset": 1}]),
                    404, 40401, ["nope"])
        check_error(commit(b, "reader", [{"topic": "t", "partition": 0, "offset": 1},
                                         {"topic": "t", "partition": 2, "offset": 1}]),
                    404, 40402, ["partition 2"])
        check_error(commit(b, "reader", [{"topic": "t", "partition": -1, "offset": 1}]),
                    422, 42204)
        check_error(commit(b, "reader", [{"topic": "t", "partition": 0, "offset": -3}]),
                    422, 42204)
        check_error(commit(b, "reader", [{"topic": "__consumer_offsets", "partition": 0,
                                          "offset": 1}]), 422, 42204, ["internal"])
        check_error(post(b, "/consumers/reader/offsets", {"offsets": []}), 422, 42204)
        check_error(post(b, "/consumers/reader/offsets", {"partitions": []}), 422, 42204)
        check_error(post(b, "/consumers/reader/offsets"), 422, 42204)
        assert committed(b, "reader")[("t", 0)] == (5, "batch-7", 5)
        # a new instance resumes at the committed offset (not at its reset policy)
        new_instance(b, "reader", name="i", **{"auto.offset.reset": "latest"})
        st, _, _ = post(b, inst("reader", "i", "/assignments"),
                        {"partitions": [{"topic": "t", "partition": 0}]})
        assert st == 204
        st, recs, _ = b.get(inst("reader", "i", "/records?timeout=2000"),
                            headers={"Accept": V2_BIN}, timeout=15)
        assert st == 200 and recs and recs[0]["offset"] == 5, (st, recs)
        # while the group has a member: 409 40903, nothing committed
        check_error(commit(b, "reader", [{"topic": "t", "partition": 0, "offset": 8}]),
                    409, 40903, ["reader", "1 member"])
        assert committed(b, "reader")[("t", 0)] == (5, "batch-7", 5)
        st, _, _ = b.request("DELETE", inst("reader", "i"))
        assert st == 204
        st, body, _ = commit(b, "reader", [{"topic": "t", "partition": 0, "offset": 8}])
        assert st == 200, (st, body)
        assert committed(b, "reader")[("t", 0)] == (9, "", 1)
        # acknowledged commits survive kill -9
        b.kill()
        b.start()
        assert committed(b, "reader") == {("t", 0): (9, "", 1), ("t", 1): (1, "", 2)}


def test_delete_group():
    with Cluster() as c:
        b = c.broker(standalone=True)
        create_topic(b, "t", 1)
        produce(b, "t", 0, 5)
        check_error(b.request("DELETE", "/consumers/ghost"), 404, 404, ["ghost"])
        # offsets only (no group record)
        assert commit(b, "plain", [{"topic": "t", "partition": 0, "offset": 2}])[0] == 200
        # a group that had an instance: group record and offsets
        new_instance(b, "had", name="i")
        post(b, inst("had", "i", "/assignments"), {"partitions": [{"topic": "t", "partition": 0}]})
        assert post(b, inst("had", "i", "/offsets"),
                    {"offsets": [{"topic": "t", "partition": 0, "offset": 1}]})[0] == 200
        # a group with a member is not deleted
        new_instance(b, "busy", name="i")
        check_error(b.request("DELETE", "/consumers/busy"), 409, 40903, ["busy", "member"])
        check_error(b.request("DELETE", "/consumers/had"), 409, 40903, ["had"])
        assert b.request("DELETE", inst("had", "i"))[0] == 204
        assert group_ids(b) == ["busy", "had", "plain"]
        for g in ("plain", "had"):
            st, body, _ = b.request("DELETE", "/consumers/%s" % g)
            assert st == 204, (g, st, body)
            check_error(b.get("/consumers/%s" % g), 404, 404)
            check_error(b.get("/consumers/%s/offsets" % g), 404, 404)
            check_error(b.request("DELETE", "/consumers/%s" % g), 404, 404)
        assert group_ids(b) == ["busy"]
        st, view, _ = b.get("/consumers/busy")
        assert st == 200 and [m["member_id"] for m in view["members"]] == ["i"], view
        # deleted stays deleted after kill -9 and replay
        b.kill()
        b.start()
        assert group_ids(b) == ["busy"]
        check_error(b.get("/consumers/had/offsets"), 404, 404)
        # a deleted group's name can be used again, from scratch
        new_instance(b, "had", name="again")
        st, view, _ = b.get("/consumers/had")
        assert st == 200 and view["generation"] == 1, view
        assert committed(b, "had") == {}
        assert b.terminate() == 0
        assert brook.sanitizer_reports([b]) == []


METRIC = re.compile(r'^(\w+)\{([^}]*)\} (\S+)$')


def metrics(b):
    st, text, _ = b.get("/metrics")
    assert st == 200, st
    out = {}
    for line in text.splitlines():
        m = METRIC.match(line)
        if m and m.group(1).startswith("brook_group_"):
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2))))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def val(ms, name, **labels):
    return ms.get((name, tuple(sorted(labels.items()))))


def test_metrics_per_group():
    with Cluster() as c:
        b = c.broker(standalone=True)
        create_topic(b, "t", 2)
        produce(b, "t", 0, 10)
        assert commit(b, "lagging", [{"topic": "t", "partition": 0, "offset": 3}])[0] == 200
        assert commit(b, "lagging", [{"topic": "t", "partition": 1, "offset": 0}])[0] == 200
        new_instance(b, "live", name="a")
        st, _, _ = post(b, inst("live", "a", "/subscription"), {"topics": ["t"]})
        assert st == 204
        ms = metrics(b)
        assert val(ms, "brook_group_lag", group="lagging", topic="t", partition="0") == 6, ms
        assert val(ms, "brook_group_lag", group="lagging", topic="t", partition="1") == 0, ms
        assert val(ms, "brook_group_committed_offset", group="lagging", topic="t",
                   partition="0") == 4
        assert val(ms, "brook_group_commits_total", group="lagging") == 2
        assert val(ms, "brook_group_members", group="lagging") == 0
        assert val(ms, "brook_group_state", group="lagging", state="Empty") == 1
        assert val(ms, "brook_group_members", group="live") == 1
        assert val(ms, "brook_group_state", group="live", state="Stable") == 1
        assert val(ms, "brook_group_state", group="live", state="Empty") == 0
        assert val(ms, "brook_group_generation", group="live") >= 2  # join, then subscribe
        assert val(ms, "brook_group_rebalances_total", group="live") >= 2
        assert val(ms, "brook_group_commits_total", group="live") == 0
        produce(b, "t", 0, 5)
        produce(b, "t", 1, 2)
        ms = metrics(b)
        assert val(ms, "brook_group_lag", group="lagging", topic="t", partition="0") == 11, ms
        assert val(ms, "brook_group_lag", group="lagging", topic="t", partition="1") == 1, ms
        assert post(b, inst("live", "a", "/offsets"),
                    {"offsets": [{"topic": "t", "partition": 1, "offset": 0}]})[0] == 200
        ms = metrics(b)
        assert val(ms, "brook_group_commits_total", group="live") == 1
        assert val(ms, "brook_group_lag", group="live", topic="t", partition="1") == 1, ms
        # a deleted group leaves /metrics
        assert b.request("DELETE", "/consumers/lagging")[0] == 204
        ms = metrics(b)
        assert not [k for k in ms if ("group", "lagging") in k[1]], ms
        assert b.terminate() == 0
        assert brook.sanitizer_reports([b]) == []


def test_create_survives_kill9_right_after_its_answer():
    """kill -9 right after POST /consumers/{g} answers 200: the instance is there after the
    restart (the first one also creates __consumer_offsets)."""
    with Cluster() as c:
        b = c.broker(standalone=True)
        for k in range(5):
            st, body, _ = post(b, "/consumers/g", {"name": "k%d" % k, "format": "json"})
            assert st == 200, (st, body)
            b.kill()
            b.start()
            for j in range(k + 1):
                st, body, _ = b.get(inst("g", "k%d" % j, "/subscription"))
                assert st == 200, ("k%d" % j, st, body)


def test_create_refused_without_enough_in_sync_replicas():
    """Too few in-sync replicas to write the instance's record: 503, and no instance left."""
    with Cluster() as c:
        redis = c.redis()
        bs = start_brokers(c, redis, 3, extra=["--min-insync-replicas", "2",
                                               "--replica-lag-ms", "1000"])
        leader = wait_leader(bs)[0]
        new_instance_when_in_sync(leader, "g", "first")  # __consumer_offsets is on every broker
        for x in bs:
            if x is not leader:
                x.kill()

        def refused():
            st, body, _ = post(leader, "/consumers/g", {"name": "second"}, timeout=30)
            assert st in (200, 503), (st, body)
            if st == 200:  # still in sync: take it back and try again
                assert leader.request("DELETE", inst("g", "second"))[0] in (204, 404)
                return None
            return body
        body = wait_until(refused, timeout=60, interval=0.5, what="a 503 once too few in sync")
        assert body["error_code"] == 503 and "__consumer_offsets" in body["message"], body
        assert "second" in body["message"], body
        check_error(leader.get(inst("g", "second", "/subscription")), 404, 40403)
        st, view, _ = leader.get("/consumers/g")
        assert st == 200 and [m["member_id"] for m in view["members"]] == ["first"], view


def test_create_waits_for_the_replicas_and_stop_answers_it():
    """With the followers stopped (still in the in-sync set) the new instance's record is not
    acknowledged, so POST /consumers/{g} is not answered yet; a SIGTERM then answers it 503
    and the broker exits cleanly."""
    with Cluster() as c:
        redis = c.redis()
        bs = start_brokers(c, redis, 3, extra=["--min-insync-replicas", "2"])
        leader = wait_leader(bs)[0]
        new_instance_when_in_sync(leader, "g", "first")
        followers = [x for x in bs if x is not leader]
        for x in followers:
            x.signal(signal.SIGSTOP)
        got = {}

        def create():
            try:
                got["r"] = post(leader, "/consumers/g", {"name": "waiting"}, timeout=60)
            except OSError as e:
                got["r"] = e
        t = threading.Thread(target=create)
        t.start()
        time.sleep(1.5)
        assert "r" not in got, got  # not acknowledged: not answered
        assert leader.terminate() == 0
        t.join(30)
        st, body, _ = got["r"]
        assert st == 503 and body["error_code"] == 503, (st, body)
        for x in followers:
            x.signal(signal.SIGCONT)
        assert brook.sanitizer_reports([leader]) == []


def test_pattern_and_manual_assignment_survive_leader_loss():
    with Cluster() as c:
        redis = c.redis()
        bs = start_brokers(c, redis, 3, extra=["--min-insync-replicas", "2"])
        leader = wait_leader(bs)[0]
        new_instance_when_in_sync(leader, "gp", "p")
        create_topic(leader, "pa-1", 2)
        create_topic(leader, "other", 2)
        st, body, _ = post(leader, inst("gp", "p", "/subscription"), {"topic_pattern": "pa-.*"},
                           timeout=30)
        assert st == 204, (st, body)
        new_instance(leader, "gm", name="m")
        st, body, _ = post(leader, inst("gm", "m", "/assignments"),
                           {"partitions": [{"topic": "other", "partition": 1}]}, timeout=30)
        assert st == 204, (st, body)
        leader.kill()
        rest = [x for x in bs if x is not leader]
        new = wait_leader(rest, timeout=30)[0]

        def subscription():
            st, body, _ = new.get(inst("gp", "p", "/subscription"))
            return body if st == 200 else None
        sub = wait_until(subscription, timeout=30, what="the new leader answers the instance")
        assert sub == {"topics": ["pa-1"], "topic_pattern": "pa-.*"}, sub
        st, body, _ = new.get(inst("gm", "m", "/assignments"))
        assert st == 200 and body["partitions"] == [{"topic": "other", "partition": 1}], body
        # the pattern still works: a new matching topic is picked up
        create_topic(new, "pa-2", 1)

        def assigned():
            st, body, _ = new.get(inst("gp", "p", "/assignments"))
            got = sorted((p["topic"], p["partition"]) for p in body["partitions"])
            return got if ("pa-2", 0) in got else None
        got = wait_until(assigned, timeout=30, what="pa-2 in the pattern's assignment")
        assert got == [("pa-1", 0), ("pa-1", 1), ("pa-2", 0)], got


if __name__ == "__main__":
    brook.run([test_group_commit_without_instance, test_delete_group, test_metrics_per_group,
               test_create_survives_kill9_right_after_its_answer,
               test_create_refused_without_enough_in_sync_replicas,
               test_create_waits_for_the_replicas_and_stop_answers_it,
               test_pattern_and_manual_assignment_survive_leader_loss])
