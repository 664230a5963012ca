"""Idempotent Kafka producers (issue 13, "Idempotent producers"; InitProducerId 0-1).
confluent-kafka (librdkafka) with enable.idempotence=true and acks=all, in every compression
codec, stores every record exactly once. Hand-built requests check what a client cannot show:
InitProducerId hands out distinct ids (a transactional id is refused), a batch sent twice is
stored once and both answers carry the same offset, a retry of a batch still in flight is not
written twice while the next batch of the pipeline is taken in order, a gap is
OUT_OF_ORDER_SEQUENCE_NUMBER with nothing written, an old epoch INVALID_PRODUCER_EPOCH, a
retry older than the last five batches DUPLICATE_SEQUENCE_NUMBER, and after kill -9 and a
restart the retry of the last batch is still recognised (the state is read back from the
log), a new leader after kill -9 of the old one recognises it too, and new ids never repeat
old ones. With ACLs, InitProducerId needs write on the cluster. On a binary without
idempotence every test fails: InitProducerId is not advertised (librdkafka refuses to
produce) and its requests close the connection."""
import base64
import os
import socket
import struct
import subprocess
import time

import kafka_wire  # noqa: E402

kafka_wire.need_confluent()
from kafka_wire import frame, kstr, read_frame  # noqa: E402

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

import brook
from brook import Cluster, free_port, wait_until


def kafka_broker(c, *args, **kw):
    port = free_port()
    b = c.broker(args=["--kafka-port", str(port)] + list(args), **kw)
    b.kport = port
    brook.wait_port(port, proc=b.proc)
    return b


def boot(b):
    return "127.0.0.1:%d" % b.kport


# ---- raw frames (kstr, frame, read_frame: tests/lib/kafka_wire.py) ----------------------------

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


def idem_batch(values, pid, epoch, seq):
    """A RecordBatch v2 (uncompressed, keys null) from producer pid at epoch, first sequence
    seq."""
    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(len(v)) + v + varint(0)
        recs += varint(len(body)) + body
    now = int(time.time() * 1000)
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, now, now, pid, epoch, seq,
                            len(values)) + recs
    partial = struct.pack(">ib", -1, 2) + struct.pack(">I", crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(partial)) + partial


def produce_body(topic, partition, acks, batch):
    """Produce v3: transactional_id null, acks, timeout, one topic, one partition."""
    return (kstr(None) + struct.pack(">hi", acks, 10000) + struct.pack(">i", 1) + kstr(topic) +
            struct.pack(">ii", 1, partition) + struct.pack(">i", len(batch)) + batch)


def produce_answer(data):
    """(error, base_offset) of the single partition of a Produce v3 answer."""
    r = 4 + 4
    (ln,) = struct.unpack_from(">h", data, r)
    r += 2 + ln + 4
    _p, err, off = struct.unpack_from(">ihq", data, r)
    return err, off


class Raw:
    """One Kafka connection speaking hand-built frames."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.corr = 0

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

    def init_pid(self, version=0, txn=None):
        """(error, producer id, producer epoch)."""
        data = self.recv(self.send(22, version, kstr(txn) + struct.pack(">i", 60000)))
        _throttle, err, pid, epoch = struct.unpack_from(">ihqh", data, 4)
        return err, pid, epoch

    def produce(self, topic, batch, acks=-1, partition=0):
        return produce_answer(self.recv(self.send(0, 3, produce_body(topic, partition, acks,
                                                                     batch))))


def stop_clean(b):
    """An orderly stop (exit 0) with no sanitizer report (the ASan build's leak check runs at
    exit)."""
    assert b.terminate(timeout=30) == 0, b.stderr_text()[-2000:]
    assert not brook.sanitizer_reports([b]), brook.sanitizer_reports([b])


def values_of(b, topic, partition=0):
    return [r["value"] for r in b.read_all(topic, partition)]


def make_topic(b, name, partitions=1):
    st, body, _ = b.post_json("/topics", {"name": name, "partitions": partitions})
    assert st == 201, (st, body)


# ---- tests --------------------------------------------------------------------------------------

def test_librdkafka_idempotent_producer_every_codec():
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        a = AdminClient({"bootstrap.servers": boot(b)})
        for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
            topic = "idem-" + codec
            a.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
            p = Producer({"bootstrap.servers": boot(b), "enable.idempotence": True,
                          "acks": "all", "compression.type": codec, "linger.ms": 5,
                          "max.in.flight.requests.per.connection": 5})
            failed, n = [], 3000
            for i in range(n):
                p.produce(topic, value=b"%s-%05d" % (codec.encode(), i), partition=i % 3,
                          on_delivery=lambda err, m: failed.append(err) if err else None)
                if i % 500 == 0:
                    p.poll(0)
            assert p.flush(60) == 0
            assert failed == [], failed[:3]
            got = []
            for part in range(3):
                got += values_of(b, topic, part)
            want = ["%s-%05d" % (codec, i) for i in range(n)]
            assert sorted(got) == want, "%s: %d records, %d distinct" % (codec, len(got),
                                                                         len(set(got)))
            # On disk, the batches are the producer's own: its id, epoch 0, sequence 0 first.
            seg = os.path.join(b.data_dir, topic + "-0", "%020d.log" % 0)
            with open(seg, "rb") as f:
                head = f.read(61)
            pid, epoch, seq = struct.unpack_from(">qhi", head, 43)
            assert pid >= 0 and (epoch, seq) == (0, 0), (pid, epoch, seq)


def test_init_producer_id_hands_out_distinct_ids_and_refuses_transactions():
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        k = Raw(b.kport)
        try:
            e0, pid0, ep0 = k.init_pid(0)
            e1, pid1, ep1 = k.init_pid(1)
            assert (e0, ep0, e1, ep1) == (0, 0, 0, 0), (e0, ep0, e1, ep1)
            assert pid0 >= 0 and pid1 >= 0 and pid0 != pid1, (pid0, pid1)
            err, pid, _ = k.init_pid(0, txn="tx-1")
            assert (err, pid) == (53, -1), (err, pid)  # TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        finally:
            k.close()
        assert "Brook has no transactions" in b.stderr_text()


def test_duplicate_gap_epoch_and_old_retry():
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        make_topic(b, "dup")
        k = Raw(b.kport)
        try:
            _, pid, _ = k.init_pid()
            first = idem_batch([b"a", b"b", b"c"], pid, 0, 0)
            assert k.produce("dup", first) == (0, 0)
            # The same batch again: not written, the original offset answered, no error.
            assert k.produce("dup", first) == (0, 0)
            assert values_of(b, "dup") == ["a", "b", "c"]
            assert k.produce("dup", idem_batch([b"d"], pid, 0, 3)) == (0, 3)
            # A gap: OUT_OF_ORDER_SEQUENCE_NUMBER, nothing written.
            err, _ = k.produce("dup", idem_batch([b"gap"], pid, 0, 9))
            assert err == 45, err
            assert values_of(b, "dup") == ["a", "b", "c", "d"]
            # Five more one-record batches push the first out of the remembered five: its
            # retry is an old duplicate (DUPLICATE_SEQUENCE_NUMBER), still not written.
            for i in range(5):
                assert k.produce("dup", idem_batch([b"e%d" % i], pid, 0, 4 + i)) == (0, 4 + i)
            err, _ = k.produce("dup", first)
            assert err == 46, err
            # A newer epoch starts at sequence 0; the old epoch is then refused.
            assert k.produce("dup", idem_batch([b"f"], pid, 1, 0)) == (0, 9)
            err, _ = k.produce("dup", idem_batch([b"g"], pid, 0, 9))
            assert err == 47, err  # INVALID_PRODUCER_EPOCH
            err, _ = k.produce("dup", idem_batch([b"h"], pid, 1, 5))
            assert err == 45, err  # a new epoch must go on from where it is
            assert len(values_of(b, "dup")) == 10
            # Another producer is independent of the first.
            _, pid2, _ = k.init_pid()
            assert k.produce("dup", idem_batch([b"x"], pid2, 0, 0)) == (0, 10)
        finally:
            k.close()
        stop_clean(b)


def test_pipelined_batches_in_flight():
    """Batches 0-1 and 2-3 and a retry of 0-1, sent back to back on one connection (so the
    later ones arrive while the first waits for its fsync): both batches are taken in order,
    the retry answers the first's offset and nothing is stored twice."""
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        make_topic(b, "pipe")
        k = Raw(b.kport)
        try:
            _, pid, _ = k.init_pid()
            one = idem_batch([b"p0", b"p1"], pid, 0, 0)
            two = idem_batch([b"p2", b"p3"], pid, 0, 2)
            c1 = k.send(0, 3, produce_body("pipe", 0, -1, one))
            c2 = k.send(0, 3, produce_body("pipe", 0, -1, two))
            c3 = k.send(0, 3, produce_body("pipe", 0, -1, one))
            c4 = k.send(0, 3, produce_body("pipe", 0, 1, two))
            assert produce_answer(k.recv(c1)) == (0, 0)
            assert produce_answer(k.recv(c2)) == (0, 2)
            assert produce_answer(k.recv(c3)) == (0, 0)
            assert produce_answer(k.recv(c4)) == (0, 2)
            assert values_of(b, "pipe") == ["p0", "p1", "p2", "p3"]
        finally:
            k.close()


def test_retry_recognised_after_kill_and_restart():
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        make_topic(b, "crash", partitions=2)
        k = Raw(b.kport)
        _, pid, _ = k.init_pid()
        batches = [idem_batch([b"r%d" % i], pid, 0, i) for i in range(3)]
        for i, batch in enumerate(batches):
            assert k.produce("crash", batch, partition=1) == (0, i)
        other = idem_batch([b"z"], pid, 0, 0)  # the same producer in the other partition
        assert k.produce("crash", other, partition=0) == (0, 0)
        k.close()
        b.kill()  # SIGKILL: nothing but the log survives
        b.start()
        brook.wait_port(b.kport, proc=b.proc)
        k = Raw(b.kport)
        try:
            # The last batch retried (as a client does when its answer was lost): recognised
            # from the log, answered with its offset, not written again.
            wait_until(lambda: k.produce("crash", batches[2], partition=1) == (0, 2), 30)
            assert k.produce("crash", batches[1], partition=1) == (0, 1)
            assert k.produce("crash", other, partition=0) == (0, 0)
            err, _ = k.produce("crash", idem_batch([b"gap"], pid, 0, 7), partition=1)
            assert err == 45, err
            assert k.produce("crash", idem_batch([b"r3"], pid, 0, 3), partition=1) == (0, 3)
            assert values_of(b, "crash", 1) == ["r0", "r1", "r2", "r3"]
            assert values_of(b, "crash", 0) == ["z"]
            # Ids handed out after the restart never repeat one from before it.
            _, new_pid, _ = k.init_pid()
            assert new_pid != pid and new_pid >= 0, (pid, new_pid)
        finally:
            k.close()
        stop_clean(b)


def test_retry_recognised_by_the_next_leader():
    """Three brokers: a producer writes three batches (acks=all) to the leader, which is then
    killed; the new leader recognises the retry of the last batch (its table was fed by
    replication) and hands out ids above the old term's."""
    with Cluster() as c:
        r = c.redis()
        bs = []
        for i in range(3):
            port = free_port()
            b = c.broker(name="i%d" % (i + 1), redis=r, start=False,
                         args=brook.cluster_args(2000, 500, ["--kafka-port", str(port)]))
            b.kport = port
            bs.append(b)
        for b in bs:
            b.start(wait=False)
        for b in bs:
            brook.wait_port(b.port, proc=b.proc)
            brook.wait_port(b.kport, proc=b.proc)
        lb, _ = brook.wait_leader(bs)
        st, body, _ = lb.post_json("/topics", {"name": "fo", "replication_factor": 3})
        assert st == 201, (st, body)
        k = Raw(lb.kport)
        _, pid, _ = k.init_pid()
        batches = [idem_batch([b"f%d" % i], pid, 0, i) for i in range(3)]
        for i, batch in enumerate(batches):
            assert wait_until(lambda: k.produce("fo", batch) == (0, i), 30,
                              what="batch %d acknowledged" % i)
        k.close()
        lb.kill()
        rest = [b for b in bs if b is not lb]
        nb, _ = brook.wait_leader(rest, timeout=30)
        k = Raw(nb.kport)
        try:
            wait_until(lambda: k.produce("fo", batches[2], acks=1) == (0, 2), 30,
                       what="the retry recognised by the new leader")
            err, _ = k.produce("fo", idem_batch([b"gap"], pid, 0, 5), acks=1)
            assert err == 45, err
            assert k.produce("fo", idem_batch([b"f3"], pid, 0, 3), acks=1) == (0, 3)
            _, new_pid, _ = wait_until(lambda: (lambda a: a if a[0] == 0 else None)(
                k.init_pid()), 30, what="a producer id from the new leader")
            assert new_pid > pid, (pid, new_pid)
        finally:
            k.close()
        wait_until(lambda: [r_["value"] for r_ in nb.read_all("fo")][:3] == ["f0", "f1", "f2"],
                   30, what="one copy of each batch on the new leader")
        assert [r_["value"] for r_ in nb.read_all("fo")][:3] == ["f0", "f1", "f2"]


def test_init_producer_id_needs_write_on_the_cluster():
    """With ACLs: an idempotent producer needs write on the cluster (Kafka's IdempotentWrite)
    besides write on its topic; without it InitProducerId answers CLUSTER_AUTHORIZATION_FAILED
    and nothing is produced."""
    with Cluster() as c:
        users, acl = os.path.join(c.dir, "users"), os.path.join(c.dir, "acl")
        for name in ("alice", "carol"):
            p = subprocess.run([brook.BROOK_BIN, "user", "add", name, "--users-file", users],
                               input=b"pw-" + name.encode() + b"\n", capture_output=True)
            assert p.returncode == 0, p.stderr
        with open(acl, "w") as f:
            f.write("allow User:alice topic prefixed a- read,write,create\n"
                    "allow User:carol topic prefixed a- read,write,create\n"
                    "allow User:carol cluster literal kafka-cluster write\n")
        b = kafka_broker(c, "--users-file", users, "--acl-file", acl, standalone=True)

        def producer(user):
            return Producer({"bootstrap.servers": boot(b), "security.protocol": "SASL_PLAINTEXT",
                             "sasl.mechanism": "PLAIN", "sasl.username": user,
                             "sasl.password": "pw-" + user, "enable.idempotence": True,
                             "acks": "all", "error_cb": lambda e: errors.append(e)})

        errors, failed = [], []
        p = producer("carol")
        for i in range(50):
            p.produce("a-idem", value=b"c%d" % i,
                      on_delivery=lambda e, m: failed.append(e) if e else None)
        assert p.flush(30) == 0 and failed == [] and errors == [], (failed, errors)
        p = producer("alice")
        p.produce("a-idem", value=b"denied", on_delivery=lambda e, m: failed.append(e))
        try:
            p.flush(15)
        except KafkaException as e:  # librdkafka raises its fatal error from flush
            errors.append(e.args[0])
        assert any(e.code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED for e in errors), errors
        auth = {"Authorization": "Basic " + base64.b64encode(b"carol:pw-carol").decode()}
        st, body, _ = b.get("/topics/a-idem/partitions/0/records?offset=0&max_records=100",
                            headers=auth)
        assert st == 200, (st, body)
        assert [r["value"] for r in body["records"]] == ["c%d" % i for i in range(50)]


if __name__ == "__main__":
    brook.run([
        test_init_producer_id_hands_out_distinct_ids_and_refuses_transactions,
        test_duplicate_gap_epoch_and_old_retry,
        test_pipelined_batches_in_flight,
        test_retry_recognised_after_kill_and_restart,
        test_retry_recognised_by_the_next_leader,
        test_librdkafka_idempotent_producer_every_codec,
        test_init_producer_id_needs_write_on_the_cluster,
    ])
