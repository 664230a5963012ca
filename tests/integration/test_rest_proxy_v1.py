"""REST Proxy v1 consumer API with real brokers: the v1 flow end to end over chunked bodies
(create with v1 names, consume a topic through GET .../topics/{t}, 409 40901 on another topic,
an empty-body commit answering [{"topic","partition","consumed","committed"}], DELETE without a
Content-Type, the commit visible in the group view), Accept lists with q-values, json and
binary formats, smallest/largest, the stateless GET .../messages?offset=&count=, a follower
forwarding v1 requests to the leader, and every error code with its status.
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_rest_proxy_v1.py
"""
import base64
import json

import brook
from brook import Cluster, RawConn, http_bytes, start_brokers, wait_leader, wait_until

V1 = "application/vnd.kafka.v1+json"
V1_BIN = "application/vnd.kafka.binary.v1+json"
V1_JSON = "application/vnd.kafka.json.v1+json"
V2 = "application/vnd.kafka.v2+json"
V2_BIN = "application/vnd.kafka.binary.v2+json"
V2_JSON = "application/vnd.kafka.json.v2+json"


def chunked(method, target, obj=None, ctype=V1, headers=()):
    """A request whose body (if any) is sent in chunked transfer coding, in small pieces."""
    hdrs = list(headers)
    if obj is None:
        return http_bytes(method, target, None, hdrs, content_type=ctype)
    body = json.dumps(obj).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7])
                      for i in range(0, len(body), 7)) + b"0\r\n\r\n"
    hdrs.append(("Transfer-Encoding", "chunked"))
    return http_bytes(method, target, chunks, hdrs, content_type=ctype)


def raw(b, data, timeout=15):
    with RawConn(b.port, timeout=timeout) as c:
        c.send(data)
        return c.read_json(timeout)


def b64(s):
    return base64.b64encode(s.encode()).decode()


def unb64(s):
    return base64.b64decode(s).decode() if s is not None else None


def create_topic(b, name, partitions=1):
    st, body, _ = b.post_json("/topics", {"name": name, "partitions": partitions})
    assert st == 201, (st, body)


def produce_bin(b, topic, values, partition=0, keys=None):
    recs = [{"value": b64(v)} for v in values]
    for r, k in zip(recs, keys or []):
        r["key"] = b64(k)
    st, body, _ = b.post_json("/topics/%s/partitions/%d" % (topic, partition), {"records": recs},
                              ctype=V2_BIN, timeout=30)
    assert st == 200, (st, body)


def new_v1(b, group, ctype=V1, **cfg):
    st, body, hdrs = b.post_json("/consumers/%s" % group, cfg, ctype=ctype)
    assert st == 200, (st, body)
    assert set(body) == {"instance_id", "base_uri"}, body
    assert body["base_uri"].endswith("/consumers/%s/instances/%s" % (group, body["instance_id"]))
    return body["instance_id"]


def inst(group, name, rest=""):
    return "/consumers/%s/instances/%s%s" % (group, name, rest)


def read_topic(b, group, name, topic, accept=V1_BIN, query=""):
    return b.get(inst(group, name, "/topics/%s%s" % (topic, query)),
                 headers={"Accept": accept} if accept else {}, timeout=20)


def read_until(b, group, name, topic, want, accept=V1_BIN):
    """Reads until want records came back in all (the first reads may be empty while the
    subscription's rebalance completes); returns them in order."""
    got = []

    def more():
        st, body, hdrs = read_topic(b, group, name, topic, accept)
        assert st == 200, (st, body)
        got.extend(body)
        return len(got) >= want
    wait_until(more, timeout=20, interval=0, what="%d records through the v1 read" % want)
    return got


def check_error(resp, status, code):
    st, body, _ = resp
    assert st == status, "expected %d, got %d %s" % (status, st, body)
    assert isinstance(body, dict) and body.get("message"), body
    assert body["error_code"] == code, "expected error_code %d, got %s" % (code, body)


def committed(b, group, topic, partition=0):
    st, view, _ = b.get("/consumers/%s/offsets" % group)
    assert st == 200, (st, view)
    for entry in view.get("offsets", view.get("partitions", [])):
        if entry["topic"] == topic and entry["partition"] == partition:
            return entry.get("committed", entry.get("offset"))
    return None


def test_v1_flow_over_chunked_bodies():
    """Create (v1 "id", smallest) with a chunked body, consume via .../topics/{t}, 409 40901
    for another topic, empty-body commit with its exact answer, DELETE without Content-Type."""
    with Cluster() as c:
        b = c.broker(standalone=True)
        create_topic(b, "v1a")
        create_topic(b, "v1b")
        produce_bin(b, "v1a", ["a0", "a1", "a2"], keys=["k0", "k1", "k2"])
        st, body, hdrs = raw(b, chunked("POST", "/consumers/g1",
                                        {"id": "c1", "format": "binary",
                                         "auto.offset.reset": "smallest",
                                         "auto.commit.enable": "false"}))
        assert st == 200, (st, body)
        assert body["instance_id"] == "c1", body
        assert body["base_uri"] == "%s/consumers/g1/instances/c1" % b.url, body
        assert hdrs["content-type"] == V1, hdrs
        recs = read_until(b, "g1", "c1", "v1a", 3)
        assert recs == [{"key": b64("k%d" % i), "value": b64("a%d" % i), "partition": 0,
                         "offset": i} for i in range(3)], recs
        st, body, hdrs = read_topic(b, "g1", "c1", "v1a")
        assert st == 200 and body == [] and hdrs["content-type"] == V1_BIN, (st, body, hdrs)
        # one topic per v1 instance
        check_error(read_topic(b, "g1", "c1", "v1b"), 409, 40901)
        # the empty-body commit (chunked, zero length) answers what it committed
        st, body, hdrs = raw(b, b"POST /consumers/g1/instances/c1/offsets HTTP/1.1\r\n"
                                b"Host: x\r\nContent-Type: " + V1.encode() +
                                b"\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        assert st == 200, (st, body)
        assert body == [{"topic": "v1a", "partition": 0, "consumed": 3, "committed": 3}], body
        assert hdrs["content-type"] == V1, hdrs
        assert committed(b, "g1", "v1a") == 3
        # DELETE without any Content-Type
        st, _, _ = raw(b, b"DELETE /consumers/g1/instances/c1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert st == 204
        check_error(read_topic(b, "g1", "c1", "v1a"), 404, 40403)
        # a new instance of the group resumes from the commit
        name = new_v1(b, "g1", **{"auto.offset.reset": "smallest"})
        produce_bin(b, "v1a", ["a3"])
        recs = read_until(b, "g1", name, "v1a", 1)
        assert [(r["offset"], unb64(r["value"])) for r in recs] == [(3, "a3")], recs
        # DELETE with a v1 Content-Type and an empty body
        st, _, _ = b.request("DELETE", inst("g1", name), headers={"Content-Type": V1})
        assert st == 204


def test_commit_with_nothing_read_and_v2_unchanged():
    with Cluster() as c:
        b = c.broker(standalone=True)
        create_topic(b, "nr")
        name = new_v1(b, "g2")
        st, body, hdrs = b.request("POST", inst("g2", name, "/offsets"),
                                   headers={"Content-Type": V1})
        assert st == 200 and body == [] and hdrs["content-type"] == V1, (st, body, hdrs)
        # a v2 client's empty commit still answers v2's empty 200
        st, body, _ = b.request("POST", "/consumers/g2v2", body=json.dumps({"name": "x"}),
                                headers={"Content-Type": V2})
        assert st == 200, body
        st, body, hdrs = b.request("POST", inst("g2v2", "x", "/offsets"),
                                   headers={"Content-Type": V2})
        assert st == 200 and body == "", (st, body)


def test_formats_and_accept_lists():
    """json instances embed values; Accept lists with q-values choose the type; a type without
    a data format means binary; 406 when nothing named is possible, 40601 on a mismatch."""
    with Cluster() as c:
        b = c.broker(standalone=True)
        create_topic(b, "fj")
        st, body, _ = b.post_json("/topics/fj", {"records": [{"key": "k", "value": {"n": 1}},
                                                             {"value": [1, "two"]}]},
                                  ctype="application/vnd.kafka.json.v2+json")
        assert st == 200, body
        j = new_v1(b, "gj", format="json", **{"auto.offset.reset": "smallest"})
        check_error(read_topic(b, "gj", j, "fj", accept=V1_BIN), 406, 40601)
        # application/json has no data format: binary, so not this json instance's
        check_error(read_topic(b, "gj", j, "fj", accept="application/json"), 406, 40601)
        check_error(read_topic(b, "gj", j, "fj", accept="text/html"), 406, 406)
        # q=0 refuses the json types; what is left is binary
        check_error(read_topic(b, "gj", j, "fj",
                               accept="%s;q=0, %s;q=0, application/*;q=0.5" % (V1_JSON, V2_JSON)),
                    406, 40601)
        # the json type wins over a binary one preferred less
        acc = "%s;q=0.2, %s;q=0.9" % (V1_BIN, V1_JSON)
        got = []

        def read_json():
            st, body, hdrs = read_topic(b, "gj", j, "fj", accept=acc)
            assert st == 200 and hdrs["content-type"] == V1_JSON, (st, body, hdrs)
            got.extend(body)
            return len(got) >= 2
        wait_until(read_json, timeout=20, interval=0, what="json records")
        assert got == [{"key": "k", "value": {"n": 1}, "partition": 0, "offset": 0},
                       {"key": None, "value": [1, "two"], "partition": 0, "offset": 1}], got
        # binary instance: */* answers its own type; generic types are binary
        bn = new_v1(b, "gb", ctype="application/vnd.kafka+json",
                    **{"auto.offset.reset": "smallest"})
        for accept, want in (("*/*", V1_BIN), ("application/json", "application/json"),
                             ("application/vnd.kafka+json;q=0.5, text/plain", "application/vnd.kafka+json"),
                             (V2_BIN + ", " + V1_BIN + ";q=0.1", V2_BIN),
                             (None, V1_BIN)):
            st, body, hdrs = read_topic(b, "gb", bn, "fj", accept=accept)
            assert st == 200 and hdrs["content-type"] == want, (accept, st, body, hdrs)
        check_error(read_topic(b, "gb", bn, "fj", accept=V1_JSON), 406, 40601)
        check_error(read_topic(b, "gb", bn, "fj", accept="application/*;q=0"), 406, 406)
        # v2 records of the same kind of instance: q-values count there too
        st, body, _ = b.post_json("/consumers/g2r", {"name": "r", "auto.offset.reset": "earliest"},
                                  ctype=V2)
        assert st == 200, body
        st, body, _ = b.post_json(inst("g2r", "r", "/subscription"), {"topics": ["fj"]}, ctype=V2)
        assert st == 204, body
        recs = inst("g2r", "r", "/records?timeout=0")
        check_error(b.get(recs, headers={"Accept": V2_BIN + ";q=0, */*"}), 406, 40601)
        check_error(b.get(recs, headers={"Accept": V2_BIN + ";q=0.1, " + V2_JSON}), 406, 40601)
        st, body, _ = b.get(recs, headers={"Accept": V2_JSON + ";q=0.1, " + V2_BIN})
        assert st == 200, (st, body)
        # metadata routes: v1 Accept names, and q=0 refusing a type
        st, body, hdrs = b.get("/topics", headers={"Accept": V1})
        assert st == 200 and hdrs["content-type"] == V1, hdrs
        st, body, hdrs = b.get("/topics", headers={"Accept": "application/json;q=0.1, %s" % V2})
        assert st == 200 and hdrs["content-type"] == V2, hdrs
        for accept in ("%s, application/json" % V2, "application/json, %s" % V2):
            st, body, hdrs = b.get("/topics", headers={"Accept": accept})
            assert st == 200 and hdrs["content-type"] == V2, (accept, hdrs)
        st, body, hdrs = b.get("/topics", headers={"Accept": "*/*"})
        assert st == 200 and hdrs["content-type"].startswith("application/json"), hdrs
        st, body, hdrs = b.get("/topics", headers={"Accept": "%s;q=0, */*" % V2})
        assert st == 200 and hdrs["content-type"].startswith("application/json"), hdrs
        check_error(b.get("/topics", headers={"Accept": "application/json;q=0"}), 406, 406)


def test_smallest_and_largest():
    with Cluster() as c:
        b = c.broker(standalone=True)
        create_topic(b, "sl")
        produce_bin(b, "sl", ["old0", "old1"])
        s = new_v1(b, "gs", **{"auto.offset.reset": "smallest"})
        recs = read_until(b, "gs", s, "sl", 2)
        assert [unb64(r["value"]) for r in recs] == ["old0", "old1"], recs
        l = new_v1(b, "gl", **{"auto.offset.reset": "largest"})
        # the first read subscribes and positions at the end: nothing old comes back
        st, body, _ = read_topic(b, "gl", l, "sl")
        assert st == 200 and body == [], body

        def assigned():
            st, a, _ = b.get(inst("gl", l, "/assignments"))
            return a["partitions"] == [{"topic": "sl", "partition": 0}]
        wait_until(assigned, timeout=15, what="the largest instance's assignment")
        st, body, _ = read_topic(b, "gl", l, "sl")  # the position is taken now: the end
        assert st == 200 and body == [], body
        produce_bin(b, "sl", ["new"])
        recs = read_until(b, "gl", l, "sl", 1)
        assert [(r["offset"], unb64(r["value"])) for r in recs] == [(2, "new")], recs
        # the v2 names still work; other values are 422 42204
        new_v1(b, "ge", **{"auto.offset.reset": "earliest"})
        check_error(b.post_json("/consumers/gx", {"auto.offset.reset": "oldest"}, ctype=V1),
                    422, 42204)


def test_messages_route():
    with Cluster() as c:
        b = c.broker(standalone=True)
        create_topic(b, "mr", 2)
        produce_bin(b, "mr", ["m0", "m1", "m2"], partition=1, keys=["x", "y", "z"])
        st, body, hdrs = b.get("/topics/mr/partitions/1/messages?offset=1&count=5",
                               headers={"Accept": V1_BIN})
        assert st == 200 and hdrs["content-type"] == V1_BIN, (st, body, hdrs)
        assert body == [{"key": b64("y"), "value": b64("m1"), "partition": 1, "offset": 1},
                        {"key": b64("z"), "value": b64("m2"), "partition": 1, "offset": 2}], body
        st, body, _ = b.get("/topics/mr/partitions/1/messages?offset=0")  # count defaults to 1
        assert st == 200 and [r["offset"] for r in body] == [0], body
        st, body, _ = b.get("/topics/mr/partitions/1/messages?offset=3")  # the end: empty
        assert st == 200 and body == [], body
        st, body, _ = b.post_json("/topics/mr/partitions/0", {"records": [{"value": {"a": 1}}]},
                                  ctype="application/vnd.kafka.json.v2+json")
        assert st == 200, body
        st, body, hdrs = b.get("/topics/mr/partitions/0/messages?offset=0",
                               headers={"Accept": "%s;q=0.5, %s" % (V1_BIN, V1_JSON)})
        assert st == 200 and hdrs["content-type"] == V1_JSON, hdrs
        assert body == [{"key": None, "value": {"a": 1}, "partition": 0, "offset": 0}], body
        check_error(b.get("/topics/mr/partitions/1/messages?offset=4"), 416, 416)
        check_error(b.get("/topics/mr/partitions/1/messages"), 400, 400)
        check_error(b.get("/topics/mr/partitions/1/messages?offset=0&count=0"), 400, 400)
        check_error(b.get("/topics/mr/partitions/1/messages?offset=x"), 400, 400)
        check_error(b.get("/topics/nope/partitions/0/messages?offset=0"), 404, 40401)
        check_error(b.get("/topics/mr/partitions/7/messages?offset=0"), 404, 40402)
        check_error(b.get("/topics/mr/partitions/0/messages?offset=0",
                          headers={"Accept": "text/html"}), 406, 406)
        check_error(b.request("POST", "/topics/mr/partitions/0/messages"), 405, 405)


def test_error_codes():
    with Cluster() as c:
        b = c.broker(standalone=True)
        create_topic(b, "ea")
        create_topic(b, "eb")
        check_error(b.post_json("/consumers/ge", {"id": "a", "name": "b"}, ctype=V1), 422, 42204)
        check_error(b.post_json("/consumers/ge", {"id": 5}, ctype=V1), 422, 42204)
        check_error(b.post_json("/consumers/ge", {"format": "avro"}, ctype=V1), 422, 42204)
        check_error(b.post_json("/consumers/ge", {"auto.commit.enable": "maybe"}, ctype=V1),
                    422, 42204)
        name = new_v1(b, "ge", id="same", name="same")
        assert name == "same"
        check_error(b.post_json("/consumers/ge", {"id": "same"}, ctype=V1), 409, 40902)
        check_error(read_topic(b, "ge", "nobody", "ea"), 404, 40403)
        check_error(read_topic(b, "ge", name, "missing"), 404, 40401)
        check_error(read_topic(b, "ge", name, "__consumer_offsets"), 422, 42204)
        check_error(read_topic(b, "ge", name, "ea", query="?max_bytes=-1"), 400, 400)
        assert read_topic(b, "ge", name, "ea")[0] == 200
        check_error(read_topic(b, "ge", name, "eb"), 409, 40901)
        assert read_topic(b, "ge", name, "ea")[0] == 200  # the same topic again is fine
        # an instance subscribed through v2 to other topics, or manually assigned
        st, body, _ = b.post_json(inst("ge", name, "/subscription"), {"topics": ["ea", "eb"]},
                                  ctype=V2)
        assert st == 204, body
        check_error(read_topic(b, "ge", name, "ea"), 409, 40901)
        m = new_v1(b, "gm")
        st, body, _ = b.post_json(inst("gm", m, "/assignments"),
                                  {"partitions": [{"topic": "ea", "partition": 0}]}, ctype=V2)
        assert st == 204, body
        check_error(read_topic(b, "gm", m, "ea"), 409, 40903)
        check_error(b.request("POST", inst("ge", name, "/topics/ea")), 405, 405)


def test_follower_forwards_v1():
    """Any broker serves v1 requests: a follower (proxy mode) forwards them with their
    Accept, so a mismatch is still 40601 and the v1 answers come back unchanged."""
    with Cluster() as c:
        r = c.redis()
        bs = start_brokers(c, r, 2, extra=["--follower-writes", "proxy"])
        leader = wait_leader(bs)[0]
        f = [x for x in bs if x is not leader][0]
        create_topic(leader, "fw")
        produce_bin(leader, "fw", ["f0", "f1"])
        st, body, _ = raw(f, chunked("POST", "/consumers/gf",
                                     {"name": "c", "auto.offset.reset": "smallest"}))
        assert st == 200 and body["instance_id"] == "c", (st, body)
        check_error(read_topic(f, "gf", "c", "fw", accept=V1_JSON), 406, 40601)
        recs = read_until(f, "gf", "c", "fw", 2)
        assert [unb64(r["value"]) for r in recs] == ["f0", "f1"], recs
        st, body, _ = f.request("POST", inst("gf", "c", "/offsets"), headers={"Content-Type": V1})
        assert st == 200 and body == [{"topic": "fw", "partition": 0, "consumed": 2,
                                       "committed": 2}], (st, body)
        assert committed(leader, "gf", "fw") == 2
        st, _, _ = raw(f, b"DELETE /consumers/gf/instances/c HTTP/1.1\r\nHost: x\r\n\r\n")
        assert st == 204


if __name__ == "__main__":
    brook.run([
        test_v1_flow_over_chunked_bodies,
        test_commit_with_nothing_read_and_v2_unchanged,
        test_formats_and_accept_lists,
        test_smallest_and_largest,
        test_messages_route,
        test_error_codes,
        test_follower_forwards_v1,
    ])
