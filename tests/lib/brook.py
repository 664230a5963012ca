"""Test harness for Brook integration tests: real brokers and redis-servers on ephemeral
loopback ports in temp dirs, stopped by PID. Standard library only.

Typical use:
    with Cluster() as c:
        b = c.broker(standalone=True)
        status, body, headers = b.post_json("/produce", {"message": "hi", "topic": "t"})
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BROOK_BIN = os.environ.get("BROOK_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "brook")
REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port():
    """A port that was free a moment ago (bind to 0 and read it back)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("port %d not listening after %.1fs" % (port, timeout))


class BadAnswer(AssertionError):
    """An answer the broker must never give: a JSON body that is not valid UTF-8 or not JSON."""


def strict_body(data, ctype):
    """Every answer Brook labels JSON (or NDJSON) must be valid UTF-8 and valid JSON, whatever
    the request held; every test's answers pass through here. Returns the parsed document
    (a list of documents for NDJSON), or None for a body that is not labelled JSON."""
    ctype = (ctype or "").lower()
    if "json" not in ctype or not data:
        return None
    try:
        text = data.decode("utf-8")  # strict: invalid bytes and encoded surrogates fail
    except UnicodeDecodeError as e:
        raise BadAnswer("answer is not valid UTF-8 (%s): %r" % (e, data[:200]))
    try:
        if "ndjson" in ctype:
            return [json.loads(line) for line in text.split("\n") if line]
        return json.loads(text)
    except ValueError as e:
        raise BadAnswer("answer labelled %s is not JSON (%s): %r" % (ctype, e, data[:200]))


class Redis:
    def __init__(self, workdir, port=None):
        self.port = port or free_port()
        self.dir = workdir
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS_BIN, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)
        return self

    def command(self, *args):
        """One RESP command over a fresh socket; returns the decoded reply."""
        payload = "*%d\r\n" % len(args) + "".join(
            "$%d\r\n%s\r\n" % (len(str(a).encode()), a) for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(payload.encode())
            f = s.makefile("rb")
            return _resp(f)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        self.kill()


def _resp(f):
    line = f.readline().rstrip(b"\r\n")
    t, rest = line[:1], line[1:]
    if t in (b"+", b"-"):
        return rest.decode()
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode(errors="replace")
    if t == b"*":
        return [_resp(f) for _ in range(int(rest))]
    raise RuntimeError("bad RESP reply %r" % line)


class Broker:
    def __init__(self, workdir, name, args=(), env=None, port=None, data_dir=None):
        self.name = name
        self.port = port or free_port()
        self.data_dir = data_dir or os.path.join(workdir, name + "-data")
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.logfile = os.path.join(workdir, name + ".stderr")
        self.proc = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, wait=True):
        cmd = [BROOK_BIN, "--id", self.name, "--port", str(self.port), "--host", "127.0.0.1",
               "--data-dir", self.data_dir] + self.args
        self.err = open(self.logfile, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.err, stderr=self.err, env=self.env)
        if wait:
            wait_port(self.port, proc=self.proc)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)
            if sig == signal.SIGTERM:
                self.termed = self.proc

    def stopped(self):
        """True when the process is stopped by SIGSTOP (state T). Not its threads' lowercase
        t: LeakSanitizer ptrace-stops every thread at exit, and a SIGCONT then cancels a stop
        it waits for, hanging the exit check for ever."""
        try:
            with open("/proc/%d/stat" % self.proc.pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "T"
        except (OSError, IndexError):
            return False

    def kill(self):
        """SIGKILL and reap."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL ends a stopped process too
        if self.proc:
            self.proc.wait()

    def terminate(self, timeout=15):
        """SIGTERM (unless the test sent one already) and wait; returns the exit code. A second
        SIGTERM during the shutdown would be taken as the operator's 'now' (exit 1)."""
        if self.proc and self.proc.poll() is None:
            if self.stopped():
                self.proc.send_signal(signal.SIGCONT)
            if getattr(self, "termed", None) is not self.proc:
                self.proc.terminate()
        return self.proc.wait(timeout=timeout) if self.proc else None

    def stderr_text(self):
        with open(self.logfile, "rb") as f:
            return f.read().decode(errors="replace")

    # HTTP helpers -----------------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=10):
        """One request on a fresh connection; returns (status, parsed JSON or text, headers)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()
        doc = strict_body(data, hdrs.get("content-type"))
        if doc is not None:
            return r.status, doc, hdrs
        return r.status, data.decode(errors="replace"), hdrs

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_json(self, path, obj, ctype="application/json", **kw):
        body = obj if isinstance(obj, (bytes, str)) else json.dumps(obj)
        return self.request("POST", path, body=body, headers={"Content-Type": ctype}, **kw)

    def produce(self, message, topic="t", **kw):
        return self.post_json("/produce", {"message": message, "topic": topic}, **kw)

    def read_all(self, topic, partition=0, start=0, page=1000):
        """Every record from start to the high watermark, as a list of record dicts."""
        out, offset = [], start
        while True:
            st, body, _ = self.get("/topics/%s/partitions/%d/records?offset=%d&max_records=%d"
                                   % (topic, partition, offset, page))
            if st != 200:
                raise RuntimeError("read failed: %s %s" % (st, body))
            out.extend(body["records"])
            if body["next_offset"] >= body["high_watermark"] or not body["records"]:
                return out
            offset = body["next_offset"]

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))


class Cluster:
    """A temp dir holding any number of brokers and redis-servers; everything is stopped and
    removed on exit (the temp dir is kept if KEEP_TMP is set, for debugging)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="brook-test-")
        self.brokers = []
        self.redises = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close(failed=exc[0] is not None)

    def redis(self, port=None):
        r = Redis(self.dir, port=port).start()
        self.redises.append(r)
        return r

    def broker(self, name=None, standalone=False, redis=None, args=(), env=None, start=True,
               **kw):
        name = name or "b%d" % (len(self.brokers) + 1)
        a = list(args)
        if standalone:
            a.append("--standalone")
        if redis is not None:
            a += ["--redis", "127.0.0.1:%d" % redis.port]
        b = Broker(self.dir, name, a, env=env, **kw)
        self.brokers.append(b)
        if start:
            b.start()
        return b

    def close(self, failed=False):
        # How each broker ended before the cleanup kill (a broker that died on its own says
        # so: exit code, or the signal as a negative number).
        ended = {b.name: b.proc.poll() for b in self.brokers if b.proc is not None}
        for b in self.brokers:
            b.kill()
        for r in self.redises:
            r.kill()
        if failed:
            for b in self.brokers:
                try:
                    how = ended.get(b.name)
                    print("---- stderr of %s (%s) ----\n%s" % (
                        b.name, "running" if how is None else "exited %s" % how,
                        b.stderr_text()[-4000:]))
                except OSError:
                    pass
        if not os.environ.get("KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


def tests_in(namespace):
    """Every test_* function of a test module (pass globals()), in the order defined: a
    module's __main__ runs them all, so a new test cannot be left out of a hand-kept list."""
    return [f for n, f in namespace.items() if n.startswith("test_") and callable(f)]


def run(tests):
    """Runs test functions in order, prints one line each and the closing count line."""
    passed = failed = 0
    for t in tests:
        start = time.monotonic()
        try:
            t()
            passed += 1
            print("ok   %s (%.1fs)" % (t.__name__, time.monotonic() - start), flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure the same way
            failed += 1
            import traceback
            traceback.print_exc()
            print("FAIL %s: %s" % (t.__name__, e), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    raise SystemExit(1 if failed else 0)


# ---------------------------------------------------------------------------------------------
# Cluster helpers (added for tests/integration/test_cluster_*.py): brokers sharing one Redis,
# leader discovery, and a history client with a checker for the TESTPLAN.md counts.
# ---------------------------------------------------------------------------------------------
import bisect
import threading


def cluster_args(lease_ms, renew_ms, extra=()):
    return ["--lease-ms", str(lease_ms), "--renew-ms", str(renew_ms)] + list(extra)


def start_brokers(c, redis, n, lease_ms=2000, renew_ms=500, extra=(), names=None):
    """n brokers sharing `redis`, started together (so none gets a head start in the first
    election) and waited for."""
    names = names or ["broker%d" % (i + 1) for i in range(n)]
    bs = [c.broker(name=nm, redis=redis, args=cluster_args(lease_ms, renew_ms, extra),
                   start=False) for nm in names]
    for b in bs:
        b.start(wait=False)
    for b in bs:
        wait_port(b.port, proc=b.proc)
    return bs


def try_get(b, path, timeout=1.0):
    """(status, body, headers) or None when the broker does not answer."""
    try:
        return b.request("GET", path, timeout=timeout)
    except (OSError, http.client.HTTPException):
        return None


def health(b, timeout=1.0):
    r = try_get(b, "/health", timeout)
    return r[1] if r and r[0] == 200 and isinstance(r[1], dict) else None


def agreed_leader(brokers, timeout=1.0):
    """(leader broker, epoch) when exactly one of the live `brokers` says it is leader and every
    live broker agrees on its id, url and epoch through /health and /metadata/leader; else None."""
    live = [b for b in brokers if b.alive()]
    hs = [health(b, timeout) for b in live]
    if not live or any(h is None for h in hs):
        return None
    leaders = [b for b, h in zip(live, hs) if h["role"] == "leader"]
    if len(leaders) != 1:
        return None
    lb = leaders[0]
    lh = hs[live.index(lb)]
    for b, h in zip(live, hs):
        if h["leader"] != lb.name or h["leader_url"] != lb.url or h["epoch"] != lh["epoch"]:
            return None
        m = try_get(b, "/metadata/leader", timeout)
        if not m or m[0] != 200 or m[1] != {"leader": lb.name, "epoch": lh["epoch"],
                                            "url": lb.url}:
            return None
    return lb, lh["epoch"]


def wait_leader(brokers, timeout=15.0, what="one agreed leader"):
    return wait_until(lambda: agreed_leader(brokers), timeout=timeout, interval=0.05, what=what)


def post_produce(port, value, topic, timeout, acks=None):
    """One POST /produce (with ?acks= when given) on a fresh connection, without following
    redirects. Returns (status, body, headers); status is "timeout" or "error" when no answer
    came."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/produce" + ("?acks=%s" % acks if acks is not None else ""),
                     body=json.dumps({"message": value, "topic": topic}),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        body = strict_body(data, hdrs.get("content-type"))
        if body is None and data:
            body = data.decode(errors="replace")
        return r.status, body, hdrs
    except socket.timeout:
        return "timeout", None, {}
    except (OSError, http.client.HTTPException) as e:
        return "error", str(e), {}
    finally:
        conn.close()


class History:
    """Every produce attempt of a run: dicts with t0/t1 (monotonic send and answer time),
    broker (name of the broker asked), status (int, "timeout" or "error"), epoch (the
    X-Leader-Epoch header or None), offset, partition, value, topic. Thread-safe."""

    def __init__(self, brokers, topic="hist"):
        self.brokers = brokers
        self.by_port = {b.port: b for b in brokers}
        self.topic = topic
        self.ops = []
        self.lock = threading.Lock()
        self.seq = 0

    def next_value(self, who):
        with self.lock:
            self.seq += 1
            return "%s-%d" % (who, self.seq)

    def produce(self, b, who, timeout):
        value = self.next_value(who)
        t0 = time.monotonic()
        st, body, hdrs = post_produce(b.port, value, self.topic, timeout)
        t1 = time.monotonic()
        epoch = hdrs.get("x-leader-epoch")
        op = {"t0": t0, "t1": t1, "broker": b.name, "status": st, "value": value,
              "epoch": int(epoch) if epoch is not None else None,
              "header_id": hdrs.get("x-broker-id"), "location": hdrs.get("location"),
              "offset": body.get("offset") if st == 200 and isinstance(body, dict) else None,
              "partition": body.get("partition") if st == 200 and isinstance(body, dict)
              else None, "who": who}
        with self.lock:
            self.ops.append(op)
        return op

    def acks(self):
        return [o for o in self.ops if o["status"] == 200]


class Writers:
    """Background writers for a History: `chasers` threads produce to whoever is leader
    (following 307 Location, moving to the next broker on 503/timeout/error, short timeout)
    and one `sticky` thread per broker keeps producing to that broker only, with a timeout
    long enough to outlast a pause, so requests queued at a stopped broker are answered (and
    judged) once it resumes."""

    def __init__(self, hist, chasers=2, sticky_timeout=10.0, chaser_timeout=0.5,
                 sticky_sleep=0.02, chaser_sleep=0.005):
        self.hist = hist
        self.stop_flag = threading.Event()
        self.threads = []
        for i in range(chasers):
            self.threads.append(threading.Thread(
                target=self._chase, args=("c%d" % i, chaser_timeout, chaser_sleep), daemon=True))
        for b in hist.brokers:
            self.threads.append(threading.Thread(
                target=self._stick, args=(b, sticky_timeout, sticky_sleep), daemon=True))

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self, timeout=30.0):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout)
        return not any(t.is_alive() for t in self.threads)

    def _stick(self, b, timeout, pause):
        while not self.stop_flag.is_set():
            if b.alive():
                self.hist.produce(b, "s-" + b.name, timeout)
            time.sleep(pause)

    def _chase(self, who, timeout, pause):
        brokers = self.hist.brokers
        i = 0
        target = brokers[0]
        while not self.stop_flag.is_set():
            if not target.alive():
                i += 1
                target = brokers[i % len(brokers)]
                continue
            op = self.hist.produce(target, who, timeout)
            if op["status"] == 307 and op["location"]:
                port = int(op["location"].split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
                target = self.hist.by_port.get(port, target)
            elif op["status"] != 200:
                i += 1
                target = brokers[i % len(brokers)]
                time.sleep(pause)
            time.sleep(pause)


def count_stale_epoch_acks(ops):
    """TESTPLAN 'stale-epoch ack', as a client can prove it: a 200 carrying epoch E whose
    request was sent after a 200 carrying a higher epoch had already been received (from any
    broker). Returns the offending ops."""
    acks = sorted((o for o in ops if o["status"] == 200 and o["epoch"] is not None),
                  key=lambda o: o["t1"])
    ends = [o["t1"] for o in acks]
    prefix_max, best = [], None
    for o in acks:
        if best is None or o["epoch"] > best["epoch"]:
            best = o
        prefix_max.append(best)
    bad = []
    for o in acks:
        k = bisect.bisect_left(ends, o["t0"])  # acks received strictly before o was sent
        if k > 0 and prefix_max[k - 1]["epoch"] > o["epoch"]:
            bad.append((o, prefix_max[k - 1]))
    return bad


def count_post_deadline_acks(ops, broker, epoch, t_resume):
    """200s from `broker` under an epoch <= `epoch` answered after `t_resume`: when the
    broker was stopped for longer than its lease, every one of them came after its deadline."""
    return [o for o in ops if o["broker"] == broker and o["status"] == 200 and
            o["epoch"] is not None and o["epoch"] <= epoch and o["t1"] > t_resume]


def count_epoch_regressions(ops):
    """Answers from one broker whose non-zero X-Leader-Epoch is lower than one that broker had
    already shown in an answer received before this request was sent."""
    bad = []
    by_broker = {}
    for o in ops:
        if o["epoch"]:
            by_broker.setdefault(o["broker"], []).append(o)
    for lst in by_broker.values():
        lst.sort(key=lambda o: o["t1"])
        ends = [o["t1"] for o in lst]
        pm, m = [], 0
        for o in lst:
            m = max(m, o["epoch"])
            pm.append(m)
        for o in lst:
            k = bisect.bisect_left(ends, o["t0"])
            if k > 0 and pm[k - 1] > o["epoch"]:
                bad.append(o)
    return bad


def read_log(b, topic, partition=0):
    """{offset: value} of one partition on one broker; {} when the topic does not exist."""
    try:
        return {r["offset"]: r["value"] for r in b.read_all(topic, partition)}
    except RuntimeError as e:
        if " 404 " in str(e) or "40401" in str(e) or "40402" in str(e):
            return {}
        raise


def check_logs(hist, brokers):
    """Reads every broker's log back and counts TESTPLAN 'lost' (a 200 whose value is not at
    its offset on the broker that acknowledged it), 'phantom' (the value of a request answered
    307/4xx/503 present anywhere) and 'duplicate' (one value at two offsets of one broker's
    log; the same value at the same offset on several brokers is replication, not a
    duplicate)."""
    logs = {b.name: read_log(b, hist.topic) for b in brokers if b.alive()}
    where = {}
    for name, log in logs.items():
        for off, v in log.items():
            where.setdefault(v, []).append((name, off))
    per_broker = {}
    for v, places in where.items():
        for name, off in places:
            per_broker.setdefault((v, name), []).append(off)
    lost, phantom, dup = [], [], []
    for o in hist.ops:
        st = o["status"]
        if st == 200 and o["broker"] in logs:
            if logs[o["broker"]].get(o["offset"]) != o["value"]:
                lost.append(o)
        elif isinstance(st, int) and (st == 307 or 400 <= st < 500 or st == 503):
            if o["value"] in where:
                phantom.append(o)
    for (v, name), offs in per_broker.items():
        if len(offs) > 1:
            dup.append((v, name, offs))
    return {"lost": lost, "phantom": phantom, "duplicate": dup,
            "records": sum(len(l) for l in logs.values())}


# ---- Raw sockets, partitioner and on-disk helpers (single-broker integration tests) ---------
class RawConn:
    """One TCP connection speaking hand-written HTTP/1.1, for tests that need exact bytes:
    pipelining, byte-at-a-time sends, smuggling shapes, limits. Responses are parsed by
    Content-Length (every Brook response carries one)."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.timeout = timeout

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def send_slowly(self, data, chunk=1, delay=0.0):
        if isinstance(data, str):
            data = data.encode()
        for i in range(0, len(data), chunk):
            self.sock.sendall(data[i:i + chunk])
            if delay:
                time.sleep(delay)

    def _fill(self, timeout=None):
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by the broker")
        self.buf += data

    def read_response(self, timeout=None):
        """(status, headers with lower-case names, body bytes); raises EOFError when the
        connection closes before a whole response, socket.timeout when none arrives."""
        while b"\r\n\r\n" not in self.buf:
            self._fill(timeout)
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            k = k.strip().lower()
            headers[k] = headers[k] + ", " + v.strip() if k in headers else v.strip()
        n = int(headers.get("content-length", "0"))
        if status < 200:
            n = 0
        self.buf = rest
        while len(self.buf) < n:
            self._fill(timeout)
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def read_json(self, timeout=None):
        status, headers, body = self.read_response(timeout)
        obj = strict_body(body, headers.get("content-type"))
        if obj is None:
            try:
                obj = json.loads(body) if body else None
            except ValueError:
                obj = body
        return status, obj, headers

    def closed_by_peer(self, timeout=2.0):
        """True once the broker closed the connection (EOF or reset) with no further bytes;
        False on timeout. Bytes that arrive instead are kept in the buffer and give False."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not data:
                return True
            self.buf += data
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def http_bytes(method, target, body=None, headers=None, content_type="application/json"):
    """A complete request as bytes. headers: list of (name, value) added after Host; a
    Content-Length is added for a body unless headers already frame it."""
    if isinstance(body, str):
        body = body.encode()
    hdrs = [("Host", "127.0.0.1")]
    if body is not None and content_type:
        hdrs.append(("Content-Type", content_type))
    hdrs += list(headers or [])
    names = {k.lower() for k, _ in hdrs}
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        hdrs.append(("Content-Length", str(len(body))))
    head = "%s %s HTTP/1.1\r\n" % (method, target) + "".join(
        "%s: %s\r\n" % (k, v) for k, v in hdrs) + "\r\n"
    return head.encode("latin-1") + (body or b"")


def produce_bytes(message, topic="t", **fields):
    obj = dict(fields, message=message)
    if topic is not None:
        obj["topic"] = topic
    return http_bytes("POST", "/produce", json.dumps(obj))


def murmur2(data):
    """Kafka's Java-client murmur2 (signed 32-bit result)."""
    if isinstance(data, str):
        data = data.encode()
    m, mask = 0x5bd1e995, 0xffffffff
    h = (0x9747b28c ^ len(data)) & mask
    n4 = len(data) // 4
    for i in range(n4):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    tail, rem = data[4 * n4:], len(data) % 4
    if rem == 3:
        h ^= tail[2] << 16
    if rem >= 2:
        h ^= tail[1] << 8
    if rem >= 1:
        h ^= tail[0]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def kafka_partition(key, partitions):
    return (murmur2(key) & 0x7fffffff) % partitions


def log_snapshot(broker):
    """{topic: [end offset of each partition]} as the broker reports it."""
    st, topics, _ = broker.get("/topics")
    if st != 200:
        raise AssertionError("GET /topics: %s %s" % (st, topics))
    snap = {}
    for t in topics:
        st, desc, _ = broker.get("/topics/%s" % t)
        ends = []
        for p in desc["partitions"]:
            st, off, _ = broker.get("/topics/%s/partitions/%d/offsets" % (t, p["partition"]))
            ends.append(off["end_offset"])
        snap[t] = ends
    return snap


def proc_status_kib(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def segment_batches(path):
    """[(start, end, base_offset, last_offset)] of the RecordBatch v2 frames in a .log file,
    walking baseOffset/batchLength headers only (no CRC check); stops at a frame that runs
    past the end of the file."""
    with open(path, "rb") as f:
        data = f.read()
    out, pos = [], 0
    while pos + 61 <= len(data):
        base = int.from_bytes(data[pos:pos + 8], "big", signed=True)
        length = int.from_bytes(data[pos + 8:pos + 12], "big", signed=True)
        end = pos + 12 + length
        if length < 49 or end > len(data):
            break
        last_delta = int.from_bytes(data[pos + 23:pos + 27], "big", signed=True)
        out.append((pos, end, base, base + last_delta))
        pos = end
    return out


def partition_segments(data_dir, topic, partition=0):
    """Sorted .log paths of one partition."""
    d = os.path.join(data_dir, "%s-%d" % (topic, partition))
    return sorted(os.path.join(d, n) for n in os.listdir(d) if n.endswith(".log"))


def sanitizer_reports(brokers):
    """ASan/UBSan/LSan reports found in the brokers' stderr (empty for a clean run)."""
    marks = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
             "WARNING: ThreadSanitizer")
    out = []
    for b in brokers:
        try:
            text = b.stderr_text()
        except OSError:
            continue
        for line in text.splitlines():
            if any(m in line for m in marks):
                out.append("%s: %s" % (b.name, line.strip()))
    return out


def batch_epochs(data_dir, topic, partition=0):
    """[(base offset, partitionLeaderEpoch)] of every RecordBatch v2 in a partition's segment
    files, read straight from disk (baseOffset int64, batchLength int32, epoch int32, ...)."""
    import struct
    d = os.path.join(data_dir, "%s-%d" % (topic, partition))
    out = []
    for name in sorted(f for f in os.listdir(d) if f.endswith(".log")):
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        pos = 0
        while pos + 16 <= len(data):
            base, length, epoch = struct.unpack_from(">qii", data, pos)
            if length <= 0 or pos + 12 + length > len(data):
                break
            out.append((base, epoch))
            pos += 12 + length
    return out


# ---------------------------------------------------------------------------------------------
# Replication helpers (added for tests/integration/test_replication.py): acks=all produce,
# replicated high watermarks, committed segment bytes, the ISR Redis holds, and a chasing
# writer pool whose history the checker judges across every replica.
# ---------------------------------------------------------------------------------------------
def repl_args(lease_ms=2000, renew_ms=500, min_isr=1, lag_ms=2000, extra=()):
    return cluster_args(lease_ms, renew_ms, ["--min-insync-replicas", str(min_isr),
                                             "--replica-lag-ms", str(lag_ms)] + list(extra))


def produce_acks(port, value, topic, acks="all", timeout=5.0):
    """One POST /produce?acks=... on a fresh connection, no redirects followed."""
    return post_produce(port, value, topic, timeout, acks=acks)


def visible_end(b, topic, partition=0, timeout=2.0):
    """The replicated high watermark a broker exposes (end_offset of .../offsets), or None."""
    r = try_get(b, "/topics/%s/partitions/%d/offsets" % (topic, partition), timeout)
    if r and r[0] == 200 and isinstance(r[1], dict):
        return r[1]["end_offset"]
    return None


def partition_bytes(data_dir, topic, partition=0):
    """Every segment of a partition concatenated in offset order (b"" when it does not exist)."""
    d = os.path.join(data_dir, "%s-%d" % (topic, partition))
    if not os.path.isdir(d):
        return b""
    out = b""
    for path in partition_segments(data_dir, topic, partition):
        with open(path, "rb") as f:
            out += f.read()
    return out


def committed_prefix(data, hw):
    """The bytes of the whole RecordBatch v2 frames of data whose last offset is below hw,
    and the end offset they reach."""
    pos, end = 0, None
    while pos + 61 <= len(data):
        base = int.from_bytes(data[pos:pos + 8], "big", signed=True)
        length = int.from_bytes(data[pos + 8:pos + 12], "big", signed=True)
        last = base + int.from_bytes(data[pos + 23:pos + 27], "big", signed=True)
        if length < 49 or pos + 12 + length > len(data) or last >= hw:
            break
        pos += 12 + length
        end = last + 1
    return data[:pos], end


def local_end(data):
    """End offset of the last whole batch in data (0 when none)."""
    end, pos = 0, 0
    while pos + 61 <= len(data):
        base = int.from_bytes(data[pos:pos + 8], "big", signed=True)
        length = int.from_bytes(data[pos + 8:pos + 12], "big", signed=True)
        if length < 49 or pos + 12 + length > len(data):
            break
        end = base + int.from_bytes(data[pos + 23:pos + 27], "big", signed=True) + 1
        pos += 12 + length
    return end


def redis_isr(redis, cluster="brook"):
    """The ISR value Redis holds as a dict ({"epoch", "leader", "isr"}), or None."""
    try:
        raw = redis.command("GET", cluster + ":isr")
    except OSError:
        return None
    return json.loads(raw) if raw else None


def isr_remembered(b):
    """What broker b remembers of the last ISR value it saw in Redis (its data directory's
    +election file): True listed, False not listed, None never seen one."""
    try:
        with open(os.path.join(b.data_dir, "+election")) as f:
            text = f.read()
    except OSError:
        return None
    return {"isr-listed 1\n": True, "isr-listed 0\n": False}.get(text)


def role(b, timeout=1.0):
    h = health(b, timeout)
    return h["role"] if h else None


def current_leader(brokers, timeout=1.0):
    """(broker, epoch) when exactly one of the running, answering brokers says it is leader
    and the others that answer agree on its id; None otherwise. SIGSTOPped brokers (which
    do not answer) are left out."""
    hs = [(b, health(b, timeout)) for b in brokers if b.alive()]
    hs = [(b, h) for b, h in hs if h]
    leaders = [(b, h) for b, h in hs if h["role"] == "leader"]
    if len(leaders) != 1:
        return None
    lb, lh = leaders[0]
    if any(h["leader"] != lb.name for _, h in hs):
        return None
    return lb, lh["epoch"]


class AckWriters:
    """Threads that each write globally unique values with ?acks=ACKS to whoever leads
    (following 307s, moving on after 503/500/timeouts). Every attempt is logged like History:
    value, broker, status, offset, partition, epoch, t0, t1."""

    def __init__(self, brokers, topic, threads=3, acks="all", timeout=4.0, pause=0.01):
        self.brokers = brokers
        self.topic = topic
        self.acks = acks
        self.timeout = timeout
        self.pause = pause
        self.ops = []
        self.lock = threading.Lock()
        self.seq = 0
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=("w%d" % i,), daemon=True)
                        for i in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self, timeout=30.0):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout)
        return not any(t.is_alive() for t in self.threads)

    def acked(self):
        with self.lock:
            return [o for o in self.ops if o["status"] == 200]

    def _value(self, who):
        with self.lock:
            self.seq += 1
            return "%s-%d" % (who, self.seq)

    def write(self, b, who):
        value = self._value(who)
        t0 = time.monotonic()
        st, body, hdrs = produce_acks(b.port, value, self.topic, self.acks, self.timeout)
        op = {"value": value, "broker": b.name, "status": st, "t0": t0, "t1": time.monotonic(),
              "epoch": int(hdrs["x-leader-epoch"]) if hdrs.get("x-leader-epoch") else None,
              "location": hdrs.get("location"),
              "offset": body.get("offset") if st == 200 and isinstance(body, dict) else None,
              "partition": body.get("partition") if st == 200 and isinstance(body, dict)
              else None}
        with self.lock:
            self.ops.append(op)
        return op

    def _run(self, who):
        by_port = {b.port: b for b in self.brokers}
        i = 0
        target = self.brokers[0]
        while not self.stop_flag.is_set():
            if not target.alive():
                i += 1
                target = self.brokers[i % len(self.brokers)]
                time.sleep(self.pause)
                continue
            op = self.write(target, who)
            if op["status"] == 307 and op["location"]:
                port = int(op["location"].split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
                target = by_port.get(port, target)
            elif op["status"] != 200:
                i += 1
                target = self.brokers[i % len(self.brokers)]
                time.sleep(self.pause * 5)
            time.sleep(self.pause)


def replica_logs(brokers, topic, partition=0):
    """{broker name: {offset: value}} read through each running broker's HTTP API."""
    return {b.name: read_log(b, topic, partition) for b in brokers if b.alive()}


def check_replicas(ops, logs):
    """TESTPLAN counts across replicas: lost (a 200 whose value is not at its offset on some
    replica), inconsistent (an offset with two values across replicas), duplicate (a value at
    two offsets of one replica; writers never retry a value), phantom (a 503/4xx value
    visible anywhere)."""
    lost, inconsistent, dup, phantom = [], [], [], []
    values = {}
    for name, log in logs.items():
        seen = {}
        for off, v in log.items():
            values.setdefault(off, set()).add(v)
            if v in seen:
                dup.append((name, v, seen[v], off))
            seen[v] = off
    everywhere = set()
    for log in logs.values():
        everywhere.update(log.values())
    for off, vs in values.items():
        if len(vs) > 1:
            inconsistent.append((off, sorted(vs)))
    for o in ops:
        st = o["status"]
        if st == 200:
            for name, log in logs.items():
                if log.get(o["offset"]) != o["value"]:
                    lost.append((name, o))
        elif isinstance(st, int) and (st in (307, 503) or 400 <= st < 500) and \
                o["value"] in everywhere:
            phantom.append(o)
    return {"lost": lost, "inconsistent": inconsistent, "duplicate": dup, "phantom": phantom}


class ReadObserver:
    """A thread that keeps reading a partition from every running broker (from offset 0 up
    to the high watermark each one exposes) and remembers every (offset, value) it was shown,
    so reads during faults can be checked against the final logs: a record once readable must
    never change or disappear (TESTPLAN 'inconsistent offset' across reads)."""

    def __init__(self, brokers, topic, partition=0, pause=0.05):
        self.brokers = brokers
        self.topic = topic
        self.partition = partition
        self.pause = pause
        self.seen = {}  # offset -> {value: first broker that showed it}
        self.reads = 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_flag.set()
        self.thread.join(30)

    def _read(self, b):
        offset = 0
        while not self.stop_flag.is_set():
            r = try_get(b, "/topics/%s/partitions/%d/records?offset=%d&max_records=1000" % (
                self.topic, self.partition, offset), timeout=1.0)
            if not r or r[0] != 200 or not isinstance(r[1], dict):
                return
            for rec in r[1]["records"]:
                self.seen.setdefault(rec["offset"], {}).setdefault(rec["value"], b.name)
            self.reads += 1
            if not r[1]["records"] or r[1]["next_offset"] >= r[1]["high_watermark"]:
                return
            offset = r[1]["next_offset"]

    def _run(self):
        while not self.stop_flag.is_set():
            for b in self.brokers:
                if b.alive():
                    self._read(b)
            time.sleep(self.pause)

    def inconsistent(self, final_log):
        """Offsets read at some point whose value differs from final_log (or is gone)."""
        bad = []
        for off, vals in self.seen.items():
            if len(vals) > 1 or final_log.get(off) not in vals:
                bad.append((off, vals, final_log.get(off)))
        return bad
