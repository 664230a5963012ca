#!/usr/bin/env python3
"""Open N idle HTTP/1.1 keep-alive connections to 127.0.0.1:PORT and hold them (bench `idle`).

Each connection first completes one `GET /health` (so it is a real, served keep-alive connection,
unless --no-request), then stays silent. Prints `READY open=N failed=N` once all are up, holds them
for --hold seconds while run.sh reads the server's RSS, then prints `HELD open=N closed=N`.
It never writes to a connection after its first request and never talks to anything but 127.0.0.1.
"""
import argparse
import resource
import selectors
import socket
import sys
import time

REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def response_complete(buf):
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    return len(body) >= length


def open_all(port, n, timeout):
    socks, failed = [], 0
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(("127.0.0.1", port))
            socks.append(s)
        except OSError:
            failed += 1
            s.close()
    return socks, failed


def serve_one_request_each(socks, timeout):
    sel = selectors.DefaultSelector()
    bufs = {}
    for s in socks:
        s.setblocking(False)
        s.send(REQUEST)  # 42 bytes into an empty socket buffer: never partial
        sel.register(s, selectors.EVENT_READ)
        bufs[s] = b""
    ok, deadline = [], time.monotonic() + timeout
    while bufs and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                sel.unregister(s)
                del bufs[s]
                s.close()
                continue
            bufs[s] += chunk
            if response_complete(bufs[s]):
                sel.unregister(s)
                del bufs[s]
                ok.append(s)
    for s in bufs:
        s.close()
    sel.close()
    return ok


def still_open(socks):
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1, socket.MSG_PEEK) != b"":
                alive += 1  # unexpected data, but open
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("port", type=int)
    ap.add_argument("-n", type=int, default=10000, help="connections (default 10000)")
    ap.add_argument("--hold", type=float, default=3.0, help="seconds to hold after READY")
    ap.add_argument("--no-request", action="store_true", help="connect only, send nothing")
    args = ap.parse_args()

    limit = raise_nofile(args.n + 64)
    if limit < args.n + 16:
        print(f"READY open=0 failed={args.n} error=nofile_limit_{limit}", flush=True)
        return 1
    t0 = time.monotonic()
    socks, failed = open_all(args.port, args.n, 5.0)
    if not args.no_request:
        served = serve_one_request_each(socks, 30.0)
        failed += len(socks) - len(served)
        socks = served
    print(f"READY open={len(socks)} failed={failed} seconds={time.monotonic() - t0:.2f}",
          flush=True)
    time.sleep(args.hold)
    alive = still_open(socks)
    print(f"HELD open={alive} closed={len(socks) - alive}", flush=True)
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
