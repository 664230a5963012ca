/* Which committed offsets (and group records) have expired under --offsets-retention-ms:
 * Kafka's rules (KIP-211) as stated in groups_store.h, computed from the store model and the
 * caller's clock. Only chooses: the answer is tombstones (encoded keys, null values) for the
 * caller to write with acks=all and then apply to the store. */
#include "brook/groups_store.h"

#include "brook/common.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

static int add_tombstone(bk_grp_kvs_t *out, bk_grp_buf_t *key)
{
    if (bk_grow(&out->items, &out->cap, out->count, 1, sizeof *out->items, 16))
        return UV_ENOMEM;
    out->items[out->count++] = (bk_grp_kv_t){.key = key->data, .key_len = key->len};
    memset(key, 0, sizeof *key);
    return 0;
}

static int tomb_offset(bk_grp_kvs_t *out, const char *group, const bk_grp_offset_t *o)
{
    bk_grp_buf_t key = {0};
    int err = bk_grp_offset_key_encode(&key, group, o->topic, o->partition);
    if (!err)
        err = add_tombstone(out, &key);
    bk_grp_buf_free(&key);
    return err;
}

static int tomb_group(bk_grp_kvs_t *out, const char *group)
{
    bk_grp_buf_t key = {0};
    int err = bk_grp_group_key_encode(&key, group);
    if (!err)
        err = add_tombstone(out, &key);
    bk_grp_buf_free(&key);
    return err;
}

static int offset_expired(const bk_grp_offset_t *o, int64_t now, int64_t retention)
{
    if (o->v.expire_ms >= 0)
        return o->v.expire_ms <= now;
    return o->v.commit_ms <= now - retention;
}

static int expire_group(const bk_grp_image_t *img, int64_t now, int64_t retention,
                        bk_grp_kvs_t *out)
{
    int err = 0;
    if (!img->has_meta) { /* commits only: each offset on its own */
        for (size_t i = 0; !err && i < img->offset_count; i++)
            if (offset_expired(&img->offsets[i], now, retention))
                err = tomb_offset(out, img->group, &img->offsets[i]);
        return err;
    }
    if (img->meta.member_count > 0 || img->meta.state_ms > now - retention)
        return 0;
    for (size_t i = 0; !err && i < img->offset_count; i++)
        err = tomb_offset(out, img->group, &img->offsets[i]);
    return err ? err : tomb_group(out, img->group);
}

int bk_grp_store_expire(const bk_grp_store_t *s, int64_t now_ms, int64_t retention_ms,
                        int (*busy)(void *ctx, const char *group), void *ctx, bk_grp_kvs_t *out)
{
    if (retention_ms < 0)
        return 0;
    for (size_t i = 0; i < s->count; i++) {
        const bk_grp_image_t *img = &s->groups[i];
        if (busy && busy(ctx, img->group))
            continue;
        int err = expire_group(img, now_ms, retention_ms, out);
        if (err)
            return err;
    }
    return 0;
}
