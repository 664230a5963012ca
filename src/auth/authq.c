/* The waiting room of password checks: admission (per client and in total), round-robin order
 * over clients, and the memory of which clients failed a check lately. Pure: the caller locks,
 * passes the time and runs the checks (policy in authq.h). Scans are linear over at most
 * max_total entries; a check itself costs thousands of HMACs, so this is never the cost. */
#include "auth/authq.h"

#include <string.h>
#include <uv.h>

#include "brook/common.h"

void bk_authq_init(bk_authq_t *q, uint32_t max_total, uint32_t max_per_client, uint64_t window_ms)
{
    memset(q, 0, sizeof *q);
    q->max_total = max_total > BK_AUTHQ_CAP ? BK_AUTHQ_CAP : max_total;
    q->max_per_client = max_per_client;
    q->window_ms = window_ms;
}

uint32_t bk_authq_waiting(const bk_authq_t *q, uint64_t client)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < q->n; i++)
        k += q->v[i].client == client;
    return k;
}

int bk_authq_push(bk_authq_t *q, uint64_t client, void *item)
{
    if (q->n >= q->max_total)
        return UV_EBUSY;
    uint64_t last = q->served; /* this client's latest waiting tag, else the last served */
    uint32_t mine = 0;
    for (uint32_t i = 0; i < q->n; i++) {
        if (q->v[i].client != client)
            continue;
        mine++;
        if (q->v[i].tag > last)
            last = q->v[i].tag;
    }
    if (client != 0 && q->max_per_client && mine >= q->max_per_client)
        return UV_EAGAIN;
    q->v[q->n++] = (bk_authq_entry_t){item, client, last + 1, ++q->seq};
    return 0;
}

void *bk_authq_pop(bk_authq_t *q, int suspects, uint64_t now_ms)
{
    uint32_t best = UINT32_MAX;
    for (uint32_t i = 0; i < q->n; i++) {
        const bk_authq_entry_t *e = &q->v[i];
        if (bk_authq_is_suspect(q, e->client, now_ms) != !!suspects)
            continue;
        if (best == UINT32_MAX || e->tag < q->v[best].tag ||
            (e->tag == q->v[best].tag && e->seq < q->v[best].seq))
            best = i;
    }
    if (best == UINT32_MAX)
        return NULL;
    bk_authq_entry_t e = q->v[best];
    q->v[best] = q->v[--q->n]; /* order lives in tag and seq, not in the array */
    if (e.tag > q->served)
        q->served = e.tag;
    return e.item;
}

static size_t suspect_slot(uint64_t client)
{
    uint64_t h = client * 0x9E3779B97F4A7C15ull; /* Fibonacci hashing: spread the top bits */
    return (size_t)(h >> 56);                    /* BK_AUTHQ_SUSPECTS = 256 slots */
}

void bk_authq_failed(bk_authq_t *q, uint64_t client, uint64_t now_ms)
{
    bk_authq_suspect_t *s = &q->suspects[suspect_slot(client)];
    s->client = client;
    s->failed_ms = now_ms;
}

int bk_authq_is_suspect(const bk_authq_t *q, uint64_t client, uint64_t now_ms)
{
    const bk_authq_suspect_t *s = &q->suspects[suspect_slot(client)];
    return s->failed_ms != 0 && s->client == client && now_ms < s->failed_ms + q->window_ms;
}
