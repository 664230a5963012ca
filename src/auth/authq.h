/* The waiting room of password checks (private to src/auth): which check runs next, which are
 * refused, and which clients count as suspect. Pure bookkeeping over fixed tables, with no
 * lock, no clock and no I/O of its own, so the policy is unit-tested; auth.c holds the lock,
 * passes the time, and runs the checks.
 *
 * Policy. Clients are keyed by a 64-bit value (bk_auth_client_key: an IPv4 address, or an IPv6
 * /64; 0 = unknown). A client may have at most max_per_client checks waiting (UV_EAGAIN past
 * it; client 0 is never capped by this) and everyone together max_total (UV_EBUSY). Waiting
 * checks leave in round-robin order over clients (each client's k-th waiting check gets a tag
 * k rounds after the last one served; smallest tag first, oldest first among equals), so a
 * client with many checks waiting delays another's by at most one check. A client whose check
 * failed within the last window_ms is a suspect: its checks run on the idle-priority thread. */
#ifndef BROOK_AUTH_AUTHQ_H
#define BROOK_AUTH_AUTHQ_H

#include <stddef.h>
#include <stdint.h>

#define BK_AUTHQ_CAP 1024     /* most checks that may wait, whatever max_total says */
#define BK_AUTHQ_SUSPECTS 256 /* clients remembered (hashed; a collision shares a verdict) */

typedef struct {
    void *item;
    uint64_t client;
    uint64_t tag;
    uint64_t seq;
} bk_authq_entry_t;

typedef struct {
    uint64_t client;
    uint64_t failed_ms; /* when its last check failed; 0 = never */
} bk_authq_suspect_t;

typedef struct {
    bk_authq_entry_t v[BK_AUTHQ_CAP];
    uint32_t n;
    uint32_t max_total, max_per_client;
    uint64_t served; /* tag of the latest check taken */
    uint64_t seq;
    uint64_t window_ms;
    bk_authq_suspect_t suspects[BK_AUTHQ_SUSPECTS];
} bk_authq_t;

void bk_authq_init(bk_authq_t *q, uint32_t max_total, uint32_t max_per_client, uint64_t window_ms);
/* Queues item for client. 0, UV_EBUSY (max_total waiting) or UV_EAGAIN (this client has
 * max_per_client waiting). */
int bk_authq_push(bk_authq_t *q, uint64_t client, void *item);
/* Takes the next check in round-robin order among those whose client is a suspect at now_ms
 * (suspects = 1) or is not (suspects = 0); NULL when there is none. */
void *bk_authq_pop(bk_authq_t *q, int suspects, uint64_t now_ms);
/* Checks of client waiting now. */
uint32_t bk_authq_waiting(const bk_authq_t *q, uint64_t client);
/* A check of client failed at now_ms (now_ms > 0). */
void bk_authq_failed(bk_authq_t *q, uint64_t client, uint64_t now_ms);
int bk_authq_is_suspect(const bk_authq_t *q, uint64_t client, uint64_t now_ms);

#endif
