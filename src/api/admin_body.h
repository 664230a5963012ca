/* Decoding topic administration bodies with yajl's streaming parser:
 *   POST /topics              {"name", "partitions"?, "replication_factor"?, "configs"?}
 *   POST /topics/{t}/partitions {"partitions"}
 * "configs" is an object of name → string or number, or (Kafka REST v3 style) an array of
 * {"name","value"}. Pure: bytes in, fields out; depth-limited. */
#ifndef BROOK_API_ADMIN_BODY_H
#define BROOK_API_ADMIN_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "brook/log.h"

#define BK_ADMIN_MAX_CONFIGS 16

typedef struct {
    char name[256];
    int has_name;
    int64_t partitions;         /* -1 when absent */
    int64_t replication_factor; /* -1 when absent */
    struct {
        char name[64];
        char value[64];
    } configs[BK_ADMIN_MAX_CONFIGS];
    int config_count;
    int error_status;
    int error_code; /* REST Proxy style code when the status alone is not precise, else 0 */
    char error[200];
    /* parser scratch */
    int depth, field, in_configs_array, pending_config;
    void *yajl;       /* the parser, while it runs */
    size_t value_end; /* where the top-level value ended (0: not yet) */
    char pending_name[64], pending_value[64];
    int have_pname, have_pvalue;
} bk_admin_body_t;

/* Returns 0 or an HTTP status (400 malformed JSON, 422 wrong shape, a lone surrogate escape
 * or invalid UTF-8 anywhere, a NUL in the name (error_code 42208) or in a config name or value
 * (42205)) with error set. Names and values are NUL-terminated and hold no other NUL. */
int bk_admin_body_parse(bk_admin_body_t *b, const uint8_t *body, size_t len);

/* The compaction topic configs: cleanup.policy ("delete", "compact", or both comma-separated),
 * delete.retention.ms and min.compaction.lag.ms (integers >= 0), min.cleanable.dirty.ratio (a
 * decimal from 0 to 1). Returns 1 when name is one of them and value was applied to cfg, 0
 * when name is none of them (cfg untouched), -1 when value is invalid (msg says why, for a
 * 422 42205 answer). Pure. */
int bk_admin_compaction_config(const char *name, const char *value, bk_topic_config_t *cfg,
                               char *msg, size_t cap);

#endif
