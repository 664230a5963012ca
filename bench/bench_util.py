#!/usr/bin/env python3
"""Small helpers for bench/run.sh: free ports, waiting for a listener, one-shot probes, pre-fill.

Only the standard library, only 127.0.0.1. It never starts or stops processes; run.sh owns them.
Sub-commands print one machine-readable line on stdout and exit 0 on success, 1 otherwise.
"""
import http.client
import json
import os
import socket
import sys
import time

HOST = "127.0.0.1"


def cmd_freeport(_args):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    print(s.getsockname()[1])
    s.close()
    return 0


def cmd_wait(args):
    """wait PORT PID TIMEOUT_S: until PORT accepts, PID is gone (1) or time is up (1)."""
    port, pid, limit = int(args[0]), int(args[1]), float(args[2])
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    raise ProcessLookupError
        except (ProcessLookupError, FileNotFoundError):
            print("exited")
            return 1
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                print("up")
                return 0
        except OSError:
            time.sleep(0.05)
    print("timeout")
    return 1


def value_100(i):
    return ("%08d-" % i + "abcdefghijklmnopqrstuvwxyz" * 4)[:100]


def batch_body(n, start=0):
    return json.dumps({"records": [{"value": value_100(start + i)} for i in range(n)]},
                      separators=(",", ":"))


def request(port, method, path, body=None, ctype=None, timeout=10.0):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    headers = {"Content-Type": ctype} if ctype else {}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def count_items(data, keys):
    """Length of the first list found under one of keys (or the body itself if it is a list)."""
    try:
        doc = json.loads(data)
    except ValueError:
        return -1
    if isinstance(doc, list):
        return len(doc)
    if isinstance(doc, dict):
        for k in keys:
            if isinstance(doc.get(k), list):
                return len(doc[k])
    return -1


def cmd_probe(args):
    """probe PORT SCENARIO [QUERY]: one request like the scenario's (QUERY, e.g.
    '?compression=zstd', is appended to batch's path); prints 'status=N items=N bytes=N'."""
    port, scenario = int(args[0]), args[1]
    query = args[2] if len(args) > 2 else ""
    try:
        if scenario == "produce":
            body = json.dumps({"message": value_100(0), "topic": "bench"})
            st, data = request(port, "POST", "/produce", body, "application/json")
            items = 1 if st == 200 else 0
        elif scenario == "batch":
            st, data = request(port, "POST", "/topics/bench/partitions/0" + query,
                               batch_body(1000), "application/vnd.kafka.json.v2+json")
            items = count_items(data, ("offsets",))
        elif scenario == "read":
            st, data = request(port, "GET",
                               "/topics/bench/partitions/0/records?offset=0&max_records=1000")
            items = count_items(data, ("records", "messages"))
        else:
            st, data = request(port, "GET", "/health")
            items = 0
    except (OSError, http.client.HTTPException) as e:
        print(f"status=0 items=0 bytes=0 error={type(e).__name__}:{e}".replace(" ", "_"))
        return 1
    print(f"status={st} items={items} bytes={len(data)}")
    sys.stderr.write(data[:300].decode("utf-8", "replace") + "\n")
    return 0 if 200 <= st < 300 else 1


def cmd_prefill(args):
    """prefill PORT PAGES [QUERY]: PAGES batch produces of 1,000 records over one keep-alive
    connection (QUERY, e.g. '?compression=zstd', appended to the path)."""
    port, pages = int(args[0]), int(args[1])
    query = args[2] if len(args) > 2 else ""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    t0 = time.monotonic()
    for k in range(pages):
        conn.request("POST", "/topics/bench/partitions/0" + query, body=batch_body(1000, k * 1000),
                     headers={"Content-Type": "application/vnd.kafka.json.v2+json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            print(f"failed page={k} status={resp.status}")
            sys.stderr.write(data[:300].decode("utf-8", "replace") + "\n")
            return 1
    print(f"ok pages={pages} records={pages * 1000} seconds={time.monotonic() - t0:.2f}")
    return 0


def cmd_send(args):
    """send PORT SCENARIO N: exactly N scenario requests over one keep-alive connection (profiling)."""
    port, scenario, n = int(args[0]), args[1], int(args[2])
    if scenario == "produce":
        method, path, ctype = "POST", "/produce", "application/json"
        body = json.dumps({"message": value_100(0), "topic": "bench"})
    elif scenario == "batch":
        method, path, ctype = "POST", "/topics/bench/partitions/0", "application/vnd.kafka.json.v2+json"
        body = batch_body(1000)
    else:
        method, path, ctype, body = "GET", "/health", None, None
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    headers = {"Content-Type": ctype} if ctype else {}
    t0, bad = time.monotonic(), 0
    for _ in range(n):
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        bad += resp.status != 200
    print(f"sent={n} non200={bad} seconds={time.monotonic() - t0:.2f}")
    return 0 if bad == 0 else 1


def cmd_page(args):
    """page FILE: a synthetic 1,000-record read response (nginx's static reference for `read`)."""
    recs = [{"topic": "bench", "partition": 0, "offset": i, "timestamp": 1700000000000 + i,
             "key": None, "value": value_100(i), "headers": []} for i in range(1000)]
    with open(args[0], "w") as f:
        json.dump({"records": recs, "next_offset": 1000, "high_watermark": 1000}, f,
                  separators=(",", ":"))
    print(os.path.getsize(args[0]))
    return 0


def with_children(args):
    pids = set()
    for p in args:
        pids.add(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                pids.update(f.read().split())
        except OSError:
            pass
    return pids


def cmd_cpu(args):
    """cpu PID...: CPU seconds (user+system, all threads) of the PIDs and their direct children."""
    ticks = 0
    for p in with_children(args):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(") ", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    print("%.2f" % (ticks / os.sysconf("SC_CLK_TCK")))
    return 0


def cmd_sched(args):
    """sched PID...: CPU seconds and run-queue wait seconds (ready to run, no core free), summed
    over every thread of the PIDs, from /proc/PID/task/TID/schedstat: 'run=S wait=S'."""
    run = wait = 0
    for p in args:
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tids:
            try:
                with open(f"/proc/{p}/task/{t}/schedstat") as f:
                    a, b = f.read().split()[:2]
                run, wait = run + int(a), wait + int(b)
            except (OSError, ValueError):
                pass
    print("run=%.2f wait=%.2f" % (run / 1e9, wait / 1e9))
    return 0


def cmd_corestat(_args):
    """corestat: per-CPU 'cpuN=total,idle' jiffies from /proc/stat (idle includes iowait)."""
    out = []
    with open("/proc/stat") as f:
        for line in f:
            name, *vals = line.split()
            if name.startswith("cpu") and name != "cpu":
                v = [int(x) for x in vals[:8]]
                out.append(f"{name}={sum(v)},{v[3] + v[4]}")
    print(" ".join(out))
    return 0


def cmd_busy(args):
    """busy 'BEFORE' 'AFTER' N...: busy percent of cpuN between two corestat outputs."""
    before = dict(x.split("=") for x in args[0].split())
    after = dict(x.split("=") for x in args[1].split())
    res = []
    for n in args[2:]:
        (t0, i0), (t1, i1) = (map(int, before[f"cpu{n}"].split(","))), \
            (map(int, after[f"cpu{n}"].split(",")))
        dt = max(t1 - t0, 1)
        res.append("%.0f" % (100.0 * (dt - (i1 - i0)) / dt))
    print(" ".join(res))
    return 0


def cmd_disk(args):
    """disk DIR SECONDS: the disk's own group-commit ceiling next to the broker's: a loop of
    one 5,000-byte pwrite (about one flush round of the produce bench) and one fdatasync, in
    a preallocated file in DIR. Prints p50_us, p99_us and syncs per second."""
    path = os.path.join(args[0], "disk-probe.bin")
    size = 1 << 20
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.pwrite(fd, bytes(size), 0)
        os.fsync(fd)
        chunk, off, took = b"x" * 5000, 0, []
        end = time.monotonic() + float(args[1])
        while time.monotonic() < end:
            t = time.perf_counter()
            os.pwrite(fd, chunk, off)
            os.fdatasync(fd)
            took.append(time.perf_counter() - t)
            off = (off + len(chunk)) % (size - len(chunk))
    finally:
        os.close(fd)
        os.unlink(path)
    took.sort()
    print("p50_us=%.0f p99_us=%.0f per_s=%.0f" % (took[len(took) // 2] * 1e6,
          took[len(took) * 99 // 100] * 1e6, len(took) / sum(took)))
    return 0


def cmd_freezes(args):
    """freezes SECONDS: sleeps 5 ms at a time (200 wake-ups a second, ~1% of a core) and
    counts wake-ups more than 4 ms late: the whole machine stopped (a virtual machine throttled
    by its host), or the core was not given back for that long. Prints count=, ms= (their
    total) and per_s=."""
    dur = float(args[0])
    n, lost = 0, 0.0
    start = time.monotonic()
    while time.monotonic() - start < dur:
        t = time.monotonic()
        time.sleep(0.005)
        late = time.monotonic() - t - 0.005
        if late > 0.004:
            n += 1
            lost += late
    print("count=%d ms=%.0f per_s=%.1f" % (n, lost * 1e3, n / dur))
    return 0


def cmd_flushes(args):
    """flushes PORT: the broker's flush-round counters from /metrics, one line."""
    status, data = request(int(args[0]), "GET", "/metrics")
    if status != 200:
        print(f"status={status}")
        return 1
    want = {"brook_log_flushes_total": "rounds", "brook_log_batches_appended_total": "batches",
            "brook_log_flush_duration_seconds_sum": "seconds"}
    out = {}
    for line in data.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in want:
            out[want[parts[0]]] = parts[1]
    print(" ".join(f"{k}={out.get(k, 0)}" for k in ("rounds", "batches", "seconds")))
    return 0


def cmd_rss(args):
    """rss PID...: sum of VmRSS in KiB over the PIDs and their direct children."""
    total = 0
    for p in with_children(args):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    print(total)
    return 0


def cmd_consumers(args):
    """consumers PORT N [FORMAT]: N consumer instances for consume.lua and commits.lua: instance
    'c' alone in group bench<i> (format FORMAT, default json; auto.commit.enable false,
    auto.offset.reset earliest), partition 0 of topic bench assigned to it. Prints 'ok instances=N'."""
    port, n = int(args[0]), int(args[1])
    fmt = args[2] if len(args) > 2 else "json"
    ctype = "application/vnd.kafka.v2+json"
    for i in range(n):
        base = "/consumers/bench%d" % i
        steps = [(base, {"name": "c", "format": fmt, "auto.offset.reset": "earliest",
                         "auto.commit.enable": "false"}),
                 (base + "/instances/c/assignments",
                  {"partitions": [{"topic": "bench", "partition": 0}]})]
        for path, body in steps:
            st, data = request(port, "POST", path, json.dumps(body), ctype)
            if st not in (200, 204):
                print("failed path=%s status=%d" % (path, st))
                sys.stderr.write(data[:300].decode("utf-8", "replace") + "\n")
                return 1
    print("ok instances=%d" % n)
    return 0


def cmd_metric(args):
    """metric PORT PREFIX...: the /metrics lines starting with one of the PREFIXes, as
    'name{labels}=value' words on one line (the sum of all label sets when PREFIX ends in '+')."""
    status, data = request(int(args[0]), "GET", "/metrics")
    if status != 200:
        print("status=%d" % status)
        return 1
    out = []
    for prefix in args[1:]:
        total, summed = 0.0, prefix.endswith("+")
        for line in data.decode().splitlines():
            if line.startswith(prefix.rstrip("+")) and len(line.split()) == 2:
                if summed:
                    total += float(line.split()[1])
                else:
                    out.append("%s=%s" % tuple(line.split()))
        if summed:
            out.append("%s=%.0f" % (prefix.rstrip("+"), total))
    print(" ".join(out))
    return 0


def cmd_post(args):
    """post PORT PATH JSON [CTYPE]: one POST; prints 'status=N' and the body's first 200 bytes."""
    st, data = request(int(args[0]), "POST", args[1], args[2],
                       args[3] if len(args) > 3 else "application/json")
    print("status=%d %s" % (st, data[:200].decode("utf-8", "replace").replace("\n", " ")))
    return 0 if 200 <= st < 300 else 1


COMMANDS = {"freeport": cmd_freeport, "wait": cmd_wait, "probe": cmd_probe,
            "prefill": cmd_prefill, "send": cmd_send, "page": cmd_page, "cpu": cmd_cpu,
            "corestat": cmd_corestat, "busy": cmd_busy, "rss": cmd_rss, "disk": cmd_disk,
            "flushes": cmd_flushes, "freezes": cmd_freezes, "consumers": cmd_consumers,
            "metric": cmd_metric, "post": cmd_post, "sched": cmd_sched}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit("usage: bench_util.py {%s} ..." % "|".join(COMMANDS))
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
