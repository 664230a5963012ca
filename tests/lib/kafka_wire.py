"""What the Kafka integration tests share: running under Debian's python3, where the
python3-confluent-kafka package lives, and hand-built request frames (from the public protocol
guide) for what real clients cannot show."""
import os
import struct
import sys


def need_confluent():
    """Re-executes the running test under /usr/bin/python3 when confluent_kafka cannot be
    imported here (another python3 first on PATH); call before importing confluent_kafka."""
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3" \
                and not os.environ.get("BROOK_KAFKA_REEXEC"):
            os.environ["BROOK_KAFKA_REEXEC"] = "1"
            os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
        raise


def kstr(s):
    """A Kafka STRING (int16 length; None is the null string)."""
    if s is None:
        return struct.pack(">h", -1)
    s = s.encode() if isinstance(s, str) else s
    return struct.pack(">h", len(s)) + s


def frame(key, version, corr, body, client="raw"):
    """A size-prefixed request with header v1 (client id), body appended as given."""
    msg = struct.pack(">hhi", key, version, corr) + kstr(client) + body
    return struct.pack(">i", len(msg)) + msg


def read_frame(sock, timeout=30.0):
    """The next answer's bytes after its size prefix (correlation id first)."""
    sock.settimeout(timeout)
    buf = b""
    while len(buf) < 4:
        chunk = sock.recv(4 - len(buf))
        assert chunk, "connection closed"
        buf += chunk
    (n,) = struct.unpack(">i", buf)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "connection closed"
        data += chunk
    return data
