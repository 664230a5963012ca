"""SASL and ACLs on the Kafka listener (issue 14, README "Kafka protocol" and "Security") with
real, unmodified clients: kcat and confluent-kafka (librdkafka 2.0) with
security.protocol=SASL_PLAINTEXT and each of PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 produce
and consume with the right password and fail authentication with a wrong one; a user without
write gets TOPIC_AUTHORIZATION_FAILED on produce; Metadata leaves out topics a user may not
describe; admin requests without the right ACL get 29 or 31; a client without SASL is
disconnected with one line on stderr. Raw frames (built here from the public protocol guide)
check what the clients cannot show: an unsupported mechanism, SaslAuthenticate v2 (flexible),
a v0 handshake with bare tokens, a pipelined request before authentication, and SASL against a
broker without a users file. Before this, brook refused --users-file with --kafka-port.
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_kafka_auth.py
"""
import os
import signal
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

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

import brook
from brook import BROOK_BIN, Cluster, free_port, wait_until

MECHS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
PASSWORDS = {"alice": "wonder land:1", "bob": "builder", "admin": "root-pw"}

ACL = """# alice: her a- topics, and sees "shared"; bob: reads "shared" (read implies describe)
allow User:alice topic prefixed a- read,write,create
allow User:alice topic literal  shared describe
allow User:bob   topic literal  shared read
"""


def make_users(path):
    for name, pw in PASSWORDS.items():
        p = subprocess.run([BROOK_BIN, "user", "add", name, "--users-file", path],
                           input=(pw + "\n").encode(), capture_output=True)
        assert p.returncode == 0, p.stderr


def secure_broker(c, extra=()):
    users, acl = os.path.join(c.dir, "users"), os.path.join(c.dir, "acl")
    if not os.path.exists(users):
        make_users(users)
    with open(acl, "w") as f:
        f.write(ACL)
    port = free_port()
    b = c.broker(standalone=True, args=["--kafka-port", str(port), "--users-file", users,
                                         "--acl-file", acl, "--super-users", "User:admin"]
                 + list(extra))
    b.kport = port
    brook.wait_port(port, proc=b.proc)
    return b


def stop_clean(b):
    """An orderly stop (exit 0) with no sanitizer report (the ASan build's leak check runs at
    exit)."""
    assert b.terminate(timeout=30) == 0, b.stderr_text()[-2000:]
    assert not brook.sanitizer_reports([b]), brook.sanitizer_reports([b])


def sasl(b, user, mech="PLAIN", pw=None, **extra):
    conf = {"bootstrap.servers": "127.0.0.1:%d" % b.kport,
            "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mech,
            "sasl.username": user, "sasl.password": PASSWORDS[user] if pw is None else pw}
    conf.update(extra)
    return conf


def kcat_args(b, user, mech, pw=None):
    conf = sasl(b, user, mech, pw)
    args = ["-b", conf.pop("bootstrap.servers")]
    for k, v in conf.items():
        args += ["-X", "%s=%s" % (k, v)]
    return args


def kcat(*args, stdin=None, ok=True, timeout=30):
    p = subprocess.run(["kcat"] + list(args), input=stdin, capture_output=True, timeout=timeout)
    if ok:
        assert p.returncode == 0, "kcat %s: %s" % (args, p.stderr.decode(errors="replace"))
    return p


def produce(conf, topic, values, timeout=20):
    """Delivery outcomes: [(error code or None, offset)] in send order."""
    out = []
    p = Producer(dict(conf, acks="all", **{"message.timeout.ms": timeout * 1000}))
    for v in values:
        p.produce(topic, value=v, on_delivery=lambda err, m: out.append(
            (err.code() if err else None, m.offset())))
    p.flush(timeout + 10)
    return out


def group_denied(m):
    """An assigned consumer still has a group.id: librdkafka looks for its coordinator and
    reports GROUP_AUTHORIZATION_FAILED when the user may not describe the group (as against
    Kafka); reading assigned partitions goes on regardless."""
    return m.error() is not None and m.error().code() == KafkaError.GROUP_AUTHORIZATION_FAILED


def consume(conf, topic, start, count, timeout=20.0):
    c = Consumer(dict(conf, **{"group.id": "unused", "enable.auto.commit": False}))
    try:
        c.assign([TopicPartition(topic, 0, start)])
        got, deadline = [], time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or group_denied(m):
                continue
            assert m.error() is None, m.error()
            got.append(m.value())
        return got
    finally:
        c.close()


def auth_error(conf):
    """What librdkafka reports for conf: its authentication error if there is one, else its
    first error (None when Metadata was served)."""
    errors = []
    a = AdminClient(dict(conf, error_cb=errors.append))
    try:
        a.list_topics(timeout=5)
    except KafkaException as e:
        errors.append(e.args[0])
    a.poll(1)  # serves error_cb
    auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
    return (auth or errors or [None])[0]


# ---- raw frames -------------------------------------------------------------------------------

def kstr(s):
    s = s.encode() if isinstance(s, str) else s
    return struct.pack(">h", len(s)) + s


def frame(key, version, corr, body, flex=False):
    hdr = struct.pack(">hhi", key, version, corr) + kstr("raw") + (b"\x00" if flex else b"")
    return struct.pack(">i", len(hdr + body)) + hdr + body


def read_frame(sock, timeout=10.0):
    sock.settimeout(timeout)
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data[4:]


def closed(sock, timeout=10.0):
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def handshake(s, mech, version=1, corr=1):
    s.sendall(frame(17, version, corr, kstr(mech)))
    data = read_frame(s)
    corr_, err, n = struct.unpack(">ihi", data[:10])
    names, r = [], 10
    for _ in range(n):
        (ln,) = struct.unpack_from(">h", data, r)
        names.append(data[r + 2:r + 2 + ln].decode())
        r += 2 + ln
    assert corr_ == corr
    return err, names


def metadata_v1_all(corr=9):
    return frame(3, 1, corr, struct.pack(">i", -1))


# ---- tests ------------------------------------------------------------------------------------

def test_kcat_every_mechanism():
    with Cluster() as c:
        b = secure_broker(c)
        for mech in MECHS:
            topic = "a-kcat-" + mech.lower()
            kcat(*kcat_args(b, "alice", mech), "-P", "-t", topic, "-K", ":",
                 stdin=b"k1:one\nk2:two\n")
            out = kcat(*kcat_args(b, "alice", mech), "-C", "-t", topic, "-o", "beginning", "-e",
                       "-f", "%k=%s\n").stdout.decode()
            assert out.splitlines() == ["k1=one", "k2=two"], (mech, out)
            p = kcat(*kcat_args(b, "alice", mech, pw="wrong"), "-L", "-m", "5", ok=False,
                     timeout=60)
            err = p.stderr.decode(errors="replace")
            assert p.returncode != 0 and "SASL authentication error: wrong user name or password" \
                in err, (mech, err[-1500:])
        log = b.stderr_text()
        for mech in MECHS:
            assert ("SASL %s authentication as User:alice failed: wrong user name or password"
                    % mech) in log, log[-3000:]
        assert "wrong" not in log.replace("wrong user name", ""), "a password reached stderr"
        stop_clean(b)


def test_confluent_every_mechanism():
    with Cluster() as c:
        b = secure_broker(c)
        for mech in MECHS:
            topic = "a-cf-" + mech.lower()
            res = produce(sasl(b, "alice", mech), topic, [b"v%d" % i for i in range(20)])
            assert [e for e, _ in res] == [None] * 20, (mech, res)
            assert sorted(o for _, o in res) == list(range(20)), res
            assert consume(sasl(b, "alice", mech), topic, 0, 20) == [b"v%d" % i
                                                                      for i in range(20)]
            err = auth_error(sasl(b, "alice", mech, pw="not-it"))
            assert err is not None and err.code() == KafkaError._AUTHENTICATION, (mech, err)
            assert "wrong user name or password" in err.str(), err.str()
            # an unknown user gets exactly the same answer
            err = auth_error(dict(sasl(b, "alice", mech), **{"sasl.username": "mallory"}))
            assert err is not None and err.code() == KafkaError._AUTHENTICATION, (mech, err)
        # the same records read back over HTTP (with Basic auth) as admin
        st, body, _ = b.request("GET", "/topics/a-cf-plain/partitions/0/records?offset=0",
                                headers={"Authorization": "Basic YWRtaW46cm9vdC1wdw=="})
        assert st == 200 and [r["value"] for r in body["records"]][:2] == ["v0", "v1"], body


def test_authorization():
    with Cluster() as c:
        b = secure_broker(c)
        admin = AdminClient(sasl(b, "admin", "SCRAM-SHA-256"))
        for t in ("shared", "secret", "a-mine"):
            admin.create_topics([NewTopic(t, 1, 1)])[t].result(20)
        assert produce(sasl(b, "admin", "SCRAM-SHA-512"), "shared", [b"s0"]) == [(None, 0)]
        # bob may read "shared" but not write it: TOPIC_AUTHORIZATION_FAILED, nothing written
        res = produce(sasl(b, "bob", "SCRAM-SHA-256"), "shared", [b"nope"])
        assert [e for e, _ in res] == [KafkaError.TOPIC_AUTHORIZATION_FAILED], res
        assert consume(sasl(b, "bob", "PLAIN"), "shared", 0, 1) == [b"s0"]
        # Metadata leaves out what a user may not describe
        assert set(admin.list_topics(timeout=10).topics) >= {"shared", "secret", "a-mine"}
        seen = set(AdminClient(sasl(b, "alice")).list_topics(timeout=10).topics)
        assert "a-mine" in seen and "shared" in seen and "secret" not in seen, seen
        assert set(AdminClient(sasl(b, "bob")).list_topics(timeout=10).topics) == {"shared"}
        meta = kcat(*kcat_args(b, "alice", "PLAIN"), "-L").stdout.decode()
        assert '"a-mine"' in meta and '"secret"' not in meta, meta
        # a topic named without describe: 29, whether it exists or not
        md = AdminClient(sasl(b, "bob")).list_topics(topic="secret", timeout=10)
        assert md.topics["secret"].error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
        # reading with describe but not read: 29 from Fetch (a consumer error in librdkafka)
        cons = Consumer(dict(sasl(b, "alice"), **{"group.id": "x", "enable.auto.commit": False}))
        cons.assign([TopicPartition("shared", 0, 0)])
        msg = wait_until(lambda: (lambda m: m if m and not group_denied(m) else None)(
            cons.poll(0.5)), timeout=20, what="an error from Fetch")
        cons.close()
        assert msg.error() and msg.error().code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, \
            msg.error()
        # admin requests: create (prefixed a- only), delete and alter (nobody but admin)
        alice = AdminClient(sasl(b, "alice", "SCRAM-SHA-512"))
        alice.create_topics([NewTopic("a-new", 2, 1)])["a-new"].result(20)
        for fut, code in [
                (alice.create_topics([NewTopic("b-new", 1, 1)])["b-new"], 29),
                (alice.delete_topics(["a-mine"])["a-mine"], 29),
                (alice.create_partitions([NewPartitions("a-mine", 3)])["a-mine"], 29)]:
            try:
                fut.result(20)
                raise AssertionError("allowed without the ACL")
            except KafkaException as e:
                assert e.args[0].code() == code, e
        res = ConfigResource(ConfigResource.Type.TOPIC, "a-mine")
        assert alice.describe_configs([res])[res].result(20)["retention.ms"].value
        node = next(iter(alice.list_topics(timeout=10).brokers))
        broker_res = ConfigResource(ConfigResource.Type.BROKER, str(node))
        try:
            alice.describe_configs([broker_res])[broker_res].result(20)
            raise AssertionError("broker configs without describe on the cluster")
        except KafkaException as e:
            assert e.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED, e
        admin.delete_topics(["a-mine"])["a-mine"].result(20)
        st, _, _ = b.request("GET", "/topics/b-new",
                             headers={"Authorization": "Basic YWRtaW46cm9vdC1wdw=="})
        assert st == 404, "a topic alice may not create exists"
        stop_clean(b)


def group_consume(conf, topic, group, count, timeout, errors=None):
    """Up to count values read by a group member of group; the consumer errors it met go to
    errors."""
    c = Consumer(dict(conf, **{"group.id": group, "enable.auto.commit": False,
                               "auto.offset.reset": "earliest"}))
    try:
        c.subscribe([topic])
        got, deadline = [], time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m.value())
            elif m is not None and errors is not None:
                errors.append(m.error().code())
        return got
    finally:
        c.close()


def test_group_apis_need_the_group():
    """The group APIs check the group (read; describe for FindCoordinator): a consumer whose
    user may read the topic but not the group is told GROUP_AUTHORIZATION_FAILED (before,
    the broker closed its connections and librdkafka only retried) and gets nothing; once an
    ACL (reloaded by SIGHUP) allows the group, the same consumer reads every record."""
    with Cluster() as c:
        b = secure_broker(c)
        assert [e for e, _ in produce(sasl(b, "admin"), "a-g", [b"1", b"2", b"3"])] == [None] * 3
        errors = []
        assert group_consume(sasl(b, "alice"), "a-g", "ga", 3, timeout=6, errors=errors) == []
        assert KafkaError.GROUP_AUTHORIZATION_FAILED in errors, errors
        assert "closing connection" not in b.stderr_text(), b.stderr_text()[-2000:]
        with open(os.path.join(c.dir, "acl"), "a") as f:
            f.write("allow User:alice group literal ga read\n")
        b.signal(signal.SIGHUP)
        brook.wait_until(lambda: "reloaded" in b.stderr_text(), timeout=10, what="the reload")
        assert sorted(group_consume(sasl(b, "alice"), "a-g", "ga", 3, timeout=30)) == \
            [b"1", b"2", b"3"]
        stop_clean(b)


# ---- raw group requests, answered with the error codes Kafka uses ------------------------------

class Reader:
    def __init__(self, data):
        self.d, self.r = data, 0

    def take(self, fmt):
        (v,) = struct.unpack_from(fmt, self.d, self.r)
        self.r += struct.calcsize(fmt)
        return v

    def str(self):
        n = self.take(">h")
        if n < 0:
            return None
        v = self.d[self.r:self.r + n].decode()
        self.r += n
        return v

    def bytes(self):
        n = self.take(">i")
        v = self.d[self.r:self.r + max(n, 0)]
        self.r += max(n, 0)
        return v


def authed(b, user):
    """A raw connection authenticated as user (SASL PLAIN, SaslAuthenticate v1)."""
    s = socket.create_connection(("127.0.0.1", b.kport), timeout=10)
    assert handshake(s, "PLAIN") == (0, MECHS)
    token = ("%s\x00%s\x00%s" % (user, user, PASSWORDS[user])).encode()
    s.sendall(frame(36, 1, 2, struct.pack(">i", len(token)) + token))
    assert struct.unpack(">ih", read_frame(s)[:6]) == (2, 0)
    return s


def call(s, key, version, body, corr=50):
    s.sendall(frame(key, version, corr, body))
    data = read_frame(s)
    assert data is not None, "connection closed on API %d v%d" % (key, version)
    r = Reader(data)
    assert r.take(">i") == corr
    return r


def arr(items):
    return struct.pack(">i", len(items)) + b"".join(items)


def commit_body(group, topics, generation=-1, member=""):
    """OffsetCommit v2: topics = {name: {partition: offset}}."""
    return kstr(group) + struct.pack(">i", generation) + kstr(member) + struct.pack(">q", -1) + \
        arr([kstr(t) + arr([struct.pack(">iq", p, o) + kstr("") for p, o in parts.items()])
             for t, parts in topics.items()])


def commit_answer(r):
    """OffsetCommit v2 answer: {(topic, partition): error}."""
    out = {}
    for _ in range(r.take(">i")):
        t = r.str()
        for _ in range(r.take(">i")):
            p = r.take(">i")
            out[(t, p)] = r.take(">h")
    return out


def offset_fetch(s, version, group, topics):
    """OffsetFetch v1-3 (topics None: every committed offset, v2+): ({(topic, partition):
    (offset, error)}, top-level error or None)."""
    body = kstr(group) + (struct.pack(">i", -1) if topics is None else
                          arr([kstr(t) + arr([struct.pack(">i", p) for p in ps])
                               for t, ps in topics.items()]))
    r = call(s, 9, version, body)
    if version >= 3:
        r.take(">i")
    out = {}
    for _ in range(r.take(">i")):
        t = r.str()
        for _ in range(r.take(">i")):
            p, off = r.take(">i"), r.take(">q")
            r.str()
            out[(t, p)] = (off, r.take(">h"))
    return out, (r.take(">h") if version >= 2 else None)


def group_errors(s, group):
    """Every group API's error for group, from raw requests on s (each answered, none closing
    the connection)."""
    e = {}
    r = call(s, 10, 0, kstr(group))  # FindCoordinator v0
    e["find_coordinator_v0"] = (r.take(">h"), r.take(">i"))
    r = call(s, 10, 1, kstr(group) + b"\x00")  # v1, key type 0 (group)
    r.take(">i")
    e["find_coordinator_v1"] = (r.take(">h"), r.str() is not None, r.take(">i"))
    r = call(s, 11, 4, kstr(group) + struct.pack(">ii", 10000, 10000) + kstr("") +
             kstr("consumer") + arr([kstr("range") + struct.pack(">i", 0)]))  # JoinGroup v4
    r.take(">i")
    e["join"] = (r.take(">h"), r.take(">i"))
    r = call(s, 14, 1, kstr(group) + struct.pack(">i", 1) + kstr("m") + arr([]))  # SyncGroup
    r.take(">i")
    e["sync"] = r.take(">h")
    r = call(s, 12, 1, kstr(group) + struct.pack(">i", 1) + kstr("m"))  # Heartbeat v1
    r.take(">i")
    e["heartbeat"] = r.take(">h")
    r = call(s, 13, 1, kstr(group) + kstr("m"))  # LeaveGroup v1
    r.take(">i")
    e["leave"] = r.take(">h")
    r = call(s, 15, 1, arr([kstr(group)]))  # DescribeGroups v1
    r.take(">i")
    assert r.take(">i") == 1
    e["describe"] = (r.take(">h"), r.str(), r.str())
    return e


def test_group_authorization_answers():
    """A group its user may not use gets GROUP_AUTHORIZATION_FAILED (30) in each group API's
    answer, on a connection that stays open (before: the connection closed); OffsetCommit
    answers TOPIC_AUTHORIZATION_FAILED (29) for a topic without read, OffsetFetch 29 for a
    topic without describe and leaves such topics out of "every offset"; ListGroups without
    describe on the cluster lists the groups one may describe; FindCoordinator for a
    transactional id: TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53)."""
    with Cluster() as c:
        b = secure_broker(c)
        admin = AdminClient(sasl(b, "admin"))
        for t in ("a-g", "secret"):
            admin.create_topics([NewTopic(t, 1, 1)])[t].result(20)
        with authed(b, "admin") as s:  # offsets of group ga on both topics, and group gb
            got = commit_answer(call(s, 8, 2, commit_body("ga", {"a-g": {0: 5}, "secret": {0: 7}})))
            assert got == {("a-g", 0): 0, ("secret", 0): 0}, got
            assert commit_answer(call(s, 8, 2, commit_body("gb", {"a-g": {0: 1}}))) == \
                {("a-g", 0): 0}
        with authed(b, "alice") as s:
            e = group_errors(s, "ga")
            assert e == {"find_coordinator_v0": (30, -1), "find_coordinator_v1": (30, True, -1),
                         "join": (30, -1), "sync": 30, "heartbeat": 30, "leave": 30,
                         "describe": (30, "ga", "")}, e
            got = commit_answer(call(s, 8, 2, commit_body("ga", {"a-g": {0: 9}, "secret": {0: 9}})))
            assert got == {("a-g", 0): 30, ("secret", 0): 30}, got
            assert offset_fetch(s, 1, "ga", {"a-g": [0]}) == ({("a-g", 0): (-1, 30)}, None)
            assert offset_fetch(s, 3, "ga", {"a-g": [0]}) == ({}, 30)
            r = call(s, 16, 1, b"")  # ListGroups v1: no describe on the cluster, no group
            r.take(">i")
            assert (r.take(">h"), r.take(">i")) == (0, 0)
            r = call(s, 10, 1, kstr("txn-1") + b"\x01")  # FindCoordinator, transactional id
            r.take(">i")
            assert r.take(">h") == 53
        with open(os.path.join(c.dir, "acl"), "a") as f:
            f.write("allow User:alice group literal ga read\n")
        b.signal(signal.SIGHUP)
        brook.wait_until(lambda: "reloaded" in b.stderr_text(), timeout=10, what="the reload")
        with authed(b, "alice") as s:
            e = group_errors(s, "ga")
            assert e["find_coordinator_v1"][0] == 0 and e["describe"][0] == 0, e
            assert e["join"] == (79, -1) and e["heartbeat"] == 25, e  # MEMBER_ID_REQUIRED
            # a topic alice may not read: 29 on its partitions; hers is committed
            got = commit_answer(call(s, 8, 2, commit_body("ga", {"a-g": {0: 2}, "secret": {0: 9}})))
            assert got == {("a-g", 0): 0, ("secret", 0): 29}, got
            # OffsetFetch: a topic named without describe: 29 (its offset not shown)
            got, top = offset_fetch(s, 1, "ga", {"a-g": [0], "secret": [0]})
            assert got == {("a-g", 0): (2, 0), ("secret", 0): (-1, 29)}, got
            # every committed offset: "secret" (committed by admin) left out
            assert offset_fetch(s, 3, "ga", None) == ({("a-g", 0): (2, 0)}, 0)
            r = call(s, 16, 1, b"")  # ListGroups: ga (read implies describe), not gb
            r.take(">i")
            assert r.take(">h") == 0
            listed = [(r.str(), r.str())[0] for _ in range(r.take(">i"))]
            assert set(listed) <= {"ga"}, listed
        with authed(b, "admin") as s:
            assert offset_fetch(s, 3, "ga", {"secret": [0]}) == ({("secret", 0): (7, 0)}, 0)
        assert "closing connection" not in b.stderr_text(), b.stderr_text()[-2000:]
        stop_clean(b)


def test_acks0_produce_to_a_denied_topic_closes():
    """acks=0 leaves no answer to carry TOPIC_AUTHORIZATION_FAILED: the connection closes (as
    in Kafka) with one line on stderr, and nothing is written; with acks=1 the same request is
    answered 29 on a connection that stays open."""
    with Cluster() as c:
        b = secure_broker(c)
        admin = AdminClient(sasl(b, "admin"))
        admin.create_topics([NewTopic("secret", 1, 1)])["secret"].result(20)

        def produce_v3(acks):
            return frame(0, 3, 70, struct.pack(">h", -1) + struct.pack(">hi", acks, 5000) +
                         arr([kstr("secret") + arr([struct.pack(">i", 0) +
                                                    struct.pack(">i", 8) + b"notbatch"])]))

        with authed(b, "alice") as s:
            s.sendall(produce_v3(1))
            r = Reader(read_frame(s))
            assert r.take(">i") == 70 and r.take(">i") == 1 and r.str() == "secret"
            assert r.take(">i") == 1 and r.take(">i") == 0 and r.take(">h") == 29
            s.sendall(produce_v3(0) + metadata_v1_all())
            assert closed(s), "acks=0 produce to a denied topic left the connection open"
        wait_until(lambda: "acks=0 produce to a topic this principal may not write"
                   in b.stderr_text(), what="the close on stderr")
        # a real client: librdkafka with acks=0 reports nothing, and nothing is written
        p = Producer(dict(sasl(b, "alice"), acks=0))
        for i in range(3):
            p.produce("secret", value=b"x%d" % i)
        p.flush(10)
        st, body, _ = b.request("GET", "/topics/secret/partitions/0/offsets",
                                headers={"Authorization": "Basic YWRtaW46cm9vdC1wdw=="})
        assert st == 200 and body["end_offset"] == 0, (st, body)
        stop_clean(b)


def test_unauthenticated_is_disconnected():
    with Cluster() as c:
        b = secure_broker(c)
        with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
            s.sendall(frame(18, 0, 1, b""))  # ApiVersions: allowed, lists the SASL APIs
            data = read_frame(s)
            n = struct.unpack(">i", data[6:10])[0]
            keys = {struct.unpack_from(">hhh", data, 10 + 6 * i) for i in range(n)}
            assert (17, 0, 1) in keys and (36, 0, 2) in keys, keys
            s.sendall(metadata_v1_all())
            assert closed(s), "Metadata before authentication was served"
        wait_until(lambda: "Metadata before SASL authentication" in b.stderr_text(),
                   what="the refusal on stderr")
        assert b.stderr_text().count("before SASL authentication") == 1
        err = auth_error({"bootstrap.servers": "127.0.0.1:%d" % b.kport})
        assert err is not None, "a client without SASL got metadata"
        p = kcat("-b", "127.0.0.1:%d" % b.kport, "-L", "-m", "5", ok=False)
        assert p.returncode != 0, p.stdout
        assert b.alive()


def test_raw_sasl_exchanges():
    with Cluster() as c:
        b = secure_broker(c)
        # an unsupported mechanism: 33 with the offered list, then the connection closes
        with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
            err, names = handshake(s, "GSSAPI")
            assert (err, names) == (33, MECHS), (err, names)
            assert closed(s)
        # SaslAuthenticate before a handshake: ILLEGAL_SASL_STATE (34), closed
        with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
            s.sendall(frame(36, 0, 2, struct.pack(">i", 3) + b"abc"))
            assert struct.unpack(">ih", read_frame(s)[:6]) == (2, 34)
            assert closed(s)
        # SaslAuthenticate v2 (flexible), PLAIN, wrong password: 58 and a message, closed;
        # a request pipelined behind it is never served
        with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
            assert handshake(s, "PLAIN") == (0, MECHS)
            token = b"\x00alice\x00bad"
            s.sendall(frame(36, 2, 3, bytes([len(token) + 1]) + token + b"\x00", flex=True) +
                      metadata_v1_all())
            data = read_frame(s)
            corr, tags, err, mlen = struct.unpack(">ibhB", data[:8])
            assert (corr, tags, err) == (3, 0, 58), (corr, tags, err)
            assert data[8:8 + mlen - 1] == b"wrong user name or password", data
            assert closed(s)
        # a v0 handshake: bare tokens; PLAIN success is an empty frame, then Kafka requests
        with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
            assert handshake(s, "PLAIN", version=0) == (0, MECHS)
            token = ("\x00bob\x00%s" % PASSWORDS["bob"]).encode()
            s.sendall(struct.pack(">i", len(token)) + token)
            assert read_frame(s) == b""
            s.sendall(metadata_v1_all(corr=5))
            data = read_frame(s)
            assert data is not None and struct.unpack(">i", data[:4])[0] == 5, data
        # SaslAuthenticate v1, PLAIN, right password: session_lifetime_ms 0
        with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
            assert handshake(s, "PLAIN") == (0, MECHS)
            token = ("alice\x00alice\x00%s" % PASSWORDS["alice"]).encode()
            s.sendall(frame(36, 1, 4, struct.pack(">i", len(token)) + token))
            data = read_frame(s)
            assert data == struct.pack(">ihhiq", 4, 0, -1, 0, 0), data
            s.sendall(frame(36, 1, 6, struct.pack(">i", len(token)) + token))  # again: 34
            assert struct.unpack(">ih", read_frame(s)[:6]) == (6, 34)
            assert closed(s)
        # a client that leaves while its PLAIN password is being checked
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
                assert handshake(s, "PLAIN") == (0, MECHS)
                token = b"\x00alice\x00guess"
                s.sendall(frame(36, 0, 7, struct.pack(">i", len(token)) + token))
        stop_clean(b)


def test_sasl_without_users_file():
    """Without --users-file no credentials exist: a SASL client is told so (33, no mechanism
    offered), a plain one works as before, and the listener stays on 127.0.0.1."""
    with Cluster() as c:
        port = free_port()
        b = c.broker(standalone=True, args=["--kafka-port", str(port)])
        brook.wait_port(port, proc=b.proc)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            assert handshake(s, "PLAIN") == (33, [])
            assert closed(s)
        err = auth_error({"bootstrap.servers": "127.0.0.1:%d" % port,
                          "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                          "sasl.username": "x", "sasl.password": "y"})
        assert err is not None
        kcat("-b", "127.0.0.1:%d" % port, "-L")


if __name__ == "__main__":
    brook.run([test_kcat_every_mechanism, test_confluent_every_mechanism, test_authorization,
               test_group_apis_need_the_group, test_group_authorization_answers,
               test_acks0_produce_to_a_denied_topic_closes, test_unauthenticated_is_disconnected,
               test_raw_sasl_exchanges, test_sasl_without_users_file])
