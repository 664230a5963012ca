/* The leader-epoch list of a partition (see epochs.h): appended to as batches arrive, cut by
 * truncation, trimmed by retention, searched by followers' epoch queries. It must never hold
 * an entry for an offset the log no longer has, and never go out of epoch order. */
#include "log/epochs.h"

#include "brook/common.h"

#include <stdlib.h>
#include <uv.h>

int bk_epochs_reserve(bk_epochs_t *e, size_t more)
{
    return bk_grow(&e->v, &e->cap, e->n, more, sizeof *e->v, 8);
}

int bk_epochs_would_add(const bk_epochs_t *e, int32_t epoch)
{
    return e->n == 0 || epoch > e->v[e->n - 1].epoch;
}

int bk_epochs_note(bk_epochs_t *e, int32_t epoch, int64_t start)
{
    if (!bk_epochs_would_add(e, epoch))
        return 0;
    int rc = bk_epochs_reserve(e, 1);
    if (rc < 0)
        return rc;
    e->v[e->n++] = (bk_epoch_entry_t){epoch, start};
    return 0;
}

void bk_epochs_cut(bk_epochs_t *e, int64_t end)
{
    while (e->n > 0 && e->v[e->n - 1].start >= end)
        e->n--;
}

void bk_epochs_trim(bk_epochs_t *e, int64_t start, int64_t end)
{
    if (start >= end) {
        e->n = 0;
        return;
    }
    size_t k = 0; /* entries wholly below start: the next one starts at or before start */
    while (k + 1 < e->n && e->v[k + 1].start <= start)
        k++;
    if (k > 0) {
        for (size_t i = k; i < e->n; i++)
            e->v[i - k] = e->v[i];
        e->n -= k;
    }
    if (e->n > 0 && e->v[0].start < start)
        e->v[0].start = start;
}

int32_t bk_epochs_last(const bk_epochs_t *e)
{
    return e->n ? e->v[e->n - 1].epoch : -1;
}

int64_t bk_epochs_end(const bk_epochs_t *e, int32_t epoch, int64_t end, int32_t *found)
{
    size_t lo = 0, hi = e->n; /* first entry with a larger epoch */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->v[mid].epoch <= epoch)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) {
        *found = -1;
        return e->n ? e->v[0].start : end;
    }
    *found = e->v[lo - 1].epoch;
    return lo < e->n ? e->v[lo].start : end;
}

void bk_epochs_free(bk_epochs_t *e)
{
    free(e->v);
    e->v = NULL;
    e->n = e->cap = 0;
}
