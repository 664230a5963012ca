"""Wrong SASL PLAIN passwords on the Kafka listener are judged per client address, as HTTP Basic
is (README "Security"): one address may keep only 8 checks waiting (beyond: the login fails
with "too many password checks from this address"), and another address's right password is
accepted meanwhile. Before, every Kafka login counted as one unknown client: never capped, and
one failure sent every Kafka login to the slow low-priority checker.
Run: BROOK_BIN=build/brook PYTHONPATH=tests/lib python3 tests/integration/test_kafka_sasl_flood.py
"""
import os
import socket
import struct
import subprocess
import threading

import brook
from kafka_wire import frame, kstr, read_frame
from brook import BROOK_BIN, Cluster, free_port

PASSWORD = "right-horse-battery"








def plain_login(port, password, source="127.0.0.1"):
    """SaslHandshake v1 PLAIN, then SaslAuthenticate v1: (error code, message)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60,
                                  source_address=(source, 0)) as s:
        s.sendall(frame(17, 1, 1, kstr("PLAIN")))
        assert struct.unpack(">ih", read_frame(s)[:6]) == (1, 0)
        token = b"\x00alice\x00" + password.encode()
        s.sendall(frame(36, 1, 2, struct.pack(">i", len(token)) + token))
        data = read_frame(s)
        corr, err, mlen = struct.unpack(">ihh", data[:8])
        assert corr == 2
        return err, data[8:8 + mlen].decode() if mlen > 0 else ""


def test_plain_checks_are_capped_per_address():
    with Cluster() as c:
        users = os.path.join(c.dir, "users")
        p = subprocess.run([BROOK_BIN, "user", "add", "alice", "--users-file", users],
                           input=(PASSWORD + "\n").encode(), capture_output=True)
        assert p.returncode == 0, p.stderr
        port = free_port()
        b = c.broker(standalone=True, args=["--kafka-port", str(port), "--users-file", users])
        brook.wait_port(port, proc=b.proc)
        results = []
        lock = threading.Lock()

        def attack(i):
            r = plain_login(port, "wrong-%d" % i, source="127.0.0.2")
            with lock:
                results.append(r)

        threads = [threading.Thread(target=attack, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        # The right password from another address is served while the flood waits.
        assert plain_login(port, PASSWORD) == (0, ""), "the right password was refused"
        for t in threads:
            t.join(120)
        assert len(results) == 40
        assert all(err == 58 for err, _ in results), results
        capped = [m for _, m in results if "from this address" in m]
        print("%d of 40 logins capped for their address" % len(capped), flush=True)
        assert capped, results
        assert b.terminate(timeout=30) == 0
        assert not brook.sanitizer_reports([b])


if __name__ == "__main__":
    brook.run(brook.tests_in(globals()))
