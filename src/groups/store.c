/* The in-memory model of __consumer_offsets: per group, its last group record and its
 * committed offsets, rebuilt by applying records in log order (a later record for a key
 * replaces the earlier one, a tombstone deletes it), as Kafka's GroupMetadataManager loads a
 * partition of the topic. Sorted arrays with binary search; a group left with nothing is
 * dropped. Pure: records come in as bytes, nothing is read or written here. */
#include "brook/groups_store.h"

#include "brook/common.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

static size_t group_index(const bk_grp_store_t *s, const char *group, int *found)
{
    size_t lo = 0, hi = s->count;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->groups[mid].group, group);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int offset_cmp(const bk_grp_offset_t *o, const char *topic, int32_t partition)
{
    int c = strcmp(o->topic, topic);
    if (c)
        return c;
    return o->partition < partition ? -1 : o->partition > partition;
}

static size_t offset_index(const bk_grp_image_t *img, const char *topic, int32_t partition,
                           int *found)
{
    size_t lo = 0, hi = img->offset_count;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = offset_cmp(&img->offsets[mid], topic, partition);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const bk_grp_image_t *bk_grp_store_find(const bk_grp_store_t *s, const char *group)
{
    int found;
    size_t i = group_index(s, group, &found);
    return found ? &s->groups[i] : NULL;
}

const bk_grp_offset_t *bk_grp_image_offset(const bk_grp_image_t *img, const char *topic,
                                           int32_t partition)
{
    int found;
    size_t i = offset_index(img, topic, partition, &found);
    return found ? &img->offsets[i] : NULL;
}

static void free_offset(bk_grp_offset_t *o)
{
    free(o->topic);
    free(o->v.metadata);
}

static void free_image(bk_grp_image_t *img)
{
    for (size_t i = 0; i < img->offset_count; i++)
        free_offset(&img->offsets[i]);
    free(img->offsets);
    bk_grp_meta_free(&img->meta);
    free(img->group);
}

void bk_grp_store_free(bk_grp_store_t *s)
{
    for (size_t i = 0; i < s->count; i++)
        free_image(&s->groups[i]);
    free(s->groups);
    memset(s, 0, sizeof *s);
}

/* The image of rec->group, created (taking rec->group) when absent and create is set. */
static bk_grp_image_t *image_for(bk_grp_store_t *s, bk_grp_record_t *rec, int create, int *err)
{
    int found;
    size_t i = group_index(s, rec->group, &found);
    *err = 0;
    if (found || !create)
        return found ? &s->groups[i] : NULL;
    if (bk_grow(&s->groups, &s->cap, s->count, 1, sizeof *s->groups, 16)) {
        *err = UV_ENOMEM;
        return NULL;
    }
    memmove(s->groups + i + 1, s->groups + i, (s->count - i) * sizeof *s->groups);
    memset(&s->groups[i], 0, sizeof s->groups[i]);
    s->groups[i].group = rec->group;
    rec->group = NULL;
    s->count++;
    return &s->groups[i];
}

static void drop_if_empty(bk_grp_store_t *s, bk_grp_image_t *img)
{
    if (img->has_meta || img->offset_count)
        return;
    size_t i = (size_t)(img - s->groups);
    free_image(img);
    memmove(s->groups + i, s->groups + i + 1, (s->count - i - 1) * sizeof *s->groups);
    s->count--;
}

static int apply_offset(bk_grp_image_t *img, bk_grp_record_t *rec)
{
    int found;
    size_t i = offset_index(img, rec->topic, rec->partition, &found);
    if (rec->tombstone) {
        if (found) {
            free_offset(&img->offsets[i]);
            memmove(img->offsets + i, img->offsets + i + 1,
                    (img->offset_count - i - 1) * sizeof *img->offsets);
            img->offset_count--;
        }
        return 0;
    }
    if (!found) {
        if (bk_grow(&img->offsets, &img->offset_cap, img->offset_count, 1, sizeof *img->offsets, 8))
            return UV_ENOMEM;
        memmove(img->offsets + i + 1, img->offsets + i,
                (img->offset_count - i) * sizeof *img->offsets);
        img->offsets[i] = (bk_grp_offset_t){.topic = rec->topic, .partition = rec->partition};
        img->offset_count++;
        rec->topic = NULL;
    } else {
        free(img->offsets[i].v.metadata);
    }
    img->offsets[i].v = rec->offset;
    rec->offset.metadata = NULL;
    return 0;
}

static void apply_group(bk_grp_image_t *img, bk_grp_record_t *rec)
{
    bk_grp_meta_free(&img->meta);
    img->has_meta = !rec->tombstone;
    if (img->has_meta) {
        img->meta = rec->meta;
        memset(&rec->meta, 0, sizeof rec->meta);
    }
}

int bk_grp_store_apply_record(bk_grp_store_t *s, bk_grp_record_t *rec)
{
    int err;
    bk_grp_image_t *img = image_for(s, rec, !rec->tombstone, &err);
    if (img && rec->kind == BK_GRP_REC_OFFSET)
        err = apply_offset(img, rec);
    else if (img)
        apply_group(img, rec);
    if (img)
        drop_if_empty(s, img);
    bk_grp_record_free(rec);
    return err;
}

int bk_grp_store_apply(bk_grp_store_t *s, const uint8_t *key, size_t key_len, const uint8_t *value,
                       size_t value_len)
{
    bk_grp_record_t rec;
    int err = bk_grp_record_decode(key, key_len, value, value_len, &rec);
    return err ? err : bk_grp_store_apply_record(s, &rec);
}

int bk_grp_store_replay(bk_grp_store_t *s, const bk_grp_kv_t *recs, size_t n, size_t *skipped)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        int err =
            bk_grp_store_apply(s, recs[i].key, recs[i].key_len, recs[i].value, recs[i].value_len);
        if (err == UV_ENOMEM)
            return err;
        bad += err != 0;
    }
    if (skipped)
        *skipped = bad;
    return 0;
}

void bk_grp_kvs_free(bk_grp_kvs_t *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free(l->items[i].key);
        free(l->items[i].value);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}
