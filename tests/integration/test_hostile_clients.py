"""Hostile clients against one standalone broker: request-smuggling shapes, malformed and
deeply nested JSON, slowloris (slow headers, slow body), a client that never reads its
answers, thousands of idle connections. The broker must answer each precisely (or time it
out), stay up and responsive, keep memory bounded, and write nothing for a refused request."""
import os
import resource
import select
import selectors
import socket
import threading
import time

import brook
from brook import Cluster, RawConn, http_bytes, log_snapshot, produce_bytes


def standalone(c, *args, **kw):
    return c.broker(standalone=True, args=list(args), **kw)


def health_latency(b):
    t0 = time.monotonic()
    st, body, _ = b.get("/health", timeout=5)
    assert st == 200, body
    return time.monotonic() - t0, body


HEAD = b"POST /produce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
HIDDEN_BODY = b'{"message": "smuggled", "topic": "smuggled"}'
# A whole second request hidden where a body would be: if the broker ever frames a shape
# below differently than intended, this runs and topic "smuggled" appears.
HIDDEN = HEAD + b"Content-Length: %d\r\n\r\n%s" % (len(HIDDEN_BODY), HIDDEN_BODY)


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


SMUGGLING = [
    ("CL + TE", HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + HIDDEN, 400),
    ("TE + CL", HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n\r\n" % (len(HIDDEN) + 5)
     + b"0\r\n\r\n" + HIDDEN, 400),
    ("duplicate CL, different", HEAD + b"Content-Length: 0\r\nContent-Length: %d\r\n\r\n" % len(HIDDEN)
     + HIDDEN, 400),
    ("duplicate CL, same", HEAD + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
     % (len(HIDDEN_BODY), len(HIDDEN_BODY)) + HIDDEN_BODY, 400),
    ("CL list", HEAD + b"Content-Length: 0, %d\r\n\r\n" % len(HIDDEN) + HIDDEN, 400),
    ("CL +sign", HEAD + b"Content-Length: +%d\r\n\r\n" % len(HIDDEN_BODY) + HIDDEN_BODY, 400),
    ("CL negative", HEAD + b"Content-Length: -1\r\n\r\n" + HIDDEN, 400),
    ("CL hex", HEAD + b"Content-Length: 0x10\r\n\r\n" + HIDDEN, 400),
    ("CL inner space", HEAD + b"Content-Length: 1 0\r\n\r\n" + HIDDEN, 400),
    ("space before colon (CL)", HEAD + b"Content-Length : 0\r\n\r\n" + HIDDEN, 400),
    ("space before colon (TE)", HEAD + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + HIDDEN, 400),
    ("TE identity + CL", HEAD + b"Transfer-Encoding: identity\r\nContent-Length: 0\r\n\r\n" + HIDDEN, 400),
    ("TE chunked, identity", HEAD + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + HIDDEN, 400),
    ("TE xchunked", HEAD + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + HIDDEN, 400),
    ("TE twice", HEAD + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
     + HIDDEN, 400),
    ("TE vertical tab", HEAD + b"Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n" + HIDDEN, 400),
    ("chunk size zz", HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n" + HIDDEN, 400),
    ("chunk size -1", HEAD + b"Transfer-Encoding: chunked\r\n\r\n-1\r\n" + HIDDEN, 400),
    ("chunk size 0x", HEAD + b"Transfer-Encoding: chunked\r\n\r\n0x0\r\n\r\n" + HIDDEN, 400),
    ("chunk size overflow", HEAD + b"Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\n" + HIDDEN, 400),
    ("chunk size inner space", HEAD + b"Transfer-Encoding: chunked\r\n\r\n1 0\r\n" + HIDDEN, 400),
    ("chunk without CRLF", HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n" + HIDDEN, 400),
    ("chunk bare LF", HEAD + b"Transfer-Encoding: chunked\r\n\r\n0\n\n" + HIDDEN, 400),
    ("headers bare LF", b"POST /produce HTTP/1.1\nHost: x\nContent-Type: application/json\n"
     b"Content-Length: 0\n\n" + HIDDEN, 400),
    ("NUL in header", HEAD + b"X-A: a\x00b\r\nContent-Length: 0\r\n\r\n" + HIDDEN, 400),
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + HIDDEN, 400),
    ("HTTP/1.7", b"POST /produce HTTP/1.7\r\nHost: x\r\nContent-Length: 0\r\n\r\n" + HIDDEN, 505),
]


def test_smuggling_shapes_refused():
    with Cluster() as c:
        b = standalone(c)
        assert b.produce("seed", topic="t")[0] == 200
        before = log_snapshot(b)
        problems = []
        for name, data, status in SMUGGLING:
            with RawConn(b.port) as rc:
                rc.send(data)
                answers = []
                try:
                    while len(answers) < 3:
                        st, obj, _ = rc.read_json(timeout=2)
                        answers.append(st)
                except (EOFError, ConnectionResetError):
                    closed = True
                except socket.timeout:
                    closed = False
                if answers != [status] or not closed:
                    problems.append("%s: answers %s, closed %s (want [%d] then close)"
                                    % (name, answers, closed, status))
        assert health_latency(b)[0] < 1.0
        after = log_snapshot(b)
        assert after == before, "smuggled bytes were executed: %s -> %s" % (before, after)
        assert not problems, "\n".join(problems)


def test_upgrade_and_connect_answered_once():
    """One request, one response: an Upgrade or CONNECT request must not get a second,
    unsolicited answer that would shift every later response on the connection."""
    with Cluster() as c:
        b = standalone(c)
        problems = []
        for name, data in (
                ("Upgrade: websocket", b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n"
                                       b"Upgrade: websocket\r\n\r\n"),
                ("Upgrade: h2c", b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, "
                                 b"HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"),
                ("CONNECT", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")):
            with RawConn(b.port) as rc:
                rc.send(data)
                answers = []
                try:
                    while len(answers) < 3:
                        answers.append(rc.read_json(timeout=1.5)[0])
                except (EOFError, ConnectionResetError, socket.timeout):
                    pass
                if len(answers) != 1:
                    problems.append("%s: %d responses %s to one request" % (name, len(answers),
                                                                            answers))
        assert health_latency(b)[0] < 1.0
        assert not problems, "\n".join(problems)


def test_malformed_and_deeply_nested_json():
    with Cluster() as c:
        b = standalone(c)
        assert b.produce("seed", topic="t")[0] == 200
        before = log_snapshot(b)
        depth = 100000
        cases = [
            ("100k [ inside message", '{"topic": "deep", "message": ' + "[" * depth + "]" * depth + "}", (400,)),
            ("100k { under unknown key", '{"topic": "deep", "message": "x", "x": ' +
             '{"a": ' * depth + "1" + "}" * depth + "}", (400,)),
            ("100k [ never closed", '{"topic": "deep", "message": ' + "[" * depth, (400,)),
            ("100k [ bare", "[" * depth + "]" * depth, (400, 422)),
            ("100k [ bare, unclosed", "[" * depth, (400, 422)),
            ("NUL bytes", '{"topic": "deep", "message": "a\x00b"}', (400,)),
            ("lone surrogate escape ok or refused", '{"topic": "t2", "message": "\\ud800"}', (200, 400, 422)),
            ("deep but allowed (depth 50)", '{"topic": "t", "message": ' + "[" * 50 + "]" * 50 + "}", (200,)),
        ]
        for name, body, statuses in cases:
            t0 = time.monotonic()
            st, obj, _ = b.post_json("/produce", body, timeout=10)
            took = time.monotonic() - t0
            assert st in statuses, "%s: got %d %r, want one of %s" % (name, st, obj, statuses)
            if st != 200:
                assert obj.get("error_code") == st, (name, obj)
            assert took < 3.0, "%s took %.1fs" % (name, took)
            assert health_latency(b)[0] < 1.0, name
            if st == 200:
                before = log_snapshot(b)
        after = log_snapshot(b)
        assert "deep" not in after, after
        assert after == before, (before, after)
        recs = b.read_all("t")
        assert [r["value"] for r in recs] == ["seed", "[" * 50 + "]" * 50], recs


def test_slowloris_408_and_others_served():
    with Cluster() as c:
        b = standalone(c, "--request-timeout-ms", "1000")
        before = log_snapshot(b)
        request = produce_bytes("slow", topic="slowloris")
        head_len = request.index(b"\r\n\r\n") + 4
        results = {}

        # Headers 1 byte / 200 ms (one client, then a crowd of 40); body 1 byte / 300 ms.
        threads = [threading.Thread(target=dribble, args=(b, results, "headers", request, 0,
                                                          head_len, 0.2)),
                   threading.Thread(target=dribble, args=(b, results, "body", request, head_len,
                                                          len(request) - 1, 0.3))]
        crowd = [threading.Thread(target=dribble, args=(b, results, "crowd%d" % i, request, 0,
                                                        head_len, 0.2)) for i in range(40)]
        for t in threads + crowd:
            t.start()
        lat = []
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            lat.append(health_latency(b)[0])
            time.sleep(0.05)
        for t in threads + crowd:
            t.join(15)
        for name, res in sorted(results.items()):
            assert res[0] == 408, "%s: %s" % (name, res)
            assert 0.9 <= res[1] <= 2.6, "%s: 408 after %.2fs (timeout 1s)" % (name, res[1])
            assert res[2], "%s: connection not closed after 408" % name
        assert len(results) == 42, sorted(results)
        assert max(lat) < 0.5, "other clients slowed to %.2fs during slowloris" % max(lat)
        assert log_snapshot(b) == before


def dribble(b, results, name, data, start, stop, delay):
    """Sends data[:start] at once, then data[start:stop] one byte per `delay` seconds until
    the broker answers; records (status, seconds since the first byte, closed afterwards)."""
    rc = RawConn(b.port)
    t0 = time.monotonic()
    try:
        rc.send(data[:start])
        for i in range(start, stop):
            rc.sock.sendall(data[i:i + 1])
            if select.select([rc.sock], [], [], delay)[0]:
                break
        st, _, _ = rc.read_json(timeout=5)
        results[name] = (st, time.monotonic() - t0, rc.closed_by_peer(3))
    except Exception as e:  # noqa: BLE001
        results[name] = ("error", repr(e))
    finally:
        rc.close()


def never_reads(port, n, tag, out):
    """Pipelines n produces without ever reading; gives up sending once the broker stops
    taking bytes for 1.5 s; then closes (with unread answers in the buffer)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    payload = b"".join(produce_bytes("%s-%d" % (tag, i), topic="noread") for i in range(n))
    s.setblocking(False)
    sent, stalled_since = 0, None
    while sent < len(payload):
        try:
            k = s.send(payload[sent:sent + 65536])
            sent += k
            stalled_since = None
        except BlockingIOError:
            now = time.monotonic()
            stalled_since = stalled_since or now
            if now - stalled_since > 1.5:
                break
            time.sleep(0.01)
    out[tag] = (sent, len(payload))
    s.close()


def test_client_that_never_reads():
    with Cluster() as c:
        b = standalone(c, "--fsync=never")
        assert b.produce("warm", topic="warm")[0] == 200
        rss0 = b.rss_kib()
        out = {}
        peak = [rss0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    peak[0] = max(peak[0], b.rss_kib())
                except OSError:
                    return
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        clients = [threading.Thread(target=never_reads, args=(b.port, 5000, "c%d" % i, out))
                   for i in range(3)]
        for t in clients:
            t.start()
        lat = []
        while any(t.is_alive() for t in clients):
            lat.append(health_latency(b)[0])
            time.sleep(0.1)
        for t in clients:
            t.join()
        # Connections go away once the clients closed.
        brook.wait_until(lambda: b.get("/health")[1]["connections"] <= 1, timeout=10,
                         what="connections of closed non-reading clients to be released")
        stop.set()
        sampler.join()
        grew = peak[0] - rss0
        print("    never-reading clients: sent %s; RSS %d KiB -> peak %d KiB (+%d KiB); "
              "max /health latency %.3fs" % (out, rss0, peak[0], grew, max(lat or [0])))
        assert grew < 64 * 1024, "RSS grew by %d KiB for 3 non-reading clients" % grew
        assert max(lat or [0]) < 1.0, "broker unresponsive while clients did not read"
        # What was written is exactly an in-order prefix of each client's stream.
        recs = b.read_all("noread")
        per = {}
        for r in recs:
            tag, i = r["value"].rsplit("-", 1)
            per.setdefault(tag, []).append(int(i))
        for tag, seq in per.items():
            assert seq == list(range(len(seq))), "client %s: records not an in-order prefix" % tag
        assert [r["offset"] for r in recs] == list(range(len(recs)))


def test_never_reading_client_of_large_answers():
    """2,000 pipelined reads of a ~500 KB page (about 1 GB of answers) from a client that
    never reads: the broker must stop reading from it instead of buffering the answers."""
    with Cluster() as c:
        b = standalone(c, "--fsync=never")
        for i in range(10):
            st, body, _ = b.produce("%d" % i * 50000, topic="big")
            assert st == 200, body
        rss0 = b.rss_kib()
        s = socket.create_connection(("127.0.0.1", b.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        req = http_bytes("GET", "/topics/big/partitions/0/records?offset=0&max_records=10")
        s.settimeout(0.2)
        sent = 0
        for _ in range(2000):
            try:
                s.sendall(req)
                sent += 1
            except socket.timeout:
                break
        peak, lat = rss0, []
        t_end = time.monotonic() + 2.0
        while time.monotonic() < t_end:
            peak = max(peak, b.rss_kib())
            lat.append(health_latency(b)[0])
            time.sleep(0.05)
        s.close()
        brook.wait_until(lambda: b.get("/health")[1]["connections"] <= 1, timeout=10,
                         what="the non-reading connection to be released")
        print("    non-reading client sent %d of 2000 reads (%d answers of ~500 KB possible); "
              "RSS %d -> peak %d KiB; max /health latency %.3fs" % (sent, sent, rss0, peak,
                                                                    max(lat)))
        assert peak - rss0 < 100 * 1024, "RSS grew by %d KiB for one non-reading client" % (
            peak - rss0)
        assert max(lat) < 2.0, "broker unresponsive while a client did not read"
        assert b.get("/health")[0] == 200


def test_many_idle_connections_cheap_then_closed():
    n = int(os.environ.get("BROOK_IT_IDLE_CONNS", "2000"))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 200
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        soft = min(want, hard)
    n = min(n, soft - 200)
    assert n >= 500, "RLIMIT_NOFILE too small for this test (%d)" % soft
    with Cluster() as c:
        b = standalone(c, "--idle-timeout-ms", "1000")
        assert b.get("/health")[0] == 200
        time.sleep(0.3)
        rss0, fds0 = b.rss_kib(), b.fd_count()
        sel = selectors.DefaultSelector()
        socks = []
        opened = {}
        try:
            t_open = time.monotonic()
            for i in range(n):
                s = socket.create_connection(("127.0.0.1", b.port), timeout=5)
                s.setblocking(False)
                opened[s.fileno()] = time.monotonic()
                sel.register(s, selectors.EVENT_READ)
                socks.append(s)
            t_open = time.monotonic() - t_open
            st, h, _ = b.get("/health")
            conns = h["connections"]
            rss1, fds1 = b.rss_kib(), b.fd_count()
            per_conn = (rss1 - rss0) * 1024.0 / n
            print("    %d idle connections opened in %.2fs: broker sees %d, fds %d -> %d, "
                  "RSS %d -> %d KiB (%.0f bytes per connection)"
                  % (n, t_open, conns, fds0, fds1, rss0, rss1, per_conn))
            assert conns >= n, "broker counts %d connections, %d are open" % (conns, n)
            assert fds1 - fds0 >= n, (fds0, fds1)
            assert per_conn < 32 * 1024, "%.0f bytes of RSS per idle connection" % per_conn
            # Each closes after about the idle timeout, not before.
            early, closed = [], 0
            deadline = time.monotonic() + 10
            while closed < n and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=0.5):
                    s = key.fileobj
                    try:
                        data = s.recv(100)
                    except ConnectionResetError:
                        data = b""
                    if data:
                        early.append("got bytes %r" % data[:40])
                    age = time.monotonic() - opened[s.fileno()]
                    if age < 0.9:
                        early.append("closed after %.2fs" % age)
                    sel.unregister(s)
                    s.close()
                    closed += 1
            assert closed == n, "only %d of %d idle connections closed by the idle timeout" % (
                closed, n)
            assert not early, "%d connections misbehaved, e.g. %s" % (len(early), early[:3])
            brook.wait_until(lambda: b.get("/health")[1]["connections"] <= 1, timeout=5,
                             what="connection count back to 1")
            assert b.fd_count() <= fds0 + 2, (fds0, b.fd_count())
        finally:
            for s in socks:
                try:
                    s.close()
                except OSError:
                    pass
            sel.close()


if __name__ == "__main__":
    brook.run([
        test_smuggling_shapes_refused,
        test_upgrade_and_connect_answered_once,
        test_malformed_and_deeply_nested_json,
        test_slowloris_408_and_others_served,
        test_client_that_never_reads,
        test_never_reading_client_of_large_answers,
        test_many_idle_connections_cheap_then_closed,
    ])
