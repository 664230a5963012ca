"""A TCP proxy for one broker <-> Redis link that a test can make misbehave (TESTPLAN.md faults
between a broker and Redis). Each direction of each connection ("up": client -> server, "down":
server -> client) is in one of four modes, applied to bytes as they are read:

  pass   forward at once;
  delay  forward `delay` seconds after they were read (order kept);
  hold   keep them, forwarded (in order) once the direction is set to pass or delay again;
  drop   discard them (with the other direction passing: a link that passes one way only).

reset() closes every connection with a TCP RST. Bytes held or delayed on a connection whose
client has hung up are still delivered to the server afterwards, as a real network that kept a
segment back would: that is how a command the broker gave up on (timeout) reaches Redis late.
set() applies to the connections open now and/or to those accepted later (`which`).
Only the standard library; loopback only. Use as a context manager or call close().
"""
import collections
import socket
import struct
import threading
import time

MODES = ("pass", "delay", "hold", "drop")


class _Direction:
    """One direction of one connection: a reader thread queues chunks, a writer thread sends
    each when it is due (None: held). EOF is queued as b"" and becomes a half close."""

    def __init__(self, conn, src, dst, mode, delay):
        self.conn, self.src, self.dst = conn, src, dst
        self.mode, self.delay = mode, delay
        self.queue = collections.deque()  # [due time or None, bytes]
        self.cv = threading.Condition()
        self.done = False
        self.bytes_in = self.bytes_out = 0

    def set(self, mode, delay):
        with self.cv:
            self.mode, self.delay = mode, delay
            if mode in ("pass", "delay"):
                now = time.monotonic()
                for item in self.queue:
                    if item[0] is None:
                        item[0] = now + (delay if mode == "delay" else 0.0)
            self.cv.notify_all()

    def pending(self):
        with self.cv:
            return sum(len(item[1]) for item in self.queue)

    def read_loop(self):
        while True:
            try:
                data = self.src.recv(65536)
            except OSError:
                data = b""
            with self.cv:
                self.bytes_in += len(data)
                if self.mode == "drop" and data:
                    continue
                due = (None if self.mode == "hold" else
                       time.monotonic() + (self.delay if self.mode == "delay" else 0.0))
                self.queue.append([due, data])
                self.cv.notify_all()
            if not data:
                return

    def write_loop(self):
        while True:
            with self.cv:
                while not self.done:
                    if self.queue and self.queue[0][0] is not None:
                        wait = self.queue[0][0] - time.monotonic()
                        if wait <= 0:
                            break
                        self.cv.wait(wait)
                    else:
                        self.cv.wait()
                if self.done:
                    return
                _, data = self.queue.popleft()
            try:
                if data:
                    self.dst.sendall(data)
                    self.bytes_out += len(data)
                else:
                    self.dst.shutdown(socket.SHUT_WR)
                    return
            except OSError:
                return

    def stop(self):
        with self.cv:
            self.done = True
            self.cv.notify_all()


class _Conn:
    def __init__(self, proxy, client, server, up, down, delay):
        self.client, self.server = client, server
        self.up = _Direction(self, client, server, up, delay)
        self.down = _Direction(self, server, client, down, delay)
        self.threads = [threading.Thread(target=f, daemon=True) for f in (
            self.up.read_loop, self.up.write_loop, self.down.read_loop, self.down.write_loop)]
        for t in self.threads:
            t.start()

    def reset(self):
        for d in (self.up, self.down):
            d.stop()
        for s in (self.client, self.server):
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            except OSError:
                pass


class FaultProxy:
    """Listens on 127.0.0.1:<port> (ephemeral) and connects each accepted client to
    127.0.0.1:<target_port>."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []
        self.future = ("pass", "pass", 0.0)
        self.refuse = False
        self.closed = False
        self.accepted = 0
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _accept_loop(self):
        while True:
            try:
                client, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                if self.closed or self.refuse:
                    client.close()
                    continue
                up, down, delay = self.future
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.accepted += 1
                self.conns.append(_Conn(self, client, server, up, down, delay))

    def set(self, up=None, down=None, delay=None, which="all"):
        """Modes for the up/down directions (None: unchanged) of the connections open now
        ("existing"), of those accepted from now on ("future"), or both ("all")."""
        for m in (up, down):
            assert m is None or m in MODES, m
        with self.lock:
            fu, fd, fdelay = self.future
            if which in ("all", "future"):
                self.future = (up or fu, down or fd, fdelay if delay is None else delay)
            conns = list(self.conns) if which in ("all", "existing") else []
        for c in conns:
            for d, m in ((c.up, up), (c.down, down)):
                if m is not None or delay is not None:
                    d.set(m or d.mode, d.delay if delay is None else delay)

    def held_up_bytes(self):
        """Bytes from clients waiting (held or delayed) on their way to the server."""
        with self.lock:
            return sum(c.up.pending() for c in self.conns)

    def reset(self, refuse=False):
        """RST every open connection; refuse=True also closes new ones at once until
        set_refuse(False)."""
        with self.lock:
            conns, self.conns = self.conns, []
            self.refuse = refuse
        for c in conns:
            c.reset()

    def set_refuse(self, refuse):
        with self.lock:
            self.refuse = refuse

    def close(self):
        with self.lock:
            self.closed = True
            conns, self.conns = self.conns, []
        try:
            self.lsock.close()
        except OSError:
            pass
        for c in conns:
            c.reset()
