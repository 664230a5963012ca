"""format=json reads embed a stored value as JSON only when it is JSON: every answer must parse
with a strict JSON parser whatever bytes were stored (here over the binary format), and a value
that is not JSON comes back as a string of its bytes. Two kinds of bytes yajl used to pass were
embedded as they were and broke the answer: an unterminated string after a value and \\v or \\f
as whitespace."""
import base64
import http.client
import json

import brook
from brook import Cluster

V2_BIN = "application/vnd.kafka.binary.v2+json"

STORED = [  # (stored bytes, what the json-format read must show)
    (b'{"a":[1,{"b":"\\u00e9"}],"c":null}', {"a": [1, {"b": "\u00e9"}], "c": None}),
    (b" 7 ", 7),
    (b'"\\uD83D\\uDE00"', "\U0001F600"),
    (b'{} "abc', '{} "abc'),  # yajl took this as JSON: the answer did not parse
    (b'3"j', '3"j'),
    (b"\x0b[1]", "\x0b[1]"),  # \v as whitespace: yajl's, not JSON's
    (b"[1,\x0c2]", "[1,\x0c2]"),
    (b"[1,2", "[1,2"),
    (b"01", "01"),
    (b'"\\uD800"', '"\\uD800"'),  # a lone surrogate escape: refused on input, shown as text
]


def read_json_format(port, topic):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/topics/%s/partitions/0/records?offset=0&max_records=100&format=json"
                     % topic)
        r = conn.getresponse()
        data = r.read()
    finally:
        conn.close()
    assert r.status == 200, (r.status, data[:300])
    try:
        return json.loads(data.decode("utf-8"))  # strict: JSON's whitespace only
    except ValueError as e:
        raise AssertionError("the answer is not JSON (%s): %r" % (e, data[:400]))


def test_stored_values_render_as_json_only_when_json():
    with Cluster() as c:
        b = c.broker(standalone=True)
        records = [{"value": base64.b64encode(v).decode()} for v, _ in STORED]
        st, body, _ = b.post_json("/topics/jv/partitions/0", {"records": records}, ctype=V2_BIN)
        assert st == 200, body
        got = read_json_format(b.port, "jv")["records"]
        assert [r["value"] for r in got] == [want for _, want in STORED], got


if __name__ == "__main__":
    brook.run([test_stored_values_render_as_json_only_when_json])
