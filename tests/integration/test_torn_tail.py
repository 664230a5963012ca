"""Damaged segment files, the way crashes and disks damage them: a tail cut at random points,
garbage or zeros appended, a flipped bit in the last batch, stale or missing indexes, and
damage inside an older, sealed segment. Tail damage is recovered: the broker starts, reads
return exactly the records before the damage, new produces continue at the next offset, and
a second restart changes nothing. Sealed-segment damage is refused: non-zero exit, a message
about corruption, and the files left as they were (never silently "repaired")."""
import hashlib
import os
import random
import shutil

import brook
from brook import Cluster, partition_segments, segment_batches

SEED = os.environ.get("BROOK_IT_SEED")
rng = random.Random(SEED if SEED is not None else os.getpid())


def build_log(c, n, args=()):
    """A stopped broker whose topic "tt" holds n records (one batch each); returns the broker,
    the values and a pristine copy of its data dir."""
    b = c.broker(name="tt", standalone=True, args=["--fsync=always"] + list(args))
    values = []
    for i in range(n):
        v = "rec-%d-%s" % (i, "v" * rng.randint(0, 120))
        st, body, _ = b.produce(v, topic="tt")
        assert st == 200 and body["offset"] == i, body
        values.append(v)
    assert b.terminate() == 0
    pristine = b.data_dir + ".pristine"
    shutil.copytree(b.data_dir, pristine)
    return b, values, pristine


def restore(b, pristine):
    shutil.rmtree(b.data_dir)
    shutil.copytree(pristine, b.data_dir)


def check_recovered(b, values, k, what):
    """Starts b; exactly values[:k] must be readable, the next produce must get offset k, and
    a clean restart must change nothing."""
    b.start()
    try:
        recs = b.read_all("tt")
        got = [(r["offset"], r["value"]) for r in recs]
        want = list(enumerate(values[:k]))
        assert got == want, "%s: expected the %d records before the damage, read %d (first " \
            "difference at %s)" % (what, k, len(got), next(
                (i for i, (x, y) in enumerate(zip(got, want)) if x != y), min(len(got), len(want))))
        st, body, _ = b.produce("after-%s" % what, topic="tt")
        assert st == 200 and body["offset"] == k, "%s: next produce got %s, want offset %d" % (
            what, body, k)
        assert b.terminate() == 0
        b.start()
        recs = b.read_all("tt")
        assert [(r["offset"], r["value"]) for r in recs] == want + [(k, "after-%s" % what)], \
            "%s: second restart changed the log" % what
    finally:
        assert b.terminate() == 0, "%s: unclean stop" % what


def flip_bit(path, pos, bit=None):
    with open(path, "r+b") as f:
        f.seek(pos)
        byte = f.read(1)[0]
        f.seek(pos)
        f.write(bytes([byte ^ (1 << (rng.randrange(8) if bit is None else bit))]))


def truncate(path, size):
    with open(path, "r+b") as f:
        f.truncate(size)


def append(path, data):
    with open(path, "ab") as f:
        f.write(data)


def test_torn_tail_cut_points():
    with Cluster() as c:
        n = 30
        b, values, pristine = build_log(c, n)
        seg = partition_segments(b.data_dir, "tt")[-1]
        batches = segment_batches(seg)
        assert len(batches) == n and batches[-1][2] == n - 1, batches[-3:]
        start, end, _, _ = batches[-1]
        size = end - start
        cuts = sorted({1, 8, 12, 17, 21, 40, 61, size - 1} |
                      {rng.randrange(1, size) for _ in range(4)})
        for cut in cuts:
            restore(b, pristine)
            truncate(partition_segments(b.data_dir, "tt")[-1], start + cut)
            check_recovered(b, values, n - 1, "cut %d bytes into the last batch" % cut)
        # Cut exactly at a batch boundary and anywhere in the file.
        restore(b, pristine)
        truncate(partition_segments(b.data_dir, "tt")[-1], start)
        check_recovered(b, values, n - 1, "cut at the last batch's start")
        for _ in range(3):
            restore(b, pristine)
            cut = rng.randrange(1, end)
            survivors = sum(1 for s, e, _, _ in batches if e <= cut)
            truncate(partition_segments(b.data_dir, "tt")[-1], cut)
            check_recovered(b, values, survivors, "cut at byte %d of the file" % cut)
        restore(b, pristine)
        truncate(partition_segments(b.data_dir, "tt")[-1], 0)
        check_recovered(b, values, 0, "empty segment")


def test_garbage_and_zeros_appended():
    with Cluster() as c:
        n = 20
        b, values, pristine = build_log(c, n)
        fake_header = (n).to_bytes(8, "big") + (10 ** 6).to_bytes(4, "big") + b"\0" * 40
        for what, junk in (("random garbage", os.urandom(rng.randint(1, 300))),
                           ("one byte", b"\x01"),
                           ("zeros", b"\0" * 4096),
                           ("a header promising a long batch", fake_header),
                           ("a copy of the last batch", None)):
            restore(b, pristine)
            seg = partition_segments(b.data_dir, "tt")[-1]
            if junk is None:
                s, e, _, _ = segment_batches(seg)[-1]
                with open(seg, "rb") as f:
                    junk = f.read()[s:e]  # same offset again: breaks offset continuity
            append(seg, junk)
            check_recovered(b, values, n, what)


def test_bit_flip_in_last_batch():
    with Cluster() as c:
        n = 20
        b, values, pristine = build_log(c, n)
        start, end, _, _ = segment_batches(partition_segments(b.data_dir, "tt")[-1])[-1]
        # Every field a reader trusts: baseOffset, batchLength, magic, CRC, the CRC-covered
        # header and the records. (partitionLeaderEpoch, bytes 12-15, is outside Kafka's CRC
        # by design and is not tested here.)
        positions = [rng.randrange(0, 8), 8, 10, 11, 16, rng.randrange(17, 21),
                     rng.randrange(21, 61)] + [rng.randrange(61, end - start) for _ in range(4)]
        for rel in positions:
            restore(b, pristine)
            bit = 7 if rel in (8,) else None  # a huge length: runs past the end of the file
            flip_bit(partition_segments(b.data_dir, "tt")[-1], start + rel, bit)
            check_recovered(b, values, n - 1, "bit flipped at byte %d of the last batch" % rel)


def test_indexes_are_derived_data():
    with Cluster() as c:
        n = 200
        b, values, pristine = build_log(c, n, ["--segment-bytes", "8192"])
        part = os.path.join(b.data_dir, "tt-0")
        indexes = [os.path.join(part, f) for f in os.listdir(part) if f.endswith(".index")]
        assert indexes, os.listdir(part)
        for f in indexes:
            os.remove(f)
        check_recovered(b, values, n, "indexes deleted")
        restore(b, pristine)
        for f in indexes:
            with open(f, "wb") as fh:
                fh.write(os.urandom(64))
        check_recovered(b, values, n, "indexes overwritten with garbage")
        # Random reads land on the right records with the rebuilt indexes.
        b.start()
        try:
            for off in rng.sample(range(n), 20):
                st, page, _ = b.get("/topics/tt/partitions/0/records?offset=%d&max_records=1" % off)
                assert st == 200 and page["records"][0]["value"] == values[off], (off, page)
        finally:
            b.terminate()


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def expect_refused(b, what, name_hint):
    files = {f: digest(os.path.join(b.data_dir, "tt-0", f))
             for f in os.listdir(os.path.join(b.data_dir, "tt-0")) if f.endswith(".log")}
    size_before = os.path.getsize(b.logfile) if os.path.exists(b.logfile) else 0
    b.start(wait=False)
    try:
        rc = b.proc.wait(timeout=15)
    except Exception:  # noqa: BLE001
        b.kill()
        raise AssertionError("%s: broker started on a damaged sealed segment" % what)
    err = b.stderr_text()[size_before:]
    assert rc != 0, "%s: exit code 0" % what
    assert "corrupt" in err.lower(), "%s: no mention of corruption in %r" % (what, err[-600:])
    assert name_hint in err, "%s: the message does not name %s: %r" % (what, name_hint, err[-600:])
    after = {f: digest(os.path.join(b.data_dir, "tt-0", f))
             for f in os.listdir(os.path.join(b.data_dir, "tt-0")) if f.endswith(".log")}
    assert after == files, "%s: a refused start modified segment files" % what


def test_damage_in_sealed_segment_refused():
    with Cluster() as c:
        n = 80
        b, values, pristine = build_log(c, n, ["--segment-bytes", "4096"])
        segs = partition_segments(b.data_dir, "tt")
        assert len(segs) >= 3, "expected several segments, got %s" % segs
        first, second = segs[0], segs[1]
        name1 = os.path.basename(first)[:-4]
        name2 = os.path.basename(second)[:-4]
        batches = segment_batches(first)
        mid = batches[len(batches) // 2]
        flip_bit(first, rng.randrange(mid[0] + 21, mid[1]))
        expect_refused(b, "bit flip in the middle of the first segment", name1)
        restore(b, pristine)
        last = segment_batches(second)[-1]
        flip_bit(second, rng.randrange(last[0] + 17, last[1]))
        expect_refused(b, "bit flip in the last batch of a sealed segment", name2)
        restore(b, pristine)
        truncate(second, last[0])  # a whole batch missing at the end of a sealed segment
        expect_refused(b, "sealed segment cut at a batch boundary", name2)
        restore(b, pristine)
        truncate(first, batches[-1][0] + 30)
        expect_refused(b, "sealed segment cut inside a batch", name1)
        # The undamaged copy still opens and reads back completely.
        restore(b, pristine)
        check_recovered(b, values, n, "pristine multi-segment log")


def test_torn_tail_with_several_segments():
    with Cluster() as c:
        n = 80
        b, values, pristine = build_log(c, n, ["--segment-bytes", "4096"])
        segs = partition_segments(b.data_dir, "tt")
        assert len(segs) >= 3, segs
        active_base = int(os.path.basename(segs[-1])[:-4])
        start, end, _, _ = segment_batches(segs[-1])[-1]
        truncate(segs[-1], start + rng.randrange(1, end - start))
        check_recovered(b, values, n - 1, "cut in the last batch of the active segment")
        restore(b, pristine)
        truncate(partition_segments(b.data_dir, "tt")[-1], 0)
        check_recovered(b, values, active_base, "active segment emptied")
        restore(b, pristine)
        append(partition_segments(b.data_dir, "tt")[-1], os.urandom(777))
        check_recovered(b, values, n, "garbage after the active segment")


if __name__ == "__main__":
    print("seed %s" % (SEED if SEED is not None else os.getpid()))
    brook.run([
        test_torn_tail_cut_points,
        test_garbage_and_zeros_appended,
        test_bit_flip_in_last_batch,
        test_indexes_are_derived_data,
        test_damage_in_sealed_segment_refused,
        test_torn_tail_with_several_segments,
    ])
