/* The election's Lua scripts and how they are sent: EVALSHA when the script's SHA1 is known
 * (learned from SCRIPT LOAD), EVAL otherwise, and after a NOSCRIPT error the same call is resent
 * once with EVAL while the script is loaded again. Plus parsers for the scripts' replies.
 *
 * Leader key value (written only by ACQUIRE): {"id":"<broker id>","epoch":<n>,"url":"<url>",
 * "instance":"<hex>"} (Redis' cjson escapes '/' as "\/"), with PX <lease>; the instance is
 * chosen at random by each broker process. The epoch key is a plain integer. The
 * ISR key value (written only by PUBLISH_ISR, no expiry):
 * {"epoch":<n>,"version":<n>,"leader":"<id>","isr":["<id>",...]}: the brokers that hold every
 * acknowledged write, the only ones ACQUIRE lets lead.
 *
 * Registrations: the hash "<cluster>:brokers" maps each broker id to what that broker
 * remembers (isr_memory.h): {"seen":<highest epoch>,"lost":<bool>,"at":<Redis TIME, ms>,
 * "isr":<an ISR value, or absent>}. READ, ACQUIRE and RENEW write the sender's entry, and
 * PUBLISH_ISR the publisher's, always merged with what is there (the newer ISR, the higher
 * epoch) and with the ISR Redis holds (which the reply teaches the sender), so an entry never
 * says less than its broker knows. Entries older than the TTL the sender passes are ignored
 * and removed. ISR order is (epoch, version).
 *
 * Registration arguments (RTAIL, ARGV[7] on): ttl_ms, seen_epoch, lost ("1"/"0"), isr_epoch
 * (-1: none known), isr_version, isr_leader, member ids.
 *
 * ACQUIRE after a data loss (Redis holds no ISR value, clean election): let N be the newest
 * ISR any registered broker reports. The candidate may lead only if its own memory is not
 * lost, and either no registered broker knows an ISR and none has lost its memory (a new
 * cluster), or every registration reporting N lists the candidate and every member of N is
 * registered with a memory that is not lost. Why that suffices: the publisher of whatever
 * came after N in Redis' history is a member of N (a leader lists itself, and a new term's
 * leader was listed by the ISR of its election) and remembers it (a leader records a
 * publication before sending it), so were it registered it would report something newer. */
#ifndef BROOK_ELECTION_SCRIPTS_H
#define BROOK_ELECTION_SCRIPTS_H

#include "election/lease.h"
#include "election/redis_client.h"

typedef enum {
    /* KEYS leader, epoch, isr, brokers; ARGV id, url, lease_ms, unclean ("1"/"0"), eligible
     * ("1"/"0"), instance, RTAIL.
     * Takes a free key, or one holding our own id AND url but another instance (a term of an
     * earlier process of ours, e.g. before a restart; a different url means another broker
     * misconfigured with our id, and we do not steal from it). A key of our own instance is
     * never retaken: it is reported as held (we lost the reply that would have told us we
     * hold it, and it must be left to expire). New epoch = max(INCR epoch, 1 + the highest of:
     * our seen_epoch, the old key's epoch, the ISR value's epoch, every registered broker's
     * seen epoch), value written with PX lease (and our registration's epoch raised to it).
     * Unless unclean is "1", a broker that a readable ISR
     * value does not list is refused (a lagging replica is never elected), and with no ISR
     * value the rule above applies. eligible "0" refuses whatever the ISR says (another
     * broker uses this id, so the ISR's word for it is not ours). Refused: nothing but the
     * registration written.
     * Reply {won, present, id, epoch, url, counter, listed, pttl, reason, detail, isr_epoch,
     * isr_version, isr_leader, members...}: listed is 1 / 0 when the ISR value lists / does
     * not list id, -1 when there is none; pttl the holder's remaining ms (-2 when none);
     * reason "" or why a free lease was refused: "ineligible", "not-listed" (detail: the ISR's
     * leader), "lost" (our memory is), "left-out" (detail: the broker reporting the newer ISR
     * without us), "waiting" (detail: a member not registered, or whose memory is lost);
     * then the ISR value Redis holds after the script (isr_epoch -1: none). */
    BK_SCRIPT_ACQUIRE = 0,
    /* KEYS leader, brokers; ARGV id, epoch, lease_ms, "", "", "", RTAIL. PEXPIRE only if the
     * value holds this id and epoch (registers either way). Reply 1 or 0. */
    BK_SCRIPT_RENEW = 1,
    /* KEYS leader; ARGV id, epoch. DEL only if the value holds this id and epoch. 1 or 0. */
    BK_SCRIPT_RELEASE = 2,
    /* KEYS leader, epoch, isr, brokers; ARGV id, "", "", "", "", "", RTAIL. Registers, changes
     * nothing else. Reply as ACQUIRE's with won 0 and reason "". */
    BK_SCRIPT_READ = 3,
    /* KEYS leader, isr, brokers; ARGV id, epoch, version, ttl_ms, member ids (1 or more).
     * Replaces the ISR value with {"epoch":<epoch>,"version":<version>,"leader":"<id>",
     * "isr":[members]} only if the leader key holds this id and epoch (fencing: a deposed
     * leader's late publication changes nothing) and the value in place is older: a lower
     * epoch, or the same epoch and a lower version (a value without one counts as version 0).
     * Reply 1 written (the publisher's registration then reports it), 0 fenced, 2 not written
     * because a newer publication is in place (one that took longer to reach Redis than a
     * later one). A leader numbers its publications 1, 2, ... in call order. */
    BK_SCRIPT_PUBLISH_ISR = 4,
    /* KEYS isr. Reply {present, epoch, leader id, version, member ids...}; {0, 0, "", 0} when
     * the key is absent or not an ISR value. */
    BK_SCRIPT_READ_ISR = 5,
    BK_SCRIPT_COUNT = 6,
} bk_script_t;

/* SHA1s learned from SCRIPT LOAD; empty until then. Must outlive every call made with it,
 * i.e. until the client's close completed. */
typedef struct {
    char sha[BK_SCRIPT_COUNT][41];
    int loading[BK_SCRIPT_COUNT];
} bk_scripts_t;

void bk_scripts_init(bk_scripts_t *s);

/* Lua source of a script (static). */
const char *bk_scripts_source(bk_script_t id);

/* Runs a script with nkeys keys then nargs args from strs (copied). Returns 0 and cb runs
 * exactly once (with the script's reply or an error), or a negative error and cb never runs. */
int bk_scripts_call(bk_scripts_t *s, bk_redis_client_t *c, bk_script_t id, int nkeys, int nargs,
                    const char *const *strs, bk_redis_reply_cb cb, void *arg);

/* What an ACQUIRE or READ reply says beyond the holder. */
typedef struct {
    int listed;      /* 1, 0 or -1 as the scripts say */
    char reason[16]; /* "" or why a free lease was refused (see ACQUIRE) */
    char detail[BK_LEASE_ID_MAX];
    bk_election_isr_t isr; /* the ISR value Redis holds (present 0: none) */
} bk_scripts_verdict_t;

/* Parses an ACQUIRE or READ reply. Returns 0 or BK_EREDIS for a malformed one. */
int bk_scripts_parse_holder(const redisReply *r, int *won, bk_lease_holder_t *holder,
                            int64_t *counter, bk_scripts_verdict_t *verdict);

/* Parses a RENEW, RELEASE or PUBLISH_ISR reply (an integer: 0, 1, or PUBLISH_ISR's 2).
 * Returns 0 or BK_EREDIS. */
int bk_scripts_parse_flag(const redisReply *r, int *flag);

/* Parses a READ_ISR reply. Returns 0 or BK_EREDIS. */
int bk_scripts_parse_isr(const redisReply *r, bk_election_isr_t *isr);

#endif
