/* Request bodies of the consumer API: small JSON objects parsed into a yajl tree after the
 * checks every JSON body gets (Content-Type, UTF-8, no lone surrogates, no \u0000, at most
 * 64 KiB, nesting at most 8 deep, so no input makes the tree deep or large). Each helper
 * answers the exchange itself (400, 413, 415, 422 with 42204) and returns 0 when the body is
 * unusable. */
#ifndef BROOK_API_CONSUMERS_BODY_H
#define BROOK_API_CONSUMERS_BODY_H

#include <stdint.h>
#include <yajl/yajl_tree.h>

#include "brook/groups.h"
#include "http/exchange.h"

#define BK_CONS_BODY_MAX (64u << 10)

/* Parses ex's body: *out NULL for an empty body (allowed when empty_ok), else an object
 * (free with yajl_tree_free). Returns 1, or 0 when answered. */
int bk_cons_body(bk_exchange_t *ex, int empty_ok, yajl_val *out);

/* The body's list under key of {"topic","partition"} objects, into a (zeroed by the caller;
 * freed by the caller). Missing key: an empty list when optional, else 422. Returns 1 or 0
 * (answered). */
int bk_cons_body_tparts(bk_exchange_t *ex, yajl_val root, const char *key, int optional,
                        bk_grp_assignment_t *a);

/* One entry of an "offsets" list. */
typedef struct {
    const char *topic; /* points into the tree */
    int32_t partition;
    int64_t offset;
    const char *metadata; /* "" when absent */
} bk_cons_offset_in_t;

/* The body's "offsets" list: *out (malloc'd, caller frees) and *n. Returns 1 or 0. */
int bk_cons_body_offsets(bk_exchange_t *ex, yajl_val root, bk_cons_offset_in_t **out, size_t *n);

/* A config value given as a JSON string or integer: 1 with *v set, 0 when absent, -1 when of
 * another type or out of [min, max]. */
int bk_cons_body_int(yajl_val root, const char *key, int64_t min, int64_t max, int64_t *v);
/* A string member: its value, or NULL when absent; *bad = 1 when present but not a string. */
const char *bk_cons_body_str(yajl_val root, const char *key, int *bad);

#endif
