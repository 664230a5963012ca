"""Elections after Redis lost its data (FLUSHALL, or a restart without persistence), with real
brokers, kill -9 and a fault proxy per broker <-> Redis link (tests/lib/fault_proxy.py); lease
2 s, renew 0.5 s, replica lag 2 s, min ISR 1. In each case a broker F was dropped from the ISR
while it could not see Redis, so it never learnt that it lags; the others acknowledged writes
without it. Redis then forgets the ISR, and F reaches Redis first:

- (a) F killed, the leader L acknowledges more writes with ISR {L}, L killed, FLUSHALL, F
  started, later L: F must not lead, L must, and no acknowledged write may be lost;
- (b) the same with F cut off from Redis (connections refused) instead of killed, and Redis
  restarted empty: F, healed first, must not lead;
- (c) three brokers: F cut off, L killed, G leads at epoch 2 and acknowledges writes, Redis
  restarted empty, F healed first: F must not lead (it would also reuse epoch 2, the counter
  being gone), G must lead at an epoch above 2, and the replicas must agree.
Every case fails on a broker that trusts its "listed" flag when Redis holds no ISR.
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_election_dataloss.py
"""
import time

import brook
from brook import (Cluster, check_replicas, current_leader, isr_remembered, produce_acks,
                   redis_isr, replica_logs, role, visible_end, wait_port, wait_until)
from fault_proxy import FaultProxy

LEASE_MS = 2000
RENEW_MS = 500
LEASE = LEASE_MS / 1000
TOPIC = "dl"


def args(extra=()):
    return brook.repl_args(LEASE_MS, RENEW_MS, min_isr=1, lag_ms=2000, extra=list(extra))


def wait_lead(bs, timeout=20.0, newer_than=0):
    def pred():
        cl = current_leader(bs)
        return cl if cl and cl[1] > newer_than else None
    return wait_until(pred, timeout=timeout, interval=0.05, what="one leader")


def wait_isr(r, names, timeout=20.0):
    want = sorted(names)

    def pred():
        v = redis_isr(r)
        return v if v and sorted(v["isr"]) == want else None
    return wait_until(pred, timeout=timeout, what="Redis ISR == %s" % want)


def write(leader, n, tag, epoch):
    """n acks=all writes to the leader, each answered 200 under epoch; returns their ops (the
    AckWriters format check_replicas reads)."""
    ops = []
    for i in range(n):
        value = "%s-%d" % (tag, i)
        st, body, hdrs = produce_acks(leader.port, value, TOPIC, "all", timeout=5.0)
        assert st == 200, (value, st, body)
        assert int(hdrs["x-leader-epoch"]) == epoch, (value, hdrs)
        ops.append({"value": value, "broker": leader.name, "status": st,
                    "offset": body["offset"], "partition": body["partition"], "epoch": epoch})
    return ops


def roles_for(b, seconds):
    """The roles b reports, sampled for `seconds`."""
    seen = set()
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        seen.add(role(b))
        time.sleep(0.1)
    return seen


def converged(bs):
    """Every broker exposes the same high watermark (and some data)."""
    ends = [visible_end(b, TOPIC) for b in bs]
    return ends[0] is not None and ends[0] > 0 and len(set(ends)) == 1


def verdict(ops, bs, what):
    wait_until(lambda: converged(bs), timeout=30, what="replicas to converge")
    counts = check_replicas(ops, replica_logs(bs, TOPIC))
    print("%s: %d acknowledged; %s" % (what, len(ops), {k: len(v) for k, v in counts.items()}),
          flush=True)
    return counts


def start_proxied(c, r, names):
    """Brokers talking to Redis through their own FaultProxy each, started in order (the first
    leads). Returns (brokers, {name: proxy})."""
    proxies, bs = {}, []
    for name in names:
        p = FaultProxy(r.port)
        proxies[name] = p
        bs.append(c.broker(name=name, args=args(["--redis", "127.0.0.1:%d" % p.port]),
                           start=False))
    bs[0].start()
    wait_lead(bs[:1])
    for b in bs[1:]:
        b.start(wait=False)
    for b in bs[1:]:
        wait_port(b.port, proc=b.proc)
    return bs, proxies


def test_a_killed_follower_after_flushall():
    with Cluster() as c:
        r = c.redis()
        L = c.broker(name="L", redis=r, args=args())
        _, e1 = wait_lead([L])
        F = c.broker(name="F", redis=r, args=args())
        wait_isr(r, ["L", "F"])
        wait_until(lambda: isr_remembered(F), 10, what="F to see itself in the ISR")
        ops = write(L, 10, "both", e1)
        F.kill()
        wait_isr(r, ["L"])
        ops += write(L, 54, "l-only", e1)
        L.kill()
        assert r.command("FLUSHALL") == "OK"
        F.start()
        alone = roles_for(F, 3 * LEASE)
        L.start()
        leader, e2 = wait_lead([L, F], newer_than=e1)
        counts = verdict(ops, [L, F], "(a) after FLUSHALL, %s leads at epoch %d; F alone was %s"
                         % (leader.name, e2, sorted(map(str, alone))))
        assert not counts["lost"], "acknowledged writes lost: %d, e.g. %r" % (
            len(counts["lost"]), counts["lost"][0])
        assert not any(counts.values()), counts
        assert "leader" not in alone, "F, which lacks 54 acknowledged writes, was elected"
        assert leader is L, leader.name
        assert not brook.sanitizer_reports([L, F]), brook.sanitizer_reports([L, F])


def test_b_cut_off_follower_after_redis_restart():
    with Cluster() as c:
        r = c.redis()
        (L, F), px = start_proxied(c, r, ["L", "F"])
        _, e1 = wait_lead([L, F])
        wait_isr(r, ["L", "F"])
        wait_until(lambda: isr_remembered(F), 10, what="F to see itself in the ISR")
        ops = write(L, 10, "both", e1)
        px["F"].reset(refuse=True)  # F cannot reach Redis: no leader known, no fetching
        wait_isr(r, ["L"])
        assert isr_remembered(F) is True, "F saw the shrink: the scenario did not happen"
        ops += write(L, 50, "l-only", e1)
        px["L"].reset(refuse=True)
        r.kill()
        c.redis(port=r.port)  # empty
        px["F"].set_refuse(False)  # F reaches the empty Redis first
        alone = roles_for(F, 3 * LEASE)
        px["L"].set_refuse(False)
        leader, e2 = wait_lead([L, F], newer_than=e1)
        counts = verdict(ops, [L, F], "(b) after a Redis restart, %s leads at epoch %d; F alone "
                         "was %s" % (leader.name, e2, sorted(map(str, alone))))
        assert not counts["lost"], "acknowledged writes lost: %d, e.g. %r" % (
            len(counts["lost"]), counts["lost"][0])
        assert not any(counts.values()), counts
        assert "leader" not in alone, "F, cut off while it was dropped from the ISR, was elected"
        assert leader is L, leader.name
        for p in px.values():
            p.close()
        assert not brook.sanitizer_reports([L, F]), brook.sanitizer_reports([L, F])


def test_c_two_terms_never_share_an_epoch():
    with Cluster() as c:
        r = c.redis()
        (L, F, G), px = start_proxied(c, r, ["L", "F", "G"])
        _, e1 = wait_lead([L, F, G])
        wait_isr(r, ["L", "F", "G"])
        wait_until(lambda: isr_remembered(F), 10, what="F to see itself in the ISR")
        ops = write(L, 10, "all3", e1)
        px["F"].reset(refuse=True)
        wait_isr(r, ["L", "G"])
        ops += write(L, 20, "lg", e1)
        L.kill()
        _, e2 = wait_lead([G], newer_than=e1)  # F, cut off, knows no leader
        wait_isr(r, ["G"])
        ops += write(G, 30, "g", e2)
        px["G"].reset(refuse=True)
        r.kill()
        c.redis(port=r.port)  # empty: no ISR, no epoch counter
        px["F"].set_refuse(False)
        alone = roles_for(F, 3 * LEASE)
        assert "leader" not in alone, "F, cut off while it was dropped from the ISR, was " \
                                      "elected (at the epoch G led at: the counter was gone)"
        px["G"].set_refuse(False)
        leader, e3 = wait_lead([F, G], newer_than=e1)
        counts = verdict(ops, [F, G], "(c) after a Redis restart, %s leads at epoch %d (G led "
                         "at %d); F alone was %s" % (leader.name, e3, e2,
                                                     sorted(map(str, alone))))
        assert not any(counts.values()), counts
        assert "leader" not in alone, "F, cut off while it was dropped from the ISR, was elected"
        assert leader is G and e3 > e2, (leader.name, e3, e2)
        # L comes back (it must truncate nothing acknowledged) and agrees with the others.
        L.start()
        wait_lead([L, F, G], newer_than=e2)
        counts = verdict(ops, [L, F, G], "(c) with L back")
        assert not any(counts.values()), counts
        for p in px.values():
            p.close()
        assert not brook.sanitizer_reports([L, F, G]), brook.sanitizer_reports([L, F, G])


if __name__ == "__main__":
    brook.run([
        test_a_killed_follower_after_flushall,
        test_b_cut_off_follower_after_redis_restart,
        test_c_two_terms_never_share_an_epoch,
    ])
