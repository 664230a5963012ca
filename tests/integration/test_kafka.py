"""Kafka wire protocol (issue 13, first part) with real, unmodified clients: kcat (-L, -P, -C)
and confluent-kafka-python (librdkafka) producing with acks=all, consuming with manual
assignment, administering topics; records cross between Kafka and HTTP both ways; malformed
frames close only their own connection; a follower answers NOT_LEADER_OR_FOLLOWER and clients
move to the leader. Raw frames (built here from the public protocol guide) check what the
clients cannot show: ApiVersions' answer to an unknown version, acks=0 silence, the order of
pipelined answers."""
import json
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

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

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


def kcat(*args, stdin=None, timeout=30):
    p = subprocess.run(["kcat"] + list(args), input=stdin, capture_output=True, timeout=timeout)
    assert p.returncode == 0, "kcat %s: %s" % (args, p.stderr.decode(errors="replace"))
    return p.stdout.decode()


def consume(bootstrap, topic, partition, start, count, timeout=20.0):
    """count messages of one partition from start, by manual assignment (no group)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused",
                  "enable.auto.commit": False, "enable.partition.eof": False})
    try:
        c.assign([TopicPartition(topic, partition, start)])
        got, deadline = [], time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            got.append(m)
        assert len(got) == count, "got %d of %d messages" % (len(got), count)
        return got
    finally:
        c.close()


# ---- raw frames -------------------------------------------------------------------------------

def kstr(s):
    if s is None:
        return struct.pack(">h", -1)
    s = s.encode() if isinstance(s, str) else s
    return struct.pack(">h", len(s)) + s


def frame(key, version, corr, body, client="raw"):
    hdr = struct.pack(">hhi", key, version, corr) + kstr(client)
    if key == 18 and version >= 3:
        hdr += b"\x00"  # header v2: empty tagged fields
    msg = hdr + body
    return struct.pack(">i", len(msg)) + msg


def read_frame(sock, timeout=10.0):
    sock.settimeout(timeout)
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
    (n,) = struct.unpack(">i", head)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def closed(sock, timeout=5.0):
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def api_versions_ok(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(frame(18, 0, 7, b""))
        data = read_frame(s)
        corr, err = struct.unpack(">ih", data[:6])
        return corr == 7 and err == 0


def produce_v3_body(topic, partition, acks, batch):
    return (kstr(None) + struct.pack(">hi", acks, 5000) + struct.pack(">i", 1) + kstr(topic) +
            struct.pack(">i", 1) + struct.pack(">i", partition) + struct.pack(">i", len(batch)) +
            batch)


def record_batch(values):
    """A RecordBatch v2 (uncompressed) of values, keys null, built by hand."""
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

    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(len(v)) + v + varint(0)
        recs += varint(len(body)) + body
    now = int(time.time() * 1000)
    after_crc = (struct.pack(">hiqqqhii", 0, len(values) - 1, now, now, -1, -1, -1, len(values))
                 + recs)
    crc = crc32c(after_crc)
    partial = struct.pack(">ib", -1, 2) + struct.pack(">I", crc) + after_crc
    return struct.pack(">qi", 0, len(partial)) + partial


def compressed_batch(payload, count, codec=1):
    """A batch whose header says `count` records compressed with `codec`, carrying `payload`
    as its records section (garbage, or a gzip stream of records), with a correct CRC."""
    now = int(time.time() * 1000)
    after_crc = struct.pack(">hiqqqhii", codec, count - 1, now, now, -1, -1, -1, count) + payload
    partial = struct.pack(">ib", -1, 2) + struct.pack(">I", crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(partial)) + partial


def records_section(batch):
    """The uncompressed records section of a record_batch() result."""
    return batch[61:]


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def produce_errors(data):
    """[(partition, error, base_offset)] of a Produce v3 answer (after the correlation id)."""
    r = 4
    (nt,) = struct.unpack_from(">i", data, r)
    r += 4
    out = []
    for _ in range(nt):
        (ln,) = struct.unpack_from(">h", data, r)
        r += 2 + ln
        (np_,) = struct.unpack_from(">i", data, r)
        r += 4
        for _ in range(np_):
            p, e, off, _ts = struct.unpack_from(">ihqq", data, r)
            r += 22
            out.append((p, e, off))
    return out


# ---- tests ------------------------------------------------------------------------------------

def test_kcat_metadata_and_round_trip():
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        kcat("-b", boot(b), "-P", "-t", "rt", "-K", ":", "-H", "h1=one", "-H", "h2=two",
             stdin=b"k1:v1\nk2:v2\n:nokey\n")
        meta = kcat("-b", boot(b), "-L")
        assert "1 brokers" in meta and "127.0.0.1:%d" % b.kport in meta, meta
        assert 'topic "rt" with 1 partitions' in meta, meta
        out = kcat("-b", boot(b), "-C", "-t", "rt", "-o", "beginning", "-e", "-J")
        msgs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert [(m["key"], m["payload"], m["offset"]) for m in msgs] == \
            [("k1", "v1", 0), ("k2", "v2", 1), ("", "nokey", 2)], msgs
        assert msgs[0]["headers"] == ["h1", "one", "h2", "two"], msgs[0]


def test_every_codec_from_real_clients():
    """kcat and confluent-kafka (librdkafka's own gzip, snappy and zstd) produce compressed
    batches; they are stored as sent (the codec bit on disk) and read back through Kafka and
    through HTTP's JSON reads, which decompress them."""
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        codecs = ["gzip", "snappy", "lz4", "zstd"]
        pad = "x" * 300  # librdkafka sends a batch uncompressed unless that makes it smaller
        for z in codecs:
            kcat("-b", boot(b), "-P", "-t", "zk", "-K", ":", "-z", z,
                 stdin=("a:%s-1%s\nb:%s-2%s\n" % (z, pad, z, pad)).encode())
        p = Producer({"bootstrap.servers": boot(b), "acks": "all", "compression.type": "zstd",
                      "linger.ms": 5})
        for i in range(50):
            p.produce("zk", key=b"c", value=b"cf-%d" % i)
        assert p.flush(30) == 0
        want = [v + pad for z in codecs for v in ("%s-1" % z, "%s-2" % z)] + \
            ["cf-%d" % i for i in range(50)]
        got = consume(boot(b), "zk", 0, 0, len(want))
        assert [m.value().decode() for m in got] == want
        http = [r["value"] for r in b.read_all("zk")]
        assert http == want, http[:12]
        codec_bits = set()
        for path in brook.partition_segments(b.data_dir, "zk"):
            data = open(path, "rb").read()
            for start, _, _, _ in brook.segment_batches(path):
                codec_bits.add(data[start + 22] & 7)  # attributes: bytes 21-22, codec bits 0-2
        # lz4 (3): librdkafka infers it from FindCoordinator, advertised with the group APIs.
        assert codec_bits >= {1, 2, 3, 4}, codec_bits


def test_confluent_producer_and_assigned_consumer():
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        p = Producer({"bootstrap.servers": boot(b), "acks": "all", "linger.ms": 5})
        offsets = []

        def report(err, msg):
            assert err is None, err
            offsets.append(msg.offset())

        for i in range(200):
            p.produce("cf", key=b"k%d" % i, value=b"value-%d" % i,
                      headers=[("n", str(i).encode())], on_delivery=report)
        assert p.flush(30) == 0
        assert sorted(offsets) == list(range(200)), offsets[:10]
        got = consume(boot(b), "cf", 0, 0, 200)
        assert [m.value() for m in got] == [b"value-%d" % i for i in range(200)]
        assert [m.key() for m in got] == [b"k%d" % i for i in range(200)]
        assert got[7].headers() == [("n", b"7")]
        # From the middle: the first record handed over is the one asked for.
        assert consume(boot(b), "cf", 0, 150, 1)[0].offset() == 150


def test_kafka_and_http_read_each_other():
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        p = Producer({"bootstrap.servers": boot(b), "acks": "all"})
        p.produce("x", key=b"kk", value=b"from kafka", headers=[("hk", b"hv")],
                  timestamp=1600000000123)
        assert p.flush(20) == 0
        st, body, _ = b.request("GET", "/topics/x/partitions/0/records?offset=0")
        rec = body["records"][0]
        assert (rec["key"], rec["value"], rec["timestamp"]) == ("kk", "from kafka",
                                                                1600000000123), rec
        assert rec["headers"] == [{"key": "hk", "value": "hv"}], rec
        st, body, _ = b.post_json("/topics/x", {"records": [{"key": "hk2", "value": "over http"}]},
                                  ctype="application/vnd.kafka.json.v2+json")
        assert st == 200, body
        m = consume(boot(b), "x", 0, 1, 1)[0]
        assert (m.key(), m.value()) == (b'"hk2"', b'"over http"'), (m.key(), m.value())
        assert m.timestamp()[1] > 1600000000123


def test_admin_client():
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        a = AdminClient({"bootstrap.servers": boot(b)})
        fs = a.create_topics([NewTopic("adm", num_partitions=3, replication_factor=1,
                                       config={"retention.ms": "3600000"})])
        fs["adm"].result(20)
        fs = a.create_topics([NewTopic("adm", num_partitions=1, replication_factor=1)])
        try:
            fs["adm"].result(20)
            raise AssertionError("a second creation succeeded")
        except KafkaException as e:
            assert e.args[0].code() == 36, e  # TOPIC_ALREADY_EXISTS
        md = a.list_topics(timeout=10)
        assert len(md.topics["adm"].partitions) == 3
        a.create_partitions([NewPartitions("adm", 5)])["adm"].result(20)
        wait_until(lambda: len(a.list_topics(timeout=10).topics["adm"].partitions) == 5,
                   what="5 partitions")
        st, body, _ = b.get("/topics/adm")
        assert st == 200 and len(body["partitions"]) == 5, body
        res = ConfigResource(ConfigResource.Type.TOPIC, "adm")
        cfg = a.describe_configs([res])[res].result(20)
        assert cfg["retention.ms"].value == "3600000", cfg["retention.ms"]
        assert cfg["max.message.bytes"].value == "1048576"
        a.delete_topics(["adm"])["adm"].result(20)
        assert "adm" not in a.list_topics(timeout=10).topics
        assert b.get("/topics/adm")[0] == 404


def kafka_error(fut):
    try:
        fut.result(20)
    except KafkaException as e:
        return e.args[0].code()
    return 0


def test_internal_offsets_topic_is_the_coordinators():
    """__consumer_offsets holds the groups' state (compacted, its partition count fixed): Kafka
    Metadata does not auto-create it as an ordinary topic, and neither Kafka admin requests nor
    the HTTP admin routes create, delete, grow or reconfigure it. Before, a Metadata request
    naming it created a 'delete'-policy topic the coordinator then used (retention would have
    deleted committed offsets), and Kafka's DeleteTopics and CreatePartitions took it (the HTTP
    routes already refused)."""
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
            body = struct.pack(">i", 1) + kstr("__consumer_offsets") + b"\x01"
            s.sendall(frame(3, 4, 7, body))
            assert read_frame(s) is not None
        time.sleep(0.5)
        assert b.get("/topics/__consumer_offsets")[0] == 404
        a = AdminClient({"bootstrap.servers": boot(b)})
        fs = a.create_topics([NewTopic("__consumer_offsets", num_partitions=1,
                                       replication_factor=1)])
        assert kafka_error(fs["__consumer_offsets"]) == 42  # INVALID_REQUEST
        # The coordinator creates it, compacted, for the first group.
        st, body, _ = b.post_json("/consumers/g1", {"name": "i1", "format": "json"},
                                  ctype="application/vnd.kafka.v2+json")
        assert st == 200, (st, body)
        st, t, _ = b.get("/topics/__consumer_offsets")
        assert st == 200 and t["configs"]["cleanup.policy"] == "compact", t
        nparts = len(t["partitions"])
        for method, path, payload in (
                ("DELETE", "/topics/__consumer_offsets", None),
                ("PUT", "/topics/__consumer_offsets/configs",
                 json.dumps({"configs": {"cleanup.policy": "delete"}})),
                ("POST", "/topics/__consumer_offsets/partitions",
                 json.dumps({"partitions": nparts + 4}))):
            st, body, _ = b.request(method, path, body=payload,
                                    headers={"Content-Type": "application/json"})
            assert st == 403 and body["error_code"] == 40301, (method, path, st, body)
            assert "internal" in body["message"], body
        assert kafka_error(a.delete_topics(["__consumer_offsets"])["__consumer_offsets"]) == 42
        fs = a.create_partitions([NewPartitions("__consumer_offsets", nparts + 4)])
        assert kafka_error(fs["__consumer_offsets"]) == 42
        st, t, _ = b.get("/topics/__consumer_offsets")
        assert st == 200 and t["configs"]["cleanup.policy"] == "compact", t
        assert len(t["partitions"]) == nparts
        assert b.terminate(timeout=30) == 0
        assert not brook.sanitizer_reports([b])


def test_raw_api_versions_and_pipelining():
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
            # Unknown version: the v0 body, error 35, and the keys Brook speaks.
            s.sendall(frame(18, 99, 1, b""))
            data = read_frame(s)
            corr, err, n = struct.unpack(">ihi", data[:10])
            assert (corr, err) == (1, 35), (corr, err)
            keys = {struct.unpack_from(">hhh", data, 10 + 6 * i) for i in range(n)}
            assert (0, 0, 7) in keys and (1, 4, 11) in keys and (18, 0, 3) in keys, keys
            assert (10, 0, 2) in keys and (11, 0, 5) in keys and (8, 0, 7) in keys, keys
            assert (22, 0, 1) in keys, keys  # InitProducerId (idempotent producers)
        b.produce("x", topic="raw")
        # Pipelined: acks=0 produce (no answer), then acks=1 produce, then ApiVersions v3.
        with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
            s.sendall(frame(0, 3, 2, produce_v3_body("raw", 0, 0, record_batch([b"a"]))) +
                      frame(0, 3, 3, produce_v3_body("raw", 0, 1, record_batch([b"b", b"c"]))) +
                      frame(18, 3, 4, b"\x04raw\x021\x00"))
            data = read_frame(s)
            assert struct.unpack(">i", data[:4])[0] == 3, "acks=0 was answered"
            assert produce_errors(data) == [(0, 0, 2)], produce_errors(data)
            data = read_frame(s)
            assert struct.unpack(">ih", data[:6]) == (4, 0)
        assert [r["value"] for r in b.read_all("raw")] == ["x", "a", "b", "c"]


def test_corrupt_batches_write_nothing():
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        b.produce("x", topic="bad")
        good = record_batch([b"one", b"two"])
        flipped = bytearray(good)
        flipped[-2] ^= 0xFF  # inside the CRC'd records
        legacy = bytearray(good)
        legacy[16] = 1  # magic 1: the old message format
        cases = [(bytes(flipped), 2), (bytes(legacy), 43), (good[:40], 2)]
        with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
            for i, (batch, want) in enumerate(cases):
                s.sendall(frame(0, 3, 10 + i, produce_v3_body("bad", 0, -1, batch)))
                data = read_frame(s)
                assert produce_errors(data) == [(0, want, -1)], (i, produce_errors(data))
        assert [r["value"] for r in b.read_all("bad")] == ["x"]
        # Compressed batches: the CRC covers only the compressed bytes, so records are checked
        # after decompression. Garbage in place of gzip, and 2 records where the header says 3,
        # were stored once and every later HTTP read of the partition failed (500).
        import gzip
        two = records_section(record_batch([b"a", b"b"]))
        bad = [compressed_batch(b"not gzip at all", 1), compressed_batch(gzip.compress(two), 3)]
        with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
            for i, batch in enumerate(bad):
                s.sendall(frame(0, 3, 20 + i, produce_v3_body("bad", 0, -1, batch)))
                assert produce_errors(read_frame(s)) == [(0, 2, -1)], i
            s.sendall(frame(0, 3, 30, produce_v3_body("bad", 0, -1,
                                                      compressed_batch(gzip.compress(two), 2))))
            assert produce_errors(read_frame(s))[0][1] == 0
        assert [r["value"] for r in b.read_all("bad")] == ["x", "a", "b"]
        # A compacted topic takes no keyless record over Kafka either (INVALID_RECORD, 87).
        st, body, _ = b.post_json("/topics", {"name": "cmp", "configs": {"cleanup.policy": "compact"}})
        assert st == 201, body
        with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
            s.sendall(frame(0, 3, 40, produce_v3_body("cmp", 0, -1, record_batch([b"keyless"]))))
            assert produce_errors(read_frame(s)) == [(0, 87, -1)]
        st, body, _ = b.get("/topics/cmp/partitions/0/offsets")
        assert body["end_offset"] == 0, body
        # __consumer_offsets is written by the group coordinator only (INVALID_TOPIC, 17)
        st, body, _ = b.post_json("/consumers/g0", {"name": "i0"},
                                  ctype="application/vnd.kafka.v2+json")
        assert st == 200, (st, body)  # the coordinator creates the internal topic
        with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
            s.sendall(frame(0, 3, 41, produce_v3_body("__consumer_offsets", 0, -1,
                                                      record_batch([b"forged"]))))
            assert produce_errors(read_frame(s)) == [(0, 17, -1)]


def test_malformed_frames_close_only_their_connection():
    with Cluster() as c:
        b = kafka_broker(c, "--kafka-max-frame-bytes", "65536", standalone=True)
        bystander = socket.create_connection(("127.0.0.1", b.kport), timeout=10)
        bystander.sendall(frame(18, 0, 1, b""))
        assert read_frame(bystander) is not None
        shapes = [
            struct.pack(">i", 20) + os.urandom(20),            # garbage inside a frame
            struct.pack(">i", 1 << 30) + b"x" * 100,           # size over the limit
            struct.pack(">i", -5),                             # negative size
            frame(3, 5, 1, b"\x00\x00\x00\x05"),              # 5 topics named, none sent
            frame(3, 5, 1, b"\xff\xff\xff\xff\x00\x00"),       # bytes left after the body
            frame(0, 3, 1, b"\x00"),                           # a body cut short
            frame(42, 0, 1, b""),                              # an API Brook does not speak
        ]
        for raw in shapes:
            with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
                s.sendall(raw)
                assert closed(s), raw[:12]
        with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:  # truncated
            s.sendall(struct.pack(">i", 100) + b"abc")
        assert b.alive() and api_versions_ok(b.kport)
        bystander.sendall(frame(18, 1, 2, b""))
        assert struct.unpack(">i", read_frame(bystander)[:4])[0] == 2
        bystander.close()
        st, _, _ = b.get("/health")
        assert st == 200
        err = b.stderr_text()
        assert "malformed request" in err and "--kafka-max-frame-bytes" in err, err[-2000:]


def test_follower_refuses_and_clients_move_to_leader():
    with Cluster() as c:
        r = c.redis()
        ports = [free_port() for _ in range(3)]
        bs = []
        for i, port in enumerate(ports):
            b = c.broker(name="k%d" % (i + 1), redis=r, start=False,
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
        lb.produce("seed", topic="ft")
        # Metadata from any broker lists all three, and names the leader for the partition.
        meta = wait_until(lambda: (lambda m: m if m.count("broker ") >= 4 else None)(
            kcat("-b", boot(follower), "-L", "-t", "ft")), timeout=20, what="3 brokers listed")
        assert "127.0.0.1:%d" % lb.kport in meta, meta
        # A raw produce to the follower: NOT_LEADER_OR_FOLLOWER, nothing written.
        wait_until(lambda: follower.get("/topics/ft")[0] == 200, timeout=20,
                   what="the follower has the topic")
        with socket.create_connection(("127.0.0.1", follower.kport), timeout=10) as s:
            s.sendall(frame(0, 3, 5, produce_v3_body("ft", 0, -1, record_batch([b"no"]))))
            assert produce_errors(read_frame(s)) == [(0, 6, -1)]
        # A client bootstrapped on the follower alone finds the leader and writes there.
        p = Producer({"bootstrap.servers": boot(follower), "acks": "all"})
        errs = []
        for i in range(20):
            p.produce("ft", value=b"moved-%d" % i, on_delivery=lambda e, m: errs.append(e))
        assert p.flush(30) == 0 and errs == [None] * 20, errs
        values = [r["value"] for r in lb.read_all("ft")]
        assert values == ["seed"] + ["moved-%d" % i for i in range(20)], values
        got = consume(boot(follower), "ft", 0, 1, 20)
        assert [m.value() for m in got] == [b"moved-%d" % i for i in range(20)]


def fetch_v4_body(topic, partition, offset, max_wait_ms):
    return (struct.pack(">iiiib", -1, max_wait_ms, 1, 1 << 20, 0) + struct.pack(">i", 1) +
            kstr(topic) + struct.pack(">i", 1) + struct.pack(">iqi", partition, offset, 1 << 20))


def test_long_poll_and_clean_stop_with_clients():
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        b.produce("first", topic="lp")
        with socket.create_connection(("127.0.0.1", b.kport), timeout=15) as s:
            # A fetch at the end waits, and is answered as soon as a record arrives.
            t0 = time.monotonic()
            s.sendall(frame(1, 4, 21, fetch_v4_body("lp", 0, 1, 10000)))
            time.sleep(0.5)
            b.produce("second", topic="lp")
            data = read_frame(s)
            took = time.monotonic() - t0
            assert struct.unpack(">i", data[:4])[0] == 21 and b"second" in data, data[:80]
            assert took < 8, "the long poll was not woken (%.1fs)" % took
            # Nothing arriving: answered empty after max_wait_ms.
            t0 = time.monotonic()
            s.sendall(frame(1, 4, 22, fetch_v4_body("lp", 0, 2, 300)))
            data = read_frame(s)
            assert struct.unpack(">i", data[:4])[0] == 22 and time.monotonic() - t0 >= 0.25
            # Beyond the end: OFFSET_OUT_OF_RANGE.
            s.sendall(frame(1, 4, 23, fetch_v4_body("lp", 0, 99, 0)))
            data = read_frame(s)
            r = 4 + 4 + 4 + 2 + 2 + 4  # corr, throttle, topics, name "lp", partitions
            assert struct.unpack_from(">ih", data, r) == (0, 1), data[r:r + 6]
            # SIGTERM with a fetch waiting and connections open: a clean, prompt exit.
            s.sendall(frame(1, 4, 24, fetch_v4_body("lp", 0, 2, 30000)))
            time.sleep(0.3)
            idle = socket.create_connection(("127.0.0.1", b.kport), timeout=10)
            assert b.terminate(timeout=20) == 0
            idle.close()
        assert brook.sanitizer_reports([b]) == []
        assert "stopped cleanly" in b.stderr_text()


if __name__ == "__main__":
    brook.run(brook.tests_in(globals()))
