/* Lua scripts for the lease (semantics in scripts.h) and their transport. Each script does its
 * compare and its write atomically inside Redis; this file must never split one into separate
 * commands. Calls are copied into a record so a NOSCRIPT reply can be answered by resending the
 * same call with EVAL, transparently to the caller, whose callback still runs exactly once. */
#include "election/scripts.h"

#include "brook/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* holder(raw): id, epoch, url of a leader value; a value that is not our JSON is reported as
 * id = the raw value, epoch 0, so it is never mistaken for ours. */
#define HOLDER_LUA                                                                                 \
    "local function holder(raw)\n"                                                                 \
    "  local ok, v = pcall(cjson.decode, raw)\n"                                                   \
    "  if ok and type(v) == 'table' and type(v.id) == 'string' then\n"                             \
    "    local url, inst = v.url, v.instance\n"                                                    \
    "    if type(url) ~= 'string' then url = '' end\n"                                             \
    "    if type(inst) ~= 'string' then inst = '' end\n"                                           \
    "    return v.id, tonumber(v.epoch) or 0, url, inst\n"                                         \
    "  end\n"                                                                                      \
    "  return raw, 0, '', ''\n"                                                                    \
    "end\n"

#define MATCH_LUA                                                                                  \
    "local cur = redis.call('GET', KEYS[1])\n"                                                     \
    "if not cur then return 0 end\n"                                                               \
    "local ok, v = pcall(cjson.decode, cur)\n"                                                     \
    "if not (ok and type(v) == 'table' and v.id == ARGV[1]\n"                                      \
    "        and tonumber(v.epoch) == tonumber(ARGV[2])) then return 0 end\n"

/* isr_members(raw): the id list of an ISR value, or nil when raw is not one (absent or
 * unreadable values never block an election). */
#define ISR_LUA                                                                                    \
    "local function isr_members(raw)\n"                                                            \
    "  if not raw then return nil end\n"                                                           \
    "  local ok, v = pcall(cjson.decode, raw)\n"                                                   \
    "  if not (ok and type(v) == 'table' and type(v.isr) == 'table') then return nil end\n"        \
    "  local out = {}\n"                                                                           \
    "  for _, m in ipairs(v.isr) do\n"                                                             \
    "    if type(m) == 'string' then out[#out + 1] = m end\n"                                      \
    "  end\n"                                                                                      \
    "  return out, v\n"                                                                            \
    "end\n"

/* listed(members, id): 1 when the ISR lists id, 0 when it does not, -1 when there is none. */
#define LISTED_LUA                                                                                 \
    "local function listed(members, id)\n"                                                         \
    "  if not members then return -1 end\n"                                                        \
    "  for _, m in ipairs(members) do if m == id then return 1 end end\n"                          \
    "  return 0\n"                                                                                 \
    "end\n"

static const char acquire_lua[] = HOLDER_LUA ISR_LUA LISTED_LUA
    "local counter = tonumber(redis.call('GET', KEYS[2]) or '0') or 0\n"
    "local floor = tonumber(ARGV[4]) or 0\n"
    "local members, isr = isr_members(redis.call('GET', KEYS[3]))\n"
    "local me = listed(members, ARGV[1])\n"
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur then\n"
    "  local id, epoch, url, inst = holder(cur)\n"
    "  local ttl = redis.call('PTTL', KEYS[1])\n"
    "  if id ~= ARGV[1] or url ~= ARGV[2] or inst == ARGV[8] then\n"
    "    return {0, 1, id, epoch, url, counter, me, ttl}\n"
    "  end\n"
    "  if epoch > floor then floor = epoch end\n"
    "end\n"
    "if members and (tonumber(isr.epoch) or 0) > floor then floor = tonumber(isr.epoch) end\n"
    "if ARGV[7] == '0' then return {0, 0, '', 0, '', counter, me, -2} end\n"
    "if ARGV[5] ~= '1' then\n"
    "  if me == 0 then return {0, 0, '', 0, '', counter, me, -2} end\n"
    "  if me == -1 and ARGV[6] == '0' then return {0, 0, '', 0, '', counter, me, -2} end\n"
    "end\n"
    "local epoch = redis.call('INCR', KEYS[2])\n"
    "if epoch <= floor then\n"
    "  epoch = floor + 1\n"
    "  redis.call('SET', KEYS[2], string.format('%d', epoch))\n"
    "end\n"
    "local val = '{\"id\":' .. cjson.encode(ARGV[1]) .. ',\"epoch\":' ..\n"
    "  string.format('%d', epoch) .. ',\"url\":' .. cjson.encode(ARGV[2]) ..\n"
    "  ',\"instance\":' .. cjson.encode(ARGV[8]) .. '}'\n"
    "redis.call('SET', KEYS[1], val, 'PX', ARGV[3])\n"
    "return {1, 1, ARGV[1], epoch, ARGV[2], epoch, me, tonumber(ARGV[3])}\n";

static const char renew_lua[] = MATCH_LUA "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
                                          "return 1\n";

static const char release_lua[] = MATCH_LUA "redis.call('DEL', KEYS[1])\n"
                                            "return 1\n";

static const char read_lua[] = HOLDER_LUA ISR_LUA LISTED_LUA
    "local counter = tonumber(redis.call('GET', KEYS[2]) or '0') or 0\n"
    "local me = listed(isr_members(redis.call('GET', KEYS[3])), ARGV[1])\n"
    "local cur = redis.call('GET', KEYS[1])\n"
    "if not cur then return {0, 0, '', 0, '', counter, me, -2} end\n"
    "local id, epoch, url = holder(cur)\n"
    "return {0, 1, id, epoch, url, counter, me, redis.call('PTTL', KEYS[1])}\n";

/* The version compare keeps a publication that Redis receives late (its connection was
 * dropped on a timeout, but its bytes were still on the way) from replacing a newer one. */
static const char publish_isr_lua[] = MATCH_LUA
    "local epoch, version = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local old = redis.call('GET', KEYS[2])\n"
    "if old then\n"
    "  local ok, v = pcall(cjson.decode, old)\n"
    "  if ok and type(v) == 'table' then\n"
    "    local oe, ov = tonumber(v.epoch) or 0, tonumber(v.version) or 0\n"
    "    if oe > epoch or (oe == epoch and ov >= version) then return 2 end\n"
    "  end\n"
    "end\n"
    "local members = {}\n"
    "for i = 4, #ARGV do members[#members + 1] = ARGV[i] end\n"
    "local val = '{\"epoch\":' .. string.format('%d', epoch) ..\n"
    "  ',\"version\":' .. string.format('%d', version) ..\n"
    "  ',\"leader\":' .. cjson.encode(ARGV[1]) .. ',\"isr\":' .. cjson.encode(members) .. '}'\n"
    "redis.call('SET', KEYS[2], val)\n"
    "return 1\n";

static const char read_isr_lua[] =
    ISR_LUA "local members, v = isr_members(redis.call('GET', KEYS[1]))\n"
            "if not members then return {0, 0, ''} end\n"
            "local leader = v.leader\n"
            "if type(leader) ~= 'string' then leader = '' end\n"
            "local out = {1, tonumber(v.epoch) or 0, leader}\n"
            "for _, m in ipairs(members) do out[#out + 1] = m end\n"
            "return out\n";

static const char *const sources[BK_SCRIPT_COUNT] = {acquire_lua, renew_lua,       release_lua,
                                                     read_lua,    publish_isr_lua, read_isr_lua};

#define MAX_STRS 24

typedef struct {
    bk_scripts_t *s;
    bk_redis_client_t *c;
    bk_script_t id;
    int nkeys, nstrs;
    int used_sha; /* the last send was EVALSHA (so NOSCRIPT can be answered once with EVAL) */
    const char *strs[MAX_STRS];
    size_t lens[MAX_STRS];
    bk_redis_reply_cb cb;
    void *arg;
    char data[]; /* the copied strings */
} call_t;

typedef struct {
    bk_scripts_t *s;
    bk_script_t id;
} load_t;

void bk_scripts_init(bk_scripts_t *s)
{
    memset(s, 0, sizeof *s);
}

const char *bk_scripts_source(bk_script_t id)
{
    return (unsigned)id < BK_SCRIPT_COUNT ? sources[id] : "";
}

static void after_load(void *arg, int status, const redisReply *r)
{
    load_t *ld = arg;
    ld->s->loading[ld->id] = 0;
    if (status == 0 && r->type == REDIS_REPLY_STRING && r->len == 40)
        memcpy(ld->s->sha[ld->id], r->str, 41);
    else
        bk_trace_debug("redis", "SCRIPT LOAD failed: %s",
                       status                         ? bk_strerror(status)
                       : r->type == REDIS_REPLY_ERROR ? r->str
                                                      : "?");
    free(ld);
}

/* Fire-and-forget SCRIPT LOAD so the next call can use EVALSHA. */
static void start_load(bk_scripts_t *s, bk_redis_client_t *c, bk_script_t id)
{
    if (s->loading[id])
        return;
    load_t *ld = malloc(sizeof *ld);
    if (ld == NULL)
        return;
    ld->s = s;
    ld->id = id;
    const char *argv[3] = {"SCRIPT", "LOAD", sources[id]};
    size_t lens[3] = {6, 4, strlen(sources[id])};
    if (bk_redis_client_command(c, 3, argv, lens, after_load, ld) != 0) {
        free(ld);
        return;
    }
    s->loading[id] = 1;
}

static void after_call(void *arg, int status, const redisReply *r);

static int send_call(call_t *k)
{
    const char *argv[MAX_STRS + 3];
    size_t lens[MAX_STRS + 3];
    char nkeys[16];
    const char *sha = k->s->sha[k->id];
    int use_sha = sha[0] != '\0';
    snprintf(nkeys, sizeof nkeys, "%d", k->nkeys);
    argv[0] = use_sha ? "EVALSHA" : "EVAL";
    argv[1] = use_sha ? sha : sources[k->id];
    argv[2] = nkeys;
    for (int i = 0; i < 3; i++)
        lens[i] = strlen(argv[i]);
    for (int i = 0; i < k->nstrs; i++) {
        argv[3 + i] = k->strs[i];
        lens[3 + i] = k->lens[i];
    }
    k->used_sha = use_sha;
    int rc = bk_redis_client_command(k->c, 3 + k->nstrs, argv, lens, after_call, k);
    if (rc == 0 && !use_sha)
        start_load(k->s, k->c, k->id);
    return rc;
}

static int is_noscript(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && r->str != NULL && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

static void after_call(void *arg, int status, const redisReply *r)
{
    call_t *k = arg;
    if (status == 0 && k->used_sha && is_noscript(r)) {
        bk_trace_info("redis", "script cache lost (NOSCRIPT); resending with EVAL");
        k->s->sha[k->id][0] = '\0';
        int rc = send_call(k);
        if (rc == 0)
            return; /* k lives on until the EVAL's reply */
        k->cb(k->arg, rc, NULL);
        free(k);
        return;
    }
    k->cb(k->arg, status, r);
    free(k);
}

int bk_scripts_call(bk_scripts_t *s, bk_redis_client_t *c, bk_script_t id, int nkeys, int nargs,
                    const char *const *strs, bk_redis_reply_cb cb, void *arg)
{
    int n = nkeys + nargs;
    if ((unsigned)id >= BK_SCRIPT_COUNT || nkeys < 0 || nargs < 0 || n > MAX_STRS)
        return BK_EINVAL;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += strlen(strs[i]) + 1;
    call_t *k = malloc(sizeof *k + total);
    if (k == NULL)
        return UV_ENOMEM;
    k->s = s;
    k->c = c;
    k->id = id;
    k->nkeys = nkeys;
    k->nstrs = n;
    k->cb = cb;
    k->arg = arg;
    char *p = k->data;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(strs[i]);
        memcpy(p, strs[i], len + 1);
        k->strs[i] = p;
        k->lens[i] = len;
        p += len + 1;
    }
    int rc = send_call(k);
    if (rc != 0)
        free(k);
    return rc;
}

static void copy_reply_str(char *dst, size_t cap, const redisReply *r)
{
    size_t n = r->len < cap - 1 ? r->len : cap - 1;
    memcpy(dst, r->str, n);
    dst[n] = '\0';
}

int bk_scripts_parse_holder(const redisReply *r, int *won, bk_lease_holder_t *holder,
                            int64_t *counter, int *listed)
{
    memset(holder, 0, sizeof *holder);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 8)
        return BK_EREDIS;
    redisReply **e = r->element;
    if (e[0]->type != REDIS_REPLY_INTEGER || e[1]->type != REDIS_REPLY_INTEGER ||
        e[2]->type != REDIS_REPLY_STRING || e[3]->type != REDIS_REPLY_INTEGER ||
        e[4]->type != REDIS_REPLY_STRING || e[5]->type != REDIS_REPLY_INTEGER ||
        e[6]->type != REDIS_REPLY_INTEGER || e[7]->type != REDIS_REPLY_INTEGER)
        return BK_EREDIS;
    holder->ttl_ms = e[1]->integer ? (int64_t)e[7]->integer : -1; /* PTTL: -1, -2 unknown */
    *listed = e[6]->integer > 0 ? 1 : e[6]->integer < 0 ? -1 : 0;
    *won = e[0]->integer != 0;
    holder->present = e[1]->integer != 0;
    copy_reply_str(holder->id, sizeof holder->id, e[2]);
    holder->epoch = (int64_t)e[3]->integer;
    copy_reply_str(holder->url, sizeof holder->url, e[4]);
    *counter = (int64_t)e[5]->integer;
    return 0;
}

int bk_scripts_parse_flag(const redisReply *r, int *flag)
{
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        return BK_EREDIS;
    *flag = r->integer == 2 ? 2 : r->integer != 0;
    return 0;
}

int bk_scripts_parse_isr(const redisReply *r, bk_election_isr_t *isr)
{
    memset(isr, 0, sizeof *isr);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return BK_EREDIS;
    redisReply **e = r->element;
    if (e[0]->type != REDIS_REPLY_INTEGER || e[1]->type != REDIS_REPLY_INTEGER ||
        e[2]->type != REDIS_REPLY_STRING)
        return BK_EREDIS;
    isr->present = e[0]->integer != 0;
    isr->epoch = (int64_t)e[1]->integer;
    copy_reply_str(isr->leader, sizeof isr->leader, e[2]);
    for (size_t i = 3; i < r->elements; i++) {
        if (e[i]->type != REDIS_REPLY_STRING)
            return BK_EREDIS;
        if (isr->count == BK_ELECTION_ISR_MAX) {
            bk_trace_warn("redis", "ISR lists more than %d brokers; ignoring the rest",
                          BK_ELECTION_ISR_MAX);
            break;
        }
        copy_reply_str(isr->ids[isr->count++], sizeof isr->ids[0], e[i]);
    }
    return 0;
}
