"""Cluster faults with a real private redis-server, judged from a client-side history
(TESTPLAN.md): the leader SIGSTOPped around its lease while writers keep producing, Redis
SIGKILLed and restarted under a leader, Redis FLUSHALLed under a leader, and Redis absent
at start-up. Every produce attempt is logged (send/answer time, broker, status, X-Leader-Epoch,
offset); the checker counts stale-epoch acks, acks after a paused broker's deadline, epoch
regressions, and (reading every log back) lost, phantom and duplicate records.
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_cluster_faults.py
"""
import collections
import json
import signal
import time

import brook
from brook import (Cluster, History, Writers, check_logs,
                   count_epoch_regressions, count_post_deadline_acks, count_stale_epoch_acks,
                   health, isr_remembered, start_brokers, wait_leader, wait_until)

LEASE_MS = 2000
RENEW_MS = 500
LEASE = LEASE_MS / 1000
RENEW = RENEW_MS / 1000


def window_s(lease_ms):
    """How long a leader trusts a renew sent at s: until s + window (README "Leadership"):
    lease - 1% drift - margin, margin = max(lease/10, 200 ms) but at most lease/4."""
    margin = min(max(lease_ms // 10, 200), lease_ms // 4)
    return (lease_ms - lease_ms * 10 // 1000 - margin) / 1000


WINDOW = window_s(LEASE_MS)


class DecidedHistory(History):
    """A History whose ops also carry `decided`: the X-Ack-Decided-At of a 200 (the broker's
    CLOCK_MONOTONIC reading when it last checked its lease for that answer), in seconds, on the
    clock time.monotonic() reads, or None. Safety is judged on it, never on when the answer
    arrived: a broker paused between its check and its write answers late but truthfully."""

    def produce(self, b, who, timeout):
        value = self.next_value(who)
        t0 = time.monotonic()
        st, body, hdrs = brook.post_produce(b.port, value, self.topic, timeout)
        t1 = time.monotonic()
        epoch = hdrs.get("x-leader-epoch")
        decided = hdrs.get("x-ack-decided-at")
        ok = st == 200 and isinstance(body, dict)
        op = {"t0": t0, "t1": t1, "broker": b.name, "status": st, "value": value,
              "epoch": int(epoch) if epoch is not None else None,
              "decided": int(decided) / 1000 if decided is not None else None,
              "header_id": hdrs.get("x-broker-id"), "location": hdrs.get("location"),
              "offset": body.get("offset") if ok else None,
              "partition": body.get("partition") if ok else None, "who": who}
        with self.lock:
            self.ops.append(op)
        return op


def acks_decided_after(ops, broker, epoch, bound):
    """200s from `broker` under an epoch <= `epoch` whose lease check happened at or after
    `bound` (or that do not say when it happened)."""
    return [o for o in ops if o["broker"] == broker and o["status"] == 200 and
            o["epoch"] is not None and o["epoch"] <= epoch and
            (o["decided"] is None or o["decided"] >= bound)]


def summarize(hist, t_ref):
    by = collections.Counter()
    for o in hist.ops:
        key = (o["broker"], o["status"], o["epoch"])
        by[key] += 1
    first_ack = {}
    for o in sorted(hist.acks(), key=lambda o: o["t1"]):
        first_ack.setdefault(o["epoch"], (o["broker"], o["t1"] - t_ref))
    parts = ["%s %s e%s x%d" % (b, s, e, n) for (b, s, e), n in sorted(by.items(), key=str)]
    return "%d attempts: %s; first 200 per epoch (s after stop): %s" % (
        len(hist.ops), ", ".join(parts),
        ", ".join("e%s %s %+.2f" % (e, b, t) for e, (b, t) in sorted(first_ack.items())))


def assert_counts(name, counts):
    print("%s: %s" % (name, ", ".join("%s=%d" % kv for kv in counts.items())), flush=True)
    bad = {k: v for k, v in counts.items() if v}
    assert not bad, "%s: non-zero counts %s" % (name, bad)


def history_counts(hist, brokers):
    logs = check_logs(hist, brokers)
    stale = count_stale_epoch_acks(hist.ops)
    for o, newer in stale[:5]:
        print("  stale-epoch ack: %s e%s sent %.3f; but %s e%s acked at %.3f"
              % (o["broker"], o["epoch"], o["t0"], newer["broker"], newer["epoch"], newer["t1"]))
    for o in logs["lost"][:5]:
        print("  lost: %r" % o)
    for o in logs["phantom"][:5]:
        print("  phantom: %r" % o)
    return {"stale_epoch_acks": len(stale),
            "epoch_regressions": len(count_epoch_regressions(hist.ops)),
            "lost": len(logs["lost"]), "phantom": len(logs["phantom"]),
            "duplicate": len(logs["duplicate"])}, logs


def test_sigstop_leader_sweep():
    """Pause the leader for 0.5x, 0.9x (about the local window: lease - margin - drift), 1x,
    1.1x, 1.5x and 3x its lease while writers keep producing; the paused broker must never
    decide to acknowledge once its lease can have expired. Its last renew was sent before
    SIGSTOP, so its deadline is before t_stop + WINDOW: every 200 it gives under the old epoch
    must carry an X-Ack-Decided-At before that. A 200 decided just before the stop may still
    arrive after the pause (the check and the write are not atomic against SIGSTOP): that is
    counted, not failed."""
    with Cluster() as c:
        r = c.redis()
        bs = start_brokers(c, r, 3, LEASE_MS, RENEW_MS)
        for rnd, factor in enumerate((0.5, 0.9, 1.0, 1.1, 1.5, 3.0)):
            leader, epoch = wait_leader(bs, 15)
            pause = factor * LEASE
            hist = DecidedHistory(bs, topic="pause%d" % rnd)
            w = Writers(hist, chasers=2, sticky_timeout=pause + 5).start()
            time.sleep(0.6)
            leader.signal(signal.SIGSTOP)
            t_stop = time.monotonic()
            time.sleep(pause)
            t_resume = time.monotonic()
            leader.signal(signal.SIGCONT)
            probe = hist.produce(leader, "probe", timeout=5)
            time.sleep(2.0)
            assert w.stop(), "writers did not finish"
            new_leader, new_epoch = wait_leader(bs, 15)
            assert all(b.alive() for b in bs)

            acked_ops = hist.acks()
            counts, logs = history_counts(hist, bs)
            post = []
            if factor >= 1.0:
                post = acks_decided_after(hist.ops, leader.name, epoch, t_stop + WINDOW)
                for o in post[:5]:
                    print("  ack decided after the deadline: %r (stopped at %.3f)" % (o, t_stop))
                late = count_post_deadline_acks(hist.ops, leader.name, epoch, t_resume)
                for o in late[:5]:
                    print("  (fine) decided %.3fs before the stop, answered after the pause: %r"
                          % (t_stop - o["decided"], o))
            counts["post_deadline_acks"] = len(post)
            counts["probe_200_old_epoch"] = int(
                factor >= 1.0 and probe["status"] == 200 and (probe["epoch"] or 0) <= epoch)
            takeover = [o for o in acked_ops if o["broker"] != leader.name and
                        (o["epoch"] or 0) > epoch and o["t1"] < t_resume]
            print("pause %.1fx lease (%.1fs, actual %.2fs) of %s e%d: probe -> %s e%s; "
                  "leader now %s e%d; %d acks, %d records read back; takeover during pause: %s"
                  % (factor, pause, t_resume - t_stop, leader.name, epoch, probe["status"],
                     probe["epoch"], new_leader.name, new_epoch, len(acked_ops),
                     logs["records"], "%s after %.2fs" % (takeover[0]["broker"], min(
                         o["t1"] for o in takeover) - t_stop) if takeover else "no"),
                  flush=True)
            print("  " + summarize(hist, t_stop), flush=True)
            assert_counts("pause %.1fx" % factor, counts)
            assert len(acked_ops) > 20, "too few acknowledged writes to judge anything"
            if factor >= 1.0:
                assert new_epoch > epoch, "no new term after a pause past the lease"
            if factor >= 3.0:
                assert takeover, "no other broker acknowledged under a newer epoch while the " \
                                 "leader was stopped for 3 leases"
        assert not brook.sanitizer_reports(bs), brook.sanitizer_reports(bs)


def test_redis_killed_and_restarted():
    with Cluster() as c:
        r = c.redis()
        bs = start_brokers(c, r, 3, LEASE_MS, RENEW_MS)
        leader, epoch = wait_leader(bs)
        hist = DecidedHistory(bs, topic="rk")
        for _ in range(5):
            assert hist.produce(leader, "pre", 2)["status"] == 200
        # Every broker must have seen itself in the ISR before Redis forgets it: a follower that
        # last saw an ISR without itself rightly refuses to lead once Redis comes back empty
        # (followers learn membership at their next read, up to a renew interval after the
        # leader publishes it).
        wait_until(lambda: all(isr_remembered(b) for b in bs), LEASE + 2,
                   what="every broker to remember being in the ISR")
        r.kill()
        t_kill = time.monotonic()
        # The leader keeps acknowledging at most until its lease ends, then answers 503.
        first_503 = None
        while time.monotonic() < t_kill + LEASE + 3:
            op = hist.produce(leader, "during", 2)
            if op["status"] == 503:
                first_503 = op
                break
            assert op["status"] in (200, 500), op
            time.sleep(0.05)
        assert first_503 is not None, "the leader never refused writes after Redis died"
        # Its last renew was sent before the kill: no 200 may be decided past t_kill + WINDOW
        # (judged on the broker's decision time, not on when the answer arrived).
        late = acks_decided_after(hist.ops, leader.name, epoch, t_kill + WINDOW)
        print("redis killed: leader %s e%d answered 503 %.2fs after the kill (lease %.1fs); "
              "%d acks after the kill, %d decided past the window"
              % (leader.name, epoch, first_503["t1"] - t_kill, LEASE,
                 len([o for o in hist.acks() if o["t0"] > t_kill]), len(late)), flush=True)
        assert not late, late
        # Everybody: alive, healthy, not connected, no leader, writes 503 with a JSON error.
        def all_down():
            hs = [health(b) for b in bs]
            return all(h and h["redis_connected"] is False and h["role"] == "none" and
                       h["leader"] is None for h in hs)
        wait_until(all_down, 3, what="every broker to see Redis down")
        for b in bs:
            st, body, hdrs = b.produce("nope", topic="rk")
            assert st == 503 and isinstance(body, dict) and body.get("message"), (st, body)
            st, body, _ = b.get("/metadata/leader")
            assert st == 503 and isinstance(body, dict) and body.get("message"), (st, body)
        time.sleep(1.0)  # a while with Redis down: still nobody crashes
        assert all(b.alive() for b in bs)
        assert all(health(b)["redis_connected"] is False for b in bs)
        # SIGTERM with Redis down: a prompt clean exit.
        t0 = time.monotonic()
        assert bs[2].terminate(timeout=10) == 0
        assert time.monotonic() - t0 < 5, "SIGTERM took %.1fs with Redis down" % (
            time.monotonic() - t0)
        # Redis comes back (empty) on the same port, and the stopped broker with it: Redis lost
        # the ISR, so nobody leads until every broker of the last ISR has registered what it
        # remembers (README, Leadership); then leadership resumes, epochs go forward.
        r2 = c.redis(port=r.port)
        t_back = time.monotonic()
        bs[2].start()
        nl, nepoch = wait_leader(bs, 10)
        took = time.monotonic() - t_back
        print("redis restarted: leader %s e%d after %.2fs (old epoch %d)"
              % (nl.name, nepoch, took, epoch), flush=True)
        assert took <= 5.0
        assert nepoch > epoch, "epoch went backwards after Redis lost its counter: %d -> %d" % (
            epoch, nepoch)
        assert int(r2.command("GET", "brook:epoch")) >= nepoch
        assert all(health(b)["redis_connected"] is True for b in bs)
        op = hist.produce(nl, "post", 2)
        assert op["status"] == 200 and op["epoch"] == nepoch, op
        counts, _ = history_counts(hist, bs)
        assert_counts("redis kill", counts)
        assert not brook.sanitizer_reports(bs), brook.sanitizer_reports(bs)


def test_redis_flushall_under_leader():
    """FLUSHALL removes the lease key and the epoch counter while the leader believes it holds
    the lease. A long lease (6 s) separates 'noticed at the next renew' from 'the deadline'."""
    lease_ms, renew_ms = 6000, 500
    with Cluster() as c:
        r = c.redis()
        bs = start_brokers(c, r, 3, lease_ms, renew_ms)
        leader, epoch = wait_leader(bs)
        hist = History(bs, topic="fl")
        w = Writers(hist, chasers=2, sticky_timeout=5).start()
        time.sleep(0.8)
        t_flush = time.monotonic()
        assert r.command("FLUSHALL") == "OK"

        def old_term_over():
            h = health(leader, 0.5)
            return h and not (h["role"] == "leader" and h["epoch"] == epoch)
        wait_until(old_term_over, renew_ms / 1000 + 1.0, interval=0.02,
                   what="the old leader to notice the flush at its next renew")
        t_noticed = time.monotonic() - t_flush
        nl, nepoch = wait_leader(bs, 5)
        time.sleep(1.0)
        assert w.stop()
        assert all(b.alive() for b in bs)
        late = [o for o in hist.acks() if o["broker"] == leader.name and o["epoch"] == epoch and
                o["t0"] > t_flush + renew_ms / 1000 + 1.0]
        counts, _ = history_counts(hist, bs)
        stale = counts.pop("stale_epoch_acks")
        print("flushall: old leader %s e%d noticed within %.2fs; new leader %s e%d; "
              "counter %s; stale-epoch acks %d (informational: FLUSHALL frees the lease while "
              "the old leader believes it holds it, until its next renew)"
              % (leader.name, epoch, t_noticed, nl.name, nepoch,
                 r.command("GET", "brook:epoch"), stale), flush=True)
        print("  " + summarize(hist, t_flush), flush=True)
        counts["old_epoch_acks_after_next_renew"] = len(late)
        assert_counts("flushall", counts)
        seen = max([o["epoch"] for o in hist.ops if o["epoch"]] + [epoch])
        assert nepoch > epoch and nepoch >= seen, (epoch, seen, nepoch)
        assert int(r.command("GET", "brook:epoch")) >= nepoch
        val = json.loads(r.command("GET", "brook:leader"))
        assert val["id"] == nl.name and val["epoch"] == nepoch, val
        assert not brook.sanitizer_reports(bs), brook.sanitizer_reports(bs)


def test_redis_paused():
    """SIGSTOP redis-server for twice the lease while writers run: commands time out, the leader
    stops acknowledging by its deadline, nobody crashes, and after SIGCONT (when commands
    buffered while Redis was stopped may still execute, late) leadership resumes at a newer
    epoch with no stale-epoch ack."""
    with Cluster() as c:
        r = c.redis()
        bs = start_brokers(c, r, 3, LEASE_MS, RENEW_MS)
        leader, epoch = wait_leader(bs)
        hist = DecidedHistory(bs, topic="rp")
        w = Writers(hist, chasers=2, sticky_timeout=5).start()
        time.sleep(0.6)
        r.proc.send_signal(signal.SIGSTOP)
        t_stop = time.monotonic()
        time.sleep(2 * LEASE)
        assert all(b.alive() and health(b) is not None for b in bs)
        t_resume = time.monotonic()
        r.proc.send_signal(signal.SIGCONT)
        nl, nepoch = wait_leader(bs, 10)
        took = time.monotonic() - t_resume
        time.sleep(1.0)
        assert w.stop()
        # No renew sent after t_stop is answered before t_resume, so no 200 may be decided in
        # [t_stop + WINDOW, t_resume) (judged on the decision time the broker reports).
        late = [o for o in acks_decided_after(hist.ops, leader.name, epoch, t_stop + WINDOW)
                if o["decided"] is None or o["decided"] < t_resume]
        counts, _ = history_counts(hist, bs)
        counts["acks_decided_past_lease_while_redis_stopped"] = len(late)
        print("redis paused %.1fs: leader %s e%d -> %s e%d %.2fs after SIGCONT"
              % (2 * LEASE, leader.name, epoch, nl.name, nepoch, took), flush=True)
        print("  " + summarize(hist, t_stop), flush=True)
        assert_counts("redis pause", counts)
        assert nepoch > epoch
        assert all(b.alive() for b in bs)
        assert not brook.sanitizer_reports(bs), brook.sanitizer_reports(bs)


def test_epoch_never_goes_back_after_full_restart():
    """Redis without persistence restarts empty and the broker restarts too (a power cut, or
    `make cluster` run twice: a fresh redis-server, the same ./cluster-data). The broker's log
    holds batches stamped with epoch 42; the next term must write under a higher epoch, or the
    partitionLeaderEpoch fencing of DESIGN.md §5 goes backwards on disk."""
    with Cluster() as c:
        r = c.redis()
        r.command("SET", "brook:epoch", "41")
        b = c.broker(name="solo", redis=r, args=brook.cluster_args(LEASE_MS, RENEW_MS))
        _, epoch = wait_leader([b])
        assert epoch == 42
        for i in range(3):
            st, body, hdrs = b.produce("m%d" % i, topic="ep")
            assert st == 200 and hdrs["x-leader-epoch"] == "42", (st, body, hdrs)
        assert b.terminate() == 0
        r.kill()
        c.redis(port=r.port)  # empty: no leader key, no counter
        b.start()
        _, nepoch = wait_leader([b])
        st, body, hdrs = b.produce("after", topic="ep")
        assert st == 200 and body["offset"] == 3, (st, body)
        on_disk = brook.batch_epochs(b.data_dir, "ep")
        print("full restart: epoch 42 -> %d; batches (offset, partitionLeaderEpoch) on disk: %s"
              % (nepoch, on_disk), flush=True)
        assert [e for _, e in on_disk[:3]] == [42, 42, 42], on_disk
        assert nepoch > 42, "epoch went backwards: the log holds epoch 42, the new term is %d" % (
            nepoch)
        assert all(on_disk[i][1] <= on_disk[i + 1][1] for i in range(len(on_disk) - 1)), on_disk


def test_redis_absent_at_start():
    with Cluster() as c:
        port = brook.free_port()
        bs = []
        for i in range(3):
            b = c.broker(name="broker%d" % (i + 1),
                         args=brook.cluster_args(LEASE_MS, RENEW_MS,
                                                 ["--redis", "127.0.0.1:%d" % port]))
            bs.append(b)
        time.sleep(0.5)
        for b in bs:
            h = health(b)
            assert h and h["role"] == "none" and h["redis_connected"] is False, h
            assert h["leader"] is None and h["epoch"] == 0, h
            st, body, hdrs = b.produce("x", topic="abs")
            assert st == 503 and isinstance(body, dict) and body.get("message"), (st, body)
            assert hdrs["x-leader-epoch"] == "0", hdrs
            st, body, _ = b.get("/metadata/leader")
            assert st == 503, (st, body)
        time.sleep(1.0)
        assert all(b.alive() for b in bs)
        r = c.redis(port=port)
        t0 = time.monotonic()
        leader, epoch = wait_leader(bs, 10)
        took = time.monotonic() - t0
        print("redis appeared: leader %s e%d after %.2fs" % (leader.name, epoch, took),
              flush=True)
        assert epoch >= 1 and took <= 5.0
        st, body, _ = leader.produce("x", topic="abs")
        assert st == 200 and body["offset"] == 0, (st, body)
        # Nothing from the 503s was written anywhere: every replica holds exactly the one
        # acknowledged record (followers replicate it from the leader).
        for b in bs:
            wait_until(lambda: brook.read_log(b, "abs") == {0: "x"}, 10,
                       what="%s to hold exactly the acknowledged record" % b.name)
        assert int(r.command("GET", "brook:epoch")) == epoch
        assert not brook.sanitizer_reports(bs), brook.sanitizer_reports(bs)


def test_checker_catches_violations():
    """The checker itself must be able to fail: synthetic histories with one violation each."""
    def op(t0, t1, broker, status, epoch, offset=None, value="v"):
        return {"t0": t0, "t1": t1, "broker": broker, "status": status, "epoch": epoch,
                "offset": offset, "value": value}
    good = [op(0.0, 0.1, "a", 200, 1), op(0.05, 0.3, "a", 200, 1),  # overlaps b's first ack
            op(0.2, 0.25, "b", 200, 2), op(0.4, 0.5, "b", 200, 2), op(0.6, 0.7, "a", 307, 2)]
    assert count_stale_epoch_acks(good) == []
    assert count_epoch_regressions(good) == []
    stale = good + [op(0.75, 0.9, "a", 200, 1)]  # sent after b's e2 acks and a's e2 307
    assert len(count_stale_epoch_acks(stale)) == 1
    assert len(count_epoch_regressions(stale)) == 1
    early = good + [op(0.22, 0.9, "a", 200, 1)]  # sent before b's first e2 ack arrived: fine
    assert count_stale_epoch_acks(early) == [] and count_epoch_regressions(early) == []
    assert count_post_deadline_acks(good, "a", 1, t_resume=0.2) == [good[1]]
    assert count_post_deadline_acks(good, "a", 1, t_resume=0.35) == []


if __name__ == "__main__":
    brook.run([
        test_checker_catches_violations,
        test_sigstop_leader_sweep,
        test_redis_killed_and_restarted,
        test_redis_flushall_under_leader,
        test_redis_paused,
        test_redis_absent_at_start,
        test_epoch_never_goes_back_after_full_restart,
    ])
