"""Cluster election with a real private redis-server: one leader that everybody agrees on,
followers that redirect (or proxy) writes, fail-over after kill -9 within the lease, hand-over
after SIGTERM within a renew interval, and the seed's three-terminal start-up with environment
variables only. Leases are short (2 s, renew 0.5 s) so the file runs in well under a minute.
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_cluster_election.py
"""
import json
import os
import signal
import subprocess
import time

import brook
from brook import Cluster, agreed_leader, health, start_brokers, wait_leader, wait_until

LEASE_MS = 2000
RENEW_MS = 500


def check_error_json(status, body, hdrs, code):
    assert status == code, (status, body)
    assert "json" in hdrs.get("content-type", ""), hdrs
    assert isinstance(body, dict) and body.get("message"), body


def test_one_leader_everybody_agrees():
    with Cluster() as c:
        r = c.redis()
        bs = start_brokers(c, r, 3, LEASE_MS, RENEW_MS)
        leader, epoch = wait_leader(bs)
        assert epoch >= 1, epoch
        for b in bs:
            st, h, hdrs = b.get("/health")
            assert st == 200 and h["status"] == "ok" and h["broker_id"] == b.name, h
            assert h["role"] == ("leader" if b is leader else "follower"), h
            assert h["redis_connected"] is True, h
            assert hdrs["x-broker-id"] == b.name, hdrs
            assert int(hdrs["x-leader-epoch"]) == epoch, hdrs
        # What Redis holds is what the brokers say.
        val = json.loads(r.command("GET", "brook:leader"))
        inst = val.pop("instance", "")  # the leader process, chosen at random
        assert val == {"id": leader.name, "epoch": epoch, "url": leader.url}, val
        assert len(inst) == 16 and int(inst, 16) >= 0, inst
        assert int(r.command("GET", "brook:epoch")) == epoch
        pttl = r.command("PTTL", "brook:leader")
        assert 0 < pttl <= LEASE_MS, pttl
        # It stays that way: renewals keep the same term.
        time.sleep(3 * RENEW_MS / 1000)
        assert agreed_leader(bs) == (leader, epoch)
        assert 0 < r.command("PTTL", "brook:leader") <= LEASE_MS


def test_followers_redirect_and_proxy():
    with Cluster() as c:
        r = c.redis()
        bs = start_brokers(c, r, 3, LEASE_MS, RENEW_MS)
        leader, epoch = wait_leader(bs)
        followers = [b for b in bs if b is not leader]
        for f in followers:
            st, body, hdrs = f.produce("via-" + f.name, topic="red")
            check_error_json(st, body, hdrs, 307)
            assert hdrs["location"] == leader.url + "/produce", hdrs
            assert int(hdrs["x-leader-epoch"]) == epoch and hdrs["x-broker-id"] == f.name
            assert leader.name in body["message"], body
        # Following the Location writes through the leader.
        st, body, hdrs = leader.produce("direct", topic="red")
        assert st == 200 and body["status"] == "ok" and body["topic"] == "red", body
        assert body["partition"] == 0 and body["offset"] == 0, body
        assert int(hdrs["x-leader-epoch"]) == epoch and hdrs["x-broker-id"] == leader.name
        # Nothing was written by the redirected attempts: the leader's log holds one record.
        recs = leader.read_all("red")
        assert [x["value"] for x in recs] == ["direct"], recs
        # A broker in proxy mode joins as follower and relays the leader's 200.
        p = c.broker(name="proxy4", redis=r,
                     args=brook.cluster_args(LEASE_MS, RENEW_MS,
                                             ["--follower-writes", "proxy"]))
        wait_until(lambda: (health(p) or {}).get("role") == "follower", 5, what="proxy follows")
        assert agreed_leader(bs + [p]) == (leader, epoch)
        st, body, hdrs = p.produce("proxied", topic="red")
        assert st == 200, (st, body, hdrs)
        assert body["status"] == "ok" and body["topic"] == "red" and body["offset"] == 1, body
        assert "location" not in hdrs, hdrs
        recs = leader.read_all("red")
        assert [x["value"] for x in recs] == ["direct", "proxied"], recs
        # The proxy wrote nothing of its own: its log is a replica of the leader's.
        wait_until(lambda: brook.read_log(p, "red") == {0: "direct", 1: "proxied"}, 10,
                   what="the proxy's replica to match the leader")
        assert not brook.sanitizer_reports(bs + [p]), brook.sanitizer_reports(bs + [p])


def time_new_leader(survivors, old_name, old_epoch, t0, timeout):
    """Seconds from t0 until a survivor reports itself leader at an epoch above old_epoch."""
    def new_leader():
        for b in survivors:
            h = health(b, 0.5)
            if h and h["role"] == "leader" and h["broker_id"] != old_name:
                assert h["epoch"] > old_epoch, ("epoch did not grow", h, old_epoch)
                return b, h["epoch"]
        return None
    b, epoch = wait_until(new_leader, timeout, interval=0.02, what="a new leader")
    return b, epoch, time.monotonic() - t0


def test_kill9_then_sigterm_failover():
    with Cluster() as c:
        r = c.redis()
        bs = start_brokers(c, r, 3, LEASE_MS, RENEW_MS)
        leader, epoch = wait_leader(bs)
        survivors = [b for b in bs if b is not leader]

        # kill -9: the lease must run out in Redis, then a poll takes it.
        t0 = time.monotonic()
        leader.kill()
        bound = (LEASE_MS + RENEW_MS) / 1000 + 1.0
        nb, nepoch, took = time_new_leader(survivors, leader.name, epoch, t0, bound + 2)
        print("kill -9 fail-over: %s -> %s, epoch %d -> %d, %.2fs (bound %.2fs)"
              % (leader.name, nb.name, epoch, nepoch, took, bound), flush=True)
        assert took <= bound, "fail-over took %.2fs > %.2fs" % (took, bound)
        assert wait_leader(survivors, 5) == (nb, nepoch)
        st, body, _ = nb.produce("after-kill", topic="fo")
        assert st == 200 and body["offset"] == 0, (st, body)

        # The killed broker comes back (same data dir) and follows.
        leader.start()
        assert wait_leader(bs, 5) == (nb, nepoch)

        # SIGTERM: the lease is released, a follower takes it at its next poll.
        t0 = time.monotonic()
        nb.signal(signal.SIGTERM)
        survivors = [b for b in bs if b is not nb]
        bound = RENEW_MS / 1000 + 1.0
        nb2, nepoch2, took = time_new_leader(survivors, nb.name, nepoch, t0, bound + 3)
        print("SIGTERM hand-over: %s -> %s, epoch %d -> %d, %.2fs (bound %.2fs)"
              % (nb.name, nb2.name, nepoch, nepoch2, took, bound), flush=True)
        rc = nb.terminate()
        assert rc == 0, "SIGTERM exit status %s" % rc
        assert "released the lease" in nb.stderr_text(), nb.stderr_text()[-2000:]
        assert took <= bound, "hand-over took %.2fs > %.2fs" % (took, bound)
        assert wait_leader(survivors, 5) == (nb2, nepoch2)
        assert int(r.command("GET", "brook:epoch")) == nepoch2
        assert not brook.sanitizer_reports(bs), brook.sanitizer_reports(bs)


def test_seed_three_terminals_env_only():
    """The seed's README: three terminals with BROKER_ID / FLASK_RUN_PORT / REDIS_HOST /
    REDIS_PORT and nothing else (plus --data-dir so runs do not collide, and --host so the
    test stays on loopback). Lease and renew are the seed's defaults (10 s / 5 s)."""
    with Cluster() as c:
        r = c.redis()
        procs = []
        ports = [brook.free_port() for _ in range(3)]
        bs = []
        try:
            for i, port in enumerate(ports):
                b = brook.Broker(c.dir, "broker%d" % (i + 1), port=port)
                env = dict(os.environ, BROKER_ID=b.name, FLASK_RUN_PORT=str(port),
                           REDIS_HOST="127.0.0.1", REDIS_PORT=str(r.port))
                for k in ("LEASE_TIME_SECONDS", "RENEW_INTERVAL_SECONDS", "PORT"):
                    env.pop(k, None)
                b.err = open(b.logfile, "ab")
                b.proc = subprocess.Popen(
                    [brook.BROOK_BIN, "--data-dir", b.data_dir, "--host", "127.0.0.1"],
                    stdout=b.err, stderr=b.err, env=env)
                c.brokers.append(b)
                bs.append(b)
                procs.append(b.proc)
            for b in bs:
                brook.wait_port(b.port, proc=b.proc)
            leader, epoch = wait_leader(bs, 10)
            assert leader.url == "http://127.0.0.1:%d" % leader.port
            assert 5000 < r.command("PTTL", "brook:leader") <= 10000  # the default lease
            for b in bs:
                st, body, hdrs = b.produce("hello from " + b.name, topic="seed")
                if b is leader:
                    assert st == 200 and body["status"] == "ok", (st, body)
                else:
                    check_error_json(st, body, hdrs, 307)
                    assert hdrs["location"] == leader.url + "/produce"
            # SIGTERM all, followers first: each exits 0 and the leader key is gone (released).
            for b in [b for b in bs if b is not leader] + [leader]:
                assert b.terminate() == 0, b.stderr_text()[-2000:]
            assert r.command("EXISTS", "brook:leader") == 0
            assert not brook.sanitizer_reports(bs), brook.sanitizer_reports(bs)
        finally:
            for b in bs:
                b.kill()


def test_env_lease_and_renew():
    """LEASE_TIME_SECONDS / RENEW_INTERVAL_SECONDS (fractions allowed) set the lease."""
    with Cluster() as c:
        r = c.redis()
        b = c.broker(name="envb", redis=r,
                     env={"LEASE_TIME_SECONDS": "1.5", "RENEW_INTERVAL_SECONDS": "0.3"})
        wait_leader([b], 5)
        ttls = []
        for _ in range(6):
            ttls.append(r.command("PTTL", "brook:leader"))
            time.sleep(0.25)
        assert all(0 < t <= 1500 for t in ttls), ttls
        # Renewed every 0.3 s: the remaining TTL never gets far below lease - interval.
        assert min(ttls) >= 1500 - 300 - 400, ttls


if __name__ == "__main__":
    brook.run([
        test_one_leader_everybody_agrees,
        test_followers_redirect_and_proxy,
        test_kill9_then_sigterm_failover,
        test_seed_three_terminals_env_only,
        test_env_lease_and_renew,
    ])
