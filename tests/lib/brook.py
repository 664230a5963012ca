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

    def kill(self):
        """SIGKILL and reap."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        if self.proc:
            self.proc.wait()

    def terminate(self, timeout=15):
        """SIGTERM and wait; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
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
        ctype = hdrs.get("content-type", "")
        if "json" in ctype and data:
            try:
                return r.status, json.loads(data), hdrs
            except ValueError:
                pass
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
        for b in self.brokers:
            b.kill()
        for r in self.redises:
            r.kill()
        if failed:
            for b in self.brokers:
                try:
                    print("---- stderr of %s ----\n%s" % (b.name, b.stderr_text()[-4000:]))
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
