"""The Kafka REST Proxy v2 surface and Brook's native extras, against a real broker: produce in
every content type with keys, partitions and headers, every error code, topic administration
(create, configs, add partitions, delete) surviving restarts, Accept negotiation, metrics,
streamed reads that follow the log, and retention deleting old segments."""
import base64
import http.client
import json
import os
import threading
import time

import brook
from brook import Cluster, kafka_partition, wait_until

V2_JSON = "application/vnd.kafka.json.v2+json"
V2_BIN = "application/vnd.kafka.binary.v2+json"


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


def check_error(resp, status, code=None):
    st, body, _ = resp
    assert st == status, "expected %d, got %d %s" % (status, st, body)
    assert isinstance(body, dict) and "message" in body and body["message"], body
    if code is not None:
        assert body["error_code"] == code, "expected error_code %d, got %s" % (code, body)


def all_records(b, topic, partition, fmt="binary"):
    st, body, _ = b.get("/topics/%s/partitions/%d/records?offset=0&max_records=10000&format=%s"
                        % (topic, partition, fmt))
    assert st == 200, body
    return body["records"]


def test_produce_json_binary_and_plain():
    with Cluster() as c:
        b = c.broker(standalone=True, args=["--partitions", "3"])
        st, body, _ = b.post_json("/topics/t", {"records": [
            {"value": {"a": 1}}, {"key": "k1", "value": [1, 2]}, {"value": "plain", "partition": 2}]},
            ctype=V2_JSON)
        assert st == 200, body
        assert body["key_schema_id"] is None and body["value_schema_id"] is None
        offs = body["offsets"]
        assert len(offs) == 3 and all(o["error_code"] is None for o in offs)
        assert offs[2]["partition"] == 2
        # keyed JSON records hash the key's JSON text, like Kafka's JSON serializer bytes
        assert offs[1]["partition"] == kafka_partition(b'"k1"', 3)
        st, body, _ = b.post_json("/topics/t/partitions/1", {"records": [
            {"key": b64("key"), "value": b64(b"\x00\xffbin"),
             "headers": [{"key": "h", "value": b64("hv")}]}]}, ctype=V2_BIN)
        assert st == 200 and body["offsets"][0]["partition"] == 1, body
        recs = all_records(b, "t", 1)
        last = recs[-1]
        assert base64.b64decode(last["value"]) == b"\x00\xffbin"
        assert base64.b64decode(last["key"]) == b"key"
        assert last["headers"] == [{"key": "h", "value": b64("hv")}]
        # application/json behaves as the json format; vnd.kafka.v2+json as binary
        st, body, _ = b.post_json("/topics/t/partitions/0", {"records": [{"value": "x"}]})
        assert st == 200, body
        st, body, _ = b.post_json("/topics/t/partitions/0", {"records": [{"value": b64("y")}]},
                                  ctype="application/vnd.kafka.v2+json")
        assert st == 200, body
        vals = [r["value"] for r in all_records(b, "t", 0, fmt="json")]
        assert vals[-2:] == ["x", "y"], vals
        # keyless records of one request share one partition (one batch)
        st, body, _ = b.post_json("/topics/t", {"records": [{"value": i} for i in range(10)]},
                                  ctype=V2_JSON)
        parts = {o["partition"] for o in body["offsets"]}
        offsets = [o["offset"] for o in body["offsets"]]
        assert len(parts) == 1 and offsets == list(range(offsets[0], offsets[0] + 10)), body


def test_rest_errors_change_nothing():
    with Cluster() as c:
        b = c.broker(standalone=True)
        assert b.post_json("/topics/e", {"records": [{"value": 1}]}, ctype=V2_JSON)[0] == 200
        before = b.get("/topics/e/partitions/0/offsets")[1]
        cases = [
            ({"records": []}, V2_JSON, 422, None),
            ({}, V2_JSON, 422, None),
            ('{"records": [', V2_JSON, 400, None),
            ({"records": [{"value": "!!notb64"}]}, V2_BIN, 422, 42202),
            ({"records": [{"key": 5, "value": b64("x")}]}, V2_BIN, 422, 42201),
            ({"records": [{"value": 1, "partition": -1}]}, V2_JSON, 422, 42206),
            ({"records": [{"value": 1}, {"value": 2, "partition": 9}]}, V2_JSON, 404, 40402),
            ({"records": [{"value": 1}]}, "application/vnd.kafka.avro.v2+json", 415, None),
            ({"records": [{"value": 1}]}, "text/plain", 415, None),
        ]
        for body, ctype, status, code in cases:
            check_error(b.post_json("/topics/e", body, ctype=ctype), status, code)
        check_error(b.post_json("/topics/e/partitions/7", {"records": [{"value": 1}]},
                                ctype=V2_JSON), 404, 40402)
        deep = '{"records":[{"value":' + "[" * 5000 + "]" * 5000 + "}]}"
        check_error(b.post_json("/topics/e", deep, ctype=V2_JSON), 400)
        assert b.get("/topics/e/partitions/0/offsets")[1] == before
        # refused requests never create topics
        check_error(b.post_json("/topics/new1", {"records": [{"value": 1, "partition": 5}]},
                                ctype=V2_JSON), 404, 40402)
        check_error(b.post_json("/topics/bad%20name", {"records": [{"value": 1}]},
                                ctype=V2_JSON), 422)
        assert b.get("/topics")[1] == ["e"]


def test_topic_admin_survives_restart():
    with Cluster() as c:
        b = c.broker(standalone=True)
        st, body, _ = b.post_json("/topics", {"name": "orders", "partitions": 4, "configs": {
            "retention.ms": "3600000", "segment.bytes": 1048576}})
        assert st == 201, body
        assert len(body["partitions"]) == 4 and body["configs"]["retention.ms"] == "3600000"
        check_error(b.post_json("/topics", {"name": "orders"}), 409, 40902)
        check_error(b.post_json("/topics", {"name": "x", "configs": {"nope": "1"}}), 422, 42205)
        check_error(b.post_json("/topics", {"name": "x", "partitions": 0}), 422)
        check_error(b.post_json("/topics", {"name": "a/b"}), 422, 42208)
        check_error(b.post_json("/topics", {"partitions": 2}), 422)
        assert "x" not in b.get("/topics")[1]
        st, body, _ = b.post_json("/topics/orders/partitions", {"partitions": 6})
        assert st == 200 and len(body["partitions"]) == 6, body
        check_error(b.post_json("/topics/orders/partitions", {"partitions": 2}), 422)
        b.produce("m", topic="orders")
        b.terminate()
        b.start()
        st, body, _ = b.get("/topics/orders")
        assert st == 200 and len(body["partitions"]) == 6, body
        assert body["configs"]["retention.ms"] == "3600000"
        assert body["configs"]["segment.bytes"] == "1048576"
        st, body, _ = b.request("DELETE", "/topics/orders")
        assert st == 200 and body["deleted"] is True, body
        check_error(b.get("/topics/orders"), 404, 40401)
        assert "orders" not in b.get("/topics")[1]
        b.terminate()
        b.start()
        assert "orders" not in b.get("/topics")[1]
        st, body, _ = b.post_json("/topics", {"name": "orders", "partitions": 1})
        assert st == 201, body
        st, body, _ = b.get("/topics/orders/partitions/0/offsets")
        assert body == {"beginning_offset": 0, "end_offset": 0}, body


def test_metadata_shapes_and_accept():
    with Cluster() as c:
        b = c.broker(standalone=True)
        b.produce("m", topic="m1")
        assert b.get("/")[1] == {}
        assert b.get("/brokers")[1] == {"brokers": [b.name]}
        st, body, hdrs = b.get("/topics/m1/partitions/0",
                               headers={"Accept": "application/vnd.kafka.v2+json"})
        assert st == 200 and hdrs["content-type"] == "application/vnd.kafka.v2+json", hdrs
        assert body["partition"] == 0 and body["leader"] == b.name
        assert body["replicas"] == [{"broker": b.name, "leader": True, "in_sync": True}]
        st, body, hdrs = b.get("/topics", headers={"Accept": "application/json, text/html;q=0.5"})
        assert st == 200 and hdrs["content-type"].startswith("application/json")
        check_error(b.get("/topics", headers={"Accept": "text/html"}), 406)
        check_error(b.get("/topics/nope/partitions"), 404, 40401)
        check_error(b.get("/topics/m1/partitions/3"), 404, 40402)
        check_error(b.get("/topics/m1/partitions/x"), 404, 40402)


def test_metrics():
    with Cluster() as c:
        b = c.broker(standalone=True)
        for i in range(5):
            assert b.produce("v%d" % i, topic="mt")[0] == 200
        b.get("/topics/mt/partitions/0/records?offset=0")
        b.get("/nope")
        st, text, hdrs = b.get("/metrics")
        assert st == 200 and hdrs["content-type"].startswith("text/plain"), hdrs
        lines = dict(l.rsplit(" ", 1) for l in text.splitlines() if l and not l.startswith("#"))
        assert lines['brook_http_responses_total{route="produce",code="2xx"}'] == "5"
        assert lines['brook_http_responses_total{route="unknown",code="4xx"}'] == "1"
        assert lines['brook_topic_records_in_total{topic="mt"}'] == "5"
        assert lines['brook_topic_records_out_total{topic="mt"}'] == "5"
        assert lines['brook_partition_high_watermark{topic="mt",partition="0"}'] == "5"
        assert int(lines["brook_log_flushes_total"]) >= 1
        assert lines['brook_log_flush_duration_seconds_count'] == lines["brook_log_flushes_total"]
        assert lines['brook_log_flush_duration_seconds_bucket{le="+Inf"}'] == \
            lines["brook_log_flushes_total"]
        assert lines['brook_role{role="standalone"}'] == "1"
        assert lines["brook_connections_open"] == "1"
        assert int(lines['brook_http_request_duration_seconds_count']) >= 6
        assert lines['brook_http_request_duration_seconds_bucket{le="+Inf"}'] == \
            lines['brook_http_request_duration_seconds_count']


def test_streamed_read_follows_the_log():
    with Cluster() as c:
        b = c.broker(standalone=True)
        for i in range(3):
            b.produce("early%d" % i, topic="s")
        conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=10)
        conn.request("GET", "/topics/s/partitions/0/records?offset=1&max_records=5",
                     headers={"Accept": "application/x-ndjson"})
        r = conn.getresponse()
        assert r.status == 200 and r.getheader("Content-Type") == "application/x-ndjson"
        assert r.getheader("Transfer-Encoding") == "chunked"
        got = []

        def later():
            time.sleep(0.3)
            for i in range(5):
                b.produce("late%d" % i, topic="s")
        t = threading.Thread(target=later)
        t.start()
        for line in r:  # ends after max_records=5 records
            got.append(json.loads(line))
        t.join()
        conn.close()
        assert [g["value"] for g in got] == ["early1", "early2", "late0", "late1", "late2"], got
        assert [g["offset"] for g in got] == [1, 2, 3, 4, 5]
        # a stream whose client hangs up is cleaned up; the broker keeps serving
        conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=5)
        conn.request("GET", "/topics/s/partitions/0/records", headers={"Accept": "application/x-ndjson"})
        r = conn.getresponse()
        assert r.status == 200
        conn.close()
        wait_until(lambda: b.get("/health")[1]["connections"] == 1, what="stream closed")
        # timeout_ms ends a stream
        conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=5)
        conn.request("GET", "/topics/s/partitions/0/records?offset=8&timeout_ms=300",
                      headers={"Accept": "application/x-ndjson"})
        start = time.monotonic()
        r = conn.getresponse()
        assert r.read() == b"" and time.monotonic() - start < 3
        conn.close()


def test_retention_deletes_old_segments_only():
    with Cluster() as c:
        b = c.broker(standalone=True, args=["--retention-check-ms", "200"])
        st, _, _ = b.post_json("/topics", {"name": "r", "configs": {
            "segment.bytes": "4096", "retention.bytes": "8192"}})
        assert st == 201
        payload = "x" * 500
        for i in range(60):
            assert b.produce(payload + str(i), topic="r")[0] == 200
        wait_until(lambda: b.get("/topics/r/partitions/0/offsets")[1]["beginning_offset"] > 0,
                   what="retention to move the log start")
        offs = b.get("/topics/r/partitions/0/offsets")[1]
        assert offs["end_offset"] == 60
        start = offs["beginning_offset"]
        st, body, _ = b.get("/topics/r/partitions/0/records?offset=%d&max_records=100" % start)
        assert st == 200 and body["records"][0]["offset"] == start
        assert body["records"][-1]["value"] == payload + "59"
        check_error(b.get("/topics/r/partitions/0/records?offset=0"), 416)
        def size():
            return int([l for l in b.get("/metrics")[1].splitlines()
                        if l.startswith('brook_partition_size_bytes{topic="r"')][0].split()[-1])
        # segment files are deleted off the loop: wait for the size to settle under the bound
        wait_until(lambda: size() <= 8192 + 4096 + 1024, what="retention by bytes")


def test_topic_creation_does_not_stop_the_broker():
    """Creating a topic makes and syncs a directory and files per partition: that runs off the
    loop, so other requests are answered while a 400-partition topic is being created, and
    concurrent first produces to one new topic create it once and all land in it."""
    with Cluster() as c:
        b = c.broker(standalone=True)
        result = {}

        def create():
            result["create"] = b.post_json("/topics", {"name": "wide", "partitions": 400})

        t = threading.Thread(target=create)
        started = time.monotonic()
        t.start()
        polls = []  # (sent, took) of each /health sent while the creation runs
        while t.is_alive():
            sent = time.monotonic()
            st, _, _ = b.get("/health")
            assert st == 200
            polls.append((sent, time.monotonic() - sent))
            time.sleep(0.002)
        t.join()
        took = time.monotonic() - started
        st, body, _ = result["create"]
        assert st == 201 and len(body["partitions"]) == 400, (st, body)
        # A creation on the loop would hold every /health sent in its first half for at least
        # half of it; off the loop each one is answered at once.
        early = [d for sent, d in polls if sent - started < took / 2]
        assert early, "no /health sent during the first half of a %.3f s creation" % took
        assert max(early) < took / 4, "a /health took %.3f s during a %.3f s creation" % (
            max(early), took)

        offsets, errors = [], []

        def produce(i):
            st, body, _ = b.produce("m%d" % i, topic="fresh")
            (offsets if st == 200 else errors).append(body.get("offset") if st == 200 else body)

        ts = [threading.Thread(target=produce, args=(i,)) for i in range(16)]
        for x in ts:
            x.start()
        for x in ts:
            x.join()
        assert not errors, errors
        assert sorted(offsets) == list(range(16))
        assert b.get("/topics")[1].count("fresh") == 1
        st, body, _ = b.get("/topics/fresh/partitions/0/offsets")
        assert body["end_offset"] == 16


def test_growing_a_topic_does_not_stop_the_broker():
    """Adding partitions makes and syncs a directory and files per new partition: that runs
    off the loop too, so the topic's existing partitions take produces while it grows by 400;
    a produce pipelined behind the growth to a new partition lands once it exists, and a
    DELETE from another connection during a growth waits for it, then deletes everything."""
    with Cluster() as c:
        b = c.broker(standalone=True)
        assert b.post_json("/topics", {"name": "grows", "partitions": 1})[0] == 201
        result = {}

        def grow():
            result["grow"] = b.post_json("/topics/grows/partitions", {"partitions": 401})

        t = threading.Thread(target=grow)
        started = time.monotonic()
        t.start()
        polls = []  # (sent, took, status) of each produce to partition 0 during the growth
        while t.is_alive():
            sent = time.monotonic()
            st, _, _ = b.post_json("/produce", {"message": "during", "topic": "grows",
                                                 "partition": 0})
            polls.append((sent, time.monotonic() - sent, st))
            time.sleep(0.002)
        t.join()
        took = time.monotonic() - started
        st, body, _ = result["grow"]
        assert st == 200 and len(body["partitions"]) == 401, (st, body)
        assert all(st == 200 for _, _, st in polls), polls
        early = [d for sent, d, _ in polls if sent - started < took / 2]
        assert early, "no produce sent during the first half of a %.3f s growth" % took
        assert max(early) < took / 4, "a produce took %.3f s during a %.3f s growth" % (
            max(early), took)
        st, body, _ = b.get("/topics/grows/partitions/0/offsets")
        assert body["end_offset"] == len(polls), (body, len(polls))

        with brook.RawConn(b.port) as conn, brook.RawConn(b.port) as other:
            records = json.dumps({"records": [{"value": "v"}]})
            conn.send(brook.http_bytes("POST", "/topics/grows/partitions",
                                       json.dumps({"partitions": 500})) +
                      brook.http_bytes("POST", "/topics/grows/partitions/499", records,
                                       content_type=V2_JSON))
            st, body, _ = conn.read_json()
            assert st == 200 and len(body["partitions"]) == 500, (st, body)
            st, body, _ = conn.read_json()
            assert st == 200 and body["offsets"][0]["partition"] == 499, (st, body)
            conn.send(brook.http_bytes("POST", "/topics/grows/partitions",
                                       json.dumps({"partitions": 900})))
            time.sleep(0.01)
            other.send(brook.http_bytes("DELETE", "/topics/grows"))
            st, body, _ = conn.read_json()
            assert st == 200 and len(body["partitions"]) == 900, (st, body)
            st, body, _ = other.read_json()
            assert st == 200 and body.get("deleted") is True, (st, body)
        assert b.get("/topics/grows")[0] == 404
        assert not os.path.exists(os.path.join(b.data_dir, "grows-499"))

def test_pipelined_requests_see_a_topic_being_created():
    """Requests pipelined behind a topic creation on one connection see the topic, as they
    would if it were created on the loop: a produce to its last partition, its metadata."""
    with Cluster() as c:
        b = c.broker(standalone=True)
        with brook.RawConn(b.port) as conn:
            records = json.dumps({"records": [{"value": "v"}]})
            conn.send(brook.http_bytes("POST", "/topics", json.dumps(
                {"name": "p", "partitions": 8})) +
                brook.http_bytes("POST", "/topics/p/partitions/7", records,
                                 content_type=V2_JSON) +
                brook.http_bytes("GET", "/topics/p"))
            st, body, _ = conn.read_json()
            assert st == 201 and len(body["partitions"]) == 8, (st, body)
            st, body, _ = conn.read_json()
            assert st == 200 and body["offsets"][0]["partition"] == 7, (st, body)
            st, body, _ = conn.read_json()
            assert st == 200 and len(body["partitions"]) == 8, (st, body)



def test_pipelined_delete_waits_for_the_writes_before_it():
    """A DELETE of a topic pipelined behind produces to it runs after they are answered, as
    the order on the connection says: each produce is acknowledged (200, its offset), then
    the topic is deleted, and a produce behind the DELETE creates the topic anew."""
    with Cluster() as c:
        b = c.broker(standalone=True)
        with brook.RawConn(b.port) as conn:
            records = json.dumps({"records": [{"value": "v"}]})
            produce = brook.http_bytes("POST", "/topics/doomed", records, content_type=V2_JSON)
            conn.send(produce * 3 + brook.http_bytes("DELETE", "/topics/doomed") + produce +
                      brook.http_bytes("GET", "/topics/doomed/partitions/0/offsets"))
            for k in range(3):
                st, body, _ = conn.read_json()
                assert st == 200 and body["offsets"][0]["offset"] == k, (k, st, body)
            st, body, _ = conn.read_json()
            assert st == 200, (st, body)
            st, body, _ = conn.read_json()
            assert st == 200 and body["offsets"][0]["offset"] == 0, (st, body)
            st, body, _ = conn.read_json()
            assert st == 200 and body["end_offset"] == 1, (st, body)

if __name__ == "__main__":
    brook.run([test_produce_json_binary_and_plain, test_rest_errors_change_nothing,
               test_topic_admin_survives_restart, test_metadata_shapes_and_accept, test_metrics,
               test_streamed_read_follows_the_log, test_retention_deletes_old_segments_only,
               test_topic_creation_does_not_stop_the_broker,
               test_growing_a_topic_does_not_stop_the_broker,
               test_pipelined_requests_see_a_topic_being_created,
               test_pipelined_delete_waits_for_the_writes_before_it])
