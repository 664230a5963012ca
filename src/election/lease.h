/* The election state machine, pure: state + inputs (a clock value, Redis replies, Redis up or
 * down) -> role, epoch, known leader, and which command to send next and when. No I/O, no clock
 * reads, no allocation: election.c feeds it and carries out its decisions, tests feed it a fake
 * clock and scripted replies.
 *
 * Timing rules (all on the caller's monotonic clock, in ms):
 *   window   = lease - lease*drift - margin, drift = BK_LEASE_DRIFT_PERMILLE/1000
 *   deadline = send time of the last successful acquire or renew + window
 * A leader is a leader only while now < deadline; at the deadline it steps down to NONE even if
 * Redis cannot be reached (the key may live up to `lease` after that send, never longer).
 * interval = renew_ms, or min(renew_ms, lease/3) when renew_ms >= window (renewing once per
 * window would let one slow renew lapse the lease). A leader renews every interval; others send
 * ACQUIRE every interval, which takes a free lease or reports its holder, and when the holder's
 * key has less than an interval left, again right after it expires. A failed command is
 * retried after interval/4.
 *
 * A broker takes or extends the key only over a link it has seen working: after Redis came
 * up, or after a command failed (no reply within the command timeout, which the shell sets to
 * window/2, or an error), the next command is a READ, and RENEW or ACQUIRE follow only once a
 * reply came back. So a broker whose replies are lost or late keeps its key alive at most
 * `lease` past the last RENEW it sent before the failure, and never takes it again meanwhile.
 * ACQUIRE never retakes a live key this very process set (the scripts compare a per-process
 * instance): one we cannot confirm holding is left to expire, and we try again only an
 * interval after that, so another broker may lead first; a key left by an earlier process
 * under our id and URL (a restart) is retaken at once, with a new epoch. */
#ifndef BROOK_ELECTION_LEASE_H
#define BROOK_ELECTION_LEASE_H

#include "brook/election.h"

#include <stdint.h>

#define BK_LEASE_ID_MAX 128  /* bytes with the NUL, as bk_election_view_t.leader_id */
#define BK_LEASE_URL_MAX 256 /* bytes with the NUL, as bk_election_view_t.leader_url */
#define BK_LEASE_DRIFT_PERMILLE 10u
#define BK_LEASE_NEVER UINT64_MAX

typedef enum {
    BK_LEASE_CMD_NONE = 0,
    BK_LEASE_CMD_ACQUIRE = 1, /* take the lease if free (new epoch), else report its holder */
    BK_LEASE_CMD_RENEW = 2,   /* extend our lease if the key still holds our id and epoch */
    BK_LEASE_CMD_READ = 3,    /* report the holder, change nothing */
} bk_lease_cmd_t;

typedef struct {
    uint32_t lease_ms;
    uint32_t renew_ms;
    uint32_t margin_ms; /* 0: bk_lease_default_margin(lease_ms) */
} bk_lease_config_t;

/* Who holds the leader key, as a script reported it. */
typedef struct {
    int present; /* 0: the key is free */
    int64_t epoch;
    char id[BK_LEASE_ID_MAX];
    char url[BK_LEASE_URL_MAX];
    int64_t ttl_ms; /* the key's remaining life as Redis reported it; < 0: unknown */
} bk_lease_holder_t;

typedef struct {
    /* derived from the configuration by bk_lease_init */
    uint32_t lease_ms, margin_ms, window_ms, interval_ms, retry_ms;
    char self_id[BK_LEASE_ID_MAX];
    char self_url[BK_LEASE_URL_MAX];
    /* state */
    bk_role_t role;           /* LEADER, FOLLOWER or NONE */
    bk_lease_holder_t leader; /* the leader we know of (ourselves when LEADER) */
    int64_t max_seen_epoch;   /* highest epoch any reply showed us */
    uint64_t deadline;        /* LEADER only: local end of the lease */
    int redis_up;
    int link_ok; /* the last command got a reply: RENEW / ACQUIRE allowed (else READ first) */
    int stopped;
    int want_read;
    bk_lease_cmd_t in_flight;
    uint64_t next_at; /* when the next periodic command is due */
} bk_lease_t;

/* max(lease/10, 200), but never more than lease/4. */
uint32_t bk_lease_default_margin(uint32_t lease_ms);

/* Starts as NONE with Redis down. Ids and URLs longer than the buffers are truncated. */
void bk_lease_init(bk_lease_t *l, const bk_lease_config_t *cfg, const char *self_id,
                   const char *self_url);

/* Redis connection came up (send at once) or went down (followers forget the leader; a leader
 * keeps its role until its deadline; any command in flight is forgotten). */
void bk_lease_redis(bk_lease_t *l, uint64_t now, int up);

/* Applies the deadline: a leader at or past it steps down. Call before bk_lease_next. */
void bk_lease_tick(bk_lease_t *l, uint64_t now);

/* The command to send now (it is then in flight, at most one at a time) or NONE. *wake_at is
 * when to call tick+next again at the latest (BK_LEASE_NEVER if only a reply can change things). */
bk_lease_cmd_t bk_lease_next(bk_lease_t *l, uint64_t now, uint64_t *wake_at);

/* Replies. sent_at is when the command was handed to Redis. Replies to a command that is not the
 * one in flight (stale) are ignored. */
void bk_lease_acquired(bk_lease_t *l, uint64_t now, uint64_t sent_at, int won,
                       const bk_lease_holder_t *holder, int64_t counter);
void bk_lease_renewed(bk_lease_t *l, uint64_t now, uint64_t sent_at, int ok);
void bk_lease_read(bk_lease_t *l, uint64_t now, const bk_lease_holder_t *holder, int64_t counter);
/* The command got an error or no reply (timeout, lost connection, Redis error). */
void bk_lease_failed(bk_lease_t *l, uint64_t now, bk_lease_cmd_t cmd);

/* Asks for a READ as soon as nothing is in flight (coalesced). */
void bk_lease_refresh(bk_lease_t *l);

/* Shutting down: role NONE, no more commands. */
void bk_lease_stop(bk_lease_t *l);

/* 1 when leader and now < deadline. *epoch gets the known leader's epoch (0 if none). */
int bk_lease_can_ack(const bk_lease_t *l, uint64_t now, int64_t *epoch);

/* The highest epoch seen; ACQUIRE passes it so a new term's epoch is above it (fencing survives
 * a Redis that lost its counter). */
int64_t bk_lease_seen_epoch(const bk_lease_t *l);

#endif
