/* Which records a cleaning keeps: the newest of each key, except a tombstone past its
 * retention; records without a key always. The offset map and the segment planning live
 * here, free of I/O and clocks, so the choice is tested from a table (Kafka's LogCleaner
 * makes the same choice with its offset map over the dirty section). */
#include "log/compaction.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* ---- keyed hash (SipHash-2-4) ---- */

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13) ^ v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17) ^ v[2];
    v[2] = rotl(v[2], 32);
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t siphash(const uint8_t *in, size_t len, uint64_t k0, uint64_t k1)
{
    uint64_t v[4] = {k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
                     k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull};
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = le64(in + i);
        v[3] ^= m;
        sip_round(v);
        sip_round(v);
        v[0] ^= m;
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++)
        last |= (uint64_t)in[whole + i] << (8 * i);
    v[3] ^= last;
    sip_round(v);
    sip_round(v);
    v[0] ^= last;
    v[2] ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

bk_key_hash_t bk_compact_key_hash(const uint8_t *key, size_t len, const uint64_t seed[4])
{
    bk_key_hash_t h = {siphash(key, len, seed[0], seed[1]), siphash(key, len, seed[2], seed[3])};
    return h;
}

/* ---- the offset map ---- */

void bk_compact_map_init(bk_compact_map_t *m)
{
    memset(m, 0, sizeof *m);
}

void bk_compact_map_free(bk_compact_map_t *m)
{
    free(m->keys);
    free(m->offsets);
    bk_compact_map_init(m);
}

static size_t slot_of(const bk_compact_map_t *m, bk_key_hash_t k)
{
    size_t i = (size_t)(k.a & (m->cap - 1));
    while (m->offsets[i] >= 0 && (m->keys[i].a != k.a || m->keys[i].b != k.b))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int rehash(bk_compact_map_t *m, size_t cap)
{
    bk_compact_map_t n = {malloc(cap * sizeof *n.keys), malloc(cap * sizeof *n.offsets), cap, 0};
    if (!n.keys || !n.offsets) {
        bk_compact_map_free(&n);
        return UV_ENOMEM;
    }
    for (size_t i = 0; i < cap; i++)
        n.offsets[i] = -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->offsets[i] < 0)
            continue;
        size_t s = slot_of(&n, m->keys[i]);
        n.keys[s] = m->keys[i];
        n.offsets[s] = m->offsets[i];
        n.n++;
    }
    bk_compact_map_free(m);
    *m = n;
    return 0;
}

int bk_compact_map_note(bk_compact_map_t *m, const bk_compact_rec_t *r)
{
    if (!r->has_key)
        return 0;
    if ((m->n + 1) * 4 > m->cap * 3) { /* at most 3/4 full */
        int rc = rehash(m, m->cap ? m->cap * 2 : 1024);
        if (rc < 0)
            return rc;
    }
    size_t s = slot_of(m, r->key);
    if (m->offsets[s] < 0)
        m->n++;
    m->keys[s] = r->key;
    if (r->offset > m->offsets[s])
        m->offsets[s] = r->offset;
    return 0;
}

int64_t bk_compact_map_get(const bk_compact_map_t *m, bk_key_hash_t key)
{
    return m->cap ? m->offsets[slot_of(m, key)] : -1;
}

size_t bk_compact_map_bytes(const bk_compact_map_t *m)
{
    return m->cap * (sizeof *m->keys + sizeof *m->offsets);
}

/* ---- the choice ---- */

int bk_compact_keep(const bk_compact_map_t *m, const bk_compact_rec_t *r, int64_t now_ms,
                    int64_t delete_retention_ms)
{
    if (!r->has_key)
        return 1;
    int64_t newest = bk_compact_map_get(m, r->key);
    if (newest > r->offset)
        return 0; /* a newer value of the key follows */
    if (!r->tombstone)
        return 1;
    /* A tombstone stays delete.retention.ms after its timestamp, so consumers reading the
     * log from before it learn of the delete; then it goes too. */
    return r->timestamp > now_ms - delete_retention_ms;
}

size_t bk_compact_cleanable(const bk_compact_seg_t *segs, size_t n, int64_t now_ms,
                            int64_t min_lag_ms)
{
    size_t k = 0;
    while (k < n && segs[k].settled && (min_lag_ms <= 0 || segs[k].max_ts <= now_ms - min_lag_ms))
        k++;
    return k;
}

double bk_compact_dirty_ratio(const bk_compact_seg_t *segs, size_t n)
{
    uint64_t total = 0, dirty = 0;
    for (size_t i = 0; i < n; i++) {
        total += segs[i].size;
        dirty += segs[i].clean ? 0 : segs[i].size;
    }
    return total ? (double)dirty / (double)total : 0.0;
}
