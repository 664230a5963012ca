"""HTTP content coding against the real broker binary: produce bodies sent with
Content-Encoding gzip (x-gzip), zstd or a list of both read back byte-identical on all three
produce routes; a 1 GiB gzip or zstd bomb of about 1 MiB is 413 with nothing written while
/health stays fast and the broker's memory stays far below the bomb; unsupported codings are
415 naming the coding, a coded body on a route that takes none is 415, corrupt data is 400,
and none of them writes anything; answers of 1 KiB or more are coded as Accept-Encoding
prefers (zstd over gzip at equal q, q=0 excludes) with Vary and a Content-Length of the coded
bytes, small answers are not, and curl --compressed reads them.
zstd frames are made and read with the zstd command-line tool (Debian package zstd).
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_content_coding.py
"""
import base64
import gzip
import http.client
import json
import os
import random
import shutil
import subprocess
import threading
import time
import zlib

from brook import Cluster, RawConn, http_bytes, sanitizer_reports, strict_body

BINARY = "application/vnd.kafka.binary.v2+json"
ZSTD = shutil.which("zstd")
CURL = shutil.which("curl")
GIB = 1 << 30


def zstd_c(data, *flags):
    return subprocess.run([ZSTD, "-q", "-c", *flags], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def zstd_d(data):
    return subprocess.run([ZSTD, "-q", "-d", "-c"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def raw(b, method, path, body=None, headers=None, timeout=30):
    """One request; returns (status, body bytes as sent, lower-case headers). http.client
    adds nothing about codings when the caller names Accept-Encoding."""
    conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, data, {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


def stop_clean(b):
    """SIGTERM: the broker stops cleanly (exit 0) and, in the ASan build, LeakSanitizer and
    ASan found nothing (decode and coding jobs, exchanges and buffers all freed)."""
    assert b.terminate() == 0, b.stderr_text()[-2000:]
    assert not sanitizer_reports([b]), sanitizer_reports([b])


def doc_of(st_data_hdrs):
    st, data, hdrs = st_data_hdrs
    return st, strict_body(data, hdrs.get("content-type")), hdrs


def coded_produce(b, path, body, coding, ctype=BINARY):
    return doc_of(raw(b, "POST", path, body, {"Content-Type": ctype, "Content-Encoding": coding}))


def values(n, seed):
    rnd = random.Random(seed)
    return [("value %d; " % i).encode() * rnd.randint(1, 30) +
            bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 20))) for i in range(n)]


def batch(vals):
    return json.dumps({"records": [{"value": base64.b64encode(v).decode()} for v in vals]})


def hwm(b, topic, partition=0):
    st, doc, _ = b.get("/topics/%s/partitions/%d/offsets" % (topic, partition))
    assert st == 200, (st, doc)
    return doc["end_offset"]


def binary_values(b, topic):
    st, data, hdrs = raw(b, "GET", "/topics/%s/partitions/0/records?offset=0&max_records=10000"
                         "&format=binary" % topic, headers={"Accept-Encoding": "identity"})
    assert st == 200, (st, data[:200])
    doc = json.loads(data)
    return [base64.b64decode(r["value"]) for r in doc["records"]]


def make_topic(b, name, partitions=1):
    st, doc, _ = b.post_json("/topics", {"name": name, "partitions": partitions})
    assert st in (200, 201), (st, doc)


def test_coded_bodies_read_back_byte_identical():
    """gzip, x-gzip, zstd and "gzip, zstd" on /topics/{t}, /topics/{t}/partitions/{p} and the
    seed /produce; a gzip body of two members (what concatenating writers send) too."""
    with Cluster() as c:
        b = c.broker(standalone=True)
        make_topic(b, "coded")
        sent = []
        for i, (path, coding) in enumerate([("/topics/coded", "gzip"),
                                            ("/topics/coded/partitions/0", "x-gzip"),
                                            ("/topics/coded", "zstd"),
                                            ("/topics/coded/partitions/0", "gzip, zstd"),
                                            ("/topics/coded", "identity"),
                                            ("/topics/coded/partitions/0", "ZSTD")]):
            vals = values(50, i)
            plain = batch(vals).encode()
            body = {"gzip": lambda d: gzip.compress(d), "x-gzip": lambda d: gzip.compress(d),
                    "zstd": zstd_c, "ZSTD": zstd_c, "identity": lambda d: d,
                    "gzip, zstd": lambda d: zstd_c(gzip.compress(d))}[coding](plain)
            st, doc, _ = coded_produce(b, path, body, coding)
            assert st == 200, (coding, st, doc)
            assert all(o["error_code"] is None for o in doc["offsets"]), doc
            sent.extend(vals)
        half = len(plain) // 2  # two gzip members, one after the other
        two = gzip.compress(plain[:half]) + gzip.compress(plain[half:])
        st, doc, _ = coded_produce(b, "/topics/coded", two, "gzip")
        assert st == 200, (st, doc)
        sent.extend(vals)
        assert binary_values(b, "coded") == sent
        # the seed route: {"message", "topic"}
        seed = json.dumps({"message": "coded seed message", "topic": "seed"}).encode()
        for coding, body in (("gzip", gzip.compress(seed)), ("zstd", zstd_c(seed))):
            st, doc, _ = coded_produce(b, "/produce", body, coding, ctype="application/json")
            assert st == 200 and doc["status"] == "ok", (coding, st, doc)
        recs = b.read_all("seed")
        assert [r["value"] for r in recs] == ["coded seed message"] * 2, recs
        stop_clean(b)


def bomb_gzip():
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zero = bytes(1 << 20)
    out = [c.compress(zero) for _ in range(GIB >> 20)]
    out.append(c.flush())
    return b"".join(out)


def bomb_zstd():
    return subprocess.run("head -c %d /dev/zero | %s -q -c -3" % (GIB, ZSTD), shell=True,
                          stdout=subprocess.PIPE, check=True).stdout


def test_bombs_are_413_and_the_broker_stays_up():
    """1 GiB of zeros as a gzip member (about 1 MiB) and as a zstd frame (about 33 KiB), on the
    seed route (1 MiB limit) and a batch route (64 MiB limit): 413 with a JSON error, nothing
    written, /health answers within 1 s throughout, the broker's RSS stays far below 1 GiB."""
    gz, zs = bomb_gzip(), bomb_zstd()
    assert len(gz) < (1 << 20) and len(zs) < (1 << 20), (len(gz), len(zs))
    with Cluster() as c:
        b = c.broker(standalone=True)
        make_topic(b, "bombed")
        assert b.produce("before", topic="bombed")[0] == 200
        before = hwm(b, "bombed")
        results, slow = [], []

        def bomb(path, body, coding):
            results.append((path, coding) + coded_produce(b, path, body, coding,
                                                          ctype="application/json")[:2])

        def health_probe(stop):
            while not stop.is_set():
                t0 = time.monotonic()
                st, _, _ = b.get("/health", timeout=5)
                dt = time.monotonic() - t0
                if st != 200 or dt > 1.0:
                    slow.append((st, dt))
                time.sleep(0.01)

        stop = threading.Event()
        probe = threading.Thread(target=health_probe, args=(stop,))
        probe.start()
        bombs = [threading.Thread(target=bomb, args=(p, body, cod)) for p in
                 ("/produce", "/topics/bombed", "/topics/bombed/partitions/0")
                 for body, cod in ((gz, "gzip"), (zs, "zstd"))]
        for t in bombs:
            t.start()
        for t in bombs:
            t.join(60)
        stop.set()
        probe.join()
        assert len(results) == 6, results
        for path, coding, st, doc in results:
            assert st == 413, (path, coding, st, doc)
            assert doc["error_code"] == 413 and "limit" in doc["message"], doc
        assert not slow, "slow or failed /health during the bombs: %r" % slow[:5]
        for _ in range(10):  # clients that leave while their body decodes
            rc = RawConn(b.port)
            rc.send(http_bytes("POST", "/topics/bombed", zs,
                               headers=[("Content-Encoding", "zstd")]) * 2)
            rc.close()
        assert hwm(b, "bombed") == before
        assert b.get("/health")[0] == 200
        rss = b.rss_kib()
        assert rss < 400 * 1024, "RSS %d KiB after the bombs" % rss
        stop_clean(b)


def test_unsupported_codings_are_415_and_write_nothing():
    with Cluster() as c:
        b = c.broker(standalone=True)
        make_topic(b, "t")
        plain = batch(values(3, 1)).encode()
        for coding in ("br", "deflate", "compress", "snappy", "gzip, br", "frobnicate"):
            st, doc, _ = coded_produce(b, "/topics/t", plain, coding)
            assert st == 415, (coding, st, doc)
            bad = coding.split(", ")[-1]
            assert doc["error_code"] == 415 and '"%s"' % bad in doc["message"], doc
        st, doc, _ = coded_produce(b, "/topics/t", plain, "gzip;q=1")
        assert st == 400 and "malformed Content-Encoding" in doc["message"], (st, doc)
        st, doc, _ = coded_produce(b, "/topics/t", gzip.compress(plain),
                                   "gzip, gzip, gzip, gzip, gzip")
        assert st == 415 and "more than 4" in doc["message"], (st, doc)
        # a coded body on a route that takes none
        create = gzip.compress(json.dumps({"name": "made", "partitions": 1}).encode())
        st, doc, _ = doc_of(raw(b, "POST", "/topics", create,
                                {"Content-Type": "application/json",
                                 "Content-Encoding": "gzip"}))
        assert st == 415 and "only on produce routes" in doc["message"], (st, doc)
        assert b.get("/topics/made")[0] == 404
        # identity is no coding at all, anywhere; a GET without a body ignores the header
        st, doc, _ = doc_of(raw(b, "POST", "/topics", json.dumps({"name": "made"}),
                                {"Content-Type": "application/json",
                                 "Content-Encoding": "identity"}))
        assert st in (200, 201), (st, doc)
        st, _, _ = raw(b, "GET", "/topics/t", headers={"Content-Encoding": "gzip"})
        assert st == 200
        assert hwm(b, "t") == 0
        stop_clean(b)


def test_corrupt_bodies_are_400_and_write_nothing():
    with Cluster() as c:
        b = c.broker(standalone=True)
        make_topic(b, "t")
        plain = batch(values(20, 2)).encode()
        gz = bytearray(gzip.compress(plain))
        bad_crc = bytes(gz[:-8]) + bytes([gz[-8] ^ 1]) + bytes(gz[-7:])
        zs = zstd_c(plain, "--check")
        cases = [("gzip", bytes(gz[:len(gz) // 2]), "truncated"),
                 ("gzip", bad_crc, "bad crc"),
                 ("gzip", bytes(gz) + b"trailing", "trailing garbage"),
                 ("gzip", plain, "not gzip at all"),
                 ("zstd", zs[:len(zs) - 5], "truncated"),
                 ("zstd", zs[:-1] + bytes([zs[-1] ^ 0xff]), "bad checksum"),
                 ("zstd", gzip.compress(plain), "gzip sent as zstd"),
                 ("gzip, zstd", zstd_c(plain), "inner coding missing"),
                 ("gzip", b"", "empty")]
        for coding, body, what in cases:
            st, doc, _ = coded_produce(b, "/topics/t", body, coding)
            assert st == 400, (what, st, doc)
            assert "not valid" in doc["message"] and "nothing was written" in doc["message"], doc
        assert hwm(b, "t") == 0
        # the connection stays usable after a refusal: the next coded body is written
        st, doc, _ = coded_produce(b, "/topics/t", gzip.compress(plain), "gzip")
        assert st == 200, (st, doc)
        assert hwm(b, "t") == 20
        stop_clean(b)


def fill(b, topic, n=200):
    st, doc, _ = b.post_json("/topics/%s" % topic, batch(values(n, 3)), ctype=BINARY)
    assert st == 200, (st, doc)


def test_answers_coded_per_accept_encoding():
    with Cluster() as c:
        b = c.broker(standalone=True)
        make_topic(b, "r", partitions=40)
        fill(b, "r")
        path = "/topics/r/partitions/0/records?offset=0&max_records=200"
        st, ident, hdrs = raw(b, "GET", path, headers={"Accept-Encoding": "identity"})
        assert st == 200 and len(ident) > 4096 and "content-encoding" not in hdrs
        assert hdrs.get("vary") == "Accept-Encoding", hdrs
        want = json.loads(ident)
        want.pop("high_watermark", None)

        def same(data):
            got = json.loads(data)
            got.pop("high_watermark", None)
            return got == want

        for ae, coding in (("gzip", "gzip"), ("x-gzip", "gzip"), ("zstd", "zstd"),
                           ("gzip, zstd", "zstd"), ("gzip;q=1, zstd;q=0.5", "gzip"),
                           ("zstd;q=0, gzip", "gzip"), ("*", "zstd"),
                           ("gzip;q=0", None), ("*;q=0", None), ("br", None),
                           ("identity;q=1, gzip;q=0.5", None)):
            st, data, hdrs = raw(b, "GET", path, headers={"Accept-Encoding": ae})
            assert st == 200, (ae, st)
            assert hdrs.get("vary") == "Accept-Encoding", (ae, hdrs)
            assert hdrs.get("content-encoding") == coding, (ae, hdrs)
            assert int(hdrs["content-length"]) == len(data), (ae, hdrs)
            if coding == "gzip":
                assert len(data) < len(ident) // 2
                data = gzip.decompress(data)
            elif coding == "zstd":
                assert len(data) < len(ident) // 2
                data = zstd_d(data)
            assert same(data), ae
        # metadata: the partition list of a 40-partition topic is over 1 KiB
        st, data, hdrs = raw(b, "GET", "/topics/r/partitions", headers={"Accept-Encoding": "gzip"})
        assert st == 200 and hdrs.get("content-encoding") == "gzip", hdrs
        assert len(json.loads(gzip.decompress(data))) == 40
        # small answers pay nothing: no coding, no Vary
        for method, p, body in (("GET", "/health", None), ("GET", "/topics/r/partitions/0", None),
                                ("POST", "/produce", json.dumps({"message": "x", "topic": "r"}))):
            st, data, hdrs = raw(b, method, p, body, {"Accept-Encoding": "gzip, zstd",
                                                      "Content-Type": "application/json"})
            assert st == 200 and "content-encoding" not in hdrs and "vary" not in hdrs, (p, hdrs)
            json.loads(data)
        stop_clean(b)


def test_large_answers_coded_off_the_loop():
    """Pages of 64 KiB or more are coded on the threadpool: pipelined answers still leave in
    request order (a large coded read, a small read, another large one), and clients that
    leave while their answer is being coded cost nothing (the broker goes on serving)."""
    with Cluster() as c:
        b = c.broker(standalone=True)
        make_topic(b, "big")
        for i in range(6):
            st, doc, _ = b.post_json("/topics/big", batch(values(500, 10 + i)), ctype=BINARY)
            assert st == 200, (st, doc)
        big = "/topics/big/partitions/0/records?offset=0&max_records=3000"
        small = "/topics/big/partitions/0/records?offset=0&max_records=1"
        st, ident, _ = raw(b, "GET", big, headers={"Accept-Encoding": "identity"})
        assert st == 200 and len(ident) > 256 * 1024, len(ident)
        want = json.loads(ident)["records"]
        with RawConn(b.port) as rc:
            rc.send(http_bytes("GET", big, headers=[("Accept-Encoding", "gzip")]) +
                    http_bytes("GET", small, headers=[("Accept-Encoding", "zstd")]) +
                    http_bytes("GET", big, headers=[("Accept-Encoding", "zstd")]))
            st1, h1, b1 = rc.read_response()
            st2, h2, b2 = rc.read_response()
            st3, h3, b3 = rc.read_response()
        assert (st1, st2, st3) == (200, 200, 200)
        assert h1.get("content-encoding") == "gzip" and h3.get("content-encoding") == "zstd"
        assert "content-encoding" not in h2, h2  # one record: under 1 KiB
        assert json.loads(gzip.decompress(b1))["records"] == want
        assert len(json.loads(b2)["records"]) == 1
        assert json.loads(zstd_d(b3))["records"] == want
        assert len(b1) < len(ident) // 3 and len(b3) < len(ident) // 3
        for _ in range(20):  # ask, then leave before the answer
            rc = RawConn(b.port)
            rc.send(http_bytes("GET", big, headers=[("Accept-Encoding", "gzip")]) * 3)
            rc.close()
        st, data, hdrs = raw(b, "GET", big, headers={"Accept-Encoding": "gzip"})
        assert st == 200 and json.loads(gzip.decompress(data))["records"] == want
        assert b.get("/health")[0] == 200
        stop_clean(b)


def test_curl_compressed():
    with Cluster() as c:
        b = c.broker(standalone=True)
        make_topic(b, "r")
        fill(b, "r")
        url = b.url + "/topics/r/partitions/0/records?offset=0&max_records=200"
        out = subprocess.run([CURL, "-sS", "--compressed", "-D", "-", url],
                             stdout=subprocess.PIPE, check=True).stdout
        head, _, body = out.partition(b"\r\n\r\n")
        assert b"content-encoding: " in head.lower(), head
        assert len(json.loads(body)["records"]) == 200
        # a gzip body from a file, the way the README shows it
        path = os.path.join(c.dir, "body.json.gz")
        with open(path, "wb") as f:
            f.write(gzip.compress(batch(values(5, 9)).encode()))
        out = subprocess.run([CURL, "-sS", "--data-binary", "@" + path, "-H",
                              "Content-Encoding: gzip", "-H", "Content-Type: " + BINARY,
                              b.url + "/topics/r"], stdout=subprocess.PIPE, check=True).stdout
        assert len(json.loads(out)["offsets"]) == 5, out
        stop_clean(b)


if __name__ == "__main__":
    import brook
    brook.run([test_coded_bodies_read_back_byte_identical,
               test_bombs_are_413_and_the_broker_stays_up,
               test_unsupported_codings_are_415_and_write_nothing,
               test_corrupt_bodies_are_400_and_write_nothing,
               test_answers_coded_per_accept_encoding,
               test_large_answers_coded_off_the_loop,
               test_curl_compressed])
