#!/usr/bin/env python3
"""How answers leave an HTTPS connection, seen on the wire: pipelined answers written together
are sealed into one TLS record (not one record each), and thousands of small answers to a
client that stops reading (the socket full, answers queued, reading paused) all arrive, in
order, once it reads again. The client side is Python's ssl over memory BIOs, so the records' headers can be
counted before they are decrypted."""
import json
import select
import socket
import ssl
import time

import brook
from brook import Cluster
from test_tls import make_certs, tls_broker


class WireClient:
    """TLS over a plain socket through memory BIOs; counts application-data records received."""

    def __init__(self, port, ctx, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # a small window: the broker's sends meet a full socket sooner
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(30)
        self.sock.connect(("127.0.0.1", port))
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname="127.0.0.1")
        self.raw = b""  # received ciphertext not yet split into records
        self.records = 0
        self.plain = b""
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                self.receive()
        self.flush()

    def flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def receive(self):
        data = self.sock.recv(1 << 20)
        assert data, "the broker closed the connection"
        self.raw += data
        while len(self.raw) >= 5 and len(self.raw) >= 5 + int.from_bytes(self.raw[3:5], "big"):
            n = 5 + int.from_bytes(self.raw[3:5], "big")
            if self.raw[0] == 23 and self.obj.version() is not None:
                self.records += 1
            self.inc.write(self.raw[:n])
            self.raw = self.raw[n:]
        while True:
            try:
                chunk = self.obj.read(1 << 20)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                break
            if not chunk:
                break
            self.plain += chunk

    def send(self, data):
        self.obj.write(data)
        self.flush()

    def answers_ready(self):
        """The complete answers (status, body) decrypted so far."""
        got = []
        while True:
            head, sep, rest = self.plain.partition(b"\r\n\r\n")
            length = None
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if not sep or length is None or len(rest) < length:
                return got
            got.append((int(head.split()[1]), rest[:length]))
            self.plain = rest[length:]

    def answers(self, count, timeout=60):
        """The next count answers, reading as needed."""
        got = self.answers_ready()
        deadline = time.time() + timeout
        while len(got) < count:
            assert time.time() < deadline, "%d of %d answers" % (len(got), count)
            self.receive()
            got += self.answers_ready()
        return got


def test_pipelined_answers_share_one_record():
    with Cluster() as c:
        certs = make_certs(c.dir)
        b = tls_broker(c, certs, args=["--standalone"])
        w = WireClient(b.port, b.ctx)
        req = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        w.send(req)  # one round first: the session tickets arrive before or with its answer
        assert w.answers(1)[0][0] == 200
        time.sleep(0.2)
        w.sock.setblocking(False)
        try:
            w.receive()
        except BlockingIOError:
            pass
        w.sock.setblocking(True)
        before = w.records
        w.send(req * 10)  # ten requests in one record: answered together
        got = w.answers(10)
        assert all(st == 200 and json.loads(body)["status"] == "ok" for st, body in got), got
        print("10 pipelined answers in %d record(s)" % (w.records - before), flush=True)
        assert w.records - before == 1, w.records - before
        w.sock.close()
        assert not brook.sanitizer_reports([b])


def test_small_answers_to_a_client_that_stops_reading():
    """Small produce answers, a few at a time, to a client that reads nothing while it sends
    ~5 MB of requests (the broker's socket fills, its answers queue and past
    --max-conn-buffer-bytes it stops reading), then reads while it sends the rest: every answer
    arrives, in order."""
    with Cluster() as c:
        certs = make_certs(c.dir)
        b = tls_broker(c, certs, args=["--standalone", "--fsync", "never",
                                       "--max-conn-buffer-bytes", "500000"])
        w = WireClient(b.port, b.ctx, rcvbuf=4096)
        n = 40000  # ~6 MB of answers: more than the socket buffers on both ends hold
        body = json.dumps({"message": "m" * 20, "topic": "pipe"})
        req = ("POST /produce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n%s" % (len(body), body)).encode()
        w.obj.write(req * n)
        wire = w.out.read()  # all requests, encrypted
        step = len(wire) // (n // 40)  # about 40 requests: answered a few at a time, as they
        w.sock.setblocking(False)      # come, until the broker's socket is full
        sent = 0
        while sent < len(wire):  # send, reading nothing, until the sockets take no more
            try:
                sent += w.sock.send(wire[sent:sent + step])
            except BlockingIOError:
                break
            time.sleep(0.001)
        time.sleep(1.0)
        got, deadline = [], time.time() + 120
        while len(got) < n:  # now read, and send the rest as the broker takes it
            assert time.time() < deadline, "%d of %d answers" % (len(got), n)
            r, wr, _ = select.select([w.sock], [w.sock] if sent < len(wire) else [], [], 1.0)
            if wr:
                try:
                    sent += w.sock.send(wire[sent:sent + 65536])
                except BlockingIOError:
                    pass
            if r:
                w.receive()
                got += w.answers_ready()
        offsets = [json.loads(body_)["offset"] for st, body_ in got if st == 200]
        assert offsets == list(range(n)), (len(offsets), offsets[:3], offsets[-3:])
        print("%d answers in %d records" % (n, w.records), flush=True)
        w.sock.close()
        assert not brook.sanitizer_reports([b])


if __name__ == "__main__":
    brook.run([test_pipelined_answers_share_one_record,
               test_small_answers_to_a_client_that_stops_reading])
