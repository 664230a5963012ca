"""Compressed batches end to end, against the real broker binary: a topic per codec written
over HTTP reads back byte-identical (JSON and format=binary) and its batches on disk carry the
codec in attributes bits 0-2; compression.type set at creation, changed with
PUT /topics/{t}/configs (validated like creation, nothing changed on a refusal, durable across
a restart) and the producer's ?compression= choice; reads that start inside a compressed
batch; bytes before/after compression in /metrics; and with three brokers, followers holding
byte-identical copies of compressed batches, copying config changes, and replication_factor
accepted up to the live brokers.
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_compression.py
"""
import base64
import json
import os
import random

import brook
from brook import (Cluster, current_leader, partition_bytes, partition_segments, segment_batches,
                   start_brokers, wait_until)

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
BINARY = "application/vnd.kafka.binary.v2+json"


def values(n, seed):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        text = ("record %d of a compressible page; " % i) * rnd.randint(1, 20)
        out.append(text.encode() + bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 40))))
    return out


def produce_binary(b, topic, vals, query=""):
    body = {"records": [{"value": base64.b64encode(v).decode()} for v in vals]}
    st, doc, _ = b.post_json("/topics/%s/partitions/0%s" % (topic, query), body, ctype=BINARY)
    assert st == 200, (st, doc)
    return [o["offset"] for o in doc["offsets"]]


def read_binary(b, topic, offset=0, extra=""):
    st, doc, _ = b.get("/topics/%s/partitions/0/records?offset=%d&format=binary&max_records=10000%s"
                       % (topic, offset, extra))
    assert st == 200, (st, doc)
    return doc


def codecs_on_disk(b, topic):
    out = []
    for path in partition_segments(b.data_dir, topic):
        with open(path, "rb") as f:
            data = f.read()
        out += [data[start + 22] & 7 for start, _, _, _ in segment_batches(path)]
    return out


def create(b, name, configs=None, rf=None):
    body = {"name": name, "partitions": 1}
    if configs is not None:
        body["configs"] = configs
    if rf is not None:
        body["replication_factor"] = rf
    return b.post_json("/topics", body)


def put_configs(b, topic, configs):
    return b.request("PUT", "/topics/%s/configs" % topic, body=json.dumps({"configs": configs}),
                     headers={"Content-Type": "application/json"})


def test_topic_per_codec_reads_back_identical():
    with Cluster() as c:
        b = c.broker(standalone=True)
        for name, num in CODECS.items():
            topic = "c-" + name
            vals = values(200, num)
            offsets = produce_binary(b, topic, vals[:120], "?compression=" + name)
            assert offsets == list(range(120)), offsets
            produce_binary(b, topic, vals[120:], "?compression=" + name)
            doc = read_binary(b, topic)
            got = [base64.b64decode(r["value"]) for r in doc["records"]]
            assert got == vals, "%s: values differ" % name
            assert [r["offset"] for r in doc["records"]] == list(range(200))
            assert codecs_on_disk(b, topic) == [num, num], (name, codecs_on_disk(b, topic))
            # JSON reads too (string format), from inside the first batch.
            st, page, _ = b.get("/topics/%s/partitions/0/records?offset=117&max_records=5" % topic)
            assert st == 200 and [r["offset"] for r in page["records"]] == list(range(117, 122))
        sizes = {n: sum(end - start for p in partition_segments(b.data_dir, "c-" + n)
                        for start, end, _, _ in segment_batches(p)) for n in CODECS}
        assert all(sizes[n] < sizes["none"] for n in CODECS if n != "none"), sizes
        assert not brook.sanitizer_reports(c.brokers), brook.sanitizer_reports(c.brokers)


def test_read_inside_compressed_batch_and_max_bytes():
    with Cluster() as c:
        b = c.broker(standalone=True)
        vals = [("v%02d-" % i).encode() * 10 for i in range(10)]  # 40 bytes each
        produce_binary(b, "inside", vals, "?compression=zstd")
        assert codecs_on_disk(b, "inside") == [4]
        doc = read_binary(b, "inside", offset=6)
        assert [r["offset"] for r in doc["records"]] == [6, 7, 8, 9], doc
        assert base64.b64decode(doc["records"][0]["value"]) == vals[6]
        doc = read_binary(b, "inside", offset=2, extra="&max_bytes=120")
        assert [r["offset"] for r in doc["records"]] == [2, 3, 4], doc
        assert doc["next_offset"] == 5
        assert not brook.sanitizer_reports(c.brokers), brook.sanitizer_reports(c.brokers)


def test_compression_type_config_and_producer_choice():
    with Cluster() as c:
        b = c.broker(standalone=True)
        st, doc, _ = create(b, "ct", {"compression.type": "zstd"})
        assert st == 201 and doc["configs"]["compression.type"] == "zstd", (st, doc)
        produce_binary(b, "ct", [b"a" * 300])
        produce_binary(b, "ct", [b"b" * 300], "?compression=gzip")  # the topic's codec wins
        assert codecs_on_disk(b, "ct") == [4, 4]
        # Refusals change nothing.
        for bad in ({"compression.type": "brotli"}, {"compression.type": "lz4", "nope": "1"},
                    {"min.insync.replicas": "0"}, {"retention.ms": "-5"}):
            st, doc, _ = put_configs(b, "ct", bad)
            assert st == 422 and doc["error_code"] == 42205, (bad, st, doc)
        st, doc, _ = b.get("/topics/ct")
        assert doc["configs"]["compression.type"] == "zstd", doc
        st, doc, _ = put_configs(b, "ct", {"compression.type": "lz4", "retention.ms": "3600000"})
        assert st == 200 and doc["configs"]["compression.type"] == "lz4", (st, doc)
        assert doc["configs"]["retention.ms"] == "3600000"
        assert doc["configs"]["max.message.bytes"] == "1048576"  # untouched
        produce_binary(b, "ct", [b"c" * 300])
        assert codecs_on_disk(b, "ct") == [4, 4, 3]
        # "producer": the request's choice, uncompressed without one.
        st, _, _ = put_configs(b, "ct", {"compression.type": "producer"})
        assert st == 200
        produce_binary(b, "ct", [b"d" * 300], "?compression=snappy")
        produce_binary(b, "ct", [b"e" * 300])
        assert codecs_on_disk(b, "ct")[3:] == [2, 0]
        st, doc, _ = b.post_json("/topics/ct/partitions/0?compression=brotli",
                                 {"records": [{"value": "eA=="}]}, ctype=BINARY)
        assert st == 400, (st, doc)
        st, doc, _ = b.post_json("/produce?compression=gzip", {"message": "x" * 200, "topic": "ct"})
        assert st == 200, (st, doc)
        assert codecs_on_disk(b, "ct")[-1] == 1
        put_configs(b, "ct", {"compression.type": "gzip"})
        # Durable: a restart keeps the changed configs.
        b.terminate()
        b.start()
        st, doc, _ = b.get("/topics/ct/configs")
        assert st == 200 and doc["configs"]["compression.type"] == "gzip", doc
        assert doc["configs"]["retention.ms"] == "3600000"
        assert len(read_binary(b, "ct")["records"]) == 6
        st, doc, _ = put_configs(b, "missing", {"compression.type": "gzip"})
        assert st == 404, (st, doc)
        assert not brook.sanitizer_reports(c.brokers), brook.sanitizer_reports(c.brokers)


def test_broker_default_and_metrics():
    with Cluster() as c:
        b = c.broker(standalone=True, args=["--compression-type", "snappy"])
        produce_binary(b, "auto", [b"m" * 1000] * 20)
        st, doc, _ = b.get("/topics/auto")
        assert doc["configs"]["compression.type"] == "snappy", doc
        assert codecs_on_disk(b, "auto") == [2]
        st, text, _ = b.get("/metrics")
        lines = {ln.split(" ")[0]: int(ln.split(" ")[1]) for ln in text.splitlines()
                 if ln.startswith("brook_topic_batch_bytes") and 'topic="auto"' in ln}
        raw = lines['brook_topic_batch_bytes_uncompressed_total{topic="auto"}']
        stored = lines['brook_topic_batch_bytes_stored_total{topic="auto"}']
        assert raw > 20000 and stored < raw / 5, lines
        path = partition_segments(b.data_dir, "auto")[0]
        assert stored == sum(end - start for start, end, _, _ in segment_batches(path))
        assert not brook.sanitizer_reports(c.brokers), brook.sanitizer_reports(c.brokers)


def test_followers_copy_batches_and_configs():
    with Cluster() as c:
        r = c.redis()
        bs = start_brokers(c, r, 3, 2000, 500)
        lead = wait_until(lambda: current_leader(bs), timeout=20, what="a leader")[0]
        others = [b for b in bs if b is not lead]
        # Every broker fetching from the leader counts as alive.
        wait_until(lambda: create(lead, "probe", rf=3)[0] == 201, timeout=20,
                   what="replication_factor 3 accepted")
        st, doc, _ = create(lead, "rf4", rf=4)
        assert st == 422 and "3 broker" in doc["message"], (st, doc)
        st, doc, _ = create(lead, "rep", {"compression.type": "zstd",
                                          "min.insync.replicas": "2"}, rf=3)
        assert st == 201 and doc["replication_factor"] == 3, (st, doc)
        assert doc["configs"]["min.insync.replicas"] == "2"
        vals = values(300, 7)
        produce_binary(lead, "rep", vals[:150])
        produce_binary(lead, "rep", vals[150:], "?compression=lz4")
        want = partition_bytes(lead.data_dir, "rep")
        assert codecs_on_disk(lead, "rep") == [4, 4]
        for f in others:
            wait_until(lambda f=f: partition_bytes(f.data_dir, "rep") == want, timeout=20,
                       what="a follower's copy byte-identical")
        st, doc, _ = put_configs(lead, "rep", {"compression.type": "gzip"})
        assert st == 200
        for f in others:
            wait_until(lambda f=f: f.get("/topics/rep")[1]["configs"]["compression.type"]
                       == "gzip", timeout=20, what="a follower copying the config change")
            st, doc, _ = f.get("/topics/rep")
            assert doc["replication_factor"] == 3 and doc["configs"]["min.insync.replicas"] == "2"
        assert not brook.sanitizer_reports(c.brokers), brook.sanitizer_reports(c.brokers)


if __name__ == "__main__":
    brook.run([test_topic_per_codec_reads_back_identical,
               test_read_inside_compressed_batch_and_max_bytes,
               test_compression_type_config_and_producer_choice,
               test_broker_default_and_metrics,
               test_followers_copy_batches_and_configs])
