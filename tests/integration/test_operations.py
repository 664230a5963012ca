"""The operations surface, with real broker processes: signals (SIGHUP must not kill the
broker), --port 0 (the bound port is what gets advertised), every numeric flag and environment
variable refused outside its stated range (exit 2, the range in the message and in --help),
a renew interval at or past the lease refused, partitions fenced by a failed write reported in
/health and /metrics and unfenced once writes work again (a full tmpfs), and a topic creation
that would run out of file descriptors refused up front, leaving nothing behind."""
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time

import brook
from brook import Cluster, wait_until


def run_brook(args, env=None, timeout=10):
    """Runs the binary to completion (for refused configurations); (exit code, stderr)."""
    d = tempfile.mkdtemp(prefix="brook-ops-")
    try:
        p = subprocess.run([brook.BROOK_BIN, "--data-dir", os.path.join(d, "data")] + list(args),
                           env=dict(os.environ, **(env or {})), capture_output=True,
                           timeout=timeout)
        return p.returncode, p.stderr.decode(errors="replace")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def bound_port(b, timeout=15.0):
    """The port a broker started with --port 0 says it bound (its start-up trace line)."""
    def find():
        m = re.search(r"listening on [^ ]+:(\d+) \(advertised ([^)]+)\)", b.stderr_text())
        return (int(m.group(1)), m.group(2)) if m else None
    return wait_until(find, timeout, what="the listening line of %s" % b.name)


def start_port_zero(c, name, args, **kw):
    """A broker asked to bind any free port; b.port is set to the port it reports."""
    b = c.broker(name=name, args=list(args) + ["--port", "0"], start=False, **kw)
    b.start(wait=False)
    b.port, advertised = bound_port(b)
    brook.wait_port(b.port, proc=b.proc)
    return b, advertised


# ---- signals ------------------------------------------------------------------------------


def test_sighup_keeps_serving():
    with Cluster() as c:
        b = c.broker(standalone=True)
        assert b.produce("before")[0] == 200
        b.signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP received" in b.stderr_text(), 10, what="the SIGHUP trace")
        assert b.alive(), "SIGHUP killed the broker (exit %s)" % b.proc.poll()
        line = [ln for ln in b.stderr_text().splitlines() if "SIGHUP" in ln]
        assert len(line) == 1 and "nothing reloaded" in line[0], line
        assert b.produce("after")[0] == 200
        assert [r["value"] for r in b.read_all("t")] == ["before", "after"]
        assert b.terminate() == 0  # still stops in order afterwards
        assert "stopped cleanly" in b.stderr_text()


# ---- --port 0 ---------------------------------------------------------------------------


def test_port_zero_advertises_the_bound_port():
    with Cluster() as c:
        r = c.redis()
        args = brook.cluster_args(2000, 500) + ["--redis", "127.0.0.1:%d" % r.port]
        b1, adv1 = start_port_zero(c, "zero1", args)
        assert b1.port != 0 and adv1 == "http://127.0.0.1:%d" % b1.port, (b1.port, adv1)
        wait_until(lambda: (brook.health(b1) or {}).get("role") == "leader", 15,
                   what="zero1 leading")
        st, body, _ = b1.get("/metadata/leader")
        assert st == 200 and body["url"] == adv1, body
        assert brook.health(b1)["leader_url"] == adv1
        stored = r.command("GET", "brook:leader")
        assert stored and ":%d" % b1.port in stored and ":0\"" not in stored, stored
        b2, adv2 = start_port_zero(c, "zero2", args)
        assert b2.port not in (0, b1.port) and adv2 == "http://127.0.0.1:%d" % b2.port
        wait_until(lambda: (brook.health(b2) or {}).get("leader_url") == adv1, 15,
                   what="zero2 seeing zero1's bound port")
        st, _, hdrs = b2.produce("x")
        assert st == 307 and hdrs["location"] == adv1 + "/produce", (st, hdrs)


# ---- numeric flags and environment variables ----------------------------------------------

# Every flag whose value is a number.
NUMERIC_FLAGS = (
    "--port", "--lease-ms", "--renew-ms", "--min-insync-replicas", "--replica-lag-ms",
    "--preallocate-bytes", "--partitions", "--segment-bytes", "--retention-check-ms",
    "--max-message-bytes", "--max-connections", "--max-body-bytes", "--max-batch-bytes",
    "--max-url-bytes", "--max-header-bytes", "--max-headers", "--request-timeout-ms",
    "--idle-timeout-ms", "--max-poll-ms", "--retention-ms", "--retention-bytes",
)


def help_ranges():
    """{flag: (min, max)} as --help states them ("[A-B]" on the flag's lines)."""
    out = subprocess.run([brook.BROOK_BIN, "--help"], capture_output=True, timeout=10)
    assert out.returncode == 0
    text = out.stdout.decode()
    ranges, flag = {}, None
    for line in text.splitlines():
        m = re.match(r"\s+(--[a-z-]+)", line)
        if m:
            flag = m.group(1)
        m = re.search(r"\[(-?\d+)-(\d+)\]", line)
        if m and flag and flag not in ranges:
            ranges[flag] = (int(m.group(1)), int(m.group(2)))
    return ranges


def test_help_states_every_numeric_range():
    ranges = help_ranges()
    missing = [f for f in NUMERIC_FLAGS if f not in ranges]
    assert not missing, "no [min-max] in --help for %s" % missing
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    for flag in NUMERIC_FLAGS:
        lo, hi = ranges[flag]
        assert re.search(r"`%s[^|]*\|[^\n]*%s\D[^\n]*%s" % (re.escape(flag), lo, hi), readme), \
            "README does not state %s [%d-%d]" % (flag, lo, hi)


def test_out_of_range_values_are_refused():
    ranges = help_ranges()
    for flag in sorted(NUMERIC_FLAGS):
        lo, hi = ranges[flag]
        bad = [str(hi + 1), "1x", "0x10", " 5", "+5", "1e3", ""]
        if lo > 0:
            bad.append(str(lo - 1))
        if lo >= 0:
            bad.append("-1")
        if lo < -1:
            bad.append(str(lo - 1))
        for v in bad:
            rc, err = run_brook(["--standalone", flag, v])
            assert rc == 2, "%s %r: exit %s, want 2\n%s" % (flag, v, rc, err)
            assert flag in err, (flag, v, err)
            if v != "":
                assert "from %d to %d" % (max(lo, 0), hi) in err, (flag, v, err)


def test_zero_limits_that_would_fail_every_request_are_refused():
    for flag in ("--max-url-bytes", "--max-headers", "--max-header-bytes", "--max-body-bytes",
                 "--max-batch-bytes", "--request-timeout-ms", "--idle-timeout-ms"):
        rc, err = run_brook(["--standalone", flag, "0"])
        assert rc == 2 and "invalid value for %s: 0" % flag in err, (flag, rc, err)


def test_smallest_limits_still_serve_health():
    with Cluster() as c:
        b = c.broker(standalone=True, args=[
            "--max-url-bytes", "64", "--max-headers", "8", "--max-header-bytes", "256",
            "--max-body-bytes", "64", "--request-timeout-ms", "250", "--idle-timeout-ms", "250",
            "--max-poll-ms", "0"])
        st, body, _ = b.get("/health")
        assert st == 200 and body["status"] == "ok", (st, body)
        assert b.produce("small")[0] == 200
        # max-poll-ms 0: reads never wait; asking to is refused with the range.
        st, body, _ = b.get("/topics/t/partitions/0/records?offset=1&timeout_ms=0")
        assert st == 200 and body["records"] == [], (st, body)
        st, body, _ = b.get("/topics/t/partitions/0/records?offset=1&timeout_ms=1")
        assert st == 400 and "from 0 to 0" in body["message"], (st, body)


def test_environment_seconds_are_parsed_strictly():
    for name in ("LEASE_TIME_SECONDS", "RENEW_INTERVAL_SECONDS"):
        for v in ("10abc", "0x10", "1e1", " 5", "+5", "-1", "5.", ".5", "0.0001", "nan", "inf",
                  "0", "86401"):
            rc, err = run_brook(["--standalone"], env={name: v})
            assert rc == 2 and ("invalid %s" % name) in err, (name, v, rc, err)
    for name in ("REDIS_PORT", "PORT"):
        for v in ("80x", "0x50", "-1", "65536"):
            rc, err = run_brook(["--standalone"], env={name: v})
            assert rc == 2 and "invalid" in err, (name, v, rc, err)


def test_environment_seconds_with_decimals_are_used():
    with Cluster() as c:
        r = c.redis()
        b = c.broker(redis=r, env={"LEASE_TIME_SECONDS": "2.5", "RENEW_INTERVAL_SECONDS": "0.25"})
        wait_until(lambda: (brook.health(b) or {}).get("role") == "leader", 15, what="leader")
        ttl = r.command("PTTL", "brook:leader")
        assert 1500 < ttl <= 2500, ttl  # the lease is 2500 ms, renewed every 250 ms


def test_renew_interval_at_or_past_the_lease_is_refused():
    rc, err = run_brook(["--standalone", "--lease-ms", "1000", "--renew-ms", "2000"])
    assert rc == 2 and "must be shorter than the lease" in err, (rc, err)
    rc, err = run_brook(["--standalone", "--lease-ms", "1000", "--renew-ms", "1000"])
    assert rc == 2 and "must be shorter than the lease" in err, (rc, err)
    rc, err = run_brook(["--standalone"], env={"LEASE_TIME_SECONDS": "1",
                                               "RENEW_INTERVAL_SECONDS": "2"})
    assert rc == 2 and "must be shorter than the lease" in err, (rc, err)


def test_renew_interval_past_the_safe_window_is_announced():
    with Cluster() as c:
        b = c.broker(standalone=True, args=["--lease-ms", "1000", "--renew-ms", "900"])
        err = b.stderr_text()
        assert "WARNING" in err and "renewing every 333 ms instead" in err, err


# ---- file descriptors ---------------------------------------------------------------------


def start_with_nofile(c, name, nofile, args=()):
    """A standalone broker whose descriptor limit (soft and hard) is nofile."""
    b = c.broker(name=name, standalone=True, args=list(args), start=False)
    cmd = [brook.BROOK_BIN, "--id", b.name, "--port", str(b.port), "--host", "127.0.0.1",
           "--data-dir", b.data_dir] + b.args
    b.err = open(b.logfile, "ab")

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    b.proc = subprocess.Popen(cmd, stdout=b.err, stderr=b.err, env=b.env, preexec_fn=limit)
    brook.wait_port(b.port, proc=b.proc)
    return b


def partition_dirs(b, topic):
    if not os.path.isdir(b.data_dir):
        return []
    return sorted(n for n in os.listdir(b.data_dir)
                  if re.fullmatch(re.escape(topic) + r"-\d+", n))


def test_creation_beyond_the_descriptor_limit_is_refused_up_front():
    with Cluster() as c:
        b = start_with_nofile(c, "fds", 512)
        st, body, _ = b.post_json("/topics", {"name": "wide", "partitions": 9000})
        assert st == 507 and body["error_code"] == 507, (st, body)
        msg = body["message"]
        assert "RLIMIT_NOFILE" in msg and "512" in msg and "ulimit -n" in msg, msg
        assert partition_dirs(b, "wide") == [], partition_dirs(b, "wide")[:5]
        assert b.get("/topics/wide")[0] == 404
        # What fits is still created, and growing past the limit is refused the same way.
        st, body, _ = b.post_json("/topics", {"name": "wide", "partitions": 100})
        assert st == 201 and len(body["partitions"]) == 100, (st, body)
        st, body, _ = b.post_json("/topics/wide/partitions", {"partitions": 9000})
        assert st == 507 and "RLIMIT_NOFILE" in body["message"], (st, body)
        assert len(partition_dirs(b, "wide")) == 100
        assert b.produce("still works", topic="wide")[0] == 200
        assert brook.health(b)["status"] == "ok"
        assert b.terminate() == 0


def test_failed_creation_leaves_no_partition_directories():
    with Cluster() as c:
        b = c.broker(standalone=True)
        os.makedirs(b.data_dir, exist_ok=True)
        with open(os.path.join(b.data_dir, "blocked-5"), "w") as f:  # not a directory
            f.write("in the way\n")
        st, body, _ = b.post_json("/topics", {"name": "blocked", "partitions": 10})
        assert st >= 500 and "could not create topic blocked" in body["message"], (st, body)
        assert partition_dirs(b, "blocked") == ["blocked-5"], partition_dirs(b, "blocked")
        assert os.path.isfile(os.path.join(b.data_dir, "blocked-5"))
        os.unlink(os.path.join(b.data_dir, "blocked-5"))
        st, body, _ = b.post_json("/topics", {"name": "blocked", "partitions": 10})
        assert st == 201, (st, body)
        # A growth failing half-way is undone the same way.
        with open(os.path.join(b.data_dir, "blocked-15"), "w") as f:
            f.write("in the way\n")
        st, body, _ = b.post_json("/topics/blocked/partitions", {"partitions": 20})
        assert st >= 500, (st, body)
        assert partition_dirs(b, "blocked") == sorted(
            ["blocked-%d" % i for i in range(10)] + ["blocked-15"]), partition_dirs(b, "blocked")
        assert b.terminate() == 0
        b.start()  # and the topic opens as it was
        st, body, _ = b.get("/topics/blocked")
        assert st == 200, (st, body)


# ---- a partition fenced by a full disk ----------------------------------------------------


def metric(b, name):
    st, text, _ = b.get("/metrics")
    assert st == 200
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def fill(path, chunk=1 << 16):
    """Writes zeros to path until the file system is full."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * chunk)
        except OSError:
            pass
    if chunk > 512:
        fill(path + ".tail", 512)


def test_full_disk_fence_is_reported_and_clears():
    with Cluster() as c:
        mnt = os.path.join(c.dir, "small")
        os.makedirs(mnt)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt]).returncode:
            print("skipped: cannot mount a tmpfs here")
            return
        try:
            b = c.broker(standalone=True, data_dir=os.path.join(mnt, "data"))
            acked = []
            for i in range(3):
                st, body, _ = b.produce("m%d" % i)
                assert st == 200, (st, body)
                acked.append("m%d" % i)
            h = brook.health(b)
            assert h["fenced_partitions"] == 0 and h["fenced"] == [], h
            assert metric(b, "brook_log_partitions_fenced") == 0
            filler = os.path.join(mnt, "filler")
            fill(filler)
            big = "x" * 60000
            for i in range(200):  # preallocated space takes a few first
                st, body, _ = b.produce(big)
                if st != 200:
                    break
                acked.append(big)
            assert st in (500, 503), (st, body)
            st, body, _ = b.produce("refused")
            assert st == 503 and "no space left" in body["message"], (st, body)
            h = brook.health(b)
            assert h["status"] == "ok" and h["fenced_partitions"] == 1, h
            assert h["fenced"] == [{"topic": "t", "partition": 0,
                                    "error": "no space left on device", "retrying": True}], h
            assert metric(b, "brook_log_partitions_fenced") == 1
            assert metric(b, 'brook_partition_fenced{topic="t",partition="0"}') == 1
            time.sleep(2.5)  # retries while the disk is still full keep the fence
            assert brook.health(b)["fenced_partitions"] == 1
            os.unlink(filler)
            os.unlink(filler + ".tail")
            wait_until(lambda: brook.health(b)["fenced_partitions"] == 0, 20,
                       what="the fence to clear once space is back")
            assert metric(b, "brook_log_partitions_fenced") == 0
            st, body, _ = b.produce("after")
            assert st == 200 and body["offset"] == len(acked), (st, body, len(acked))
            acked.append("after")
            assert [r["value"] for r in b.read_all("t")] == acked
            assert b.terminate() == 0
            b.start()  # what is on disk says the same
            assert [r["value"] for r in b.read_all("t")] == acked
            b.kill()
        finally:
            for br in c.brokers:
                br.kill()
            subprocess.run(["umount", "-l", mnt])


if __name__ == "__main__":
    brook.run([
        test_sighup_keeps_serving,
        test_port_zero_advertises_the_bound_port,
        test_help_states_every_numeric_range,
        test_out_of_range_values_are_refused,
        test_zero_limits_that_would_fail_every_request_are_refused,
        test_smallest_limits_still_serve_health,
        test_environment_seconds_are_parsed_strictly,
        test_environment_seconds_with_decimals_are_used,
        test_renew_interval_at_or_past_the_lease_is_refused,
        test_renew_interval_past_the_safe_window_is_announced,
        test_creation_beyond_the_descriptor_limit_is_refused_up_front,
        test_failed_creation_leaves_no_partition_directories,
        test_full_disk_fence_is_reported_and_clears,
    ])
