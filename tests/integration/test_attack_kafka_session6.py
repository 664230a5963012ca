"""Adversarial tests of the Kafka features of session 6 (idempotent producers, the Kafka TLS
listener, SASL PLAIN per address): each case is a break found by attacking the README's
promises with real processes, kept as a regression test.

- Compaction kept the producer state: the cleaner merged a batch that lost all its records
  into the batch before it (through its lastOffsetDelta), so after a restart the state read
  back from the log saw a wider sequence range for the producer of that earlier batch, or lost
  a producer's last batch, and the producer's next legitimate batch was refused with
  OUT_OF_ORDER_SEQUENCE_NUMBER (45).
- A producer's batch behind a plain one in the same partition's records skipped the sequence
  check (only the first batch was looked at): a retry was stored again and a gap taken; now
  such records are INVALID_RECORD (87), nothing written, as for two producer batches.
- A Fetch of a few hundred bytes naming one partition many times with max_bytes 2^31-1 built
  an answer of every copy in memory (5 MB log x 15 = 75 MB; x 100 = 500 MB); answers now
  carry at most 55 MiB of records (Kafka's fetch.max.bytes) plus the first batch whole.
- A client pipelining fetches without reading the answers made the broker hold every answer
  (60 fetches of 5 MB: +291 MB; 128 of 55 MiB per connection would be 7 GB): reading now
  pauses while more than 64 MiB of answers wait for the socket, and every answer still comes,
  in order, once the client reads."""
import socket
import struct
import time

import kafka_wire  # noqa: E402

kafka_wire.need_confluent()

import brook
from brook import Cluster, free_port, wait_until
from test_kafka_idempotence import Raw, crc32c, frame, idem_batch, kstr, values_of, varint


def kafka_broker(c, *args, **kw):
    port = free_port()
    b = c.broker(args=["--kafka-port", str(port)] + list(args), **kw)
    b.kport = port
    brook.wait_port(port, proc=b.proc)
    return b


def keyed_batch(recs, pid=-1, epoch=-1, seq=-1):
    """A RecordBatch v2 (uncompressed) of (key, value) records; pid -1: not idempotent."""
    body_all = b""
    for i, (k, v) in enumerate(recs):
        body = (b"\x00" + varint(0) + varint(i) + varint(len(k)) + k + varint(len(v)) + v +
                varint(0))
        body_all += varint(len(body)) + body
    now = int(time.time() * 1000)
    after_crc = struct.pack(">hiqqqhii", 0, len(recs) - 1, now, now, pid, epoch, seq,
                            len(recs)) + body_all
    partial = struct.pack(">ib", -1, 2) + struct.pack(">I", crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(partial)) + partial


def restart(b):
    b.kill()
    b.start()
    brook.wait_port(b.kport, proc=b.proc)


# ---- tests --------------------------------------------------------------------------------------

def test_compaction_keeps_idempotent_producer_state():
    """Producers p1, p2, p3 write keyed batches to a compacted topic; later records make p2's
    batch (after p1's) and a plain batch (after p3's) wholly obsolete. Once the cleaner ran
    and the broker restarted, each producer's next batch is taken (was: p1 and p3 got 45, the
    dropped offsets had widened their batches' ranges; p2 was forgotten)."""
    with Cluster() as c:
        b = kafka_broker(c, "--log-cleaner-interval-ms", "200", standalone=True)
        st, body, _ = b.post_json("/topics", {"name": "cmp", "partitions": 1, "configs": {
            "cleanup.policy": "compact", "segment.bytes": 4096,
            "min.cleanable.dirty.ratio": "0", "min.compaction.lag.ms": 0}})
        assert st == 201, (st, body)
        k = Raw(b.kport)
        pids = [k.init_pid()[1] for _ in range(3)]
        p1, p2, p3 = pids
        sent = [keyed_batch([(b"f", b"first")]),
                keyed_batch([(b"a", b"a0")], p1, 0, 0),
                keyed_batch([(b"b", b"b0")], p2, 0, 0),   # obsolete: b again below
                keyed_batch([(b"c", b"c0")], p3, 0, 0),
                keyed_batch([(b"d", b"d0")]),              # obsolete: d again below
                keyed_batch([(b"b", b"b1")]),
                keyed_batch([(b"d", b"d1")])]
        sent += [keyed_batch([(b"pad%d" % i, b"z" * 1000)]) for i in range(6)]
        for i, batch in enumerate(sent):
            assert k.produce("cmp", batch) == (0, i)
        k.close()
        keys = lambda: [r["key"] for r in b.read_all("cmp")]  # noqa: E731
        wait_until(lambda: "b0" not in [r["value"] for r in b.read_all("cmp")], 30,
                   what="the cleaner removed the obsolete records")
        assert keys()[:5] == ["f", "a", "c", "b", "d"], keys()
        restart(b)
        k = Raw(b.kport)
        try:
            for i, pid in enumerate(pids):
                got = k.produce("cmp", keyed_batch([(b"n%d" % i, b"v")], pid, 0, 1))
                assert got == (0, len(sent) + i), (i, got)
            # And a retry of p1's first batch is still recognised, not written again.
            assert k.produce("cmp", sent[1]) == (0, 1)
        finally:
            k.close()


def test_producer_batch_behind_a_plain_one_is_refused():
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        st, body, _ = b.post_json("/topics", {"name": "mix", "partitions": 1})
        assert st == 201, (st, body)
        k = Raw(b.kport)
        try:
            _, pid, _ = k.init_pid()
            first = idem_batch([b"x0"], pid, 0, 0)
            assert k.produce("mix", first) == (0, 0)
            plain = idem_batch([b"plain"], -1, -1, -1)
            # The retry of the first batch, and a gap, each behind a plain batch.
            assert k.produce("mix", plain + first) == (87, -1)
            assert k.produce("mix", plain + idem_batch([b"gap"], pid, 0, 50)) == (87, -1)
            assert values_of(b, "mix") == ["x0"]
            # The producer's next batch is still next in line.
            assert k.produce("mix", idem_batch([b"x1"], pid, 0, 1)) == (0, 1)
            assert values_of(b, "mix") == ["x0", "x1"]
        finally:
            k.close()


def test_fetch_answer_is_bounded():
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        st, body, _ = b.post_json("/topics", {"name": "amp", "partitions": 1})
        assert st == 201, (st, body)
        k = Raw(b.kport)
        try:
            for i in range(10):  # 5 MB in 500 KB batches
                assert k.produce("amp", idem_batch([b"x" * 100000] * 5, -1, -1, -1)) == (0, 5 * i)
        finally:
            k.close()
        n, big = 15, 2 ** 31 - 1
        req = (struct.pack(">iiiib", -1, 500, 1, big, 0) + struct.pack(">i", 1) + kstr("amp") +
               struct.pack(">i", n) + struct.pack(">iqi", 0, 0, big) * n)  # Fetch v4
        with socket.create_connection(("127.0.0.1", b.kport), timeout=60) as s:
            s.sendall(frame(1, 4, 1, req))
            s.settimeout(60)
            head = b""
            while len(head) < 4:
                chunk = s.recv(4 - len(head))
                assert chunk, "connection closed"
                head += chunk
            (size,) = struct.unpack(">i", head)
        assert 50 << 20 < size < (55 << 20) + (1 << 20), size  # was 75 MB
        assert b.alive()


def test_unread_answers_pause_reading():
    with Cluster() as c:
        b = kafka_broker(c, standalone=True)
        st, body, _ = b.post_json("/topics", {"name": "unread", "partitions": 1})
        assert st == 201, (st, body)
        k = Raw(b.kport)
        try:
            for i in range(10):  # 5 MB in 500 KB batches
                assert k.produce("unread", idem_batch([b"x" * 100000] * 5, -1, -1, -1))[0] == 0
        finally:
            k.close()
        base = b.rss_kib()
        mb, n = 5 << 20, 60
        req = (struct.pack(">iiiib", -1, 500, 1, mb, 0) + struct.pack(">i", 1) +
               kstr("unread") + struct.pack(">i", 1) + struct.pack(">iqi", 0, 0, mb))
        with socket.create_connection(("127.0.0.1", b.kport), timeout=60) as s:
            s.sendall(b"".join(frame(1, 4, i, req) for i in range(n)))
            time.sleep(3)  # the broker answers what it reads; the client reads nothing yet
            grown = (b.rss_kib() - base) // 1024
            assert grown < 160, "%d MiB more while answers waited (was ~290)" % grown
            f = s.makefile("rb")
            for i in range(n):
                (size,) = struct.unpack(">i", f.read(4))
                data = f.read(size)
                assert len(data) == size and struct.unpack(">i", data[:4])[0] == i, i
                assert size > 4 << 20, size  # the whole 5 MB log
        assert b.alive()


if __name__ == "__main__":
    brook.run([
        test_compaction_keeps_idempotent_producer_state,
        test_producer_batch_behind_a_plain_one_is_refused,
        test_fetch_answer_is_bounded,
        test_unread_answers_pause_reading,
    ])
