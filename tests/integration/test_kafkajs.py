"""kafkajs 2.2.4 (npm, unmodified; `make test` installs it into tests/integration/node_modules)
against a Brook broker (issue 13, "Proof"): the admin client creates a topic (a second create
finds it there), lists it and reads its metadata; a producer with acks -1 writes records
uncompressed and with GZIP (the codec kafkajs ships), read back over HTTP with their keys,
values and headers and stored as sent (the gzip batches keep their codec on disk); an
idempotent producer (InitProducerId) does the same with its producer id and sequences kept in
the stored batches; two consumers of one group split a 4-partition topic, commit, one leaves
and the other takes over every partition, and every record is read with the value the log
holds at its offset. The steps run in kafkajs_client.js (node); this file judges the outcome.
A missing node or kafkajs is a failure, never a skip: CI must run these.
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_kafkajs.py
"""
import json
import os
import shutil
import socket
import struct
import subprocess

import brook
from brook import Cluster, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "kafkajs_client.js")
KAFKAJS_VERSION = "2.2.4"


def require_kafkajs():
    """Fails (never skips) when node or the pinned kafkajs is missing, saying how to fix it."""
    node = shutil.which("node")
    assert node, "node is not installed: run `make deps-test` (Debian nodejs and npm)"
    pkg = os.path.join(HERE, "node_modules", "kafkajs", "package.json")
    assert os.path.exists(pkg), \
        "kafkajs is not installed in %s: run `make deps-test` (npm install kafkajs@%s)" % (
            os.path.dirname(pkg), KAFKAJS_VERSION)
    with open(pkg) as f:
        version = json.load(f)["version"]
    assert version == KAFKAJS_VERSION, "kafkajs %s installed, %s wanted: run `make deps-test`" \
        % (version, KAFKAJS_VERSION)


def kafkajs(b, *args, timeout=360):
    """Runs one kafkajs_client.js scenario against broker b; returns its JSON outcome."""
    p = subprocess.run(["node", SCRIPT, args[0], "127.0.0.1:%d" % b.kport] + list(args[1:]),
                       cwd=HERE, capture_output=True, timeout=timeout)
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 0, "kafkajs %s exited %d:\n%s" % (args[0], p.returncode, err[-4000:])
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


def kafka_broker(c):
    port = free_port()
    b = c.broker(standalone=True, args=["--kafka-port", str(port)])
    b.kport = port
    brook.wait_port(port, proc=b.proc)
    return b


def api_keys(b):
    """The API keys b's ApiVersions (v0, raw) advertises."""
    hdr = struct.pack(">hhi", 18, 0, 1) + struct.pack(">h", 4) + b"test"
    with socket.create_connection(("127.0.0.1", b.kport), timeout=10) as s:
        s.sendall(struct.pack(">i", len(hdr)) + hdr)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = s.recv(65536)
            assert chunk, "ApiVersions not answered"
            data += chunk
    corr, err, n = struct.unpack(">ihi", data[4:14])
    assert (corr, err) == (1, 0), (corr, err)
    return {struct.unpack_from(">h", data, 14 + 6 * i)[0] for i in range(n)}


def stored_batches(b, topic, partition):
    """(base offset, attributes, producer id, base sequence) of every stored batch."""
    out = []
    for path in brook.partition_segments(b.data_dir, topic, partition):
        with open(path, "rb") as f:
            data = f.read()
        for start, _, base, _ in brook.segment_batches(path):
            attrs = struct.unpack_from(">h", data, start + 21)[0]
            pid = struct.unpack_from(">q", data, start + 43)[0]
            seq = struct.unpack_from(">i", data, start + 53)[0]
            out.append((base, attrs, pid, seq))
    return out


def check_read_back(b, topic, landed, first=0):
    """Every record kafkajs reported as written (record i at {partition, offset}) reads back
    over HTTP at that offset with key k<i>, value v<i> and header n=<i>."""
    logs = {}
    for rec in landed:
        p = rec["partition"]
        if p not in logs:
            logs[p] = {r["offset"]: r for r in b.read_all(topic, p)}
        r = logs[p].get(rec["offset"])
        i = rec["i"] + first
        assert r is not None, "record %d (partition %d offset %d) not in the log" % (
            i, p, rec["offset"])
        assert (r["key"], r["value"], r["headers"]) == \
            ("k%d" % i, "v%d" % i, [{"key": "n", "value": str(i)}]), (i, r)
    return logs


def no_closed_connections(b):
    log = b.stderr_text()
    assert "closing connection" not in log, [ln for ln in log.splitlines()
                                             if "closing connection" in ln][:5]


# ---- tests ------------------------------------------------------------------------------------

def test_admin():
    require_kafkajs()
    with Cluster() as c:
        b = kafka_broker(c)
        out = kafkajs(b, "admin", "adm", "4")
        assert out["created"] is True and out["again"] is False, out
        assert "adm" in out["listed"], out["listed"]
        (meta,) = out["metadata"]
        parts = sorted(meta["partitions"], key=lambda p: p["partitionId"])
        assert [p["partitionId"] for p in parts] == [0, 1, 2, 3], parts
        leader = parts[0]["leader"]
        for p in parts:
            assert (p["partitionErrorCode"], p["leader"], p["replicas"], p["isr"]) == \
                (0, leader, [leader], [leader]), p
        assert sorted((o["partition"], o["high"], o["low"]) for o in out["offsets"]) == \
            [(i, "0", "0") for i in range(4)], out["offsets"]
        st, body, _ = b.get("/topics/adm")
        assert st == 200 and len(body["partitions"]) == 4, body
        no_closed_connections(b)


def test_produce_plain_and_gzip():
    require_kafkajs()
    with Cluster() as c:
        b = kafka_broker(c)
        kafkajs(b, "admin", "prod", "4")
        for codec in ("none", "gzip"):
            landed = kafkajs(b, "produce", "prod", "60", codec, "plain")
            assert len(landed) == 60, landed
        # the second run's records i are again k<i>/v<i>: tell the runs apart by offset
        logs = {p: {r["offset"]: r for r in b.read_all("prod", p)} for p in range(4)}
        assert sum(len(v) for v in logs.values()) == 120, {p: len(v) for p, v in logs.items()}
        for p in range(4):
            assert sorted(logs[p]) == list(range(30)), (p, sorted(logs[p]))
            vals = [logs[p][o]["value"] for o in range(30)]
            mine = ["v%d" % i for i in range(60) if i % 4 == p]
            assert vals == mine + mine, (p, vals)
            # stored as sent: the first run's batches uncompressed, the second's gzip (codec 1)
            codecs = [(base, attrs & 7) for base, attrs, _, _ in stored_batches(b, "prod", p)]
            assert all(codec == (1 if base >= 15 else 0) for base, codec in codecs), codecs
            assert {codec for _, codec in codecs} == {0, 1}, codecs
        no_closed_connections(b)


def test_idempotent_producer():
    require_kafkajs()
    with Cluster() as c:
        b = kafka_broker(c)
        if 22 not in api_keys(b):  # InitProducerId: built on another branch (issue 13)
            print("SKIP test_idempotent_producer: this broker does not advertise "
                  "InitProducerId (API key 22)")
            return
        kafkajs(b, "admin", "idem", "4")
        landed = kafkajs(b, "produce", "idem", "80", "gzip", "idempotent")
        assert sorted((r["partition"], r["offset"]) for r in landed) == \
            sorted((p, o) for p in range(4) for o in range(20)), landed
        check_read_back(b, "idem", landed)
        for p in range(4):
            batches = stored_batches(b, "idem", p)
            pids = {pid for _, _, pid, _ in batches}
            assert len(pids) == 1 and min(pids) >= 0, batches
            # sequences: each batch starts where the previous one ended (per partition)
            assert [seq for _, _, _, seq in batches] == [base for base, _, _, _ in batches], \
                batches
        no_closed_connections(b)


def test_consumer_group():
    require_kafkajs()
    with Cluster() as c:
        b = kafka_broker(c)
        kafkajs(b, "admin", "grp", "4")
        check_read_back(b, "grp", kafkajs(b, "produce", "grp", "80", "gzip", "plain"))
        out = kafkajs(b, "group", "grp", "jsgroup", "40")
        split = out["firstSplit"]
        assert len(split["a"]) == 2 and len(split["b"]) == 2 and \
            sorted(split["a"] + split["b"]) == [0, 1, 2, 3], split
        assert out["takeover"] == [0, 1, 2, 3], out["takeover"]
        before = {int(p): n for p, n in out["before"].items()}
        after = {int(p): n for p, n in out["after"].items()}
        assert before == {p: 20 for p in range(4)} and after == {p: 30 for p in range(4)}, out
        # every record read, each offset with the one value the log holds there
        logs = {p: {r["offset"]: r["value"] for r in b.read_all("grp", p)} for p in range(4)}
        seen = {}
        for member, p, off, value in out["consumed"]:
            assert logs[p].get(off) == value, (member, p, off, value, logs[p].get(off))
            seen.setdefault((p, off), set()).add(member)
        missing = [(p, o) for p in range(4) for o in range(after[p]) if (p, o) not in seen]
        assert not missing, missing
        # what came after a left, b alone read
        for p in range(4):
            assert all(seen[(p, o)] == {"b"} for o in range(before[p], after[p])), p
        # committed: what kafkajs fetched, and the same over HTTP
        assert {int(p): o for p, o in out["committed"].items()} == after, out["committed"]
        st, body, _ = b.get("/consumers/jsgroup/offsets")
        assert st == 200, body
        assert {o["partition"]: (o["committed"], o["lag"]) for o in body["offsets"]} == \
            {p: (30, 0) for p in range(4)}, body
        no_closed_connections(b)


if __name__ == "__main__":
    brook.run([test_admin, test_produce_plain_and_gzip, test_idempotent_producer,
               test_consumer_group])
