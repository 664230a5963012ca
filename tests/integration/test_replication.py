"""Replication (DESIGN.md §6 phase 2) with a real private redis-server and three brokers
(lease 2 s, renew 0.5 s), judged across every replica with the TESTPLAN.md counts: acks=all
writes readable everywhere at the same offsets and the segment bytes identical up to the high
watermark; the leader kill -9'd over and over under concurrent writers (zero lost, zero
inconsistent offsets, and nothing a reader was shown during the faults ever changes); a paused
leader whose late writes are never acknowledged, whose unreplicated tail is never readable,
and which truncates that tail to follow the new leader; a killed follower that catches up and a lagging one that leaves
the ISR and can never be elected; --min-insync-replicas refusing writes with 503; and a topic
deleted on the leader deleted on every follower, so no failover brings it back; and a
follower back after the leader's retention passed its end starting over from the leader's start.
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_replication.py
(BROOK_KILL_ROUNDS sets the number of leader kills, default 10.)
"""
import os
import signal
import threading
import time

import brook
from brook import (AckWriters, Cluster, check_replicas, committed_prefix, current_leader,
                   local_end, partition_bytes, produce_acks, redis_isr, replica_logs, role,
                   start_brokers, visible_end, wait_until)

LEASE_MS = 2000
RENEW_MS = 500
LEASE = LEASE_MS / 1000


def start3(c, r, min_isr=1, lag_ms=2000):
    extra = ["--min-insync-replicas", str(min_isr), "--replica-lag-ms", str(lag_ms)]
    return start_brokers(c, r, 3, LEASE_MS, RENEW_MS, extra=extra)


def wait_lead(bs, timeout=20.0, newer_than=0):
    def pred():
        cl = current_leader(bs)
        return cl if cl and cl[1] > newer_than else None
    return wait_until(pred, timeout=timeout, interval=0.05, what="one leader")


def wait_isr(r, names, timeout=15.0):
    want = sorted(names)

    def pred():
        v = redis_isr(r)
        return v if v and sorted(v["isr"]) == want else None
    return wait_until(pred, timeout=timeout, what="Redis ISR == %s" % want)


def converge(bs, topic, timeout=30.0):
    """Waits until every running broker exposes the same high watermark and holds exactly
    that much on disk (nothing uncommitted or missing anywhere). Returns the HW."""
    state = {}

    def pred():
        ends = {b.name: visible_end(b, topic) for b in bs if b.alive()}
        disk = {b.name: local_end(partition_bytes(b.data_dir, topic)) for b in bs if b.alive()}
        state.update(ends=ends, disk=disk)
        vals = set(ends.values()) | set(disk.values())
        return len(vals) == 1 and None not in vals
    try:
        wait_until(pred, timeout=timeout, interval=0.1, what="replicas to converge")
    except AssertionError:
        raise AssertionError("no convergence: visible %s, on disk %s" % (state.get("ends"),
                                                                         state.get("disk")))
    return next(iter(state["ends"].values()))


def assert_identical(bs, topic, hw):
    """The segment bytes of every replica are identical up to the HW (whole batches)."""
    prefixes = {}
    for b in bs:
        data, end = committed_prefix(partition_bytes(b.data_dir, topic), hw)
        assert (end or 0) == hw, "%s holds batches up to %s, HW %d" % (b.name, end, hw)
        prefixes[b.name] = data
    first = next(iter(prefixes.values()))
    for name, data in prefixes.items():
        assert data == first, "%s differs from %s up to the HW (%d vs %d bytes)" % (
            name, next(iter(prefixes)), len(data), len(first))
    return len(first)


def judge(name, ops, bs, topic):
    logs = replica_logs(bs, topic)
    counts = check_replicas(ops, logs)
    acked = sum(1 for o in ops if o["status"] == 200)
    summary = ", ".join("%s=%d" % (k, len(v)) for k, v in counts.items())
    print("%s: %d attempts, %d acked, %s records per replica; %s" % (
        name, len(ops), acked, {n: len(l) for n, l in logs.items()}, summary), flush=True)
    for k, v in counts.items():
        for item in v[:3]:
            print("  %s: %r" % (k, item))
    assert not any(counts.values()), "%s: non-zero counts: %s" % (name, summary)
    return logs


def check_reads(reader, logs):
    """Every record a reader was shown during the faults is still there, unchanged."""
    final = next(iter(logs.values()))
    bad = reader.inconsistent(final)
    print("reads during faults: %d pages, %d offsets seen, inconsistent=%d" % (
        reader.reads, len(reader.seen), len(bad)), flush=True)
    for item in bad[:5]:
        print("  inconsistent read: %r" % (item,))
    assert not bad, "records read during the faults changed or vanished"


def no_sanitizer_reports(bs):
    reports = brook.sanitizer_reports(bs)
    assert not reports, reports


def test_acked_writes_identical_everywhere():
    with Cluster() as c:
        r = c.redis()
        bs = start3(c, r, min_isr=2, lag_ms=3000)
        leader, epoch = wait_lead(bs)
        wait_isr(r, [b.name for b in bs])
        w = AckWriters(bs, "rep", threads=3).start()
        wait_until(lambda: len(w.acked()) >= 150, timeout=60, what="150 acknowledged writes")
        # Followers serve reads up to the replicated HW while writes go on.
        for b in bs:
            if b is not leader:
                st, body, _ = b.get("/topics/rep/partitions/0/records?offset=0&max_records=5")
                assert st == 200 and body["high_watermark"] > 0, (b.name, st, body)
        assert w.stop()
        hw = converge(bs, "rep")
        acked = w.acked()
        assert all(o["epoch"] == epoch for o in acked), "leadership changed unexpectedly"
        assert hw >= len(acked), (hw, len(acked))
        logs = judge("acks=all", w.ops, bs, "rep")
        nbytes = assert_identical(bs, "rep", hw)
        assert all(len(l) == hw for l in logs.values()), {n: len(l) for n, l in logs.items()}
        epochs = {e for _, e in brook.batch_epochs(leader.data_dir, "rep")}
        assert epochs == {epoch}, epochs
        print("%d records, %d bytes identical on 3 replicas" % (hw, nbytes))
        # Orderly shutdown with fetches parked at the leader and loops running: exit 0, and
        # (under ASan) no leak or error report.
        w2 = AckWriters(bs, "rep", threads=2).start()
        time.sleep(0.5)
        for b in [leader] + [b for b in bs if b is not leader]:
            assert b.terminate() == 0, "%s did not stop cleanly" % b.name
        w2.stop()
        no_sanitizer_reports(bs)


def test_kill_leader_repeatedly():
    rounds = int(os.environ.get("BROOK_KILL_ROUNDS", "10"))
    with Cluster() as c:
        r = c.redis()
        bs = start3(c, r, min_isr=2, lag_ms=2000)
        wait_lead(bs)
        wait_isr(r, [b.name for b in bs])
        w = AckWriters(bs, "kill", threads=3, timeout=4.0).start()
        reader = brook.ReadObserver(bs, "kill").start()
        epochs = []
        for i in range(rounds):
            leader, epoch = wait_lead(bs, timeout=40)
            n0 = len(w.acked())
            wait_until(lambda: len(w.acked()) >= n0 + 5, timeout=40,
                       what="acknowledged writes in round %d" % i)
            leader.kill()
            t_kill = time.monotonic()
            if i % 2:
                time.sleep(LEASE + 0.5)  # another broker takes over first
            leader.start()
            epochs.append(epoch)
            print("round %d: killed %s (epoch %d) with %d acks so far, restarted after %.1fs"
                  % (i, leader.name, epoch, len(w.acked()), time.monotonic() - t_kill),
                  flush=True)
        wait_lead(bs, timeout=40)
        n0 = len(w.acked())
        wait_until(lambda: len(w.acked()) >= n0 + 5, timeout=40, what="writes after the kills")
        assert w.stop()
        reader.stop()
        wait_isr(r, [b.name for b in bs], timeout=30)
        hw = converge(bs, "kill", timeout=60)
        logs = judge("kill -9 leader x%d" % rounds, w.ops, bs, "kill")
        check_reads(reader, logs)
        nbytes = assert_identical(bs, "kill", hw)
        assert len(set(epochs)) == rounds, epochs
        for b in bs:
            be = [e for _, e in brook.batch_epochs(b.data_dir, "kill")]
            assert be == sorted(be), "%s: epochs go backwards in its log" % b.name
        print("%d records, %d bytes identical after %d kills (epochs %s)" % (
            hw, nbytes, rounds, epochs))
        no_sanitizer_reports(bs)


def test_paused_leader_tail_truncated():
    with Cluster() as c:
        r = c.redis()
        bs = start3(c, r, min_isr=1, lag_ms=10000)
        old, epoch = wait_lead(bs)
        wait_isr(r, [b.name for b in bs])
        fs = [b for b in bs if b is not old]
        base = []
        for k in range(20):
            st, body, _ = produce_acks(old.port, "base-%d" % k, "pause")
            assert st == 200, (st, body)
            base.append({"value": "base-%d" % k, "status": 200, "offset": body["offset"]})
        wait_until(lambda: all(visible_end(f, "pause") == 20 for f in fs), timeout=10,
                   what="followers at 20")
        # A tail only the old leader has: followers paused, acks=1 writes.
        for f in fs:
            f.signal(signal.SIGSTOP)
        for k in range(5):
            st, body, _ = produce_acks(old.port, "tail-%d" % k, "pause", acks="1")
            assert st == 200, (st, body)
        assert local_end(partition_bytes(old.data_dir, "pause")) == 25
        assert visible_end(old, "pause") == 20, "an unreplicated tail became visible"
        old.signal(signal.SIGSTOP)
        t_stop = time.monotonic()
        for f in fs:
            f.signal(signal.SIGCONT)
        sticky = AckWriters([old], "pause", threads=1, timeout=15.0, pause=0.05)
        sticky_thread = threading.Thread(
            target=lambda: [sticky.write(old, "s") for _ in range(3)], daemon=True)
        sticky_thread.start()
        w = AckWriters(fs, "pause", threads=2).start()
        reader = brook.ReadObserver(bs, "pause").start()
        new, new_epoch = wait_lead(fs, timeout=20, newer_than=epoch)
        wait_until(lambda: sum(o["epoch"] == new_epoch for o in w.acked()) >= 10, timeout=20,
                   what="acks from the new leader")
        time.sleep(max(0.0, t_stop + 3 * LEASE - time.monotonic()))
        # Resume the old leader while the new one is briefly paused (well within its lease):
        # the old one follows but cannot fetch, so its tail stays unverified and unreadable.
        new.signal(signal.SIGSTOP)
        t_resume = time.monotonic()
        old.signal(signal.SIGCONT)
        time.sleep(0.6)
        shown = brook.try_get(old, "/topics/pause/partitions/0/records?offset=0&max_records=100")
        new.signal(signal.SIGCONT)
        assert shown and shown[0] == 200, shown
        shown_values = [rec["value"] for rec in shown[1]["records"]]
        print("old leader resumed, not yet fetching: role %s, high watermark %d" % (
            role(old), shown[1]["high_watermark"]))
        assert shown[1]["high_watermark"] <= 21, shown[1]["high_watermark"]
        assert not [v for v in shown_values if v.startswith("tail-") and v != "tail-0"], \
            shown_values
        sticky_thread.join(40)
        time.sleep(2.0)
        assert w.stop()
        reader.stop()
        hw = converge(bs, "pause", timeout=30)
        late = [o for o in sticky.ops if o["status"] == 200 and (o["epoch"] or 0) <= epoch]
        print("paused %s (epoch %d) for %.1fs; new leader %s (epoch %d); its queued writes: %s"
              % (old.name, epoch, t_resume - t_stop, new.name, new_epoch,
                 [o["status"] for o in sticky.ops]), flush=True)
        assert not late, "the paused leader acknowledged after its lease: %r" % late
        logs = judge("paused leader", base + w.ops + sticky.ops, bs, "pause")
        # The followers may have been sent tail-0 by a long poll answered just before they
        # stopped; nothing written after that can exist anywhere but in the old leader's tail.
        check_reads(reader, logs)
        kept = sorted({v for l in logs.values() for v in l.values() if v.startswith("tail-")})
        print("tail writes kept after the truncation: %s" % kept)
        assert kept in ([], ["tail-0"]), "the diverged tail survived: %s" % kept
        assert_identical(bs, "pause", hw)
        assert "truncated the diverged tail" in old.stderr_text()
        assert role(old) == "follower"
        no_sanitizer_reports(bs)


def test_follower_catches_up_and_lagging_never_elected():
    with Cluster() as c:
        r = c.redis()
        bs = start3(c, r, min_isr=1, lag_ms=1500)
        leader, epoch = wait_lead(bs)
        wait_isr(r, [b.name for b in bs])
        f1, f2 = [b for b in bs if b is not leader]
        w = AckWriters(bs, "lag", threads=2).start()
        wait_until(lambda: len(w.acked()) >= 20, timeout=20, what="first acks")
        # 1. A follower killed and restarted catches up and rejoins the ISR.
        f1.kill()
        wait_isr(r, [leader.name, f2.name])
        n0 = len(w.acked())
        wait_until(lambda: len(w.acked()) >= n0 + 20, timeout=20, what="acks without f1")
        f1.start()
        wait_isr(r, [b.name for b in bs])
        wait_until(lambda: (visible_end(f1, "lag") or 0) >= max(
            o["offset"] for o in w.acked()[:n0 + 20]) + 1, timeout=20, what="f1 caught up")
        # 2. A follower kept behind leaves the ISR ...
        f2.signal(signal.SIGSTOP)
        wait_isr(r, [leader.name, f1.name])
        n1 = len(w.acked())
        wait_until(lambda: len(w.acked()) >= n1 + 20, timeout=20, what="acks without f2")
        assert w.stop()
        behind = visible_end(leader, "lag")
        # ... and, running again while everyone in sync is gone, is never elected.
        leader.kill()
        f1.kill()
        f2.signal(signal.SIGCONT)
        t0 = time.monotonic()
        roles = set()
        while time.monotonic() - t0 < 3 * LEASE:
            roles.add(role(f2))
            time.sleep(0.1)
        st, body, _ = produce_acks(f2.port, "should-not-land", "lag", timeout=2)
        print("lagging %s while alone: roles %s, produce -> %s; Redis leader %r" % (
            f2.name, roles, st, r.command("GET", "brook:leader")), flush=True)
        assert "leader" not in roles, roles
        assert st != 200, (st, body)
        assert r.command("GET", "brook:leader") is None
        with open(f2.logfile) as f:  # says why it does not lead, once, not at every attempt
            said = f.read().count("not taking the vacant lease: the ISR in Redis does not list")
        assert said == 1, "%s said why it declines %d times" % (f2.name, said)
        # An in-sync broker comes back: it leads, and the lagging one catches up from it.
        f1.start()
        new, new_epoch = wait_lead([f1, f2], timeout=20, newer_than=epoch)
        assert new is f1, new.name
        leader.start()
        wait_isr(r, [b.name for b in bs], timeout=20)
        hw = converge(bs, "lag")
        assert hw >= behind, (hw, behind)
        judge("follower restart and lag", w.ops + [{"value": "should-not-land", "status": st}],
              bs, "lag")
        assert_identical(bs, "lag", hw)
        no_sanitizer_reports(bs)


def test_min_insync_refuses_with_503():
    with Cluster() as c:
        r = c.redis()
        bs = start3(c, r, min_isr=2, lag_ms=1500)
        leader, epoch = wait_lead(bs)
        wait_isr(r, [b.name for b in bs])
        for k in range(10):
            st, body, _ = produce_acks(leader.port, "ok-%d" % k, "mi")
            assert st == 200, (st, body)
        fs = [b for b in bs if b is not leader]
        for f in fs:
            f.signal(signal.SIGSTOP)
        wait_isr(r, [leader.name])
        before = partition_bytes(leader.data_dir, "mi")
        refused = []
        for k in range(5):
            st, body, _ = produce_acks(leader.port, "no-%d" % k, "mi", timeout=5)
            refused.append({"value": "no-%d" % k, "status": st})
            assert st == 503, (st, body)
        assert partition_bytes(leader.data_dir, "mi") == before, "a refused write was appended"
        assert visible_end(leader, "mi") == 10
        for f in fs:
            f.signal(signal.SIGCONT)
        wait_isr(r, [b.name for b in bs])
        st, body, _ = produce_acks(leader.port, "ok-again", "mi")
        assert st == 200 and body["offset"] == 10, (st, body)
        hw = converge(bs, "mi")
        assert hw == 11
        judge("min insync", refused, bs, "mi")
        assert_identical(bs, "mi", hw)
        no_sanitizer_reports(bs)


def test_deleted_topic_gone_from_followers_and_after_failover():
    with Cluster() as c:
        r = c.redis()
        bs = start3(c, r, min_isr=2, lag_ms=3000)
        leader, epoch = wait_lead(bs)
        wait_isr(r, [b.name for b in bs])
        for k in range(5):
            for topic in ("doomed", "kept"):
                st, body, _ = produce_acks(leader.port, "%s-%d" % (topic, k), topic)
                assert st == 200, (st, body)
        converge(bs, "doomed")
        followers = [b for b in bs if b is not leader]
        for f in followers:
            assert f.get("/topics/doomed")[0] == 200, f.name
        st, body, _ = leader.request("DELETE", "/topics/doomed")
        assert st == 200, (st, body)

        def gone_everywhere():
            return all(b.get("/topics/doomed")[0] == 404 and
                       not os.path.isdir(os.path.join(b.data_dir, "doomed-0")) for b in bs)
        wait_until(gone_everywhere, timeout=15, what="topic deleted on every replica")
        # The leader dies: whoever takes over does not bring the topic back, and the other
        # topic is whole everywhere.
        leader.kill()
        new, _ = wait_lead(followers, timeout=20, newer_than=epoch)
        st, body, _ = produce_acks(new.port, "kept-5", "kept")
        assert st == 200 and body["offset"] == 5, (st, body)
        leader.start()
        wait_until(gone_everywhere, timeout=15, what="topic still gone after the failover")
        hw = converge(bs, "kept")
        assert hw == 6, hw
        assert_identical(bs, "kept", hw)
        no_sanitizer_reports(bs)


def test_recreated_topic_replaces_the_old_one_on_followers():
    """A topic deleted and created again under the same name is a new topic: a follower that
    was down meanwhile, or fetched across both, must not keep the old topic's records under
    the new one's offsets (same offsets and leader epoch: only the topic id tells them apart)."""
    with Cluster() as c:
        r = c.redis()
        bs = start3(c, r, min_isr=2, lag_ms=1500)
        leader, epoch = wait_lead(bs)
        wait_isr(r, [b.name for b in bs])
        for k in range(5):
            st, body, _ = produce_acks(leader.port, "old-%d" % k, "again")
            assert st == 200, (st, body)
        converge(bs, "again")
        old_id = leader.get("/topics/again")[1]["topic_id"]
        assert all(b.get("/topics/again")[1]["topic_id"] == old_id for b in bs)
        away = [b for b in bs if b is not leader][0]
        away.kill()
        wait_isr(r, [b.name for b in bs if b is not away])
        st, body, _ = leader.request("DELETE", "/topics/again")
        assert st == 200, (st, body)
        for k in range(3):  # created again by the first produce, under the same epoch
            st, body, _ = produce_acks(leader.port, "new-%d" % k, "again")
            assert st == 200 and body["offset"] == k, (st, body)
        away.start()
        wait_isr(r, [b.name for b in bs], timeout=20)
        hw = converge(bs, "again")
        logs = replica_logs(bs, "again")
        print("recreated topic: ids %s -> %s; records per replica %s" % (
            old_id, leader.get("/topics/again")[1]["topic_id"],
            {n: sorted(l.values()) for n, l in logs.items()}), flush=True)
        assert hw == 3, hw
        new_id = leader.get("/topics/again")[1]["topic_id"]
        assert new_id != old_id and len(new_id) == 16, (old_id, new_id)
        assert all(b.get("/topics/again")[1]["topic_id"] == new_id for b in bs)
        assert all(sorted(l.values()) == ["new-0", "new-1", "new-2"] for l in logs.values()), logs
        assert_identical(bs, "again", hw)
        no_sanitizer_reports(bs)


def test_brokers_sharing_an_id_never_count_or_lead_as_one():
    """Two followers started with the same id (easy on one host: the default id is
    broker-<hostname>), and one with the leader's id. The leader serves one process per id and
    refuses the others with 409 (else their positions would mix into one ISR member); a refused
    broker says why and does not take the lease even though the ISR lists its id: with the
    leader and the accepted twin gone, nobody leads rather than a broker missing the data."""
    with Cluster() as c:
        r = c.redis()
        extra = ["--min-insync-replicas", "1", "--replica-lag-ms", "1500"]
        leader = c.broker(name="broker1", redis=r,
                          args=brook.cluster_args(LEASE_MS, RENEW_MS, extra))
        wait_lead([leader])
        twins = [c.broker(name=nm, redis=r, args=brook.cluster_args(
            LEASE_MS, RENEW_MS, extra + ["--id", "twin"])) for nm in ("twin-a", "twin-b")]
        clone = c.broker(name="clone", redis=r,
                         args=brook.cluster_args(LEASE_MS, RENEW_MS, extra + ["--id", "broker1"]))
        for k in range(10):
            st, body, _ = produce_acks(leader.port, "v%d" % k, "ids")
            assert st == 200, (st, body)

        def refused(b):
            with open(b.logfile) as f:
                return "refuses our fetches" in f.read()
        wait_until(lambda: refused(clone) and sum(map(refused, twins)) == 1, timeout=15,
                   what="the clone and one twin to be refused")
        with open(leader.logfile) as f:
            assert "two processes fetch as twin" in f.read()
        served = next(t for t in twins if not refused(t))
        shut_out = next(t for t in twins if refused(t))
        wait_until(lambda: visible_end(served, "ids") == 10, timeout=15, what="served twin")
        assert local_end(partition_bytes(shut_out.data_dir, "ids")) in (None, 0)
        v = redis_isr(r)
        print("shared ids: ISR %s; served %s, refused %s and clone" % (
            v and v["isr"], served.name, shut_out.name), flush=True)
        # The leader and the twin it served die: the refused ones hold nothing, so neither
        # may lead although Redis's ISR lists both their ids.
        leader.kill()
        served.kill()
        t0, roles = time.monotonic(), set()
        while time.monotonic() - t0 < 3 * LEASE:
            roles.update(role(b) for b in (shut_out, clone))
            time.sleep(0.1)
        assert "leader" not in roles, roles
        assert r.command("GET", "brook:leader") is None
        # The real broker1 comes back and leads; the refused twin is now the only "twin",
        # is accepted after the lag and catches up.
        leader.start()
        wait_lead([leader, shut_out, clone], timeout=20)
        wait_until(lambda: visible_end(shut_out, "ids") == 10, timeout=20,
                   what="the refused twin to be served once alone")
        no_sanitizer_reports([leader, shut_out, clone])


def test_followers_create_and_grow_topics_off_the_loop():
    """A follower makes the topics its leader has, and their new partitions, on the threadpool
    too: it keeps answering while it copies a 300-partition topic and its growth to 600, and
    ends with every partition."""
    with Cluster() as c:
        r = c.redis()
        bs = start3(c, r)
        leader, _ = wait_lead(bs)
        follower = [b for b in bs if b is not leader][0]
        worst = {}

        def watch(what, path, body, want_status, want_parts):
            """Sends path to the leader and polls the follower's /health from then until it
            has the partitions (at least once)."""
            answers = []
            th = threading.Thread(target=lambda: answers.append(leader.post_json(path, body)))
            polls = []
            t0 = time.monotonic()
            th.start()
            while True:
                sent = time.monotonic()
                st, _, _ = follower.get("/health")
                assert st == 200
                polls.append(time.monotonic() - sent)
                if (not th.is_alive() and parts(follower) == want_parts) or \
                        time.monotonic() - t0 > 30:
                    break
                time.sleep(0.002)
            th.join()
            worst[what] = (max(polls), len(polls), time.monotonic() - t0)
            assert answers and answers[0][0] == want_status, answers
            assert parts(follower) == want_parts, "%s: not done after 30 s" % what

        def parts(b):
            # GET /topics/wide would wait for a creation under way (requests naming a topic
            # being created do); the list only shows topics that exist, at once.
            if "wide" not in b.get("/topics")[1]:
                return 0
            r_ = b.get("/topics/wide")
            return len(r_[1]["partitions"]) if r_[0] == 200 else 0
        watch("create", "/topics", {"name": "wide", "partitions": 300}, 201, 300)
        watch("grow", "/topics/wide/partitions", {"partitions": 600}, 200, 600)
        print("follower /health while copying: %s" % {
            k: "worst %.1f ms of %d polls over %.2f s" % (w * 1000, n, d)
            for k, (w, n, d) in worst.items()}, flush=True)
        for what, (w, n, d) in worst.items():
            assert w < max(0.05, d / 4), "%s: a /health took %.3f s of %.3f s" % (what, w, d)
        no_sanitizer_reports(bs)


def test_follower_behind_leader_retention_starts_over():
    """A follower that comes back after the leader's retention deleted everything it would
    fetch next empties its partition and follows from the leader's start (Kafka's
    truncate-fully), instead of retrying forever."""
    with Cluster() as c:
        r = c.redis()
        bs = start_brokers(c, r, 3, LEASE_MS, RENEW_MS, extra=[
            "--min-insync-replicas", "1", "--replica-lag-ms", "1500",
            "--retention-check-ms", "200"])
        leader, _ = wait_lead(bs)
        wait_isr(r, [b.name for b in bs])
        st, body, _ = leader.post_json("/topics", {"name": "ret", "configs": {
            "segment.bytes": "4096", "retention.bytes": "8192"}})
        assert st == 201, (st, body)
        payload = "y" * 500
        for i in range(10):
            assert produce_acks(leader.port, payload + str(i), "ret")[0] == 200
        lagger = [b for b in bs if b is not leader][0]
        wait_until(lambda: visible_end(lagger, "ret") == 10, what="the lagger to hold 10")
        lagger.kill()
        for i in range(10, 80):
            st, body, _ = produce_acks(leader.port, payload + str(i), "ret")
            assert st == 200, (i, st, body)

        def leader_start():
            return leader.get("/topics/ret/partitions/0/offsets")[1]["beginning_offset"]
        wait_until(lambda: leader_start() > 10, what="leader retention past the lagger's end")
        lagger.start()
        wait_until(lambda: visible_end(lagger, "ret") == 80, timeout=20,
                   what="the lagger to follow from the leader's start")
        offs = lagger.get("/topics/ret/partitions/0/offsets")[1]
        assert offs["beginning_offset"] >= leader_start() - 10, offs
        st, body, _ = lagger.get("/topics/ret/partitions/0/records?offset=%d&max_records=200"
                                 % offs["beginning_offset"])
        assert st == 200 and body["records"][-1]["value"] == payload + "79", (st, body)
        assert "emptied the partition" in lagger.stderr_text()
        wait_isr(r, [b.name for b in bs])
        no_sanitizer_reports(bs)


if __name__ == "__main__":
    brook.run([test_acked_writes_identical_everywhere, test_min_insync_refuses_with_503,
               test_deleted_topic_gone_from_followers_and_after_failover,
               test_recreated_topic_replaces_the_old_one_on_followers,
               test_brokers_sharing_an_id_never_count_or_lead_as_one,
               test_followers_create_and_grow_topics_off_the_loop,
               test_follower_behind_leader_retention_starts_over,
               test_paused_leader_tail_truncated,
               test_follower_catches_up_and_lagging_never_elected, test_kill_leader_repeatedly])
