"""kill -9 under load, repeatedly, against one standalone broker with --fsync=always.
Concurrent writers send globally unique values and never retry a request that reached the
broker; every attempt's outcome is logged (ok with partition/offset, definite failure, or
unknown). A final drain reads every partition twice and a checker counts, in TESTPLAN.md's
vocabulary: lost, inconsistent offsets (incl. an offset acknowledged twice), duplicates,
phantoms, offset gaps, and end offsets that went backwards across a restart. All must be 0.
Scale with BROOK_IT_CRASH_WRITES (acked writes, default 10000) and BROOK_IT_CRASH_KILLS (5)."""
import http.client
import json
import os
import random
import threading
import time

import brook
from brook import Cluster

PARTITIONS = 2
WRITERS = 6


class History:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = []        # (value, partition, offset)
        self.failed = []    # (value, status, body) - definite refusals (4xx, 503)
        self.unknown = []   # (value, why)
        self.max_acked = {}  # partition -> largest acknowledged offset

    def record_ok(self, value, partition, offset):
        with self.lock:
            self.ok.append((value, partition, offset))
            if offset > self.max_acked.get(partition, -1):
                self.max_acked[partition] = offset


def writer(port, wid, hist, stop):
    conn, seq = None, 0
    rng = random.Random(wid)
    while not stop.is_set():
        value = "w%d-%d-%s" % (wid, seq, "x" * rng.randint(0, 200))
        seq += 1
        while not stop.is_set():
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                try:
                    conn.connect()
                except OSError:  # broker down: nothing was sent, same value again later
                    conn = None
                    time.sleep(0.02)
                    continue
            try:
                conn.request("POST", "/produce", json.dumps({"message": value, "topic": "crash"}),
                             {"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
            except (OSError, http.client.HTTPException) as e:
                hist.unknown.append((value, repr(e)))  # may or may not have been written
                conn.close()
                conn = None
                break
            if r.status == 200:
                body = json.loads(data)
                hist.record_ok(value, body["partition"], body["offset"])
            elif r.status == 500:  # "outcome unknown" by contract
                hist.unknown.append((value, "500 %s" % data[:100]))
            else:
                hist.failed.append((value, r.status, data[:200]))
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
            break
    if conn:
        conn.close()


def end_offsets(b):
    out = {}
    for p in range(PARTITIONS):
        st, body, _ = b.get("/topics/crash/partitions/%d/offsets" % p)
        assert st in (200, 404), (st, body)
        out[p] = body["end_offset"] if st == 200 else 0  # 404: the topic itself was lost
    return out


def drain(b):
    if b.get("/topics/crash")[0] == 404:
        return {p: [] for p in range(PARTITIONS)}
    return {p: b.read_all("crash", partition=p) for p in range(PARTITIONS)}


def test_kill9_under_load_loses_nothing():
    acked_target = int(os.environ.get("BROOK_IT_CRASH_WRITES", "10000"))
    kills = int(os.environ.get("BROOK_IT_CRASH_KILLS", "5"))
    rng = random.Random(os.environ.get("BROOK_IT_SEED", str(time.time())))
    with Cluster() as c:
        b = c.broker(standalone=True, args=["--fsync=always", "--partitions", str(PARTITIONS)])
        assert b.produce("first", topic="crash")[0] == 200  # create the topic up front
        hist = History()
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(b.port, w, hist, stop))
                   for w in range(WRITERS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        backwards, restarts = [], []
        try:
            for k in range(kills):
                # Kill at a random moment, spread so that the writes continue after the last.
                time.sleep(rng.uniform(0.3, 1.8))
                b.kill()
                time.sleep(0.05)  # answers already on the wire are in the history now
                with hist.lock:
                    acked_before = dict(hist.max_acked)
                    n_ok = len(hist.ok)
                time.sleep(rng.uniform(0.0, 0.3))
                t_restart = time.monotonic()
                b.start()
                restarts.append(time.monotonic() - t_restart)
                ends = end_offsets(b)
                for p, off in acked_before.items():
                    if ends[p] <= off:
                        backwards.append("after kill %d: partition %d end offset %d, but offset "
                                         "%d was acknowledged" % (k + 1, p, ends[p], off))
                print("    kill %d: %d acked so far, end offsets after restart %s (restart %.2fs)"
                      % (k + 1, n_ok, ends, restarts[-1]), flush=True)
            deadline = time.monotonic() + 120  # writes continue after the last restart
            while len(hist.ok) < acked_target and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            for t in threads:
                t.join(15)
        elapsed = time.monotonic() - t0

        # Final drain, twice (the second after one more clean restart).
        first = drain(b)
        assert b.terminate() == 0
        b.start()
        second = drain(b)

        read = {}
        gaps, inconsistent = [], []
        for p in range(PARTITIONS):
            offs = [r["offset"] for r in first[p]]
            if offs != list(range(len(offs))):
                gaps.append("partition %d offsets not 0..%d contiguous" % (p, len(offs) - 1))
            a = {r["offset"]: r["value"] for r in first[p]}
            bb = {r["offset"]: r["value"] for r in second[p]}
            for off in set(a) | set(bb):
                if a.get(off) != bb.get(off):
                    inconsistent.append("p%d@%d read %r then %r" % (p, off, a.get(off), bb.get(off)))
            for off, v in a.items():
                read[(p, off)] = v
        acked_at = {}
        for v, p, off in hist.ok:
            if (p, off) in acked_at and acked_at[(p, off)] != v:
                inconsistent.append("p%d@%d acknowledged for two values" % (p, off))
            acked_at[(p, off)] = v
        lost = [(v, p, off, read.get((p, off))) for v, p, off in hist.ok if read.get((p, off)) != v]
        where = {}
        for (p, off), v in read.items():
            where.setdefault(v, []).append((p, off))
        duplicates = {v: locs for v, locs in where.items() if len(locs) > 1}
        phantoms = [v for v, _, _ in hist.failed if v in where]
        unknown_found = sum(1 for v, _ in hist.unknown if v in where)
        total = sum(len(first[p]) for p in range(PARTITIONS))
        print("    %d kills in %.1fs; attempts: %d ok, %d failed, %d unknown (%d of them written); "
              "%d records on disk; restart took max %.2fs"
              % (kills, elapsed, len(hist.ok), len(hist.failed), len(hist.unknown), unknown_found,
                 total, max(restarts or [0])))
        print("    lost=%d inconsistent=%d duplicates=%d phantoms=%d gaps=%d backwards=%d"
              % (len(lost), len(inconsistent), len(duplicates), len(phantoms), len(gaps),
                 len(backwards)))
        assert len(hist.ok) >= acked_target, "only %d writes acknowledged (target %d) in %.0fs" % (
            len(hist.ok), acked_target, elapsed)
        assert not lost, "lost acknowledged writes, e.g. %s" % lost[:3]
        assert not inconsistent, "inconsistent offsets: %s" % inconsistent[:3]
        assert not duplicates, "duplicates: %s" % list(duplicates.items())[:3]
        assert not phantoms, "failed writes became visible: %s" % phantoms[:3]
        assert not gaps, gaps
        assert not backwards, backwards
        assert not hist.failed or all(s in (503,) for _, s, _ in hist.failed), hist.failed[:3]
        # Offsets keep going after all of it.
        st, body, _ = b.produce("last", topic="crash")
        assert st == 200 and body["offset"] == len(second[body["partition"]]), body


if __name__ == "__main__":
    brook.run([test_kill9_under_load_loses_nothing])
