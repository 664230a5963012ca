/* The election's Lua scripts and how they are sent: EVALSHA when the script's SHA1 is known
 * (learned from SCRIPT LOAD), EVAL otherwise, and after a NOSCRIPT error the same call is resent
 * once with EVAL while the script is loaded again. Plus parsers for the scripts' replies.
 *
 * Leader key value (written only by ACQUIRE): {"id":"<broker id>","epoch":<n>,"url":"<url>",
 * "instance":"<hex>"} (Redis' cjson escapes '/' as "\/"), with PX <lease>; the instance is
 * chosen at random by each broker process. The epoch key is a plain integer. The
 * ISR key value (written only by PUBLISH_ISR, no expiry): {"epoch":<n>,"version":<n>,
 * "leader":"<id>","isr":["<id>",...]}: the brokers that hold every acknowledged write, the only
 * ones ACQUIRE lets lead. */
#ifndef BROOK_ELECTION_SCRIPTS_H
#define BROOK_ELECTION_SCRIPTS_H

#include "election/lease.h"
#include "election/redis_client.h"

typedef enum {
    /* KEYS leader, epoch, isr; ARGV id, url, lease_ms, seen_epoch, unclean ("1" or "0"),
     * was_listed (whether the last ISR value this broker saw listed it: "1", "0", or "-1"
     * when it never saw one), eligible, instance.
     * Takes a free key, or one holding our own id AND url but another instance (a term of an
     * earlier process of ours, e.g. before a restart; a different url means another broker
     * misconfigured with our id, and we do not steal from it). A key of our own instance is
     * never retaken: it is reported as held (we lost the reply that would have told us we
     * hold it, and it must be left to expire). New epoch = max(INCR epoch, seen_epoch + 1,
     * old epoch + 1), value written with PX lease. Reply {won, present, id, epoch, url,
     * counter, listed, pttl} where listed is 1 / 0 when the ISR value lists / does not list
     * id, -1 when there is none, and pttl the holder's remaining ms (-2 when none).
     * The ISR value's epoch also raises the floor of the new epoch.
     * Unless unclean is "1", a broker that a readable ISR value does not list is refused
     * (a lagging replica is never elected): reply {0, 0, "", 0, "", counter, 0}, nothing
     * written. With no ISR value (Redis lost its data, or no leader published one yet), a
     * broker with was_listed "0" is refused the same way: it knows it was left out, so it
     * may lack acknowledged writes. ARGV[7] eligible: "0" refuses the same way whatever the
     * ISR says (another broker uses this id, so the ISR's word for it is not ours). */
    BK_SCRIPT_ACQUIRE = 0,
    /* KEYS leader; ARGV id, epoch, lease_ms. PEXPIRE only if the value holds this id and
     * epoch. Reply 1 or 0. */
    BK_SCRIPT_RENEW = 1,
    /* KEYS leader; ARGV id, epoch. DEL only if the value holds this id and epoch. 1 or 0. */
    BK_SCRIPT_RELEASE = 2,
    /* KEYS leader, epoch, isr; ARGV id. Reply {0, present, id, epoch, url, counter, listed,
     * pttl}. */
    BK_SCRIPT_READ = 3,
    /* KEYS leader, isr; ARGV id, epoch, version, member ids (1 or more). Replaces the ISR
     * value with {"epoch":<epoch>,"version":<version>,"leader":"<id>","isr":[members]} only
     * if the leader key holds this id and epoch (fencing: a deposed leader's late publication
     * changes nothing) and the value in place is older: a lower epoch, or the same epoch and a
     * lower version (a value without one counts as version 0). Reply 1 written, 0 fenced, 2
     * not written because a newer publication is in place (one that took longer to reach
     * Redis than a later one). A leader numbers its publications 1, 2, ... in call order. */
    BK_SCRIPT_PUBLISH_ISR = 4,
    /* KEYS isr. Reply {present, epoch, leader id, member ids...}; {0, 0, ""} when the key is
     * absent or not an ISR value. */
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

/* Parses an ACQUIRE or READ reply (*listed: 1, 0 or -1 as the scripts say). Returns 0 or
 * BK_EREDIS for a malformed one. */
int bk_scripts_parse_holder(const redisReply *r, int *won, bk_lease_holder_t *holder,
                            int64_t *counter, int *listed);

/* Parses a RENEW, RELEASE or PUBLISH_ISR reply (an integer: 0, 1, or PUBLISH_ISR's 2).
 * Returns 0 or BK_EREDIS. */
int bk_scripts_parse_flag(const redisReply *r, int *flag);

/* Parses a READ_ISR reply. Returns 0 or BK_EREDIS. */
int bk_scripts_parse_isr(const redisReply *r, bk_election_isr_t *isr);

#endif
