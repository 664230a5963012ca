/* Growing arrays by doubling: the one copy of the reserve-room logic the modules share. */
#include "brook/common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

int bk_grow(void *items, size_t *cap, size_t len, size_t more, size_t size, size_t first)
{
    if (*cap - len >= more)
        return 0;
    size_t n = *cap ? *cap : first;
    while (n - len < more) {
        if (n > SIZE_MAX / 2 / size)
            return UV_ENOMEM;
        n *= 2;
    }
    void *old;
    memcpy(&old, items, sizeof old);
    void *p = realloc(old, n * size);
    if (!p)
        return UV_ENOMEM;
    memcpy(items, &p, sizeof p);
    *cap = n;
    return 0;
}
