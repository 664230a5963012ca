/* Request bodies of ApiVersions (18) and Metadata (3), version by version.
 *   ApiVersions v0-2: empty. v3 (flexible): client_software_name, client_software_version
 *   (compact strings), tagged fields.
 *   Metadata v0: topics [name]; an empty array means every topic. v1-3: topics nullable (null
 *   = every topic, empty = none). v4-7: + allow_auto_topic_creation bool. v8: + include
 *   cluster / topic authorized operations (two bools). */
#include "kafka/proto.h"

#include <uv.h>

#include "brook/common.h"

int bk_kdecode_api_versions(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    (void)a;
    if (h->version >= 3) {
        out->u.api_versions.sw_name = bk_kr_str(r, 1);
        out->u.api_versions.sw_version = bk_kr_str(r, 1);
        bk_kr_tags(r);
    }
    return r->bad ? BK_EINVAL : 0;
}

int bk_kdecode_metadata(bk_kr_t *r, const bk_khdr_t *h, bk_karena_t *a, bk_krequest_t *out)
{
    bk_kreq_metadata_t *m = &out->u.metadata;
    int32_t n = bk_kr_array(r, 0, 2);
    if (r->bad || (n < 0 && h->version < 1))
        return BK_EINVAL;
    m->ntopics = n == 0 && h->version == 0 ? -1 : n;
    if (n > 0 && !(m->topics = bk_karena_alloc(a, (size_t)n * sizeof *m->topics)))
        return UV_ENOMEM;
    for (int32_t i = 0; i < n; i++)
        m->topics[i] = bk_kr_str(r, 0);
    m->allow_auto_create = 1;
    if (h->version >= 4)
        m->allow_auto_create = bk_kr_i8(r) != 0;
    if (h->version >= 8) {
        (void)bk_kr_i8(r); /* include_cluster_authorized_operations */
        (void)bk_kr_i8(r); /* include_topic_authorized_operations */
    }
    return r->bad ? BK_EINVAL : 0;
}
