"""Seed API of one standalone broker, end to end over real HTTP: every route and error code,
values read back byte-exact at the acknowledged offsets, long-poll, Kafka key partitioning,
restart keeps topics and offsets, SIGTERM exits 0 cleanly, a locked data dir is refused.
Every failing request must change nothing (checked through GET /topics and end offsets)."""
import base64
import http.client
import json
import re
import threading
import time

import brook
from brook import Cluster, log_snapshot


def standalone(c, *args, **kw):
    return c.broker(standalone=True, args=list(args), **kw)


class Session:
    """Keep-alive client: many requests on one connection, as real producers do."""

    def __init__(self, broker, timeout=10):
        self.conn = http.client.HTTPConnection("127.0.0.1", broker.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        r = self.conn.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        obj = json.loads(data) if data and "json" in hdrs.get("content-type", "") else data
        return r.status, obj, hdrs

    def produce(self, obj):
        return self.request("POST", "/produce", json.dumps(obj),
                            {"Content-Type": "application/json"})

    def close(self):
        self.conn.close()


def check_identity(hdrs, broker_id, epoch="1"):
    assert hdrs.get("x-broker-id") == broker_id, hdrs
    assert hdrs.get("x-leader-epoch") == epoch, hdrs


def check_error(resp, status, code=None):
    st, body, hdrs = resp
    assert st == status, "expected %d, got %d %r" % (status, st, body)
    assert isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"], body
    assert body.get("error_code") == (code if code is not None else status), body
    return body


# Values that must survive the round trip exactly (string messages read back as the same string).
STRING_VALUES = [
    "hello", "", " ", "h\u00e9llo w\u00f6rld \u2713 \u4e2d\u6587 \U0001F600", "quote \" backslash \\ slash /",
    "line\nbreak\ttab\r", "nul \u0000 inside", "\u0001\u001f control", "x" * 5000,
    "{\"looks\": \"like json\"}", "null", "0", "\u2028\u2029",
]
JSON_VALUES = [{"a": 1, "b": [1, 2, {"c": None}], "d": "\u00e9"}, [1, "two", 3.5], 42, -7.25, True,
               False, None, {}, []]


def test_root_health_leader():
    with Cluster() as c:
        b = standalone(c, name="seed1")
        st, body, h = b.get("/")
        assert st == 200 and body == {}, (st, body)
        check_identity(h, "seed1")
        st, body, h = b.get("/health")
        assert st == 200, body
        assert body["status"] == "ok" and body["broker_id"] == "seed1", body
        assert body["role"] == "standalone" and body["epoch"] == 1, body
        check_identity(h, "seed1")
        st, body, h = b.get("/metadata/leader")
        assert st == 200, body
        assert body == {"leader": "seed1", "epoch": 1, "url": b.url}, (body, b.url)
        check_identity(h, "seed1")
        st, body, h = b.get("/topics")
        assert st == 200 and body == [], body
        # Errors carry the identity headers too.
        r = b.get("/no/such/route")
        check_error(r, 404)
        check_identity(r[2], "seed1")


def test_produce_and_read_back_exact():
    with Cluster() as c:
        b = standalone(c)
        s = Session(b)
        sent = []  # (offset, kind, original)
        for rnd in range(8):
            for v in STRING_VALUES:
                st, body, h = s.produce({"message": v, "topic": "vals"})
                assert st == 200, (st, body)
                assert body["status"] == "ok" and body["topic"] == "vals", body
                assert body["partition"] == 0, body
                check_identity(h, "b1")
                sent.append((body["offset"], "s", v))
            for v in JSON_VALUES:
                st, body, _ = s.produce({"message": v, "topic": "vals"})
                assert st == 200, (st, body)
                sent.append((body["offset"], "j", v))
        offsets = [o for o, _, _ in sent]
        assert offsets == list(range(len(sent))), "offsets not 0..n-1 in order: %s" % offsets[:20]
        records = b.read_all("vals", page=37)
        assert [r["offset"] for r in records] == offsets, "read offsets differ"
        for (off, kind, v), r in zip(sent, records):
            if kind == "s":
                assert r["value"] == v, "offset %d: sent %r read %r" % (off, v, r["value"])
            else:
                assert json.loads(r["value"]) == v, "offset %d: sent %r read %r" % (off, v, r["value"])
            assert r["key"] is None and r["headers"] == [] and isinstance(r["timestamp"], int), r
        # Binary format: base64 of the exact bytes.
        st, page, _ = s.request("GET", "/topics/vals/partitions/0/records?offset=0&max_records=%d"
                                "&format=binary" % len(STRING_VALUES))
        assert st == 200, page
        for (off, _, v), r in zip(sent, page["records"]):
            assert base64.b64decode(r["value"]) == v.encode(), (off, r)
        # Paging, next_offset, max_bytes (at least one record), offsets endpoint.
        st, page, _ = s.request("GET", "/topics/vals/partitions/0/records?offset=5&max_records=3")
        assert st == 200 and [r["offset"] for r in page["records"]] == [5, 6, 7], page
        assert page["next_offset"] == 8 and page["high_watermark"] == len(sent), page
        assert page["log_start_offset"] == 0 and page["topic"] == "vals" and page["partition"] == 0
        st, page, _ = s.request("GET", "/topics/vals/partitions/0/records?offset=0&max_bytes=1")
        assert st == 200 and len(page["records"]) >= 1 and page["records"][0]["offset"] == 0, page
        st, page, _ = s.request("GET", "/topics/vals/partitions/0/records?offset=%d" % len(sent))
        assert st == 200 and page["records"] == [] and page["next_offset"] == len(sent), page
        st, off, _ = s.request("GET", "/topics/vals/partitions/0/offsets")
        assert st == 200 and off == {"beginning_offset": 0, "end_offset": len(sent)}, off
        st, desc, _ = s.request("GET", "/topics/vals")
        assert st == 200 and desc["name"] == "vals" and isinstance(desc["configs"], dict), desc
        assert [p["partition"] for p in desc["partitions"]] == [0], desc
        st, parts, _ = s.request("GET", "/topics/vals/partitions")
        assert st == 200 and len(parts) == 1, parts
        st, p0, _ = s.request("GET", "/topics/vals/partitions/0")
        assert st == 200 and p0["partition"] == 0, p0
        s.close()


def test_default_topic_and_charset():
    with Cluster() as c:
        b = standalone(c)
        st, body, _ = b.post_json("/produce", {"message": "no topic given"})
        assert st == 200 and body["topic"] == "default" and body["offset"] == 0, body
        st, body, _ = b.post_json("/produce", {"message": "m", "topic": "cs"},
                                  ctype="application/json; charset=utf-8")
        assert st == 200, body
        st, body, _ = b.post_json("/produce", {"message": "m", "topic": "Az09._-"})
        assert st == 200, body
        st, topics, _ = b.get("/topics")
        assert sorted(topics) == sorted(["default", "cs", "Az09._-"]), topics
        assert b.read_all("default")[0]["value"] == "no topic given"


def test_longest_valid_topic_name():
    """Names of 1-249 characters are valid (Kafka's rule, and the API's own check); every
    length must work, survive a restart, and a failure must leave nothing behind."""
    with Cluster() as c:
        b = standalone(c)
        failed = []
        for n in (200, 240, 245, 246, 247, 249):
            name = chr(ord("a") + n % 26) * n
            st, body, _ = b.post_json("/produce", {"message": "len%d" % n, "topic": name})
            if st != 200:
                failed.append((n, st, body.get("message", "")[-40:] if isinstance(body, dict)
                               else body))
        st, topics, _ = b.get("/topics")
        ok_lengths = sorted(len(t) for t in topics)
        assert b.terminate() == 0
        b.start()
        st, topics2, _ = b.get("/topics")
        assert sorted(len(t) for t in topics2) == ok_lengths, (ok_lengths, topics2)
        assert not failed, "valid topic names refused: %s (GET /topics lengths %s)" % (
            failed, ok_lengths)


BAD_PRODUCES = [
    # (body, content type, status, error_code)
    ('{"message": "x", "topic": "t"', "application/json", 400, 400),       # truncated
    ('{"message": x}', "application/json", 400, 400),                      # bare word
    ('{"message": "x",}', "application/json", 400, 400),                   # trailing comma
    ('{"message": "x"} {"message": "y"}', "application/json", 400, 400),  # two documents
    ('{"message": "x"} garbage', "application/json", 400, 400),
    ("", "application/json", 400, 400),                                      # empty body
    (b'{"message": "\xff\xfe"}', "application/json", 400, 400),             # invalid UTF-8
    ('[{"message": "x"}]', "application/json", 422, 422),                   # not an object
    ('"message"', "application/json", 422, 422),
    ("42", "application/json", 422, 422),
    ("null", "application/json", 422, 422),
    ("{}", "application/json", 422, 422),                                    # no message
    ('{"topic": "t"}', "application/json", 422, 422),
    ('{"message": "x", "topic": 5}', "application/json", 422, 422),
    ('{"message": "x", "topic": ["t"]}', "application/json", 422, 422),
    ('{"message": "x", "topic": {"n": "t"}}', "application/json", 422, 422),
    ('{"message": "x", "key": 5}', "application/json", 422, 422),
    ('{"message": "x", "key": ["k"]}', "application/json", 422, 422),
    ('{"message": "x", "partition": "0"}', "application/json", 422, 422),
    ('{"message": "x", "partition": -1}', "application/json", 422, 422),
    ('{"message": "x", "partition": 1.5}', "application/json", 422, 422),
    ('{"message": "x", "partition": 99999999999}', "application/json", 422, 422),
    ('{"message": "x", "topic": ""}', "application/json", 422, 42208),
    ('{"message": "x", "topic": "a/b"}', "application/json", 422, 42208),
    ('{"message": "x", "topic": "has space"}', "application/json", 422, 42208),
    ('{"message": "x", "topic": ".."}', "application/json", 422, 42208),
    ('{"message": "x", "topic": "."}', "application/json", 422, 42208),
    ('{"message": "x", "topic": "%s"}' % ("a" * 250), "application/json", 422, 42208),
    ('{"message": "x", "topic": "\\u00e9t\\u00e9"}', "application/json", 422, 42208),
    ('{"message": "x", "topic": "t"}', "text/plain", 415, 415),
    ('{"message": "x", "topic": "t"}', "application/x-www-form-urlencoded", 415, 415),
    ('{"message": "x", "topic": "t"}', None, 415, 415),
    ('{"message": "x", "topic": "t", "partition": 1}', "application/json", 404, 40402),
]


def test_produce_errors_change_nothing():
    with Cluster() as c:
        b = standalone(c)
        st, body, _ = b.produce("first", topic="t")
        assert st == 200 and body["offset"] == 0, body
        before = log_snapshot(b)
        assert before == {"t": [1]}, before
        failures = []
        for raw, ctype, status, code in BAD_PRODUCES:
            headers = {"Content-Type": ctype} if ctype else {}
            r = b.request("POST", "/produce", body=raw, headers=headers)
            try:
                check_error(r, status, code)
                check_identity(r[2], "b1")
            except AssertionError as e:
                failures.append("%r (%s): %s" % (raw[:60], ctype, e))
        assert not failures, "\n".join(failures)
        after = log_snapshot(b)
        assert after == before, "a refused produce changed the log: %s -> %s" % (before, after)
        assert [r["value"] for r in b.read_all("t")] == ["first"]
        # The broker is still fine and continues at the next offset.
        st, body, _ = b.produce("second", topic="t")
        assert st == 200 and body["offset"] == 1, body


def test_failed_produce_creates_no_topic():
    """A produce refused with 404 (unknown partition) must not leave a new topic behind."""
    with Cluster() as c:
        b = standalone(c)
        r = b.post_json("/produce", {"message": "x", "topic": "ghost", "partition": 3})
        check_error(r, 404, 40402)
        st, topics, _ = b.get("/topics")
        assert st == 200 and "ghost" not in topics, \
            "refused produce (404 40402) created topic 'ghost': GET /topics = %s" % topics


def test_read_and_route_errors():
    with Cluster() as c:
        b = standalone(c)
        for i in range(3):
            assert b.produce("v%d" % i, topic="t")[0] == 200
        before = log_snapshot(b)
        check_error(b.get("/topics/nope"), 404, 40401)
        check_error(b.get("/topics/nope/partitions"), 404, 40401)
        check_error(b.get("/topics/nope/partitions/0"), 404, 40401)
        check_error(b.get("/topics/nope/partitions/0/offsets"), 404, 40401)
        check_error(b.get("/topics/nope/partitions/0/records?offset=0"), 404, 40401)
        check_error(b.get("/topics/t/partitions/1/offsets"), 404, 40402)
        check_error(b.get("/topics/t/partitions/7/records?offset=0"), 404, 40402)
        check_error(b.get("/topics/t/partitions/x/records?offset=0"), 404, 40402)
        check_error(b.get("/topics/t/partitions/-1/offsets"), 404, 40402)
        check_error(b.get("/topics/bad%20name"), 422, 42208)
        check_error(b.get("/topics/t/partitions/0/records?offset=4"), 416)
        check_error(b.get("/topics/t/partitions/0/records?offset=1000000"), 416)
        for q in ("offset=-1", "offset=abc", "max_records=0", "max_records=x", "max_bytes=0",
                  "timeout_ms=-5", "format=xml", "timeout_ms=99999999"):
            check_error(b.get("/topics/t/partitions/0/records?" + q), 400)
        check_error(b.get("/nope"), 404)
        check_error(b.get("/produce/extra"), 404)
        check_error(b.get("/topics/t/partitions/0/records/more"), 404)
        for method, path, allow in (("GET", "/produce", "POST"), ("DELETE", "/produce", "POST"),
                                    ("PUT", "/produce", "POST"), ("POST", "/health", "GET"),
                                    ("POST", "/metadata/leader", "GET"), ("DELETE", "/", "GET"),
                                    ("PUT", "/topics", "GET"),
                                    ("POST", "/topics/t/partitions/0/offsets", "GET"),
                                    ("POST", "/topics/t/partitions/0/records", "GET")):
            r = b.request(method, path, body="{}" if method != "GET" else None,
                          headers={"Content-Type": "application/json"})
            check_error(r, 405)
            allowed = [m.strip() for m in r[2].get("allow", "").split(",")]
            assert allow in allowed and method not in allowed, (method, path, r[2].get("allow"))
            check_identity(r[2], "b1")
        assert log_snapshot(b) == before, "a refused request changed the log"


def test_long_poll_wakes_on_produce_and_times_out():
    with Cluster() as c:
        b = standalone(c)
        assert b.produce("zero", topic="lp")[0] == 200
        # Nothing arrives: empty page after about timeout_ms, next_offset unchanged.
        t0 = time.monotonic()
        st, page, _ = b.get("/topics/lp/partitions/0/records?offset=1&timeout_ms=700")
        waited = time.monotonic() - t0
        assert st == 200 and page["records"] == [] and page["next_offset"] == 1, page
        assert 0.6 <= waited < 3.0, "timeout_ms=700 answered after %.2fs" % waited
        # A produce from another thread wakes the poll long before its timeout.
        result = {}

        def poll():
            t = time.monotonic()
            result["resp"] = b.get("/topics/lp/partitions/0/records?offset=1&timeout_ms=8000",
                                   timeout=20)
            result["took"] = time.monotonic() - t

        th = threading.Thread(target=poll)
        th.start()
        time.sleep(0.5)
        st, body, _ = b.produce("wake up \u2600", topic="lp")
        assert st == 200 and body["offset"] == 1, body
        th.join(15)
        assert not th.is_alive(), "long poll never answered"
        st, page, _ = result["resp"]
        assert st == 200, page
        assert [(r["offset"], r["value"]) for r in page["records"]] == [(1, "wake up \u2600")], page
        assert page["next_offset"] == 2 and page["high_watermark"] == 2, page
        assert result["took"] < 4.0, "woke after %.2fs, not on the produce" % result["took"]
        # A poll on another partition/topic is not woken by this topic's produce.
        assert b.produce("other", topic="lp2")[0] == 200
        res2 = {}
        th = threading.Thread(target=lambda: res2.setdefault(
            "r", b.get("/topics/lp2/partitions/0/records?offset=1&timeout_ms=1200")))
        t0 = time.monotonic()
        th.start()
        time.sleep(0.2)
        assert b.produce("not for lp2", topic="lp")[0] == 200
        th.join(10)
        assert time.monotonic() - t0 >= 1.0 and res2["r"][1]["records"] == [], res2


def test_key_partitioning_like_kafka():
    assert brook.murmur2("21") == -973932308  # the harness itself matches Kafka
    with Cluster() as c:
        b = standalone(c, "--partitions", "4")
        s = Session(b)
        st, body, _ = s.produce({"message": "k21", "topic": "keyed", "key": "21"})
        assert st == 200, body
        assert body["partition"] == (-973932308 & 0x7fffffff) % 4, body
        expected = {}
        keys = ["21", "", "a", "ab", "abc", "abcd", "abcde", "user-42", "\u00e9\u00e8", "k" * 100]
        for k in keys * 3:
            st, body, _ = s.produce({"message": "v-" + k, "topic": "keyed", "key": k})
            assert st == 200, body
            want = brook.kafka_partition(k.encode(), 4)
            assert body["partition"] == want, "key %r went to %d, Kafka picks %d" % (
                k, body["partition"], want)
            expected.setdefault(want, []).append((body["offset"], k))
        for p in range(4):
            recs = b.read_all("keyed", partition=p)
            got = {r["offset"]: r["key"] for r in recs}
            for off, k in expected.get(p, []):
                assert got.get(off) == k, (p, off, k, got.get(off))
        # Explicit partition wins; keyless records spread over all partitions.
        st, body, _ = s.produce({"message": "x", "topic": "keyed", "key": "21", "partition": 3})
        assert st == 200 and body["partition"] == 3, body
        used = set()
        for i in range(8):
            st, body, _ = s.produce({"message": "rr%d" % i, "topic": "keyed", "key": None})
            assert st == 200, body
            used.add(body["partition"])
        assert used == {0, 1, 2, 3}, "keyless records used partitions %s" % used
        st, desc, _ = s.request("GET", "/topics/keyed")
        assert [p["partition"] for p in desc["partitions"]] == [0, 1, 2, 3], desc
        check_error(s.produce({"message": "x", "topic": "keyed", "partition": 4}), 404, 40402)
        s.close()


def test_restart_keeps_topics_and_offsets():
    with Cluster() as c:
        b = standalone(c)
        s = Session(b)
        acked = {"r1": [], "r2": []}
        for i in range(25):
            for t in acked:
                st, body, _ = s.produce({"message": "%s-%d" % (t, i), "topic": t})
                assert st == 200, body
                acked[t].append((body["offset"], "%s-%d" % (t, i)))
        s.close()
        assert b.terminate() == 0
        b.start()
        st, topics, _ = b.get("/topics")
        assert sorted(topics) == ["r1", "r2"], topics
        for t, sent in acked.items():
            st, off, _ = b.get("/topics/%s/partitions/0/offsets" % t)
            assert off == {"beginning_offset": 0, "end_offset": 25}, (t, off)
            assert [(r["offset"], r["value"]) for r in b.read_all(t)] == sent, t
            st, body, _ = b.produce("after restart", topic=t)
            assert st == 200 and body["offset"] == 25, "offset reused or skipped: %s" % body
        # And once more after a kill -9 (fsync=always by default: acked data is on disk).
        b.kill()
        b.start()
        for t in acked:
            recs = b.read_all(t)
            assert len(recs) == 26 and recs[-1]["value"] == "after restart", (t, len(recs))
            st, body, _ = b.produce("after kill", topic=t)
            assert st == 200 and body["offset"] == 26, body


def no_errors_in(text):
    bad = [line for line in text.splitlines()
           if re.search(r"Z (error|warn) ", line) or "Sanitizer" in line or
           "runtime error" in line or "Segmentation" in line]
    return bad


def test_sigterm_finishes_in_flight_and_exits_zero():
    with Cluster() as c:
        b = standalone(c)
        assert b.produce("p0", topic="st")[0] == 200
        # A long-poll in flight when SIGTERM arrives is answered, not dropped.
        res = {}

        def poll():
            try:
                res["r"] = b.get("/topics/st/partitions/0/records?offset=1&timeout_ms=20000",
                                 timeout=30)
            except Exception as e:  # noqa: BLE001
                res["e"] = e

        th = threading.Thread(target=poll)
        th.start()
        time.sleep(0.4)
        # Produces racing the signal: each either succeeds (and is then on disk) or never
        # got a 200.
        acked, lock = [], threading.Lock()

        def writer(n):
            for i in range(20):
                try:
                    st, body, _ = b.produce("w%d-%d" % (n, i), topic="st", timeout=5)
                except OSError:
                    return
                if st == 200:
                    with lock:
                        acked.append((body["offset"], "w%d-%d" % (n, i)))
        ws = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for w in ws:
            w.start()
        time.sleep(0.05)
        t0 = time.monotonic()
        rc = b.terminate(timeout=15)
        took = time.monotonic() - t0
        for w in ws:
            w.join(10)
        th.join(10)
        assert rc == 0, "SIGTERM exit code %s" % rc
        assert took < 10, "SIGTERM took %.1fs" % took
        assert "r" in res, "long poll in flight was not answered: %r" % res.get("e")
        assert res["r"][0] == 200, res["r"]
        bad = no_errors_in(b.stderr_text())
        assert not bad, "errors/warnings in stderr after a clean stop:\n" + "\n".join(bad)
        b.start()
        got = {r["offset"]: r["value"] for r in b.read_all("st")}
        lost = [(o, v) for o, v in acked if got.get(o) != v]
        assert not lost, "acknowledged before SIGTERM but missing after restart: %s" % lost[:5]
        assert b.terminate() == 0


def test_second_broker_on_same_data_dir_refused():
    with Cluster() as c:
        b = standalone(c, name="owner")
        assert b.produce("mine", topic="lock")[0] == 200
        intruder = c.broker(name="intruder", standalone=True, start=False, data_dir=b.data_dir)
        intruder.start(wait=False)
        try:
            rc = intruder.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            raise AssertionError("second broker on a locked data dir is still running")
        assert rc != 0, "second broker exited %d" % rc
        err = intruder.stderr_text()
        assert re.search(r"lock|in use|already", err, re.I), "unclear refusal message: %r" % err
        assert b.data_dir in err or "data" in err.lower(), "message does not name the dir: %r" % err
        # The owner is unaffected.
        st, body, _ = b.produce("still mine", topic="lock")
        assert st == 200 and body["offset"] == 1, body
        assert [r["value"] for r in b.read_all("lock")] == ["mine", "still mine"]


if __name__ == "__main__":
    brook.run([
        test_root_health_leader,
        test_produce_and_read_back_exact,
        test_default_topic_and_charset,
        test_longest_valid_topic_name,
        test_produce_errors_change_nothing,
        test_failed_produce_creates_no_topic,
        test_read_and_route_errors,
        test_long_poll_wakes_on_produce_and_times_out,
        test_key_partitioning_like_kafka,
        test_restart_keeps_topics_and_offsets,
        test_sigterm_finishes_in_flight_and_exits_zero,
        test_second_broker_on_same_data_dir_refused,
    ])
