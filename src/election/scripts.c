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

/* isr_of(v): an ISR value decoded from JSON, as {epoch, version, leader, isr = {ids}}, or nil
 * when v is not one (absent or unreadable values never block an election); newer(a, b) in
 * (epoch, version) order, nil oldest; lists(s, id): 1 / 0, or -1 when s is nil. */
#define ISR_LUA                                                                                    \
    "local function isr_of(v)\n"                                                                   \
    "  if type(v) ~= 'table' or type(v.isr) ~= 'table' then return nil end\n"                      \
    "  local out = {}\n"                                                                           \
    "  for _, m in ipairs(v.isr) do\n"                                                             \
    "    if type(m) == 'string' then out[#out + 1] = m end\n"                                      \
    "  end\n"                                                                                      \
    "  local leader = v.leader\n"                                                                  \
    "  if type(leader) ~= 'string' then leader = '' end\n"                                         \
    "  return {epoch = tonumber(v.epoch) or 0, version = tonumber(v.version) or 0,\n"              \
    "          leader = leader, isr = out}\n"                                                      \
    "end\n"                                                                                        \
    "local function isr_value(raw)\n"                                                              \
    "  if not raw then return nil end\n"                                                           \
    "  local ok, v = pcall(cjson.decode, raw)\n"                                                   \
    "  if not ok then return nil end\n"                                                            \
    "  return isr_of(v)\n"                                                                         \
    "end\n"                                                                                        \
    "local function isr_encode(s)\n"                                                               \
    "  return '{\"epoch\":' .. string.format('%d', s.epoch) ..\n"                                  \
    "    ',\"version\":' .. string.format('%d', s.version) ..\n"                                   \
    "    ',\"leader\":' .. cjson.encode(s.leader) .. ',\"isr\":' .. cjson.encode(s.isr) .. '}'\n"  \
    "end\n"                                                                                        \
    "local function newer(a, b)\n"                                                                 \
    "  if not a then return false end\n"                                                           \
    "  if not b then return true end\n"                                                            \
    "  if a.epoch ~= b.epoch then return a.epoch > b.epoch end\n"                                  \
    "  return a.version > b.version\n"                                                             \
    "end\n"                                                                                        \
    "local function lists(s, id)\n"                                                                \
    "  if not s then return -1 end\n"                                                              \
    "  for _, m in ipairs(s.isr) do if m == id then return 1 end end\n"                            \
    "  return 0\n"                                                                                 \
    "end\n"

/* Registrations in the hash KEYS[hkey] (scripts.h). register() merges what the sender says
 * (RTAIL), what its entry says and an ISR it is about to learn, writes and returns it;
 * scan() returns the live entries in hash order and removes expired ones. */
#define REG_LUA                                                                                    \
    "local function now_ms()\n"                                                                    \
    "  local t = redis.call('TIME')\n"                                                             \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                         \
    "end\n"                                                                                        \
    "local NOW, TTL = now_ms(), tonumber(ARGV[TTL_AT]) or 86400000\n"                              \
    "local function reg_of(raw)\n"                                                                 \
    "  if not raw then return nil end\n"                                                           \
    "  local ok, v = pcall(cjson.decode, raw)\n"                                                   \
    "  if not (ok and type(v) == 'table') then return nil end\n"                                   \
    "  if NOW - (tonumber(v.at) or 0) > TTL then return nil end\n"                                 \
    "  return {seen = tonumber(v.seen) or 0, lost = v.lost == true, isr = isr_of(v.isr)}\n"        \
    "end\n"                                                                                        \
    "local function reg_encode(r)\n"                                                               \
    "  local t = '{\"seen\":' .. string.format('%d', r.seen) .. ',\"lost\":' ..\n"                 \
    "    (r.lost and 'true' or 'false') .. ',\"at\":' .. string.format('%d', NOW)\n"               \
    "  if r.isr then t = t .. ',\"isr\":' .. isr_encode(r.isr) end\n"                              \
    "  return t .. '}'\n"                                                                          \
    "end\n"                                                                                        \
    "local function rtail()\n"                                                                     \
    "  local r = {seen = tonumber(ARGV[8]) or 0, lost = ARGV[9] == '1'}\n"                         \
    "  local e = tonumber(ARGV[10])\n"                                                             \
    "  if e and e >= 0 then\n"                                                                     \
    "    local out = {}\n"                                                                         \
    "    for i = 13, #ARGV do out[#out + 1] = ARGV[i] end\n"                                       \
    "    if #out > 0 then\n"                                                                       \
    "      r.isr = {epoch = e, version = tonumber(ARGV[11]) or 0, leader = ARGV[12], isr = out}\n" \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  return r\n"                                                                                 \
    "end\n"                                                                                        \
    "local function register(hkey, id, r, learn)\n"                                                \
    "  local old = reg_of(redis.call('HGET', hkey, id))\n"                                         \
    "  if old then\n"                                                                              \
    "    if old.seen > r.seen then r.seen = old.seen end\n"                                        \
    "    if newer(old.isr, r.isr) then r.isr = old.isr end\n"                                      \
    "    r.lost = r.lost and old.lost\n"                                                           \
    "  end\n"                                                                                      \
    "  if learn then\n"                                                                            \
    "    if newer(learn, r.isr) then r.isr = learn end\n"                                          \
    "    r.lost = false\n"                                                                         \
    "  end\n"                                                                                      \
    "  if r.isr and r.isr.epoch > r.seen then r.seen = r.isr.epoch end\n"                          \
    "  redis.call('HSET', hkey, id, reg_encode(r))\n"                                              \
    "  return r\n"                                                                                 \
    "end\n"                                                                                        \
    "local function scan(hkey)\n"                                                                  \
    "  local all, regs = redis.call('HGETALL', hkey), {}\n"                                        \
    "  for i = 1, #all, 2 do\n"                                                                    \
    "    local r = reg_of(all[i + 1])\n"                                                           \
    "    if r then regs[#regs + 1] = {id = all[i], r = r}\n"                                       \
    "    else redis.call('HDEL', hkey, all[i]) end\n"                                              \
    "  end\n"                                                                                      \
    "  return regs\n"                                                                              \
    "end\n"

/* after_loss(regs, id): nil when id may lead with Redis holding no ISR value, else the reason
 * and its detail (the rule and why it is enough: scripts.h). */
#define AFTER_LOSS_LUA                                                                             \
    "local function find(regs, id)\n"                                                              \
    "  for _, x in ipairs(regs) do if x.id == id then return x.r end end\n"                        \
    "  return nil\n"                                                                               \
    "end\n"                                                                                        \
    "local function after_loss(regs, id)\n"                                                        \
    "  local mine = find(regs, id)\n"                                                              \
    "  if not mine or mine.lost then return 'lost', id end\n"                                      \
    "  local best = nil\n"                                                                         \
    "  for _, x in ipairs(regs) do\n"                                                              \
    "    if newer(x.r.isr, best) then best = x.r.isr end\n"                                        \
    "  end\n"                                                                                      \
    "  if not best then\n"                                                                         \
    "    for _, x in ipairs(regs) do\n"                                                            \
    "      if x.r.lost then return 'waiting', x.id end\n"                                          \
    "    end\n"                                                                                    \
    "    return nil\n"                                                                             \
    "  end\n"                                                                                      \
    "  for _, x in ipairs(regs) do\n"                                                              \
    "    local s = x.r.isr\n"                                                                      \
    "    if s and not newer(best, s) then\n"                                                       \
    "      if lists(s, id) ~= 1 then return 'left-out', x.id end\n"                                \
    "      for _, m in ipairs(s.isr) do\n"                                                         \
    "        local r = find(regs, m)\n"                                                            \
    "        if not r or r.lost then return 'waiting', m end\n"                                    \
    "      end\n"                                                                                  \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  return nil\n"                                                                               \
    "end\n"

/* The registration arguments start at ARGV[7] (RTAIL in scripts.h). */
#define RTAIL_LUA "local TTL_AT = 7\n"

/* answer(...): the ACQUIRE / READ reply (scripts.h); COUNTER and ME are set by the script. */
#define ANSWER_LUA                                                                                 \
    "local COUNTER, ME = 0, -1\n"                                                                  \
    "local function answer(won, present, id, epoch, url, pttl, reason, detail, s)\n"               \
    "  local out = {won, present, id, epoch, url, COUNTER, ME, pttl, reason, detail}\n"            \
    "  if s then\n"                                                                                \
    "    out[11], out[12], out[13] = s.epoch, s.version, s.leader\n"                               \
    "    for _, m in ipairs(s.isr) do out[#out + 1] = m end\n"                                     \
    "  else\n"                                                                                     \
    "    out[11], out[12], out[13] = -1, 0, ''\n"                                                  \
    "  end\n"                                                                                      \
    "  return out\n"                                                                               \
    "end\n"

static const char *const acquire_lua[] = {
    HOLDER_LUA,
    ISR_LUA,
    RTAIL_LUA,
    REG_LUA,
    AFTER_LOSS_LUA,
    ANSWER_LUA,
    "COUNTER = tonumber(redis.call('GET', KEYS[2]) or '0') or 0\n"
    "local isr = isr_value(redis.call('GET', KEYS[3]))\n"
    "ME = lists(isr, ARGV[1])\n"
    "local reg = register(KEYS[4], ARGV[1], rtail(), isr)\n"
    "local floor = reg.seen\n"
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur then\n"
    "  local id, epoch, url, inst = holder(cur)\n"
    "  if id ~= ARGV[1] or url ~= ARGV[2] or inst == ARGV[6] then\n"
    "    return answer(0, 1, id, epoch, url, redis.call('PTTL', KEYS[1]), '', '', isr)\n"
    "  end\n"
    "  if epoch > floor then floor = epoch end\n"
    "end\n"
    "if isr and isr.epoch > floor then floor = isr.epoch end\n"
    "if ARGV[5] == '0' then return answer(0, 0, '', 0, '', -2, 'ineligible', '', isr) end\n"
    "local regs = scan(KEYS[4])\n"
    "if ARGV[4] ~= '1' then\n"
    "  if ME == 0 then return answer(0, 0, '', 0, '', -2, 'not-listed', isr.leader, isr) end\n"
    "  if not isr then\n"
    "    local why, who = after_loss(regs, ARGV[1])\n"
    "    if why then return answer(0, 0, '', 0, '', -2, why, who, nil) end\n"
    "  end\n"
    "end\n"
    "for _, x in ipairs(regs) do\n"
    "  if x.r.seen > floor then floor = x.r.seen end\n"
    "end\n"
    "local epoch = redis.call('INCR', KEYS[2])\n"
    "if epoch <= floor then\n"
    "  epoch = floor + 1\n"
    "  redis.call('SET', KEYS[2], string.format('%d', epoch))\n"
    "end\n"
    "COUNTER = epoch\n"
    "local val = '{\"id\":' .. cjson.encode(ARGV[1]) .. ',\"epoch\":' ..\n"
    "  string.format('%d', epoch) .. ',\"url\":' .. cjson.encode(ARGV[2]) ..\n"
    "  ',\"instance\":' .. cjson.encode(ARGV[6]) .. '}'\n"
    "redis.call('SET', KEYS[1], val, 'PX', ARGV[3])\n"
    "reg.seen = epoch\n"
    "redis.call('HSET', KEYS[4], ARGV[1], reg_encode(reg))\n"
    "return answer(1, 1, ARGV[1], epoch, ARGV[2], tonumber(ARGV[3]), '', '', isr)\n",
    NULL};

static const char *const renew_lua[] = {
    ISR_LUA, RTAIL_LUA, REG_LUA,
    "register(KEYS[2], ARGV[1], rtail(), nil)\n"
    "local cur = redis.call('GET', KEYS[1])\n"
    "if not cur then return 0 end\n"
    "local ok, v = pcall(cjson.decode, cur)\n"
    "if not (ok and type(v) == 'table' and v.id == ARGV[1]\n"
    "        and tonumber(v.epoch) == tonumber(ARGV[2])) then return 0 end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "return 1\n",
    NULL};

static const char *const release_lua[] = {MATCH_LUA "redis.call('DEL', KEYS[1])\n"
                                                    "return 1\n",
                                          NULL};

static const char *const read_lua[] = {
    HOLDER_LUA,
    ISR_LUA,
    RTAIL_LUA,
    REG_LUA,
    ANSWER_LUA,
    "COUNTER = tonumber(redis.call('GET', KEYS[2]) or '0') or 0\n"
    "local isr = isr_value(redis.call('GET', KEYS[3]))\n"
    "ME = lists(isr, ARGV[1])\n"
    "register(KEYS[4], ARGV[1], rtail(), isr)\n"
    "local cur = redis.call('GET', KEYS[1])\n"
    "if not cur then return answer(0, 0, '', 0, '', -2, '', '', isr) end\n"
    "local id, epoch, url = holder(cur)\n"
    "return answer(0, 1, id, epoch, url, redis.call('PTTL', KEYS[1]), '', '', isr)\n",
    NULL};

/* The version compare keeps a publication that Redis receives late (its connection was
 * dropped on a timeout, but its bytes were still on the way) from replacing a newer one. */
static const char *const publish_isr_lua[] = {
    MATCH_LUA,
    ISR_LUA,
    "local TTL_AT = 4\n",
    REG_LUA,
    "local epoch, version = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local old = isr_value(redis.call('GET', KEYS[2]))\n"
    "if old and (old.epoch > epoch or (old.epoch == epoch and old.version >= version)) then\n"
    "  return 2\n"
    "end\n"
    "local members = {}\n"
    "for i = 5, #ARGV do members[#members + 1] = ARGV[i] end\n"
    "local s = {epoch = epoch, version = version, leader = ARGV[1], isr = members}\n"
    "redis.call('SET', KEYS[2], isr_encode(s))\n"
    "register(KEYS[3], ARGV[1], {seen = epoch, lost = false}, s)\n"
    "return 1\n",
    NULL};

static const char *const read_isr_lua[] = {ISR_LUA
                                           "local s = isr_value(redis.call('GET', KEYS[1]))\n"
                                           "if not s then return {0, 0, '', 0} end\n"
                                           "local out = {1, s.epoch, s.leader, s.version}\n"
                                           "for _, m in ipairs(s.isr) do out[#out + 1] = m end\n"
                                           "return out\n",
                                           NULL};

static const char *const *const parts[BK_SCRIPT_COUNT] = {
    acquire_lua, renew_lua, release_lua, read_lua, publish_isr_lua, read_isr_lua};

/* A script's source is its parts joined (each part stays under the 4095 bytes C99 promises
 * for a string literal). Joined once, on first use, on the loop thread. */
#define SOURCE_MAX 16384
static char sources[BK_SCRIPT_COUNT][SOURCE_MAX];

static void join_sources(void)
{
    if (sources[0][0] != '\0')
        return;
    for (int id = 0; id < BK_SCRIPT_COUNT; id++) {
        size_t len = 0;
        for (const char *const *p = parts[id]; *p; p++) {
            size_t n = strlen(*p);
            if (len + n >= SOURCE_MAX)
                abort(); /* a script outgrew SOURCE_MAX: a build-time mistake */
            memcpy(sources[id] + len, *p, n);
            len += n;
        }
        sources[id][len] = '\0';
    }
}

#define MAX_STRS 40

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
    join_sources();
}

const char *bk_scripts_source(bk_script_t id)
{
    join_sources();
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

/* Member ids from e[from..n) into isr (present and count set). 0 or BK_EREDIS. */
static int parse_members(redisReply **e, size_t from, size_t n, bk_election_isr_t *isr)
{
    isr->present = 1;
    for (size_t i = from; i < n; i++) {
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

static int all_types(redisReply **e, const char *types)
{
    for (size_t i = 0; types[i]; i++)
        if (e[i]->type != (types[i] == 'i' ? REDIS_REPLY_INTEGER : REDIS_REPLY_STRING))
            return 0;
    return 1;
}

int bk_scripts_parse_holder(const redisReply *r, int *won, bk_lease_holder_t *holder,
                            int64_t *counter, bk_scripts_verdict_t *v)
{
    memset(holder, 0, sizeof *holder);
    memset(v, 0, sizeof *v);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 13)
        return BK_EREDIS;
    redisReply **e = r->element;
    if (!all_types(e, "iisisiiissiis"))
        return BK_EREDIS;
    holder->ttl_ms = e[1]->integer ? (int64_t)e[7]->integer : -1; /* PTTL: -1, -2 unknown */
    v->listed = e[6]->integer > 0 ? 1 : e[6]->integer < 0 ? -1 : 0;
    *won = e[0]->integer != 0;
    holder->present = e[1]->integer != 0;
    copy_reply_str(holder->id, sizeof holder->id, e[2]);
    holder->epoch = (int64_t)e[3]->integer;
    copy_reply_str(holder->url, sizeof holder->url, e[4]);
    *counter = (int64_t)e[5]->integer;
    copy_reply_str(v->reason, sizeof v->reason, e[8]);
    copy_reply_str(v->detail, sizeof v->detail, e[9]);
    if (e[10]->integer < 0)
        return 0;
    v->isr.epoch = (int64_t)e[10]->integer;
    v->isr.version = (int64_t)e[11]->integer;
    copy_reply_str(v->isr.leader, sizeof v->isr.leader, e[12]);
    return parse_members(e, 13, r->elements, &v->isr);
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
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 4)
        return BK_EREDIS;
    redisReply **e = r->element;
    if (!all_types(e, "iisi"))
        return BK_EREDIS;
    if (e[0]->integer == 0)
        return 0;
    isr->epoch = (int64_t)e[1]->integer;
    copy_reply_str(isr->leader, sizeof isr->leader, e[2]);
    isr->version = (int64_t)e[3]->integer;
    return parse_members(e, 4, r->elements, isr);
}
