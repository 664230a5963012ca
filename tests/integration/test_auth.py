"""Authentication and authorization (issue 14, README "Security") with real brokers: every
route class with no, wrong and right credentials (exact statuses, error codes and the Basic
challenge), topic lists filtered by describe, SIGHUP reloading users and ACLs (a broken file
keeps the old set and names its line), protected mode without a users file, a follower with
wrong credentials that stays out of the ISR and is never elected while acks=all writes go on,
Redis with requirepass and with an ACL user (and a wrong password retried, never a crash), and
1,000 wrong passwords from one client while another produces.
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_auth.py
"""
import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

import brook
from brook import (BROOK_BIN, REDIS_BIN, Cluster, Redis, current_leader, redis_isr, wait_port,
                   wait_until)

PASSWORDS = {"alice": "wonderland", "admin": "root-pw", "repl": "repl-pw", "bob": "builder"}

ACL = """# test ACLs
allow User:alice topic prefixed a- read,write,create
allow User:alice topic literal shared describe
allow User:bob   topic literal shared read
allow User:bob   topic literal b-auto write
allow User:repl  cluster literal kafka-cluster cluster_action
"""


def make_users(path, names=None):
    for name in names or PASSWORDS:
        p = subprocess.run([BROOK_BIN, "user", "add", name, "--users-file", path],
                           input=(PASSWORDS[name] + "\n").encode(), capture_output=True)
        assert p.returncode == 0, p.stderr
    with open(path) as f:
        text = f.read()
    for pw in PASSWORDS.values():
        assert pw not in text, "a password was written to the users file"


def auth_args(c, acl=ACL, extra=()):
    users, acl_path = os.path.join(c.dir, "users"), os.path.join(c.dir, "acl")
    if not os.path.exists(users):
        make_users(users)
    with open(acl_path, "w") as f:
        f.write(acl)
    return ["--users-file", users, "--acl-file", acl_path, "--super-users", "User:admin"] + list(
        extra)


def basic(user, pw=None):
    pw = PASSWORDS[user] if pw is None else pw
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


def req(b, method, path, user=None, pw=None, body=None, auth=None, timeout=10):
    headers = {}
    if auth is not None:
        headers["Authorization"] = auth
    elif user is not None:
        headers["Authorization"] = basic(user, pw)
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    return b.request(method, path, body=body, headers=headers, timeout=timeout)


def expect(got, status, code=None, what=""):
    st, body, hdrs = got
    assert st == status, "%s: status %s, want %s: %r" % (what, st, status, body)
    if code is not None:
        assert isinstance(body, dict) and body.get("error_code") == code, (what, body)
        assert body.get("message"), (what, body)
    if status == 401:
        assert hdrs.get("www-authenticate") == 'Basic realm="brook"', (what, hdrs)
    return body


# One request per route class: (method, path, body, what alice may do).
ROUTES = [
    ("GET", "/", None),
    ("GET", "/metadata/leader", None),
    ("GET", "/brokers", None),
    ("GET", "/topics", None),
    ("POST", "/produce", {"message": "m", "topic": "a-1"}),
    ("POST", "/topics", {"name": "a-new"}),
    ("GET", "/topics/a-1", None),
    ("POST", "/topics/a-1", {"records": [{"value": "v"}]}),
    ("DELETE", "/topics/a-doomed", None),
    ("GET", "/topics/a-1/partitions", None),
    ("POST", "/topics/a-1/partitions", {"partitions": 2}),
    ("GET", "/topics/a-1/partitions/0", None),
    ("GET", "/topics/a-1/partitions/0/offsets", None),
    ("GET", "/topics/a-1/partitions/0/records?offset=0", None),
    ("POST", "/replication/fetch", {}),
]


def test_every_route_class():
    with Cluster() as c:
        b = c.broker(standalone=True, args=auth_args(c))
        # admin (super user) makes the topics used below
        for t in ("a-1", "a-doomed", "shared", "z-secret"):
            expect(req(b, "POST", "/topics", "admin", body={"name": t}), 201, what="create " + t)
        expect(req(b, "POST", "/produce", "admin", body={"message": "s", "topic": "shared"}), 200)
        # open paths
        expect(b.get("/health"), 200, what="health")
        assert b.get("/metrics")[0] == 200
        for method, path, body in ROUTES:
            what = "%s %s" % (method, path)
            expect(req(b, method, path, body=body), 401, 40101, what + " without credentials")
            expect(req(b, method, path, "alice", "wrong", body=body), 401, 40101,
                   what + " with a wrong password")
            expect(req(b, method, path, "nobody", "x", body=body), 401, 40101,
                   what + " as an unknown user")
            expect(req(b, method, path, auth="Basic !!notbase64", body=body), 400, 400,
                   what + " with a malformed header")
            expect(req(b, method, path, auth="Bearer abc", body=body), 400, 400, what + " Bearer")
        # right credentials, allowed
        expect(req(b, "GET", "/", "alice"), 200)
        expect(req(b, "GET", "/metadata/leader", "alice"), 200)
        expect(req(b, "GET", "/brokers", "alice"), 200)
        expect(req(b, "POST", "/produce", "alice", body={"message": "m", "topic": "a-1"}), 200)
        expect(req(b, "POST", "/topics/a-1", "alice", body={"records": [{"value": "v"}]}), 200)
        expect(req(b, "POST", "/topics", "alice", body={"name": "a-new"}), 201)
        expect(req(b, "GET", "/topics/a-1", "alice"), 200)
        expect(req(b, "GET", "/topics/a-1/partitions/0/offsets", "alice"), 200)
        recs = expect(req(b, "GET", "/topics/a-1/partitions/0/records?offset=0", "alice"), 200)
        assert [r["offset"] for r in recs["records"]] == [0, 1], recs
        # lists leave out what alice may not describe (z-secret), not errors
        got = expect(req(b, "GET", "/topics", "alice"), 200)
        assert sorted(got) == [
            "a-1", "a-doomed", "a-new", "shared"], got
        assert expect(req(b, "GET", "/topics", "bob"), 200) == ["shared"]
        assert sorted(expect(req(b, "GET", "/topics", "admin"), 200)) == [
            "a-1", "a-doomed", "a-new", "shared", "z-secret"]
        # right credentials, not allowed: 403 40301
        expect(req(b, "POST", "/produce", "alice", body={"message": "m", "topic": "z-secret"}),
               403, 40301, "produce outside the grant")
        expect(req(b, "POST", "/produce", "alice", body={"message": "m"}), 403, 40301,
               "produce to the default topic")
        expect(req(b, "GET", "/topics/z-secret/partitions/0/records?offset=0", "alice"), 403,
               40301, "read outside the grant")
        expect(req(b, "GET", "/topics/shared/partitions/0/records?offset=0", "alice"), 403,
               40301, "describe does not allow read")
        expect(req(b, "GET", "/topics/shared/partitions/0/records?offset=0", "bob"), 200)
        expect(req(b, "POST", "/topics", "bob", body={"name": "b-new"}), 403, 40301, "create")
        expect(req(b, "DELETE", "/topics/a-doomed", "alice"), 403, 40301, "delete")
        expect(req(b, "POST", "/topics/a-1/partitions", "alice", body={"partitions": 2}), 403,
               40301, "alter")
        expect(req(b, "POST", "/replication/fetch", "alice", body={}), 403, 40301, "fetch")
        expect(req(b, "GET", "/topics/z-secret", "alice"), 403, 40301, "describe")
        # super user may do everything
        expect(req(b, "DELETE", "/topics/a-doomed", "admin"), 200)
        expect(req(b, "POST", "/topics/a-1/partitions", "admin", body={"partitions": 2}), 200)
        # a producer with write but no create cannot create a topic by producing to it
        body = expect(req(b, "POST", "/produce", "bob", body={"message": "m", "topic": "b-auto"}),
                      403, 40301, "auto-create without create")
        assert body["message"] == "User:bob may not create topic b-auto", body
        expect(req(b, "POST", "/produce", "admin", body={"message": "m", "topic": "b-auto"}),
               200)
        expect(req(b, "POST", "/produce", "bob", body={"message": "m", "topic": "b-auto"}), 200)
        # --auth-all-paths closes /health and /metrics too
        b2 = c.broker(standalone=True, args=auth_args(c, extra=["--auth-all-paths"]))
        expect(b2.get("/health"), 401, 40101, "health with --auth-all-paths")
        expect(req(b2, "GET", "/metrics", "alice"), 403, 40301, "metrics needs describe cluster")
        expect(req(b2, "GET", "/health", "admin"), 200)


def test_reload_valid_and_broken_files():
    with Cluster() as c:
        args = auth_args(c)
        b = c.broker(standalone=True, args=args)
        acl_path = args[args.index("--acl-file") + 1]
        users_path = args[args.index("--users-file") + 1]
        expect(req(b, "POST", "/topics", "admin", body={"name": "late"}), 201)
        expect(req(b, "POST", "/produce", "bob", body={"message": "m", "topic": "late"}), 403,
               40301)
        with open(acl_path, "a") as f:
            f.write("allow User:bob topic literal late write\n")
        b.signal(signal.SIGHUP)
        wait_until(lambda: "users and ACLs reloaded" in b.stderr_text(), what="reload traced")
        expect(req(b, "POST", "/produce", "bob", body={"message": "m", "topic": "late"}), 200)
        # a broken ACL file: nothing changes, the line and reason are traced
        with open(acl_path, "a") as f:
            f.write("deny User:bob topic literal late write\nallow User:bob topic sometimes x read\n")
        b.signal(signal.SIGHUP)
        wait_until(lambda: "NOT reloaded" in b.stderr_text(), what="refusal traced")
        err = b.stderr_text()
        assert "acl: line 9: the pattern type must be literal or prefixed" in err, err[-800:]
        expect(req(b, "POST", "/produce", "bob", body={"message": "m", "topic": "late"}), 200)
        # a broken users file also keeps both old files in force (all or nothing)
        with open(acl_path, "w") as f:
            f.write(ACL)
        with open(users_path, "a") as f:
            f.write("carol SCRAM-SHA-256 10 c2FsdHNhbHRz AAAA AAAA\n")
        b.signal(signal.SIGHUP)
        wait_until(lambda: b.stderr_text().count("NOT reloaded") == 2, what="second refusal")
        assert "users: line 11: iterations must be" in b.stderr_text(), b.stderr_text()[-800:]
        expect(req(b, "POST", "/produce", "bob", body={"message": "m", "topic": "late"}), 200)
        # fixed users file, user bob removed: his cached check is forgotten at once
        p = subprocess.run([BROOK_BIN, "user", "remove", "carol", "--users-file", users_path],
                           capture_output=True)
        assert p.returncode == 1 and b"line 11: iterations" in p.stderr, p.stderr  # refuses
        with open(users_path) as f:
            lines = [ln for ln in f if not ln.startswith("carol ")]
        with open(users_path, "w") as f:
            f.writelines(lines)
        p = subprocess.run([BROOK_BIN, "user", "remove", "bob", "--users-file", users_path],
                           capture_output=True)
        assert p.returncode == 0, p.stderr
        b.signal(signal.SIGHUP)
        wait_until(lambda: b.stderr_text().count("users and ACLs reloaded") == 2,
                   what="second reload")
        expect(req(b, "POST", "/produce", "bob", body={"message": "m", "topic": "late"}), 401,
               40101, "removed user")
        expect(req(b, "POST", "/produce", "bob", body={"message": "m", "topic": "late"}), 401,
               40101, "removed user")  # the reload changed the ACL back: no write either way
        assert b.alive()


def listen_addresses(port):
    """Local addresses (hex, as /proc/net/tcp shows them) listening on port."""
    out = set()
    with open("/proc/net/tcp") as f:
        for line in list(f)[1:]:
            parts = line.split()
            addr, p = parts[1].split(":")
            if int(p, 16) == port and parts[3] == "0A":
                out.add(addr)
    return out


def test_protected_mode_without_users_file():
    with Cluster() as c:
        port = brook.free_port()
        log = os.path.join(c.dir, "pm.stderr")
        with open(log, "wb") as err:
            p = subprocess.Popen([BROOK_BIN, "--standalone", "--port", str(port), "--data-dir",
                                  os.path.join(c.dir, "pm")], stdout=err, stderr=err)
        try:
            wait_port(port, proc=p)
            assert listen_addresses(port) == {"0100007F"}, listen_addresses(port)
            with open(log) as f:
                text = f.read()
            assert "authentication is OFF" in text and "127.0.0.1 only" in text, text
        finally:
            p.terminate()
            p.wait(timeout=15)
        # with a users file the default is every address
        port2 = brook.free_port()
        with open(log, "ab") as err:
            p = subprocess.Popen([BROOK_BIN, "--standalone", "--port", str(port2), "--data-dir",
                                  os.path.join(c.dir, "pm2")] + auth_args(c),
                                 stdout=err, stderr=err)
        try:
            wait_port(port2, proc=p)
            assert listen_addresses(port2) == {"00000000"}, listen_addresses(port2)
        finally:
            p.terminate()
            p.wait(timeout=15)


def acks_all(b, value, timeout=10):
    try:
        return req(b, "POST", "/produce?acks=all", "admin",
                   body={"message": value, "topic": "rep"}, timeout=timeout)[0]
    except (OSError, http.client.HTTPException):
        return "error"


def test_follower_with_wrong_credentials_stays_out():
    with Cluster() as c:
        r = c.redis()
        base = auth_args(c) + ["--lease-ms", "2000", "--renew-ms", "500",
                               "--min-insync-replicas", "2", "--replica-lag-ms", "2000",
                               "--broker-user", "repl"]
        good = {"BROOK_BROKER_PASSWORD": PASSWORDS["repl"]}
        b1 = c.broker(name="b1", redis=r, args=base, env=good)
        wait_until(lambda: current_leader([b1]), timeout=20, what="b1 leads")
        pwfile = os.path.join(c.dir, "repl.pw")
        with open(pwfile, "w") as f:
            f.write(PASSWORDS["repl"] + "\n")
        b2 = c.broker(name="b2", redis=r, args=base + ["--broker-password-file", pwfile])
        b3 = c.broker(name="b3", redis=r, args=base, env={"BROOK_BROKER_PASSWORD": "wrong"})
        bs = [b1, b2, b3]
        wait_until(lambda: (redis_isr(r) or {}).get("isr") and
                   sorted(redis_isr(r)["isr"]) == ["b1", "b2"], timeout=30, what="ISR b1,b2")
        acked = 0
        for i in range(20):
            acked += acks_all(b1, "v%d" % i) == 200
            assert "b3" not in redis_isr(r)["isr"]
        assert acked == 20, acked
        m = expect(req(b1, "GET", "/topics/rep/partitions/0", "admin"), 200)
        ins = {x["broker"]: x["in_sync"] for x in m["replicas"]}
        assert ins.get("b3") in (None, False), m
        # the leader goes: b2 (in sync) takes over, never b3
        b1.kill()
        new = wait_until(lambda: current_leader([b2, b3]), timeout=30, what="a new leader")
        assert new[0] is b2, "b3 (never in sync) was elected"
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert brook.role(b3) != "leader"
            time.sleep(0.1)
        assert "401" in b3.stderr_text(), b3.stderr_text()[-1000:]  # its fetches refused
        assert all(b.alive() for b in (b2, b3))


class AuthRedis(Redis):
    """A redis-server with extra arguments (requirepass, ACL users)."""

    def __init__(self, workdir, extra):
        super().__init__(workdir)
        self.extra = extra

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS_BIN, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir] + self.extra,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)
        return self


REDIS_ACL = ("user brook on >brook-pw resetkeys ~brook:* resetchannels -@all +auth +ping "
             "+hello +eval +evalsha +script|load +get +set +incr +pttl +pexpire +del +hget +hset "
             "+hgetall +hdel +time +keys")


def test_redis_requirepass_and_acl_user():
    with Cluster() as c:
        r1 = AuthRedis(c.dir, ["--requirepass", "s3cret"]).start()
        c.redises.append(r1)
        args = ["--lease-ms", "2000", "--renew-ms", "500", "--redis", "127.0.0.1:%d" % r1.port]
        wrong = c.broker(name="w", args=args, env={"REDIS_PASSWORD": "nope"})
        wait_until(lambda: "refused AUTH" in wrong.stderr_text(), timeout=10,
                   what="refused AUTH traced")
        ok = c.broker(name="ok", args=args, env={"REDIS_PASSWORD": "s3cret"})
        wait_until(lambda: brook.role(ok) == "leader", timeout=20, what="leader via requirepass")
        time.sleep(1.5)
        assert wrong.alive() and brook.role(wrong) != "leader"
        assert wrong.stderr_text().count("refused AUTH") >= 2, "no retry"
        # an ACL user limited to Brook's keys and commands
        aclfile = os.path.join(c.dir, "users.acl")
        with open(aclfile, "w") as f:
            f.write(REDIS_ACL + "\nuser default off\n")
        r2 = AuthRedis(c.dir, ["--aclfile", aclfile]).start()
        c.redises.append(r2)
        a = c.broker(name="acl", args=["--lease-ms", "2000", "--renew-ms", "500", "--redis",
                                       "127.0.0.1:%d" % r2.port, "--redis-user", "brook"],
                     env={"REDIS_PASSWORD": "brook-pw"})
        wait_until(lambda: brook.role(a) == "leader", timeout=20, what="leader via ACL user")
        assert a.produce("x")[0] == 200
        time.sleep(1.5)  # renewals keep working under the ACL
        assert brook.role(a) == "leader", a.stderr_text()[-1000:]


def p99(samples):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


def produce_latencies(b, n):
    conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=10)
    hdrs = {"Authorization": basic("admin"), "Content-Type": "application/json"}
    out = []
    try:
        for i in range(n):
            t = time.monotonic()
            conn.request("POST", "/produce", body=json.dumps({"message": "x", "topic": "lat"}),
                         headers=hdrs)
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
            out.append(time.monotonic() - t)
    finally:
        conn.close()
    return out


ATTACK = """
import base64, http.client, json, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
statuses = {}
for i in range(1000):
    auth = "Basic " + base64.b64encode(("alice:g%d" % i).encode()).decode()
    conn.request("GET", "/topics", headers={"Authorization": auth})
    r = conn.getresponse()
    r.read()
    statuses[r.status] = statuses.get(r.status, 0) + 1
print(json.dumps(statuses))
"""


def test_wrong_password_flood_does_not_stall_others():
    with Cluster() as c:
        b = c.broker(standalone=True, args=auth_args(c))
        produce_latencies(b, 20)  # warm: topic, cache
        base = produce_latencies(b, 300)
        # the attacker is a process of its own, so it never holds this one's GIL
        attacker = subprocess.Popen([sys.executable, "-c", ATTACK, str(b.port)],
                                    stdout=subprocess.PIPE)
        during = []
        while attacker.poll() is None:
            during += produce_latencies(b, 50)
        statuses = {int(k): v for k, v in json.loads(attacker.stdout.read()).items()}
        print("p99 without attack %.1f ms, during %.1f ms (%d samples); attacker got %s" % (
            p99(base) * 1000, p99(during) * 1000, len(during), statuses), flush=True)
        assert statuses.get(401, 0) + statuses.get(503, 0) == 1000, statuses
        assert set(statuses) <= {401, 503}, statuses
        assert p99(during) <= 2 * p99(base) + 0.02, (p99(base), p99(during))


if __name__ == "__main__":
    brook.run([test_every_route_class, test_reload_valid_and_broken_files,
               test_protected_mode_without_users_file,
               test_follower_with_wrong_credentials_stays_out,
               test_redis_requirepass_and_acl_user,
               test_wrong_password_flood_does_not_stall_others])
