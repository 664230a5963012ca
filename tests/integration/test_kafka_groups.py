"""Kafka consumer groups (issue 13, group APIs) with real, unmodified clients: two
confluent-kafka (librdkafka) consumers in one group split a 4-partition topic and commit
explicitly; when one closes the other takes over its partitions; after a broker restart a new
consumer resumes from the committed offsets (durable in __consumer_offsets) and a running
member keeps its membership; kcat's balanced consumer (-G) reads a topic; a follower names the
leader as coordinator; a held JoinGroup is answered when leadership is lost; the HTTP consumer
API and the Kafka listener share one coordinator and one store. On a binary without the group
APIs every test fails (the APIs are not advertised, or raw requests close the connection)."""
import os
import socket
import struct
import subprocess
import sys
import time

try:
    import confluent_kafka  # noqa: F401
except ImportError:  # the Debian package lives in the system interpreter
    if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3" \
            and not os.environ.get("BROOK_KAFKA_REEXEC"):
        os.environ["BROOK_KAFKA_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import brook
from brook import Cluster, free_port, wait_leader, wait_until


def kafka_broker(c, *args, **kw):
    port = free_port()
    b = c.broker(args=["--kafka-port", str(port)] + list(args), **kw)
    b.kport = port
    brook.wait_port(port, proc=b.proc)
    return b


def boot(b):
    return "127.0.0.1:%d" % b.kport


def make_topic(b, name, parts, per_part):
    a = AdminClient({"bootstrap.servers": boot(b)})
    a.create_topics([NewTopic(name, parts, 1)])[name].result(30)
    p = Producer({"bootstrap.servers": boot(b), "acks": "all", "linger.ms": 5})
    for part in range(parts):
        for i in range(per_part):
            p.produce(name, value=b"p%d-%d" % (part, i), partition=part)
    assert p.flush(30) == 0


def group_consumer(b, group):
    return Consumer({"bootstrap.servers": boot(b), "group.id": group,
                     "enable.auto.commit": False, "auto.offset.reset": "earliest",
                     "session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
                     "enable.partition.eof": False})


def drain(consumers, want, timeout=60.0):
    """Polls every consumer until want messages in all arrived; returns {consumer index: [msg]}."""
    got = {i: [] for i in range(len(consumers))}
    deadline = time.monotonic() + timeout
    while sum(len(v) for v in got.values()) < want and time.monotonic() < deadline:
        for i, c in enumerate(consumers):
            m = c.poll(0.2)
            if m is not None:
                assert m.error() is None, m.error()
                got[i].append(m)
    assert sum(len(v) for v in got.values()) == want, {i: len(v) for i, v in got.items()}
    return got


def members_of(b, group):
    """Member ids of group as DescribeGroups reports them (state Stable required)."""
    a = AdminClient({"bootstrap.servers": boot(b)})
    g = a.list_groups(group, timeout=20)
    assert len(g) == 1 and g[0].state == "Stable", [(x.id, x.state) for x in g]
    assert g[0].protocol_type == "consumer" and g[0].protocol == "range", g[0].protocol
    return sorted(m.id for m in g[0].members)


def parts_of(c):
    return sorted(tp.partition for tp in c.assignment())


def test_two_consumers_split_commit_take_over_and_resume_after_restart():
    with Cluster() as cl:
        b = kafka_broker(cl, standalone=True)
        make_topic(b, "gt", 4, 5)
        c1, c2 = group_consumer(b, "g1"), group_consumer(b, "g1")
        c1.subscribe(["gt"])
        c2.subscribe(["gt"])
        # Both members joined one generation: the 4 partitions are split 2 and 2.
        got = drain([c1, c2], 20)
        wait_until(lambda: (c1.poll(0.1), c2.poll(0.1), len(parts_of(c1)) == 2 and
                            len(parts_of(c2)) == 2)[2], timeout=60, what="2+2 assignment")
        assert sorted(parts_of(c1) + parts_of(c2)) == [0, 1, 2, 3]
        assert {m.value() for v in got.values() for m in v} == \
            {b"p%d-%d" % (p, i) for p in range(4) for i in range(5)}
        # Explicit commits, synchronous (acks=all underneath): next offset 3 everywhere.
        for c in (c1, c2):
            c.commit(offsets=[TopicPartition("gt", p, 3) for p in parts_of(c)], asynchronous=False)
        committed = c1.committed([TopicPartition("gt", p) for p in range(4)], timeout=20)
        assert [tp.offset for tp in committed] == [3, 3, 3, 3], committed
        # One store: the HTTP consumer API sees the same group and offsets.
        st, doc, _ = b.get("/consumers/g1/offsets")
        assert st == 200, doc
        assert sorted((o["partition"], o["committed"]) for o in doc["offsets"]
                      if o["topic"] == "gt") == [(p, 3) for p in range(4)], doc
        # c2 leaves: c1 takes over its partitions.
        c2.close()
        wait_until(lambda: (c1.poll(0.2), parts_of(c1) == [0, 1, 2, 3])[1], timeout=60,
                   what="c1 owns all four partitions")
        c1.close()
        # The offsets survive a restart: a new member resumes at offset 3 of each partition.
        b.terminate()
        b.start()
        brook.wait_port(b.kport, proc=b.proc)
        c3 = group_consumer(b, "g1")
        c3.subscribe(["gt"])
        got = drain([c3], 8)
        c3.close()
        assert sorted((m.partition(), m.offset()) for m in got[0]) == \
            [(p, o) for p in range(4) for o in (3, 4)]


def test_kcat_balanced_consumer_and_group_listing():
    with Cluster() as cl:
        b = kafka_broker(cl, standalone=True)
        make_topic(b, "kg", 2, 3)
        p = subprocess.run(["kcat", "-b", boot(b), "-G", "kgroup", "kg", "-o", "beginning",
                            "-c", "6", "-f", "%s\n", "-X", "session.timeout.ms=10000"],
                           capture_output=True, timeout=90)
        assert p.returncode == 0, p.stderr.decode(errors="replace")
        assert sorted(p.stdout.decode().split()) == \
            sorted("p%d-%d" % (q, i) for q in range(2) for i in range(3))
        a = AdminClient({"bootstrap.servers": boot(b)})
        groups = a.list_groups(timeout=20)
        assert "kgroup" in [g.id for g in groups], groups


def test_live_member_keeps_its_membership_across_a_restart():
    """The group record is replayed as Kafka loads a group: a member still running when the
    broker restarts keeps its member id and generation (its heartbeats and commits are
    accepted), rather than being told UNKNOWN_MEMBER_ID and rejoining as someone new."""
    with Cluster() as cl:
        b = kafka_broker(cl, standalone=True)
        make_topic(b, "lt", 2, 2)
        c = group_consumer(b, "g2")
        c.subscribe(["lt"])
        drain([c], 4)
        member = members_of(b, "g2")
        assert len(member) == 1, member
        c.commit(asynchronous=False)
        b.terminate()
        b.start()
        brook.wait_port(b.kport, proc=b.proc)
        p = Producer({"bootstrap.servers": boot(b), "acks": "all"})
        for part in range(2):
            p.produce("lt", value=b"after-%d" % part, partition=part)
        assert p.flush(30) == 0
        got = drain([c], 2)
        assert sorted(m.value() for m in got[0]) == [b"after-0", b"after-1"]
        c.commit(asynchronous=False)  # generation and member id still valid
        assert members_of(b, "g2") == member
        committed = c.committed([TopicPartition("lt", q) for q in range(2)], timeout=20)
        assert [tp.offset for tp in committed] == [3, 3], committed
        c.close()


def kstr(v):
    v = v.encode()
    return struct.pack(">h", len(v)) + v


def raw_call(port, key, version, body):
    """One request frame (header v1) and its answer's body, correlation id checked."""
    hdr = struct.pack(">hhi", key, version, 77) + kstr("raw")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(struct.pack(">i", len(hdr) + len(body)) + hdr + body)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = s.recv(65536)
            assert chunk, "connection closed"
            data += chunk
    assert struct.unpack(">i", data[4:8])[0] == 77
    return data[8:]


def test_follower_names_the_leader_as_coordinator():
    with Cluster() as c:
        r = c.redis()
        bs = []
        for i in range(3):
            port = free_port()
            b = c.broker(name="g%d" % (i + 1), redis=r, start=False,
                         args=brook.cluster_args(2000, 500, ["--kafka-port", str(port)]))
            b.kport = port
            bs.append(b)
        for b in bs:
            b.start(wait=False)
        for b in bs:
            brook.wait_port(b.port, proc=b.proc)
            brook.wait_port(b.kport, proc=b.proc)
        lb, _ = wait_leader(bs)
        follower = next(b for b in bs if b is not lb)

        def coordinator():
            body = raw_call(follower.kport, 10, 1, kstr("fg") + b"\x00")
            throttle, err = struct.unpack(">ih", body[:6])
            return body if err == 0 else None
        body = wait_until(coordinator, timeout=30, what="FindCoordinator from the follower")
        n = struct.unpack(">h", body[6:8])[0]  # error_message: null
        assert n == -1, body
        node, hlen = struct.unpack(">ih", body[8:14])
        host = body[14:14 + hlen].decode()
        port = struct.unpack(">i", body[14 + hlen:18 + hlen])[0]
        assert (host, port) == ("127.0.0.1", lb.kport), (host, port, lb.kport)
        # A JoinGroup sent to the follower: NOT_COORDINATOR (16), so clients look again.
        join = (kstr("fg") + struct.pack(">ii", 10000, 10000) + kstr("") + kstr("consumer") +
                struct.pack(">i", 1) + kstr("range") + struct.pack(">i", 0))
        body = raw_call(follower.kport, 11, 1, join)
        assert struct.unpack(">h", body[:2])[0] == 16, body
        # A group consumer bootstrapped on the follower alone joins at the leader and reads.
        lb.produce("one", topic="ft")
        cons = Consumer({"bootstrap.servers": boot(follower), "group.id": "fg",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
        cons.subscribe(["ft"])
        got = drain([cons], 1)
        assert got[0][0].value() == b"one"
        cons.commit(got[0][0], asynchronous=False)
        cons.close()
        st, doc, _ = lb.get("/consumers/fg/offsets")
        assert st == 200 and [(o["partition"], o["committed"]) for o in doc["offsets"]] == \
            [(0, 1)], doc


def raw_join_v0(sock, group, member, session_ms):
    body = (kstr(group) + struct.pack(">i", session_ms) + kstr(member) + kstr("consumer") +
            struct.pack(">i", 1) + kstr("range") + struct.pack(">i", 0))
    hdr = struct.pack(">hhi", 11, 0, 5) + kstr("raw")
    sock.sendall(struct.pack(">i", len(hdr) + len(body)) + hdr + body)


def read_answer(sock):
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        data += chunk
    return data[8:]


def join_answer(body):
    err, gen = struct.unpack(">hi", body[:6])
    pos, out = 6, []
    for _ in range(3):  # protocol, leader, member_id
        n = struct.unpack(">h", body[pos:pos + 2])[0]
        out.append(body[pos + 2:pos + 2 + n].decode())
        pos += 2 + n
    return err, gen, out[2]


def test_held_join_answered_when_leadership_is_lost():
    """A JoinGroup held by the coordinator (waiting for a member to rejoin) is answered
    NOT_COORDINATOR as soon as this broker stops leading, so the client looks for the new
    coordinator instead of waiting out its request timeout."""
    with Cluster() as c:
        r = c.redis()
        bs = []
        for i in range(3):
            port = free_port()
            b = c.broker(name="h%d" % (i + 1), redis=r, start=False,
                         args=brook.cluster_args(2000, 500, ["--kafka-port", str(port)]))
            b.kport = port
            bs.append(b)
        for b in bs:
            b.start(wait=False)
        for b in bs:
            brook.wait_port(b.port, proc=b.proc)
            brook.wait_port(b.kport, proc=b.proc)
        lb, _ = wait_leader(bs)
        wait_until(lambda: raw_call(lb.kport, 10, 1, kstr("hg") + b"\x00")[4:6] == b"\x00\x00",
                   timeout=30, what="coordinator ready")
        s1 = socket.create_connection(("127.0.0.1", lb.kport), timeout=30)
        s2 = socket.create_connection(("127.0.0.1", lb.kport), timeout=30)
        try:
            # Member 1 joins (after the initial delay), syncs: Stable, generation 1.
            raw_join_v0(s1, "hg", "", 60000)
            err, gen, m1 = join_answer(read_answer(s1))
            assert err == 0 and gen == 1, (err, gen)
            sync = kstr("hg") + struct.pack(">i", gen) + kstr(m1) + struct.pack(">i", 0)
            hdr = struct.pack(">hhi", 14, 0, 6) + kstr("raw")
            s1.sendall(struct.pack(">i", len(hdr) + len(sync)) + hdr + sync)
            assert struct.unpack(">h", read_answer(s1)[:2])[0] == 0
            # Member 2's join is held: member 1 has 60 s to rejoin.
            raw_join_v0(s2, "hg", "", 60000)
            time.sleep(0.5)
            r.kill()  # no Redis: the leader's lease runs out within a few seconds
            s2.settimeout(20)
            err, _, _ = join_answer(read_answer(s2))
            assert err == 16, err  # NOT_COORDINATOR
        finally:
            s1.close()
            s2.close()


def test_rest_and_kafka_share_groups_and_offsets():
    """One coordinator per broker: while a REST Proxy instance is a member of group rg, a
    Kafka JoinGroup for rg gets INCONSISTENT_GROUP_PROTOCOL; offsets the instance committed
    are what a Kafka consumer of rg resumes from once the instance is gone."""
    import json
    with Cluster() as cl:
        b = kafka_broker(cl, standalone=True)
        make_topic(b, "rt", 1, 8)
        v2 = {"Content-Type": "application/vnd.kafka.v2+json"}
        st, body, _ = b.request("POST", "/consumers/rg", body=json.dumps({"name": "i1"}),
                                headers=v2)
        assert st == 200, body
        st, body, _ = b.request("POST", "/consumers/rg/instances/i1/offsets", headers=v2,
                                body=json.dumps({"offsets": [{"topic": "rt", "partition": 0,
                                                              "offset": 4}]}))
        assert st == 200, body
        with socket.create_connection(("127.0.0.1", b.kport), timeout=30) as s:
            raw_join_v0(s, "rg", "", 10000)
            err, _, _ = join_answer(read_answer(s))
            assert err == 23, err  # INCONSISTENT_GROUP_PROTOCOL
        st, body, _ = b.request("DELETE", "/consumers/rg/instances/i1", headers=v2)
        assert st == 204, body
        c = group_consumer(b, "rg")
        assert [tp.offset for tp in c.committed([TopicPartition("rt", 0)], timeout=20)] == [5]
        c.subscribe(["rt"])
        got = drain([c], 3)
        c.close()
        assert [m.offset() for m in got[0]] == [5, 6, 7]


if __name__ == "__main__":
    brook.run([
        test_two_consumers_split_commit_take_over_and_resume_after_restart,
        test_kcat_balanced_consumer_and_group_listing,
        test_live_member_keeps_its_membership_across_a_restart,
        test_follower_names_the_leader_as_coordinator,
        test_held_join_answered_when_leadership_is_lost,
        test_rest_and_kafka_share_groups_and_offsets,
    ])
