"""InitProducerId answered by any broker (README "Kafka protocol"): only the leader makes
producer ids, so a follower asks it for one (POST /cluster/producer-ids, with the broker's own
credentials) and hands it to the client, as any Kafka broker answers InitProducerId; clients
bootstrapped on a follower (librdkafka retries the broker it asked for ever) get an id.
Hand-built requests check: a follower's id is valid, distinct from the leader's and from the
other follower's, in the leader's term, and the leader accepts an idempotent batch under it;
the route itself is the leader's (a follower answers it 503); with authentication the
follower checks the client's own rights (write on the cluster: CLUSTER_AUTHORIZATION_FAILED
(31) without) and the route needs cluster_action; a follower whose leader is SIGSTOPped
answers COORDINATOR_NOT_AVAILABLE (15, retriable) within a bounded time, and every broker
hands out ids again once another leads. On a binary where followers answer
COORDINATOR_NOT_AVAILABLE every test fails."""
import base64
import os
import signal
import socket
import struct
import subprocess
import time

import brook
from kafka_wire import frame, kstr, read_frame
from brook import Cluster, free_port, wait_leader, wait_until

COORDINATOR_NOT_AVAILABLE = 15
CLUSTER_AUTHORIZATION_FAILED = 31
PASSWORDS = {"admin": "root-pw", "repl": "repl-pw", "carol": "carol-pw", "alice": "alice-pw"}
ACL = """allow User:repl  cluster literal kafka-cluster cluster_action
allow User:carol cluster literal kafka-cluster write
allow User:carol topic prefixed c- read,write,create
allow User:alice topic prefixed c- read,write,create
"""


# ---- raw frames (kstr, frame, read_frame: tests/lib/kafka_wire.py) ----------------------------







class Raw:
    """One Kafka connection speaking hand-built frames, optionally authenticated (SASL PLAIN,
    SaslHandshake v1 + SaslAuthenticate v1)."""

    def __init__(self, port, user=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.corr = 0
        if user:
            self.recv(self.send(17, 1, kstr("PLAIN")))
            token = ("%s\x00%s\x00%s" % (user, user, PASSWORDS[user])).encode()
            data = self.recv(self.send(36, 1, struct.pack(">i", len(token)) + token))
            assert struct.unpack_from(">h", data, 4)[0] == 0, "SASL failed for %s" % user

    def close(self):
        self.s.close()

    def send(self, key, version, body):
        self.corr += 1
        self.s.sendall(frame(key, version, self.corr, body))
        return self.corr

    def recv(self, corr):
        data = read_frame(self.s)
        assert struct.unpack(">i", data[:4])[0] == corr, "answers out of order"
        return data

    def init_pid(self, version=0):
        """(error, producer id, producer epoch) of a non-transactional InitProducerId."""
        data = self.recv(self.send(22, version, kstr(None) + struct.pack(">i", 60000)))
        _throttle, err, pid, epoch = struct.unpack_from(">ihqh", data, 4)
        return err, pid, epoch


def init_pid_once(port, user=None):
    """InitProducerId on a fresh connection: (error, pid, epoch), or None when the broker does
    not answer (stopped, closed)."""
    try:
        k = Raw(port, user)
    except OSError:
        return None
    try:
        return k.init_pid()
    except (OSError, AssertionError):
        return None
    finally:
        k.close()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def varint(n):
    n = (n << 1) ^ (n >> 63)
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def idem_batch(value, pid, epoch, seq):
    """A RecordBatch v2 of one record (key null) under producer id pid at sequence seq."""
    body = b"\x00" + varint(0) + varint(0) + varint(-1) + varint(len(value)) + value + varint(0)
    recs = varint(len(body)) + body
    now = int(time.time() * 1000)
    after_crc = struct.pack(">hiqqqhii", 0, 0, now, now, pid, epoch, seq, 1) + recs
    partial = struct.pack(">ib", -1, 2) + struct.pack(">I", crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(partial)) + partial


def produce(port, topic, batch):
    """Produce v3 acks=all of one batch to partition 0: (error, base offset)."""
    k = Raw(port)
    try:
        body = kstr(None) + struct.pack(">hi", -1, 30000) + struct.pack(">i", 1) + kstr(topic) + \
            struct.pack(">i", 1) + struct.pack(">ii", 0, len(batch)) + batch
        data = k.recv(k.send(0, 3, body))
        r = 8 + 2 + len(topic) + 4  # corr, topics count, name, partitions count
        _part, err, base = struct.unpack_from(">ihq", data, r)
        return err, base
    finally:
        k.close()


# ---- clusters ----------------------------------------------------------------------------------

def kafka_cluster(c, n=3, extra=(), env=None):
    """n brokers with Kafka ports sharing one Redis; returns (brokers, leader, epoch)."""
    r = c.redis()
    bs = []
    for i in range(n):
        port = free_port()
        b = c.broker(name="p%d" % (i + 1), redis=r, start=False, env=env,
                     args=brook.cluster_args(2000, 500, ["--kafka-port", str(port)] +
                                             list(extra)))
        b.kport = port
        bs.append(b)
    for b in bs:
        b.start(wait=False)
    for b in bs:
        brook.wait_port(b.port, proc=b.proc)
        brook.wait_port(b.kport, proc=b.proc)
    lb, epoch = wait_until(lambda: health_leader(bs), 30, what="one agreed leader")
    return bs, lb, epoch


def health_leader(bs):
    """(leader, epoch) when exactly one broker leads and every one agrees, from /health (open
    with authentication on, unlike /metadata/leader)."""
    hs = [brook.health(b) for b in bs]
    if None in hs:
        return None
    leaders = [b for b, h in zip(bs, hs) if h["role"] == "leader"]
    if len(leaders) != 1 or any(h["leader"] != leaders[0].name or h["epoch"] != hs[0]["epoch"]
                                for h in hs):
        return None
    return leaders[0], hs[0]["epoch"]


def ok_pid(port, user=None):
    """A producer id from the broker at port, once it answers with one (None meanwhile)."""
    a = init_pid_once(port, user)
    return a[1] if a and a[0] == 0 and a[1] >= 0 and a[2] == 0 else None


# ---- tests -------------------------------------------------------------------------------------

def test_follower_hands_out_the_leaders_ids():
    with Cluster() as c:
        bs, lb, epoch = kafka_cluster(c)
        followers = [b for b in bs if b is not lb]
        pids = [wait_until(lambda: ok_pid(b.kport), 30, what="an id from %s" % b.name)
                for b in followers]
        pids.append(ok_pid(lb.kport))
        pids.append(wait_until(lambda: ok_pid(followers[0].kport), 30, what="a second id"))
        assert None not in pids and len(set(pids)) == len(pids), pids
        # the leader's allocator made them all: this term's base
        assert all(p >> 24 == epoch for p in pids), (epoch, [hex(p) for p in pids])
        # the id a follower handed out is one the leader takes batches under
        st, body, _ = lb.post_json("/topics", {"name": "pf", "replication_factor": 3})
        assert st == 201, (st, body)
        assert produce(lb.kport, "pf", idem_batch(b"v0", pids[0], 0, 0)) == (0, 0)
        assert produce(lb.kport, "pf", idem_batch(b"v0", pids[0], 0, 0)) == (0, 0)  # a retry
        assert [r["value"] for r in lb.read_all("pf")] == ["v0"]
        # the route is the leader's: a follower does not hand ids out over HTTP
        st, body, _ = followers[0].post_json("/cluster/producer-ids", {})
        assert st == 503 and body["error_code"] == 503 and "leader" in body["message"], (st,
                                                                                          body)
        st, body, _ = lb.post_json("/cluster/producer-ids", {})
        assert st == 200 and body["producer_epoch"] == 0, (st, body)
        assert body["producer_id"] >> 24 == epoch and body["producer_id"] not in pids, body


def make_users(path):
    for name, pw in PASSWORDS.items():
        p = subprocess.run([brook.BROOK_BIN, "user", "add", name, "--users-file", path],
                           input=(pw + "\n").encode(), capture_output=True)
        assert p.returncode == 0, p.stderr


def test_follower_checks_the_clients_rights_and_asks_as_the_broker():
    """With users and ACLs, brokers fetching as User:repl (cluster_action): a follower serves
    carol (write on the cluster) and refuses alice (31) without asking the leader; the route
    refuses a client without cluster_action (403)."""
    with Cluster() as c:
        users, acl = os.path.join(c.dir, "users"), os.path.join(c.dir, "acl")
        make_users(users)
        with open(acl, "w") as f:
            f.write(ACL)
        bs, lb, epoch = kafka_cluster(
            c, n=2, extra=["--users-file", users, "--acl-file", acl, "--super-users",
                           "User:admin", "--broker-user", "repl"],
            env={"BROOK_BROKER_PASSWORD": PASSWORDS["repl"]})
        f = [b for b in bs if b is not lb][0]
        pid = wait_until(lambda: ok_pid(f.kport, "carol"), 30, what="an id for carol from %s" %
                         f.name)
        assert pid >> 24 == epoch, (epoch, hex(pid))
        assert ok_pid(lb.kport, "carol") != pid
        a = init_pid_once(f.kport, "alice")
        assert a == (CLUSTER_AUTHORIZATION_FAILED, -1, -1), a

        def post(b, user):
            auth = base64.b64encode(("%s:%s" % (user, PASSWORDS[user])).encode()).decode()
            return b.request("POST", "/cluster/producer-ids", body="",
                             headers={"Authorization": "Basic " + auth})
        st, body, _ = post(lb, "carol")
        assert st == 403 and body["error_code"] == 40301, (st, body)
        assert "cluster_action" in body["message"], body
        st, body, _ = post(lb, "repl")
        assert st == 200 and body["producer_id"] >> 24 == epoch, (st, body)


def test_follower_of_a_stopped_leader_answers_retriable_then_serves_the_next():
    """Four brokers, the leader SIGSTOPped: a follower answers 15 (or, already leading, an id
    of the next term) within a bounded time; another follower stopped (SIGTERM) while its ask
    is in flight exits cleanly (the ask cancelled, its request dropped, no sanitizer report);
    once another broker leads, every live broker hands out ids of the new term."""
    with Cluster() as c:
        bs, lb, epoch = kafka_cluster(c, n=4)
        followers = [b for b in bs if b is not lb]
        for b in followers:
            wait_until(lambda: ok_pid(b.kport), 30, what="an id from %s" % b.name)
        gone = followers.pop()
        lb.signal(signal.SIGSTOP)
        try:
            pending = Raw(gone.kport)
            pending.send(22, 0, kstr(None) + struct.pack(">i", 60000))
            time.sleep(0.5)  # its ask is on its way to the stopped leader (3 s timeout)
            t0 = time.monotonic()
            assert gone.terminate(timeout=30) == 0, gone.stderr_text()[-2000:]
            assert time.monotonic() - t0 < 2.5, "the stop waited for the ask"
            assert not brook.sanitizer_reports([gone]), brook.sanitizer_reports([gone])
            assert "asking the leader for a producer id failed" not in gone.stderr_text()
            pending.close()
            t0 = time.monotonic()
            a = init_pid_once(followers[0].kport)
            took = time.monotonic() - t0
            assert a is not None and a[0] in (0, COORDINATOR_NOT_AVAILABLE), a
            assert took < 15, "InitProducerId took %.1f s with the leader stopped" % took
            assert a[0] == COORDINATOR_NOT_AVAILABLE or a[1] >> 24 > epoch, (a, epoch)
            nb, new_epoch = wait_leader(followers, timeout=30, what="a new leader")
            assert new_epoch > epoch
            for b in followers:
                pid = wait_until(lambda: ok_pid(b.kport), 30,
                                 what="an id from %s after the failover" % b.name)
                assert pid >> 24 == new_epoch, (b.name, hex(pid), new_epoch)
        finally:
            lb.kill()


if __name__ == "__main__":
    brook.run([
        test_follower_hands_out_the_leaders_ids,
        test_follower_checks_the_clients_rights_and_asks_as_the_broker,
        test_follower_of_a_stopped_leader_answers_retriable_then_serves_the_next,
    ])
