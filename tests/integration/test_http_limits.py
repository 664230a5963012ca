"""HTTP/1.1 framing and limits of one standalone broker, over raw sockets: keep-alive,
pipelining (byte-at-a-time, answers in order), chunked bodies, Expect: 100-continue, and every
configured limit at small values and at the defaults (414, 431, 413, 408, idle close, 503 over
--max-connections). After each refused request the broker must still answer and nothing new
may be in the log (no topic created, end offsets unchanged)."""
import json
import time

import brook
from brook import Cluster, RawConn, http_bytes, log_snapshot, produce_bytes

SMALL = ["--max-body-bytes", "1024", "--max-url-bytes", "256", "--max-header-bytes", "1024",
         "--max-headers", "8", "--request-timeout-ms", "1000", "--idle-timeout-ms", "1500"]


def standalone(c, *args, **kw):
    return c.broker(standalone=True, args=list(args), **kw)


def expect_refusal(b, data, status, before, what):
    """Sends data on a fresh connection; the answer must be `status` with a JSON error body,
    then the connection must close; the broker must still serve and the log be unchanged."""
    with RawConn(b.port) as rc:
        rc.send(data)
        try:
            st, obj, hdrs = rc.read_json(timeout=5)
        except (EOFError, ConnectionResetError) as e:
            raise AssertionError("%s: connection closed without an answer (%s)" % (what, e))
        assert st == status, "%s: expected %d, got %d %r" % (what, status, st, obj)
        assert isinstance(obj, dict) and obj.get("error_code") == status, (what, obj)
        assert hdrs.get("x-broker-id") == b.name, (what, hdrs)
        assert rc.closed_by_peer(3), "%s: connection left open after %d" % (what, status)
    st, body, _ = b.get("/health")
    assert st == 200, "%s: broker unhealthy afterwards: %s" % (what, body)
    after = log_snapshot(b)
    assert after == before, "%s: log changed %s -> %s" % (what, before, after)


def expect_ok(b, data, what, status=200):
    with RawConn(b.port) as rc:
        rc.send(data)
        st, obj, _ = rc.read_json(timeout=5)
        assert st == status, "%s: expected %d, got %d %r" % (what, status, st, obj)
        return obj


def test_keep_alive_and_pipelining_byte_at_a_time():
    with Cluster() as c:
        b = standalone(c)
        with RawConn(b.port) as rc:
            for i in range(3):  # keep-alive: sequential requests on one connection
                rc.send(http_bytes("GET", "/health"))
                st, obj, hdrs = rc.read_json()
                assert st == 200 and obj["status"] == "ok", obj
                assert "close" not in hdrs.get("connection", "").lower(), hdrs
            n = 50
            payload = b"".join(produce_bytes("pipe-%d" % i, topic="pipe") for i in range(n))
            rc.send_slowly(payload, chunk=1)
            offsets = []
            for i in range(n):
                st, obj, _ = rc.read_json()
                assert st == 200, (i, st, obj)
                offsets.append(obj["offset"])
            assert offsets == list(range(n)), "pipelined answers out of order: %s" % offsets
            rc.send(http_bytes("GET", "/topics/pipe/partitions/0/offsets"))
            st, obj, _ = rc.read_json()
            assert st == 200 and obj["end_offset"] == n, obj
        recs = b.read_all("pipe")
        assert [r["value"] for r in recs] == ["pipe-%d" % i for i in range(n)]


def test_pipelined_read_sees_preceding_write():
    """RFC 9112 9.3.2: pipelined requests may run in parallel only if all are safe; a GET
    pipelined after a POST /produce must see that produce (its answer comes after it)."""
    with Cluster() as c:
        b = standalone(c)
        assert b.produce("first", topic="pipe")[0] == 200
        with RawConn(b.port) as rc:
            payload = b"".join(produce_bytes("mix-%d" % i, topic="pipe") +
                               http_bytes("GET", "/topics/pipe/partitions/0/records?offset=%d"
                                          "&max_records=1" % (1 + i)) for i in range(20))
            rc.send(payload)
            stale = []
            for i in range(20):
                st, obj, _ = rc.read_json()
                assert st == 200 and obj["offset"] == 1 + i, (i, obj)
                st, obj, _ = rc.read_json()
                if st != 200 or [r["value"] for r in obj["records"]] != ["mix-%d" % i]:
                    stale.append((i, st, obj))
            assert not stale, ("%d of 20 pipelined GETs did not see the produce answered just "
                               "before them, e.g. %s" % (len(stale), stale[:2]))


def test_http10_and_connection_close():
    with Cluster() as c:
        b = standalone(c)
        with RawConn(b.port) as rc:
            rc.send(b"GET /health HTTP/1.0\r\n\r\n")
            st, obj, _ = rc.read_json()
            assert st == 200 and obj["status"] == "ok", obj
            assert rc.closed_by_peer(3), "HTTP/1.0 without keep-alive left open"
        with RawConn(b.port) as rc:
            rc.send(http_bytes("GET", "/health", headers=[("Connection", "close")]) +
                    http_bytes("GET", "/health"))
            st, obj, hdrs = rc.read_json()
            assert st == 200 and "close" in hdrs.get("connection", "").lower(), hdrs
            assert rc.closed_by_peer(3), "Connection: close not honoured"
            assert rc.buf == b"", "answered a request after Connection: close: %r" % rc.buf[:80]


def test_chunked_body_and_expect_continue():
    with Cluster() as c:
        b = standalone(c)
        body = json.dumps({"message": "chunked \u00e9 body", "topic": "ch"}).encode()
        chunks = [body[:5], body[5:6], body[6:20], body[20:]]
        data = (b"POST /produce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" +
                b"".join(b"%x\r\n%s\r\n" % (len(ch), ch) for ch in chunks) + b"0\r\n\r\n")
        obj = expect_ok(b, data, "chunked produce")
        assert obj["offset"] == 0
        # Chunk extensions and a trailer are legal HTTP/1.1.
        data = (b"POST /produce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n%x;ext=1\r\n%s\r\n0\r\nX-Trailer: y\r\n\r\n"
                % (len(body), body))
        assert expect_ok(b, data, "chunk extension + trailer")["offset"] == 1
        assert [r["value"] for r in b.read_all("ch")] == ["chunked \u00e9 body"] * 2
        # Expect: 100-continue: the interim answer comes before we send the body.
        with RawConn(b.port) as rc:
            body = json.dumps({"message": "after continue", "topic": "ch"}).encode()
            rc.send(b"POST /produce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
            st, _, _ = rc.read_response(timeout=3)
            assert st == 100, "expected 100 Continue first, got %d" % st
            rc.send(body)
            st, obj, _ = rc.read_json()
            assert st == 200 and obj["offset"] == 2, obj
            # The client may also send the body without waiting; still one final answer.
            rc.send(b"POST /produce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            st, obj, _ = rc.read_json()
            if st == 100:
                st, obj, _ = rc.read_json()
            assert st == 200 and obj["offset"] == 3, obj
        before = log_snapshot(b)
        expect_refusal(b, b"POST /produce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Expect: 101-teapot\r\nContent-Length: 2\r\n\r\n{}", 417, before,
                       "unknown Expect")


def test_expect_continue_refused_body_gets_no_100():
    """A body over the limit announced with Expect: 100-continue is answered 413 at once; a
    100 Continue first would invite the client to upload the whole body for nothing."""
    with Cluster() as c:
        b = standalone(c)
        with RawConn(b.port) as rc:
            rc.send(b"POST /produce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Expect: 100-continue\r\nContent-Length: 99999999\r\n\r\n")
            st, obj, _ = rc.read_json(timeout=3)
            first = st
            if st == 100:
                st, obj, _ = rc.read_json(timeout=3)
            assert st == 413, "expected 413, got %d %r" % (st, obj)
            assert rc.closed_by_peer(3)
            assert first == 413, "sent 100 Continue, then 413 for the same request"
        assert log_snapshot(b) == {}

def test_small_limits():
    with Cluster() as c:
        b = standalone(c, *SMALL)
        assert b.produce("seed", topic="t")[0] == 200
        before = log_snapshot(b)
        # URL: exactly 256 bytes of request target is fine, 257 is 414.
        target = "/topics/t/partitions/0/records?offset=0&pad="
        ok_target = target + "x" * (256 - len(target))
        obj = expect_ok(b, http_bytes("GET", ok_target), "256-byte URL")
        assert obj["records"][0]["value"] == "seed"
        expect_refusal(b, http_bytes("GET", ok_target + "x"), 414, before, "257-byte URL")
        expect_refusal(b, http_bytes("POST", "/produce?" + "p" * 300,
                                     json.dumps({"message": "x", "topic": "url414"})), 414,
                       before, "long URL on produce")
        # Header count: 8 in all is fine, 9 is 431.
        hdrs = [("X-H%d" % i, "v") for i in range(7)]  # + Host = 8
        expect_ok(b, http_bytes("GET", "/health", headers=hdrs), "8 headers")
        expect_refusal(b, http_bytes("GET", "/health", headers=hdrs + [("X-H9", "v")]), 431,
                       before, "9 headers")
        body = json.dumps({"message": "x", "topic": "hdr431"})
        expect_refusal(b, http_bytes("POST", "/produce", body,
                                     headers=[("X-H%d" % i, "v") for i in range(12)]),
                       431, before, "too many headers on produce")
        # Header bytes: one line or all lines over 1024 is 431; well under is fine.
        expect_ok(b, http_bytes("GET", "/health", headers=[("X-Pad", "p" * 700)]), "700-byte header")
        expect_refusal(b, http_bytes("GET", "/health", headers=[("X-Pad", "p" * 1100)]), 431,
                       before, "1100-byte header line")
        expect_refusal(b, http_bytes("GET", "/health", headers=[("X-A", "a" * 400),
                                                                ("X-B", "b" * 400),
                                                                ("X-C", "c" * 400)]),
                       431, before, "1200 header bytes in three lines")
        expect_refusal(b, http_bytes("POST", "/produce", body, headers=[("X-Pad", "p" * 1100)]),
                       431, before, "big header on produce")
        # Body: exactly 1024 bytes is accepted, 1025 is 413 (by Content-Length, before the
        # body is read), also when chunked.
        prefix, suffix = '{"topic": "t", "message": "', '"}'
        exact = prefix + "m" * (1024 - len(prefix) - len(suffix)) + suffix
        assert len(exact) == 1024
        obj = expect_ok(b, http_bytes("POST", "/produce", exact), "1024-byte body")
        assert obj["offset"] == 1
        before = log_snapshot(b)
        over = exact.replace('"t"', '"t2"')
        assert len(over) == 1025
        expect_refusal(b, http_bytes("POST", "/produce", over), 413, before, "1025-byte body")
        expect_refusal(b, b"POST /produce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                          b"\r\nContent-Length: 5000000000\r\n\r\n", 413, before, "huge Content-Length")
        chunked = (b"POST /produce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n" +
                   b"".join(b"100\r\n%s\r\n" % (over.encode()[i:i + 256].ljust(256, b" "))
                            for i in range(0, 1025, 256)) + b"0\r\n\r\n")
        expect_refusal(b, chunked, 413, before, "chunked body over the limit")
        assert [r["value"] for r in b.read_all("t")][0] == "seed"


def test_default_limits():
    with Cluster() as c:
        b = standalone(c)
        assert b.produce("seed", topic="t")[0] == 200
        before = log_snapshot(b)
        target = "/topics/t/partitions/0/offsets?pad="
        ok_target = target + "x" * (8192 - len(target))
        expect_ok(b, http_bytes("GET", ok_target), "8192-byte URL")
        expect_refusal(b, http_bytes("GET", ok_target + "x"), 414, before, "8193-byte URL")
        hdrs = [("X-H%d" % i, "v") for i in range(63)]  # + Host = 64
        expect_ok(b, http_bytes("GET", "/health", headers=hdrs), "64 headers")
        expect_refusal(b, http_bytes("GET", "/health", headers=hdrs + [("X-Last", "v")]), 431,
                       before, "65 headers")
        expect_ok(b, http_bytes("GET", "/health", headers=[("X-Pad", "p" * 8000)]), "8000-byte line")
        expect_refusal(b, http_bytes("GET", "/health", headers=[("X-Pad", "p" * 8300)]), 431,
                       before, "8300-byte header line")
        expect_ok(b, http_bytes("GET", "/health", headers=[("X-A", "a" * 7000),
                                                           ("X-B", "b" * 7000)]), "14000 header bytes")
        expect_refusal(b, http_bytes("GET", "/health", headers=[("X-A", "a" * 7000),
                                                                ("X-B", "b" * 7000),
                                                                ("X-C", "c" * 3000)]),
                       431, before, "17000 header bytes")
        mib = 1 << 20
        prefix, suffix = '{"topic": "t", "message": "', '"}'
        exact = prefix + "m" * (mib - len(prefix) - len(suffix)) + suffix
        obj = expect_ok(b, http_bytes("POST", "/produce", exact), "1 MiB body")
        assert obj["offset"] == 1
        recs = b.read_all("t")
        assert len(recs[1]["value"]) == mib - len(prefix) - len(suffix)
        before = log_snapshot(b)
        expect_refusal(b, b"POST /produce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                          b"\r\nContent-Length: %d\r\n\r\n" % (mib + 1), 413, before, "1 MiB + 1 body")


def test_request_timeout_408():
    with Cluster() as c:
        b = standalone(c, *SMALL)
        before = log_snapshot(b)
        # Headers never finished.
        with RawConn(b.port) as rc:
            t0 = time.monotonic()
            rc.send(b"POST /produce HTTP/1.1\r\nHost: x\r\nContent-Type: applic")
            st, obj, _ = rc.read_json(timeout=5)
            took = time.monotonic() - t0
            assert st == 408 and obj["error_code"] == 408, (st, obj)
            assert 0.9 <= took <= 2.5, "408 after %.2fs with --request-timeout-ms 1000" % took
            assert rc.closed_by_peer(3), "connection left open after 408"
        # Body never finished: nothing may be written.
        with RawConn(b.port) as rc:
            rc.send(b"POST /produce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 40\r\n\r\n{\"message\": \"x\", \"topic\": \"slo")
            st, obj, _ = rc.read_json(timeout=5)
            assert st == 408, (st, obj)
            assert rc.closed_by_peer(3)
        # A second request on a kept-alive connection has its own clock.
        with RawConn(b.port) as rc:
            rc.send(http_bytes("GET", "/health"))
            assert rc.read_json()[0] == 200
            time.sleep(0.8)
            rc.send(b"GET /health HTTP/1.1\r\n")
            t0 = time.monotonic()
            st, _, _ = rc.read_json(timeout=5)
            assert st == 408 and time.monotonic() - t0 >= 0.7, st
        assert b.get("/health")[0] == 200
        assert log_snapshot(b) == before


def test_idle_timeout_closes():
    with Cluster() as c:
        b = standalone(c, *SMALL)  # idle timeout 1500 ms
        with RawConn(b.port) as used, RawConn(b.port) as silent:
            used.send(http_bytes("GET", "/health"))
            assert used.read_json()[0] == 200
            t0 = time.monotonic()
            assert not used.closed_by_peer(1.0), "closed before the idle timeout"
            assert used.closed_by_peer(3.0), "idle keep-alive connection not closed"
            took = time.monotonic() - t0
            assert 1.2 <= took <= 3.5, "idle close after %.2fs (timeout 1.5s)" % took
            assert silent.closed_by_peer(2.0), "connection that never sent anything not closed"
        # Activity keeps a connection open past the idle timeout.
        with RawConn(b.port) as rc:
            for _ in range(5):
                rc.send(http_bytes("GET", "/health"))
                assert rc.read_json()[0] == 200
                time.sleep(0.5)


def test_max_connections_503():
    with Cluster() as c:
        b = standalone(c, "--max-connections", "10")
        conns = []
        try:
            for i in range(10):
                rc = RawConn(b.port)
                rc.send(http_bytes("GET", "/health"))
                st, obj, _ = rc.read_json()
                assert st == 200, (i, st, obj)
                conns.append(rc)
            extra = RawConn(b.port)
            try:
                st, obj, hdrs = extra.read_json(timeout=5)
                assert st == 503, (st, obj)
                assert obj.get("error_code") == 503, obj
                low = {k.lower(): v for k, v in hdrs.items()}
                assert low.get("x-broker-id") and "x-leader-epoch" in low, hdrs
                assert extra.closed_by_peer(3), "over-limit connection not closed"
            finally:
                extra.close()
            # The 10 accepted connections still work.
            for rc in conns:
                rc.send(http_bytes("GET", "/"))
                assert rc.read_json()[0] == 200
            # Freeing one slot lets a new client in.
            conns.pop().close()
            ok = False
            deadline = time.monotonic() + 5
            while not ok and time.monotonic() < deadline:
                with RawConn(b.port) as rc:
                    rc.send(http_bytes("GET", "/health"))
                    try:
                        st, obj, _ = rc.read_json(timeout=3)
                    except (EOFError, ConnectionResetError, BrokenPipeError):
                        st = None
                    ok = st == 200
                    if not ok:
                        time.sleep(0.1)
            assert ok, "slot not reusable after a connection closed"
        finally:
            for rc in conns:
                rc.close()


if __name__ == "__main__":
    brook.run([
        test_keep_alive_and_pipelining_byte_at_a_time,
        test_pipelined_read_sees_preceding_write,
        test_http10_and_connection_close,
        test_chunked_body_and_expect_continue,
        test_expect_continue_refused_body_gets_no_100,
        test_small_limits,
        test_default_limits,
        test_request_timeout_408,
        test_idle_timeout_closes,
        test_max_connections_503,
    ])
