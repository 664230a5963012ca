/* Leadership through a lease in Redis, with fencing epochs (DESIGN.md §5).
 *
 * Keys: "<cluster>:leader" holds the leader's id, epoch, URL and process instance (JSON, see
 * scripts.h) with a PX lease; "<cluster>:epoch" is a counter bumped by every successful acquire, so
 * each term has a strictly larger epoch. All Redis I/O is asynchronous on the caller's loop. Redis
 * down means "no leader known" and a leader steps down at its local deadline; nothing ever blocks.
 *
 * Ownership: bk_election_start() allocates; bk_election_stop() releases the lease (if held),
 * closes every handle and frees, then calls done(arg). */
#ifndef BROOK_ELECTION_H
#define BROOK_ELECTION_H

#include <stdint.h>
#include <uv.h>

typedef enum {
    BK_ROLE_STANDALONE = 0, /* no Redis: leader of a cluster of one at epoch 1 */
    BK_ROLE_LEADER = 1,
    BK_ROLE_FOLLOWER = 2, /* another broker holds the lease */
    BK_ROLE_NONE = 3,     /* no leader known (Redis unreachable, or the lease is free) */
} bk_role_t;

typedef struct {
    int standalone;
    const char *redis_host;
    int redis_port;
    const char *cluster; /* key prefix, default "brook" */
    const char *broker_id;
    const char *advertised_url; /* e.g. http://127.0.0.1:5001, stored in the leader key */
    uint32_t lease_ms;          /* lease length in Redis */
    uint32_t renew_ms;          /* renew / poll interval */
    uint32_t margin_ms;         /* step down this long before the lease could expire */
    uint32_t connect_timeout_ms;
    uint32_t command_timeout_ms; /* 0 (default): half the lease window, see lease.h */
    int64_t min_epoch; /* highest epoch this broker has seen before (e.g. stamped in its log):
                          a new term it starts is always above it, even if Redis lost data */
    /* 1: may take the lease even when "<cluster>:isr" does not list this broker (unclean
     * election: acknowledged writes may be lost). Default 0. */
    int unclean;
    /* Where the broker remembers the newest ISR value and the highest epoch it has seen
     * ("<state_path>-isr", and the "isr-listed" flag in state_path itself; NULL: in memory
     * only; src/election/isr_memory.h). After Redis lost its data, the brokers' memories,
     * registered in "<cluster>:brokers", decide who may lead (scripts.h). */
    const char *state_path;
    /* How long a broker's registration in "<cluster>:brokers" outlives its last command to
     * Redis (0: BK_ELECTION_REGISTRATION_TTL_MS). */
    uint32_t registration_ttl_ms;
} bk_election_config_t;

#define BK_ELECTION_REGISTRATION_TTL_MS 86400000u /* a day */

void bk_election_config_defaults(bk_election_config_t *cfg);

typedef struct {
    bk_role_t role;
    int64_t epoch;        /* epoch of the leader we know of; 0 when none */
    char leader_id[128];  /* empty when no leader is known */
    char leader_url[256]; /* empty when no leader is known */
    int redis_connected;  /* 1 when the Redis connection is up (always 0 standalone) */
} bk_election_view_t;

typedef struct bk_election bk_election_t;

/* Starts the election (or, standalone, becomes leader at epoch 1 at once). on_change(arg) is
 * called from the loop whenever the view changes (role, epoch or leader). Returns 0 or a
 * negative error; Redis being unreachable is not an error (the client retries with backoff). */
int bk_election_start(uv_loop_t *loop, const bk_election_config_t *cfg,
                      void (*on_change)(void *arg), void *arg, bk_election_t **out);

/* Snapshot of what this broker knows now. */
void bk_election_view(const bk_election_t *e, bk_election_view_t *out);

/* Returns 1 when this broker may acknowledge a write now: it is leader (or standalone) and,
 * reading the monotonic clock afresh, its lease deadline has not passed. *epoch is set to the
 * current term's epoch. A caller that appended under epoch E acknowledges only if this returns
 * 1 with the same E. */
int bk_election_can_ack(const bk_election_t *e, int64_t *epoch);

/* The same check on the caller's own reading of bk_now_ms(), so the caller can report the
 * moment of its decision (a promise about an acknowledgement is a promise about that moment:
 * the answer's bytes may leave later, e.g. if the process is paused in between). */
int bk_election_can_ack_at(const bk_election_t *e, uint64_t now_ms, int64_t *epoch);

/* eligible 0: never take a vacant lease, whatever the ISR says, until set back to 1 (the
 * replicator's answer to a leader refusing this broker's id: another broker uses it, so the
 * ISR listing that id says nothing about this one's log). A lease held already is kept. */
void bk_election_set_eligible(bk_election_t *e, int eligible);

/* Asks for an immediate re-read of the leader key (e.g. a follower was told of a leader that
 * turned out to be gone). Cheap; coalesced with a read already in flight. */
void bk_election_refresh(bk_election_t *e);

/* ---- In-sync replica set (DESIGN.md §6): "<cluster>:isr" names the brokers that hold every
 * acknowledged write. Only the leader writes it (fenced by its lease); while it exists, only a
 * broker it lists may take the lease (unless config.unclean). A missing key (a new cluster)
 * lets anyone lead. */

#define BK_ELECTION_ISR_MAX 16

typedef struct {
    int present;      /* 0: Redis holds no ISR */
    int64_t epoch;    /* epoch of the leader that published it */
    int64_t version;  /* that leader's publication number (0: the value a term started with) */
    char leader[128]; /* id of that leader */
    int count;        /* members in ids */
    char ids[BK_ELECTION_ISR_MAX][128];
} bk_election_isr_t;

/* Leader only: replaces the ISR with ids[0..n) (1 <= n <= BK_ELECTION_ISR_MAX ids of 1..127
 * bytes), in one Lua script that writes only if the leader key still holds this broker's id
 * and current epoch. Returns 0 and cb(arg, status) runs exactly once later, from the loop:
 * 0 = written; BK_EFENCED = not written (the lease is no longer ours, or a later publication
 * is in place already); another negative error (timeout, connection lost, shutting down) = it
 * may or may not have been written, and may still be, late. Or returns BK_ENOTLEADER (not
 * leader now), BK_EINVAL (bad ids, standalone), BK_EREDIS (not connected) or BK_ECLOSED, and
 * cb never runs. Each call carries the next number of a per-process counter, and Redis keeps
 * the ISR of the highest (epoch, number): a publication whose bytes reach Redis after a later
 * one's (its connection was dropped on a timeout) never replaces it, so what a confirmed
 * publication wrote stays until a later call's lands. */
int bk_election_publish_isr(bk_election_t *e, const char *const *ids, int n,
                            void (*cb)(void *arg, int status), void *arg);

/* Reads the ISR. Returns 0 and cb(arg, status, isr) runs exactly once later (isr valid only
 * during the call, NULL when status < 0), or a negative error (BK_EINVAL standalone,
 * BK_EREDIS not connected, BK_ECLOSED) and cb never runs. */
int bk_election_read_isr(bk_election_t *e,
                         void (*cb)(void *arg, int status, const bk_election_isr_t *isr),
                         void *arg);

/* Sends one command (argv binary-safe) on the election's Redis connection for another
 * module's own keys (the Kafka listener registers its address). Returns 0 and cb runs exactly
 * once later (status 0 with Redis' reply, valid during the call; or a negative error with
 * reply NULL), or BK_EINVAL (standalone), BK_EREDIS (not connected), BK_ECLOSED (stopping)
 * and cb never runs. */
struct redisReply;
int bk_election_command(bk_election_t *e, int argc, const char **argv, const size_t *lens,
                        void (*cb)(void *arg, int status, const struct redisReply *reply),
                        void *arg);

/* Releases the lease if held (compare-and-DEL), disconnects, frees; done(arg) runs from the
 * loop when every handle is closed. */
void bk_election_stop(bk_election_t *e, void (*done)(void *arg), void *arg);

#endif
