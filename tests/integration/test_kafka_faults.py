"""Kafka clients through a leader failover (issue 13, "Proof: Faults"): three brokers sharing a
private redis-server, each with a Kafka listener; a confluent-kafka producer (acks=all,
retries on, not idempotent) writes numbered messages and keeps every delivery report, and a
group consumer reads them. The leader is killed with SIGKILL mid-stream; both clients must
carry on with the new leader (the producer gets acknowledgements for messages sent after the
kill, the consumer reads them). A checker then reads every partition from the start on the
new leader over HTTP and over Kafka and finds: every acknowledged message consumed at least
once, each at the offset its acknowledgement named, and no offset holding two different
values anywhere (HTTP, Kafka, the consumer, the delivery reports). Duplicates at different
offsets are allowed (a non-idempotent producer retries). Then the same with an idempotent
producer bootstrapped on a follower, where the log must hold each message once.
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_kafka_faults.py
"""
import socket
import struct
import time

import kafka_wire  # noqa: E402

kafka_wire.need_confluent()

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import brook
from brook import Cluster, free_port, wait_leader, wait_until

TOPIC = "faults"
PARTITIONS = 3
LAG_MS = 3000  # --replica-lag-ms: the dead leader leaves the new leader's in-sync set soon


def kafka_cluster(c, n=3):
    r = c.redis()
    bs = []
    for i in range(n):
        port = free_port()
        b = c.broker(name="kf%d" % (i + 1), redis=r, start=False,
                     args=brook.cluster_args(2000, 500, ["--kafka-port", str(port),
                                                         "--replica-lag-ms", str(LAG_MS)]))
        b.kport = port
        bs.append(b)
    for b in bs:
        b.start(wait=False)
    for b in bs:
        brook.wait_port(b.port, proc=b.proc)
        brook.wait_port(b.kport, proc=b.proc)
    return bs


def boot(bs):
    return ",".join("127.0.0.1:%d" % b.kport for b in bs)


def wait_registered(bs, leader, timeout=60):
    """Until every broker's Metadata lists all of bs with leader as controller: a client that
    bootstraps before (while the registry is filling) may be told there is no controller, and
    librdkafka's admin client then waits for its next metadata refresh."""
    want = None

    def ready():
        nonlocal want
        for b in bs:
            md = AdminClient({"bootstrap.servers": "127.0.0.1:%d" % b.kport}).list_topics(
                timeout=5)
            ports = {bm.port for bm in md.brokers.values()}
            ctrl = md.brokers.get(md.controller_id)
            if ports != {x.kport for x in bs} or ctrl is None or ctrl.port != leader.kport:
                return False
        return True
    wait_until(ready, timeout=timeout, interval=0.5, what="every broker registered")


def advertises_init_producer_id(b):
    """Whether b's ApiVersions (v0, raw) lists InitProducerId (22), which idempotence needs."""
    hdr = struct.pack(">hhi", 18, 0, 1) + struct.pack(">h", 4) + b"test"
    with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
        s.sendall(struct.pack(">i", len(hdr)) + hdr)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = s.recv(65536)
            assert chunk, "ApiVersions not answered"
            data += chunk
    n = struct.unpack(">i", data[10:14])[0]
    return 22 in {struct.unpack_from(">h", data, 14 + 6 * i)[0] for i in range(n)}


class Run:
    """The two clients and what they saw: acks {n: (partition, offset)}, failed deliveries,
    and every record consumed as (partition, offset, value). The producer is idempotent when
    asked (bootstrapped on producer_bs, else on every broker)."""

    def __init__(self, bs, idempotent=False, producer_bs=None):
        self.sent = 0
        self.acks, self.failed, self.consumed, self.errors = {}, [], [], []
        self.last_read = time.monotonic()
        self.seen = set()  # values consumed
        self.producer = Producer({
            "bootstrap.servers": boot(producer_bs or bs), "acks": "all",
            "enable.idempotence": idempotent,
            "retries": 1000000, "retry.backoff.ms": 200, "message.timeout.ms": 120000,
            "request.timeout.ms": 10000, "linger.ms": 5, "topic.metadata.refresh.interval.ms":
            2000, "socket.timeout.ms": 10000})
        self.consumer = Consumer({
            "bootstrap.servers": boot(bs), "group.id": "faults-group",
            "auto.offset.reset": "earliest", "enable.auto.commit": True,
            "auto.commit.interval.ms": 500, "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 500, "topic.metadata.refresh.interval.ms": 2000,
            "enable.partition.eof": False})
        self.consumer.subscribe([TOPIC])

    def on_delivery(self, n):
        def cb(err, m):
            if err is None:
                self.acks[n] = (m.partition(), m.offset())
            else:
                self.failed.append((n, err.str()))
        return cb

    def step(self, produce=True):
        """Sends the next message (when produce), serves delivery reports, reads a little."""
        if produce:
            n = self.sent
            self.producer.produce(TOPIC, key=b"%d" % n, value=b"m-%d" % n,
                                  on_delivery=self.on_delivery(n))
            self.sent += 1
        self.producer.poll(0)
        m = self.consumer.poll(0.02)
        if m is not None and m.error() is None:
            self.consumed.append((m.partition(), m.offset(), m.value().decode()))
            self.seen.add(m.value().decode())
            self.last_read = time.monotonic()
        elif m is not None:
            self.errors.append(m.error().str())

    def run_until(self, pred, timeout, what, produce=True):
        deadline = time.monotonic() + timeout
        while not pred():
            assert time.monotonic() < deadline, "timed out after %ds waiting for %s (%s)" % (
                timeout, what, self.state())
            self.step(produce)

    def state(self):
        """What the clients have done so far, for a failure message: counts, the acknowledged
        messages not consumed yet, and the consumer's assignment and positions."""
        seen = self.consumed_values()
        unread = sorted((p, off, n) for n, (p, off) in self.acks.items() if "m-%d" % n not in seen)
        try:
            assigned = self.consumer.assignment()
            pos = [(tp.partition, tp.offset) for tp in self.consumer.position(assigned)]
        except Exception as e:  # noqa: BLE001 - only for the message
            pos = repr(e)
        last = {}
        for p, off, _ in self.consumed:
            last[p] = max(off, last.get(p, -1))
        return "sent %d, acked %d, failed %d, consumed %d (the last %.1fs ago), last consumed " \
            "%s, positions %s, consumer errors %s, acked unread %d: %s" % (
                self.sent, len(self.acks), len(self.failed), len(self.consumed),
                time.monotonic() - self.last_read, last, pos, self.errors[-5:], len(unread),
                unread[:10])

    def consumed_values(self):
        return self.seen


def read_kafka(leader, partition):
    """Every record of a partition, read from offset 0 over Kafka from leader alone."""
    c = Consumer({"bootstrap.servers": "127.0.0.1:%d" % leader.kport, "group.id": "checker",
                  "enable.auto.commit": False, "enable.partition.eof": False})
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(TOPIC, partition), timeout=20)
        c.assign([TopicPartition(TOPIC, partition, lo)])
        out, deadline = {}, time.monotonic() + 60
        while len(out) < hi - lo and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                out[m.offset()] = m.value().decode()
        assert len(out) == hi - lo and (not out or max(out) == hi - 1), (partition, lo, hi,
                                                                          len(out))
        return out
    finally:
        c.close()


def check(run, leader):
    """The checker: returns a summary; raises on a lost ack or an offset with two values."""
    http = {p: {r["offset"]: r["value"] for r in leader.read_all(TOPIC, p)}
            for p in range(PARTITIONS)}
    kafka = {p: read_kafka(leader, p) for p in range(PARTITIONS)}
    values = {}  # (partition, offset) -> {value: where seen}

    def saw(p, off, v, where):
        values.setdefault((p, off), {}).setdefault(v, set()).add(where)
    for p in range(PARTITIONS):
        for off, v in http[p].items():
            saw(p, off, v, "http")
        for off, v in kafka[p].items():
            saw(p, off, v, "kafka")
    for p, off, v in run.consumed:
        saw(p, off, v, "consumer")
    for n, (p, off) in run.acks.items():
        saw(p, off, "m-%d" % n, "ack")
    two = {k: v for k, v in values.items() if len(v) > 1}
    assert not two, "offsets holding two values: %s" % sorted(two.items())[:10]
    assert http == kafka, "HTTP and Kafka read different logs"
    consumed = run.consumed_values()
    lost = sorted(n for n in run.acks if "m-%d" % n not in consumed)
    assert not lost, "acknowledged but never consumed: %s" % lost[:20]
    unlogged = sorted(n for n, (p, off) in run.acks.items() if off not in http[p])
    assert not unlogged, "acknowledged but not in the new leader's log: %s" % unlogged[:20]
    logged = sum(len(v) for v in http.values())
    return {"sent": run.sent, "acked": len(run.acks), "failed": len(run.failed),
            "consumed": len(run.consumed), "logged": logged,
            "duplicates_in_log": logged - len({v for p in http.values() for v in p.values()})}


def leader_kill(idempotent):
    """The scenario; an idempotent producer is bootstrapped on a follower alone, so its
    InitProducerId goes to a follower first (librdkafka asks any broker, as Kafka allows)."""
    with Cluster() as c:
        bs = kafka_cluster(c)
        old, _ = wait_leader(bs, timeout=30)
        wait_registered(bs, old)
        admin = AdminClient({"bootstrap.servers": boot(bs)})
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(30)
        follower = next(b for b in bs if b is not old)
        run = Run(bs, idempotent, [follower] if idempotent else None)
        # before the kill: both clients working (acks come, the consumer reads them)
        run.run_until(lambda: len(run.acks) >= 150 and len(run.consumed) >= 100, 120,
                      "traffic before the kill")
        sent_at_kill = run.sent
        old.kill()
        t_kill = time.monotonic()
        survivors = [b for b in bs if b is not old]
        # the clients keep going while the survivors elect (asked twice a second)
        elected, last_ask = [], [0.0]

        def new_leader():
            if time.monotonic() - last_ask[0] >= 0.5:
                last_ask[0] = time.monotonic()
                elected[:] = [brook.agreed_leader(survivors)] if brook.agreed_leader(
                    survivors) else []
            return elected
        run.run_until(new_leader, 60, "a new leader")
        new, epoch = elected[0]
        t_new = time.monotonic()
        # after: the producer's messages sent after the kill are acknowledged, and consumed
        after = lambda: [n for n in run.acks if n >= sent_at_kill]  # noqa: E731
        run.run_until(lambda: len(after()) >= 150, 180, "acks after the failover")
        run.run_until(lambda: sum(1 for n in after() if "m-%d" % n in run.consumed_values())
                      >= 100, 180, "the consumer reading after the failover")
        t_resumed = time.monotonic()
        # stop producing; every outstanding message gets its report, every ack is consumed
        left = run.producer.flush(150)
        assert left == 0, "%d messages without a delivery report" % left
        try:
            run.run_until(lambda: all("m-%d" % n in run.seen for n in run.acks), 180,
                          "every acknowledged message consumed", produce=False)
        except AssertionError as e:
            views = [brook.try_get(new, "/topics/%s/partitions/%d" % (TOPIC, p))
                     for p in range(PARTITIONS)]
            group = brook.try_get(new, "/consumers/faults-group")
            raise AssertionError("%s; the new leader %s says %s, group %s" % (
                e, new.name, [v[1] if v else None for v in views],
                group[1] if group else None)) from None
        run.consumer.close()
        summary = check(run, new)
        if idempotent:  # retries are deduplicated: each message once in the log
            assert summary["duplicates_in_log"] == 0, summary
        summary.update(idempotent=idempotent, killed=old.name, new_leader=new.name, epoch=epoch,
                       failover_s=round(t_new - t_kill, 1), resumed_s=round(t_resumed - t_kill, 1))
        print("leader kill:", summary, flush=True)
        assert not brook.sanitizer_reports(survivors), brook.sanitizer_reports(survivors)


def test_leader_killed_under_producer_and_group_consumer():
    leader_kill(idempotent=False)


def test_leader_killed_under_idempotent_producer():
    """The same with enable.idempotence=true (where InitProducerId is offered), the producer
    bootstrapped on a follower: Kafka lets any broker answer InitProducerId, librdkafka asks
    the broker it knows first and retries that one every 500 ms on a retriable error."""
    with Cluster() as c:
        probe = c.broker(standalone=True, args=["--kafka-port", str(free_port())])
        probe.kport = int(probe.args[probe.args.index("--kafka-port") + 1])
        brook.wait_port(probe.kport, proc=probe.proc)
        offered = advertises_init_producer_id(probe)
    if not offered:
        print("SKIP test_leader_killed_under_idempotent_producer: no InitProducerId (key 22)")
        return
    leader_kill(idempotent=True)


if __name__ == "__main__":
    brook.run([test_leader_killed_under_producer_and_group_consumer,
               test_leader_killed_under_idempotent_producer])
