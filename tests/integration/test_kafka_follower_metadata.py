"""Kafka clients bootstrapped on a follower (issue 13, "topic auto-creation on Metadata follows
--no-auto-create-topics", in a cluster): only the leader writes, so a follower that receives
Metadata naming unknown topics with auto-creation allowed asks the leader to create them
(POST /topics), answers LEADER_NOT_AVAILABLE (retriable) meanwhile, and the topic as usual once
replication brought it. kcat -P bootstrapped on a follower's Kafka port to a new topic succeeds
and reads back; a follower started with --no-auto-create-topics never creates (the client
fails cleanly, no topic exists anywhere) while another follower without the flag does, and a
leader with the flag refuses what a follower without it asks for (UNKNOWN_TOPIC_OR_PARTITION
to the client); with the leader killed the answer stays retriable and the new leader creates;
topic administration sent to a follower answers NOT_CONTROLLER (41) and an AdminClient
bootstrapped on a follower creates, grows and deletes topics at the controller (the leader).
On a binary whose followers never create topics every test fails: the producer times out on
the unknown topic, and the Metadata a follower answers stays UNKNOWN_TOPIC_OR_PARTITION."""
import socket
import struct
import subprocess
import time

import kafka_wire  # noqa: E402

kafka_wire.need_confluent()

from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

import brook
from kafka_wire import kstr
from brook import Cluster, free_port, wait_leader, wait_until

LEADER_NOT_AVAILABLE = 5
UNKNOWN_TOPIC = 3
NOT_CONTROLLER = 41


def kafka_cluster(c, flags_by_index=None, n=3):
    """n brokers with Kafka ports sharing one Redis, started together; returns (brokers,
    leader, followers). flags_by_index: extra arguments for some brokers, by index."""
    r = c.redis()
    bs = []
    for i in range(n):
        port = free_port()
        extra = ["--kafka-port", str(port)] + list((flags_by_index or {}).get(i, []))
        b = c.broker(name="k%d" % (i + 1), redis=r, start=False,
                     args=brook.cluster_args(2000, 500, extra))
        b.kport = port
        bs.append(b)
    for b in bs:
        b.start(wait=False)
    for b in bs:
        brook.wait_port(b.port, proc=b.proc)
        brook.wait_port(b.kport, proc=b.proc)
    lb, _ = wait_leader(bs)
    wait_listed(bs)
    return bs, lb, [b for b in bs if b is not lb]


def wait_listed(bs):
    """Until every broker lists them all (registered Kafka addresses) and names a controller."""
    def ready(b):
        controller, _, nodes = metadata(b.kport, [], auto=False)
        return controller >= 0 and len(nodes) == len(bs)
    for b in bs:
        wait_until(lambda: ready(b), timeout=30, what="every broker listed by %s" % b.name)


def boot(b):
    return "127.0.0.1:%d" % b.kport




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


class Reader:
    def __init__(self, b):
        self.b, self.pos = b, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.b[self.pos:self.pos + n].decode()
        self.pos += n
        return s


def metadata(port, topics, auto=True):
    """Metadata v4 naming topics: (controller id, {topic: (error, partition count)}, broker
    node ids)."""
    body = struct.pack(">i", len(topics)) + b"".join(kstr(t) for t in topics) + \
        struct.pack(">b", 1 if auto else 0)
    r = Reader(raw_call(port, 3, 4, body))
    r.take(">i")  # throttle
    nodes = []
    for _ in range(r.take(">i")):
        nodes.append(r.take(">i"))
        r.string()
        r.take(">i")
        r.string()  # rack
    r.string()  # cluster id
    controller = r.take(">i")
    out = {}
    for _ in range(r.take(">i")):
        err = r.take(">h")
        name = r.string()
        r.take(">b")
        nparts = r.take(">i")
        for _ in range(nparts):
            r.take(">hii")  # error, index, leader
            for _ in range(2):  # replicas, isr
                r.pos += 4 * r.take(">i")
        out[name] = (err, nparts)
    return controller, out, nodes


def topics_of(b):
    st, doc, _ = b.get("/topics")
    assert st == 200, (st, doc)
    return doc


def kcat(args, stdin=None, timeout=90):
    return subprocess.run(["kcat"] + args, input=stdin, capture_output=True, timeout=timeout)


def test_kcat_produce_via_follower_creates_the_topic_and_reads_back():
    with Cluster() as c:
        bs, lb, fs = kafka_cluster(c)
        f = fs[0]
        p = kcat(["-b", boot(f), "-P", "-t", "fresh", "-K:", "-X", "message.timeout.ms=30000"],
                 stdin=b"k1:v1\nk2:v2\nk3:v3\n")
        assert p.returncode == 0, p.stderr.decode()
        # Created once, at the leader, with its default partition count; every broker has it.
        for b in bs:
            wait_until(lambda: "fresh" in topics_of(b), timeout=30,
                       what="topic fresh on %s" % b.name)
        _, got, _ = metadata(f.kport, ["fresh"])
        assert got["fresh"][0] == 0 and got["fresh"][1] >= 1, got
        # Read back through the follower's bootstrap (fetches go to the leader).
        out = kcat(["-b", boot(f), "-C", "-t", "fresh", "-o", "beginning", "-e", "-f", "%k=%s\n"])
        assert out.returncode == 0, out.stderr.decode()
        assert sorted(out.stdout.decode().split()) == ["k1=v1", "k2=v2", "k3=v3"], out.stdout
        # And over HTTP at the leader.
        values = sorted(m["value"] for p_ in range(got["fresh"][1])
                        for m in lb.read_all("fresh", partition=p_))
        assert values == ["v1", "v2", "v3"], values


def test_metadata_on_a_follower_answers_leader_not_available_until_the_topic_arrives():
    with Cluster() as c:
        bs, lb, fs = kafka_cluster(c)
        f = fs[1]
        _, first, _ = metadata(f.kport, ["arriving"])
        # The first answer cannot have the topic yet: retriable, never "unknown".
        assert first["arriving"][0] in (0, LEADER_NOT_AVAILABLE), first
        # Asked again, the follower answers it normally once the leader's creation reached it.
        wait_until(lambda: metadata(f.kport, ["arriving"])[1]["arriving"][0] == 0, timeout=30,
                   what="arriving answered without error by the follower")
        assert "arriving" in topics_of(lb)
        # Invalid names are refused locally, never sent to the leader.
        _, bad, _ = metadata(f.kport, ["bad name!"])
        assert bad["bad name!"][0] == 17, bad  # INVALID_TOPIC_EXCEPTION
        # A client that does not allow auto-creation gets UNKNOWN_TOPIC_OR_PARTITION.
        _, no, _ = metadata(f.kport, ["not-asked"], auto=False)
        assert no["not-asked"][0] == UNKNOWN_TOPIC, no
        time.sleep(1.0)
        assert "not-asked" not in topics_of(lb)


def leader_first(c, extras):
    """Brokers with Kafka ports, one per entry of extras (their extra arguments); the first is
    started alone and leads, then the others follow it."""
    r = c.redis()
    bs = []
    for i, extra in enumerate(extras):
        port = free_port()
        b = c.broker(name="n%d" % (i + 1), redis=r, start=False,
                     args=brook.cluster_args(2000, 500, ["--kafka-port", str(port)] + extra))
        b.kport = port
        bs.append(b)
    bs[0].start(wait=False)
    brook.wait_port(bs[0].port, proc=bs[0].proc)
    wait_leader(bs[:1])
    for b in bs[1:]:
        b.start(wait=False)
    for b in bs:
        brook.wait_port(b.kport, proc=b.proc)
    lb, _ = wait_leader(bs)
    assert lb is bs[0], lb.name
    wait_listed(bs)
    return bs


def test_no_auto_create_topics_on_a_follower_never_creates():
    # n1 leads; n2 has --no-auto-create-topics, n3 does not.
    with Cluster() as c:
        bs = leader_first(c, [[], ["--no-auto-create-topics"], []])
        flagged, plain = bs[1], bs[2]
        # The flagged follower: the producer fails cleanly, and no topic exists anywhere.
        p = kcat(["-b", boot(flagged), "-P", "-t", "refused", "-X", "message.timeout.ms=5000"],
                 stdin=b"x\n")
        assert p.returncode != 0, p.stdout
        assert b"Delivery failed" in p.stderr, p.stderr.decode()  # unknown topic: timed out
        _, got, _ = metadata(flagged.kport, ["refused"])
        assert got["refused"][0] == UNKNOWN_TOPIC, got
        # The follower without the flag creates through the leader.
        p = kcat(["-b", boot(plain), "-P", "-t", "accepted", "-X", "message.timeout.ms=30000"],
                 stdin=b"y\n")
        assert p.returncode == 0, p.stderr.decode()
        wait_until(lambda: all("accepted" in topics_of(b) for b in bs), timeout=30,
                   what="accepted on every broker")
        time.sleep(1.0)
        for b in bs:
            assert "refused" not in topics_of(b), (b.name, topics_of(b))


def test_no_auto_create_topics_on_the_leader_refuses_a_follower():
    # The leader has the flag, its follower does not: the follower asks, the leader says no,
    # and the client is told the topic is unknown (not left retrying); nothing is created.
    with Cluster() as c:
        lb, f = leader_first(c, [["--no-auto-create-topics"], []])
        _, first, _ = metadata(f.kport, ["leader-says-no"])
        assert first["leader-says-no"][0] == LEADER_NOT_AVAILABLE, first  # asked, pending
        wait_until(lambda: metadata(f.kport, ["leader-says-no"])[1]["leader-says-no"][0] ==
                   UNKNOWN_TOPIC, timeout=30, what="the leader's refusal reported")
        p = kcat(["-b", boot(f), "-P", "-t", "leader-says-no", "-X", "message.timeout.ms=5000"],
                 stdin=b"x\n")
        assert p.returncode != 0 and b"Delivery failed" in p.stderr, p.stderr.decode()
        for b in (lb, f):
            assert "leader-says-no" not in topics_of(b), (b.name, topics_of(b))
        assert "auto-created: the leader runs with --no-auto-create-topics" in f.stderr_text()
        # An explicit creation is still allowed: the flag is about auto-creation only.
        st, doc, _ = lb.post_json("/topics", {"name": "explicit"})
        assert st == 201, (st, doc)


def test_admin_via_a_follower_goes_to_the_controller():
    with Cluster() as c:
        bs, lb, fs = kafka_cluster(c)
        f = fs[0]
        # Raw CreateTopics v1 to the follower: NOT_CONTROLLER, and nothing created.
        body = (struct.pack(">i", 1) + kstr("direct") + struct.pack(">ih", 2, -1) +
                struct.pack(">ii", 0, 0) + struct.pack(">ib", 10000, 0))
        r = Reader(raw_call(f.kport, 19, 1, body))
        assert r.take(">i") == 1 and r.string() == "direct" and r.take(">h") == NOT_CONTROLLER
        # Raw DeleteTopics v1 and CreatePartitions v0 to the follower: NOT_CONTROLLER as well.
        lb.post_json("/topics", {"name": "existing", "partitions": 1})
        wait_until(lambda: "existing" in topics_of(f), timeout=30, what="existing on f")
        r = Reader(raw_call(f.kport, 20, 1, struct.pack(">i", 1) + kstr("existing") +
                            struct.pack(">i", 10000)))
        r.take(">i")
        assert r.take(">i") == 1 and r.string() == "existing" and r.take(">h") == NOT_CONTROLLER
        r = Reader(raw_call(f.kport, 37, 0, struct.pack(">i", 1) + kstr("existing") +
                            struct.pack(">ii", 3, -1) + struct.pack(">ib", 10000, 0)))
        r.take(">i")
        assert r.take(">i") == 1 and r.string() == "existing" and r.take(">h") == NOT_CONTROLLER
        assert "direct" not in topics_of(lb)
        # The follower names the leader as controller, so an AdminClient bootstrapped on it
        # alone creates, grows and deletes at the leader.
        controller, _, _ = metadata(f.kport, [], auto=False)
        assert controller == metadata(lb.kport, [], auto=False)[0] and controller >= 0
        a = AdminClient({"bootstrap.servers": boot(f)})
        a.create_topics([NewTopic("admin-made", 3, 1)])["admin-made"].result(30)
        for b in bs:
            wait_until(lambda: "admin-made" in topics_of(b), timeout=30, what="admin-made")
        a.create_partitions([NewPartitions("admin-made", 5)])["admin-made"].result(30)
        st, parts, _ = lb.get("/topics/admin-made/partitions")
        assert st == 200 and len(parts) == 5, parts
        a.delete_topics(["admin-made"])["admin-made"].result(30)
        for b in bs:
            wait_until(lambda: "admin-made" not in topics_of(b), timeout=30,
                       what="admin-made deleted")
        # And a producer bootstrapped on the follower then auto-creates it again.
        p = kcat(["-b", boot(f), "-P", "-t", "admin-made", "-X", "message.timeout.ms=30000"],
                 stdin=b"again\n")
        assert p.returncode == 0, p.stderr.decode()


def test_leader_gone_answers_leader_not_available_then_the_new_leader_creates():
    with Cluster() as c:
        bs, lb, fs = kafka_cluster(c)
        lb.kill()  # the followers still name it until its lease runs out: asking it fails
        f = fs[0]
        _, first, _ = metadata(f.kport, ["after-failover"])
        assert first["after-failover"][0] in (0, LEADER_NOT_AVAILABLE), first
        # Asked again and again: retried at the new leader once there is one.
        wait_until(lambda: metadata(f.kport, ["after-failover"])[1]["after-failover"][0] == 0,
                   timeout=45, what="after-failover answered by the follower after failover")
        nl, _ = wait_leader(fs, timeout=30)
        assert "after-failover" in topics_of(nl)
        for b in fs:
            assert b.alive(), b.name


if __name__ == "__main__":
    brook.run([
        test_kcat_produce_via_follower_creates_the_topic_and_reads_back,
        test_metadata_on_a_follower_answers_leader_not_available_until_the_topic_arrives,
        test_no_auto_create_topics_on_a_follower_never_creates,
        test_no_auto_create_topics_on_the_leader_refuses_a_follower,
        test_admin_via_a_follower_goes_to_the_controller,
        test_leader_gone_answers_leader_not_available_then_the_new_leader_creates,
    ])
