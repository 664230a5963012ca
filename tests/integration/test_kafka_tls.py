#!/usr/bin/env python3
"""TLS on the Kafka listener (issue 15, README "TLS" and "Kafka protocol") with real, unmodified
clients: kcat and confluent-kafka (librdkafka 2.0) with security.protocol=SSL produce and
consume on --kafka-tls-port while the plaintext --kafka-port keeps serving beside it;
SASL_SSL with PLAIN and SCRAM-SHA-256 (right and wrong password); a client certificate whose CN
is the ACL principal (an allowed topic works, a denied one gets TOPIC_AUTHORIZATION_FAILED);
an unauthenticated TLS connection treated exactly like an unauthenticated plaintext one when a
users file is set; --tls-client-auth required refusing a client without a certificate; the
frame limit applied to decrypted bytes; hostile clients (garbage instead of a handshake, a
plaintext Kafka request on the TLS port, a handshake stopped halfway, clients vanishing
mid-handshake) while others are served; and a three-broker cluster where a client bootstrapped
on a follower's TLS port is given every broker's TLS address and produces to the leader
(FindCoordinator names the leader's TLS address; a broker without a TLS listener is left out of
TLS Metadata); SIGHUP reloading the certificate; no ALPN selected for a client offering one.
Before this, brook refused --kafka-tls-port as an unknown option.
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_kafka_tls.py
"""
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time

import kafka_wire  # noqa: E402

kafka_wire.need_confluent()

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

import brook
from brook import BROOK_BIN, Cluster, free_port, wait_leader, wait_until

OPENSSL = shutil.which("openssl") or "openssl"
PASSWORDS = {"alice": "wonder land:1", "bob": "builder", "admin": "root-pw"}
ACL = """# alice (by password or by certificate): her a- topics; nobody else gets anything
allow User:alice topic prefixed a- read,write,create
allow User:alice group literal  g-alice read
"""
ADMIN = {"Authorization": "Basic YWRtaW46cm9vdC1wdw=="}  # admin:root-pw, a super user


# ---- certificates (made with the openssl command in the test's temp dir) ---------------------

def openssl(*args):
    p = subprocess.run([OPENSSL] + list(args), capture_output=True)
    assert p.returncode == 0, "openssl %s: %s" % (" ".join(args), p.stderr.decode())


def make_certs(d):
    """A CA, broker certificates for localhost/127.0.0.1 ("server", and "server2" to swap in),
    client certificates CN=alice and CN=mallory. Returns a dict of paths."""
    p = {k: os.path.join(d, k) for k in ("ca.pem", "ca.key")}
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", p["ca.key"], "-out", p["ca.pem"], "-days", "2", "-subj", "/CN=brook test CA")
    san = os.path.join(d, "san.ext")
    with open(san, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, cn, ext in (("server", "localhost", san), ("server2", "localhost-two", san),
                          ("alice", "alice", None), ("mallory", "mallory", None)):
        key, csr, crt = (os.path.join(d, name + s) for s in (".key", ".csr", ".pem"))
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", csr, "-subj", "/CN=" + cn)
        openssl("x509", "-req", "-in", csr, "-CA", p["ca.pem"], "-CAkey", p["ca.key"],
                "-CAcreateserial", "-out", crt, "-days", "2", *(["-extfile", ext] if ext else []))
        p[name + ".pem"], p[name + ".key"] = crt, key
    return p


# ---- brokers and clients -----------------------------------------------------------------------

def make_users(path):
    for name, pw in PASSWORDS.items():
        p = subprocess.run([BROOK_BIN, "user", "add", name, "--users-file", path],
                           input=(pw + "\n").encode(), capture_output=True)
        assert p.returncode == 0, p.stderr


def tls_args(certs, kport, tport, client_auth="optional"):
    return ["--kafka-port", str(kport), "--kafka-tls-port", str(tport),
            "--tls-cert", certs["server.pem"], "--tls-key", certs["server.key"],
            "--tls-ca", certs["ca.pem"], "--tls-client-auth", client_auth]


def kafka_tls_broker(c, certs, secure=False, client_auth="optional", extra=()):
    """A standalone broker with Kafka on b.kport (plaintext) and b.tport (TLS); with secure, a
    users file, the ACL above and User:admin as super user."""
    kport, tport = free_port(), free_port()
    args = tls_args(certs, kport, tport, client_auth) + list(extra)
    if secure:
        users, acl = os.path.join(c.dir, "users"), os.path.join(c.dir, "acl")
        if not os.path.exists(users):
            make_users(users)
        with open(acl, "w") as f:
            f.write(ACL)
        args += ["--users-file", users, "--acl-file", acl, "--super-users", "User:admin"]
    b = c.broker(standalone=True, args=args)
    b.kport, b.tport = kport, tport
    brook.wait_port(kport, proc=b.proc)
    brook.wait_port(tport, proc=b.proc)
    return b


def ssl_conf(b, certs, cert=None, port=None):
    conf = {"bootstrap.servers": "127.0.0.1:%d" % (port or b.tport), "security.protocol": "SSL",
            "ssl.ca.location": certs["ca.pem"]}
    if cert:
        conf["ssl.certificate.location"] = certs[cert + ".pem"]
        conf["ssl.key.location"] = certs[cert + ".key"]
    return conf


def sasl_ssl_conf(b, certs, user, mech, pw=None):
    return dict(ssl_conf(b, certs), **{"security.protocol": "SASL_SSL", "sasl.mechanism": mech,
                                       "sasl.username": user,
                                       "sasl.password": PASSWORDS[user] if pw is None else pw})


def kcat(*args, stdin=None, ok=True, timeout=30):
    p = subprocess.run(["kcat"] + list(args), input=stdin, capture_output=True, timeout=timeout)
    if ok:
        assert p.returncode == 0, "kcat %s: %s" % (args, p.stderr.decode(errors="replace"))
    return p


def kcat_ssl(b, certs, *args, **kw):
    return kcat("-b", "127.0.0.1:%d" % b.tport, "-X", "security.protocol=ssl",
                "-X", "ssl.ca.location=" + certs["ca.pem"], *args, **kw)


def produce(conf, topic, values, timeout=20):
    """Delivery outcomes: [(error code or None, offset)] in send order."""
    out = []
    p = Producer(dict(conf, acks="all", **{"message.timeout.ms": timeout * 1000}))
    for v in values:
        p.produce(topic, value=v, on_delivery=lambda err, m: out.append(
            (err.code() if err else None, m.offset())))
    p.flush(timeout + 10)
    return out


def consume(conf, topic, start, count, timeout=20.0):
    c = Consumer(dict(conf, **{"group.id": "unused", "enable.auto.commit": False}))
    try:
        c.assign([TopicPartition(topic, 0, start)])
        got, deadline = [], time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            # its group.id ("unused") may be denied: librdkafka reports the broker's
            # GROUP_AUTHORIZATION_FAILED and reads the assigned partition regardless
            if m is None or (m.error() is not None and
                             m.error().code() == KafkaError.GROUP_AUTHORIZATION_FAILED):
                continue
            assert m.error() is None, m.error()
            got.append(m.value())
        return got
    finally:
        c.close()


def client_error(conf):
    """librdkafka's authentication error for conf if there is one, else its first error (None
    when Metadata was served)."""
    errors = []
    a = AdminClient(dict(conf, error_cb=errors.append))
    try:
        a.list_topics(timeout=5)
    except KafkaException as e:
        errors.append(e.args[0])
    a.poll(1)  # serves error_cb
    auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
    return (auth or errors or [None])[0]


def stop_clean(b):
    assert b.terminate(timeout=30) == 0, b.stderr_text()[-2000:]
    assert not brook.sanitizer_reports([b]), brook.sanitizer_reports([b])


# ---- raw frames ----------------------------------------------------------------------------------

def api_versions_v0(corr):
    hdr = struct.pack(">hhi", 18, 0, corr) + struct.pack(">h", 3) + b"raw"
    return struct.pack(">i", len(hdr)) + hdr


def find_coordinator_v0(sock, group, corr=5):
    """(error, node id, host, port) of FindCoordinator v0 for group, on a connected socket."""
    body = struct.pack(">h", len(group)) + group.encode()
    hdr = struct.pack(">hhi", 10, 0, corr) + struct.pack(">h", 3) + b"raw"
    sock.sendall(struct.pack(">i", len(hdr + body)) + hdr + body)
    data = read_frame(sock)
    c, err, node, hlen = struct.unpack_from(">ihih", data)
    host = data[12:12 + hlen].decode()
    (port,) = struct.unpack_from(">i", data, 12 + hlen)
    assert c == corr
    return err, node, host, port


def read_frame(sock, timeout=10.0):
    sock.settimeout(timeout)
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data[4:]


def closed_within(s, seconds):
    s.settimeout(seconds)
    try:
        while s.recv(65536):
            pass
        return True
    except (ConnectionResetError, ssl.SSLError):
        return True
    except socket.timeout:
        return False


def tls_socket(port, certs, cert=None):
    ctx = ssl.create_default_context(cafile=certs["ca.pem"])
    if cert:
        ctx.load_cert_chain(certs[cert + ".pem"], certs[cert + ".key"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def client_hello(certs):
    """The bytes of a genuine TLS ClientHello (no socket needed)."""
    ctx = ssl.create_default_context(cafile=certs["ca.pem"])
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="127.0.0.1")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def serves_tls(b, certs):
    p = kcat_ssl(b, certs, "-L", ok=False, timeout=30)
    return p.returncode == 0 and ("127.0.0.1:%d" % b.tport).encode() in p.stdout


# ---- tests ------------------------------------------------------------------------------------------

def test_kcat_and_confluent_over_ssl_beside_plaintext():
    with Cluster() as c:
        certs = make_certs(c.dir)
        b = kafka_tls_broker(c, certs)
        # kcat over TLS: produce, consume, and Metadata naming the TLS address
        kcat_ssl(b, certs, "-P", "-t", "demo", "-K:", stdin=b"k1:v1\nk2:v2\n")
        out = kcat_ssl(b, certs, "-C", "-t", "demo", "-o", "beginning", "-e",
                       "-f", "%k=%s\n").stdout.decode()
        assert out.splitlines() == ["k1=v1", "k2=v2"], out
        meta = kcat_ssl(b, certs, "-L").stdout.decode()
        assert "at 127.0.0.1:%d" % b.tport in meta and ":%d" % b.kport not in meta, meta
        # the plaintext port beside it: same log, its own address in Metadata
        plain = kcat("-b", "127.0.0.1:%d" % b.kport, "-C", "-t", "demo", "-o", "beginning", "-e",
                     "-f", "%s\n").stdout.decode()
        assert plain.splitlines() == ["v1", "v2"], plain
        meta = kcat("-b", "127.0.0.1:%d" % b.kport, "-L").stdout.decode()
        assert "at 127.0.0.1:%d" % b.kport in meta and ":%d" % b.tport not in meta, meta
        # confluent-kafka over SSL; HTTP reads what it wrote
        conf = ssl_conf(b, certs)
        vals = [b"ssl-%d" % i for i in range(50)]
        assert produce(conf, "demo", vals) == [(None, 2 + i) for i in range(50)]
        assert consume(conf, "demo", 0, 52) == [b"v1", b"v2"] + vals
        assert [r["value"] for r in b.read_all("demo")][2:] == [v.decode() for v in vals]
        # a large record crosses many TLS records both ways
        big = os.urandom(700000)
        assert produce(conf, "big", [big]) == [(None, 0)]
        assert consume(conf, "big", 0, 1) == [big]
        # a client certificate is accepted without a users file (it only gets the client in)
        assert client_error(ssl_conf(b, certs, cert="alice")) is None
        # the wrong CA on the client side: librdkafka refuses the broker's certificate
        assert client_error(dict(conf, **{"ssl.ca.location": certs["alice.pem"]})) is not None
        stop_clean(b)


def test_sasl_ssl_plain_and_scram():
    with Cluster() as c:
        certs = make_certs(c.dir)
        b = kafka_tls_broker(c, certs, secure=True)
        for i, mech in enumerate(["PLAIN", "SCRAM-SHA-256"]):
            conf = sasl_ssl_conf(b, certs, "alice", mech)
            vals = [b"%s-%d" % (mech.encode(), n) for n in range(5)]
            assert produce(conf, "a-sasl", vals) == [(None, 5 * i + n) for n in range(5)]
            assert consume(conf, "a-sasl", 5 * i, 5) == vals
            err = client_error(sasl_ssl_conf(b, certs, "alice", mech, pw="wrong"))
            assert err is not None and err.code() == KafkaError._AUTHENTICATION, err
        err = b.stderr_text()
        assert "SASL PLAIN authentication as User:alice failed" in err, err[-3000:]
        assert "SASL SCRAM-SHA-256 authentication as User:alice failed" in err, err[-3000:]
        # kcat with SASL_SSL and SCRAM
        kcat("-b", "127.0.0.1:%d" % b.tport, "-X", "security.protocol=SASL_SSL",
             "-X", "ssl.ca.location=" + certs["ca.pem"], "-X", "sasl.mechanism=SCRAM-SHA-256",
             "-X", "sasl.username=bob", "-X", "sasl.password=builder", "-L")
        # the plaintext port still wants SASL_PLAINTEXT
        plain = dict(sasl_ssl_conf(b, certs, "alice", "SCRAM-SHA-256"),
                     **{"bootstrap.servers": "127.0.0.1:%d" % b.kport,
                        "security.protocol": "SASL_PLAINTEXT"})
        assert consume(plain, "a-sasl", 0, 10)[:1] == [b"PLAIN-0"]
        stop_clean(b)


def test_unauthenticated_tls_is_like_unauthenticated_plaintext():
    with Cluster() as c:
        certs = make_certs(c.dir)
        b = kafka_tls_broker(c, certs, secure=True)
        # SSL with neither a certificate nor SASL: Metadata before authentication closes the
        # connection, as on the plaintext port
        assert client_error(ssl_conf(b, certs)) is not None
        wait_until(lambda: "Metadata before SASL authentication" in b.stderr_text() and
                   "SASL_SSL" in b.stderr_text(), timeout=10, what="the refusal traced")
        # the same by hand: ApiVersions is answered, Metadata closes the connection
        with tls_socket(b.tport, certs) as s:
            s.sendall(api_versions_v0(7))
            assert struct.unpack(">ih", read_frame(s)[:6]) == (7, 0)
            hdr = struct.pack(">hhi", 3, 1, 8) + struct.pack(">h", 3) + b"raw"
            s.sendall(struct.pack(">i", len(hdr) + 4) + hdr + struct.pack(">i", -1))
            assert closed_within(s, 10)
        assert produce(dict(ssl_conf(b, certs), **{"message.timeout.ms": 3000}), "a-x",
                       [b"no"], timeout=3)[0][0] is not None
        assert "a-x" not in b.get("/topics", headers=ADMIN)[1]
        stop_clean(b)


def test_client_certificate_principal_and_acls():
    with Cluster() as c:
        certs = make_certs(c.dir)
        b = kafka_tls_broker(c, certs, secure=True)
        alice = ssl_conf(b, certs, cert="alice")
        # User:alice by certificate, no SASL: her topic works both ways
        assert produce(alice, "a-cert", [b"c1", b"c2"]) == [(None, 0), (None, 1)]
        assert consume(alice, "a-cert", 0, 2) == [b"c1", b"c2"]
        # a topic the ACLs do not give her: TOPIC_AUTHORIZATION_FAILED, nothing written
        out = produce(dict(alice, **{"message.timeout.ms": 5000}), "denied", [b"no"], timeout=5)
        assert out[0][0] == KafkaError.TOPIC_AUTHORIZATION_FAILED, out
        # mallory's certificate verifies, but User:mallory may do nothing
        mallory = ssl_conf(b, certs, cert="mallory")
        out = produce(dict(mallory, **{"message.timeout.ms": 5000}), "a-cert", [b"no"], timeout=5)
        assert out[0][0] == KafkaError.TOPIC_AUTHORIZATION_FAILED, out
        # a group she may use (FindCoordinator answers with the TLS address)
        cons = Consumer(dict(alice, **{"group.id": "g-alice", "auto.offset.reset": "earliest"}))
        try:
            cons.subscribe(["a-cert"])
            got, deadline = [], time.monotonic() + 30
            while len(got) < 2 and time.monotonic() < deadline:
                m = cons.poll(0.5)
                if m is not None and m.error() is None:
                    got.append(m.value())
            assert got == [b"c1", b"c2"], got
        finally:
            cons.close()
        # SASL over a certificate connection decides the principal: mallory's certificate
        # with alice's password writes as alice
        both = dict(mallory, **{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
                                "sasl.username": "alice", "sasl.password": PASSWORDS["alice"]})
        assert produce(both, "a-cert", [b"c3"]) == [(None, 2)]
        st, body, _ = b.get("/topics/a-cert/partitions/0/records?offset=0",
                            headers=ADMIN)
        assert st == 200 and [r["value"] for r in body["records"]] == ["c1", "c2", "c3"], body
        stop_clean(b)


def test_client_certificate_required():
    with Cluster() as c:
        certs = make_certs(c.dir)
        b = kafka_tls_broker(c, certs, client_auth="required")
        p = kcat_ssl(b, certs, "-L", "-m", "5", ok=False)
        assert p.returncode != 0, p.stdout
        with_cert = kcat_ssl(b, certs, "-X", "ssl.certificate.location=" + certs["alice.pem"],
                             "-X", "ssl.key.location=" + certs["alice.key"], "-L")
        assert ("at 127.0.0.1:%d" % b.tport).encode() in with_cert.stdout
        assert "TLS" in b.stderr_text()
        # the plaintext port is not affected
        kcat("-b", "127.0.0.1:%d" % b.kport, "-L")
        stop_clean(b)


def test_frame_limit_applies_to_decrypted_bytes():
    with Cluster() as c:
        certs = make_certs(c.dir)
        b = kafka_tls_broker(c, certs, extra=["--kafka-max-frame-bytes", "4096"])
        with tls_socket(b.tport, certs) as s:
            s.sendall(api_versions_v0(3))
            assert struct.unpack(">ih", read_frame(s)[:6]) == (3, 0)
            s.sendall(struct.pack(">i", 5000) + b"x" * 5000)
            assert closed_within(s, 10)
        wait_until(lambda: "frame size 5000 outside 0..4096" in b.stderr_text(), timeout=10,
                   what="the frame limit traced")
        # split across many TLS records, a pipelined pair is answered in order
        with tls_socket(b.tport, certs) as s:
            both = api_versions_v0(11) + api_versions_v0(12)
            for i in range(len(both)):
                s.sendall(both[i:i + 1])
            assert struct.unpack(">i", read_frame(s)[:4])[0] == 11
            assert struct.unpack(">i", read_frame(s)[:4])[0] == 12
        stop_clean(b)


def test_hostile_clients():
    with Cluster() as c:
        certs = make_certs(c.dir)
        b = kafka_tls_broker(c, certs, extra=["--request-timeout-ms", "1500"])
        hello = client_hello(certs)
        # garbage, or a plaintext Kafka request, instead of a handshake: closed
        for junk in (os.urandom(70000), api_versions_v0(1), hello[:5] + os.urandom(3000)):
            s = socket.create_connection(("127.0.0.1", b.tport), timeout=10)
            try:
                s.sendall(junk)
            except OSError:
                pass
            assert closed_within(s, 10), "garbage kept the connection open"
            s.close()
            assert serves_tls(b, certs)
        # a handshake stopped halfway: closed once the request timeout is up, others served
        half = socket.create_connection(("127.0.0.1", b.tport), timeout=10)
        half.sendall(hello[: len(hello) // 2])
        t0 = time.monotonic()
        assert serves_tls(b, certs)
        assert closed_within(half, 15), "a half handshake was kept past the request timeout"
        took = time.monotonic() - t0
        assert 0.5 < took < 10, took
        half.close()
        wait_until(lambda: "TLS handshake not done in time" in b.stderr_text(), timeout=10,
                   what="the handshake timeout traced")
        # clients vanishing mid-handshake, and ClientHellos left hanging while others work
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", b.tport), timeout=10)
            s.sendall(hello)
            s.close()
        stuck = []
        for _ in range(100):
            s = socket.create_connection(("127.0.0.1", b.tport), timeout=10)
            s.sendall(hello)
            stuck.append(s)
        kcat_ssl(b, certs, "-P", "-t", "calm", stdin=b"one\ntwo\n")
        kcat("-b", "127.0.0.1:%d" % b.kport, "-P", "-t", "calm", stdin=b"three\n")
        out = kcat_ssl(b, certs, "-C", "-t", "calm", "-o", "beginning", "-e", "-f", "%s\n")
        assert out.stdout.decode().splitlines() == ["one", "two", "three"], out.stdout
        for s in stuck:
            s.close()
        assert b.alive()
        stop_clean(b)


def test_cluster_metadata_gives_tls_addresses():
    with Cluster() as c:
        certs = make_certs(c.dir)
        r = c.redis()
        bs = []
        for i in range(3):
            kport, tport = free_port(), free_port()
            b = c.broker(name="s%d" % (i + 1), redis=r, start=False,
                         args=brook.cluster_args(2000, 500, tls_args(certs, kport, tport)))
            b.kport, b.tport = kport, tport
            bs.append(b)
        for b in bs:
            b.start(wait=False)
        for b in bs:
            brook.wait_port(b.tport, proc=b.proc)
        lb, _ = wait_leader(bs)
        follower = next(b for b in bs if b is not lb)

        def all_tls():
            m = kcat_ssl(follower, certs, "-L", ok=False).stdout.decode()
            return m if all("at 127.0.0.1:%d" % b.tport in m for b in bs) else None
        meta = wait_until(all_tls, timeout=30, what="Metadata over TLS listing 3 TLS addresses")
        assert not any(":%d" % b.kport in meta for b in bs), meta
        # the plaintext listener of the same broker still hands out plaintext addresses
        pm = kcat("-b", "127.0.0.1:%d" % follower.kport, "-L").stdout.decode()
        assert all("at 127.0.0.1:%d" % b.kport in pm for b in bs), pm
        # a client bootstrapped on a follower's TLS port alone finds the leader and writes there
        # (Metadata auto-creates topics on the leader only: the topic is made there first)
        lb.produce("seed", topic="ct")
        wait_until(lambda: follower.get("/topics/ct")[0] == 200, timeout=20,
                   what="the follower has the topic")
        conf = ssl_conf(follower, certs)
        vals = [b"via-tls-%d" % i for i in range(20)]
        out = produce(conf, "ct", vals, timeout=30)
        assert out == [(None, 1 + i) for i in range(20)], out
        assert [rec["value"] for rec in lb.read_all("ct")] == ["seed"] + [v.decode() for v in vals]
        assert consume(conf, "ct", 1, 20, timeout=30) == vals
        # FindCoordinator (the leader coordinates every group) names the leader's TLS address
        # on the TLS port, its plaintext address on the plaintext one
        with tls_socket(follower.tport, certs) as s:
            assert find_coordinator_v0(s, "g")[2:] == ("127.0.0.1", lb.tport)
        with socket.create_connection(("127.0.0.1", follower.kport), timeout=10) as s:
            assert find_coordinator_v0(s, "g")[2:] == ("127.0.0.1", lb.kport)
        # the leader's own TLS address is in Redis beside its plaintext one
        node = [ln for ln in pm.splitlines() if "at 127.0.0.1:%d" % lb.kport in ln][0]
        node_id = node.split()[1]
        assert r.command("GET", "brook:kafka-tls:%s" % node_id).strip() == \
            "127.0.0.1:%d %s" % (lb.tport, lb.name)
        assert r.command("GET", "brook:kafka:%s" % node_id).strip() == \
            "127.0.0.1:%d %s" % (lb.kport, lb.name)


def test_broker_without_tls_left_out_of_tls_metadata():
    with Cluster() as c:
        certs = make_certs(c.dir)
        r = c.redis()
        kport, tport, kport2 = free_port(), free_port(), free_port()
        a = c.broker(name="with-tls", redis=r,
                     args=brook.cluster_args(2000, 500, tls_args(certs, kport, tport)))
        a.kport, a.tport = kport, tport
        brook.wait_port(tport, proc=a.proc)
        wait_leader([a])
        b = c.broker(name="plain-only", redis=r,
                     args=brook.cluster_args(2000, 500, ["--kafka-port", str(kport2)]))
        brook.wait_port(kport2, proc=b.proc)
        # the plaintext listeners list both; the TLS one only the broker it can name over TLS
        wait_until(lambda: "at 127.0.0.1:%d" % kport2 in kcat(
            "-b", "127.0.0.1:%d" % kport, "-L").stdout.decode(), timeout=20,
            what="both brokers in plaintext Metadata")
        meta = kcat_ssl(a, certs, "-L").stdout.decode()
        assert "1 brokers" in meta and "at 127.0.0.1:%d" % tport in meta, meta
        assert ":%d" % kport2 not in meta and ":%d" % kport not in meta, meta
        # Redis: both brokers' plaintext keys, one TLS key
        assert len(r.command("KEYS", "brook:kafka:*")) == 2
        tls_keys = r.command("KEYS", "brook:kafka-tls:*")
        assert len(tls_keys) == 1 and r.command("GET", tls_keys[0]).endswith(" with-tls"), tls_keys


def peer_cn(port, certs):
    with tls_socket(port, certs) as s:
        return dict(x[0] for x in s.getpeercert()["subject"])["commonName"]


def test_sighup_reload_and_no_alpn():
    with Cluster() as c:
        certs = make_certs(c.dir)
        live = {k: os.path.join(c.dir, "live-" + k) for k in ("cert", "key")}
        shutil.copy(certs["server.pem"], live["cert"])
        shutil.copy(certs["server.key"], live["key"])
        kport, tport = free_port(), free_port()
        args = tls_args(certs, kport, tport)
        args[args.index("--tls-cert") + 1], args[args.index("--tls-key") + 1] = \
            live["cert"], live["key"]
        b = c.broker(standalone=True, args=args)
        b.kport, b.tport = kport, tport
        brook.wait_port(tport, proc=b.proc)
        assert peer_cn(tport, certs) == "localhost"
        # a client offering ALPN gets none selected, and is served
        ctx = ssl.create_default_context(cafile=certs["ca.pem"])
        ctx.set_alpn_protocols(["http/1.1"])
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", tport), timeout=10),
                             server_hostname="127.0.0.1") as s:
            assert s.selected_alpn_protocol() is None
            s.sendall(api_versions_v0(4))
            assert struct.unpack(">ih", read_frame(s)[:6]) == (4, 0)
        # held open across the reloads: keeps working on its session
        keep = tls_socket(tport, certs)
        # a broken certificate: refused with a line, the old one keeps serving
        with open(live["cert"], "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
        b.signal(signal.SIGHUP)
        wait_until(lambda: "TLS Kafka listener NOT reloaded" in b.stderr_text(), timeout=10,
                   what="the refused reload's line")
        assert peer_cn(tport, certs) == "localhost"
        # the new pair: new connections get it
        shutil.copy(certs["server2.pem"], live["cert"])
        shutil.copy(certs["server2.key"], live["key"])
        b.signal(signal.SIGHUP)
        wait_until(lambda: peer_cn(tport, certs) == "localhost-two", timeout=10,
                   what="the new certificate served")
        assert "TLS Kafka listener reloaded" in b.stderr_text()
        keep.sendall(api_versions_v0(5))
        assert struct.unpack(">ih", read_frame(keep)[:6]) == (5, 0)
        keep.close()
        stop_clean(b)


def test_flags():
    with Cluster() as c:
        certs = make_certs(c.dir)

        def refused(args, words):
            p = subprocess.run([BROOK_BIN, "--standalone", "--port", "0"] + args,
                               capture_output=True, timeout=20)
            assert p.returncode == 2 and words in p.stderr.decode(), p.stderr.decode()
        refused(["--kafka-port", "0", "--kafka-tls-port", "9"], "--tls-cert")
        refused(["--kafka-tls-port", "9", "--tls-cert", certs["server.pem"],
                 "--tls-key", certs["server.key"]], "needs --kafka-port")
        refused(["--kafka-tls-port", "70000"], "0 to 65535")
        refused(["--kafka-port", "9", "--kafka-tls-advertised", "h:0"], "HOST:PORT")
        # the advertised TLS address is what Metadata on the TLS port says
        kport, tport = free_port(), free_port()
        b = c.broker(standalone=True, args=tls_args(certs, kport, tport) +
                     ["--kafka-tls-advertised", "localhost:%d" % tport],
                     env=dict(os.environ))
        brook.wait_port(tport, proc=b.proc)
        b.tport = tport
        meta = kcat_ssl(b, certs, "-L").stdout.decode()
        assert "at localhost:%d" % tport in meta, meta
        # KAFKA_TLS_PORT from the environment
        tport2 = free_port()
        b2 = c.broker(standalone=True, env=dict(os.environ, KAFKA_TLS_PORT=str(tport2)),
                      args=["--kafka-port", str(free_port()), "--tls-cert", certs["server.pem"],
                            "--tls-key", certs["server.key"]])
        brook.wait_port(tport2, proc=b2.proc)
        b2.tport = tport2
        assert serves_tls(b2, certs)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        brook.run([globals()[n] for n in sys.argv[1:]])
    brook.run([test_kcat_and_confluent_over_ssl_beside_plaintext, test_sasl_ssl_plain_and_scram,
               test_unauthenticated_tls_is_like_unauthenticated_plaintext,
               test_client_certificate_principal_and_acls, test_client_certificate_required,
               test_frame_limit_applies_to_decrypted_bytes, test_hostile_clients,
               test_cluster_metadata_gives_tls_addresses,
               test_broker_without_tls_left_out_of_tls_metadata, test_sighup_reload_and_no_alpn,
               test_flags])
