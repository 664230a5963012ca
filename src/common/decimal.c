/* Decimal formatting, right to left. */
#include "common/decimal.h"

char *bk_decimal_u64(char buf[BK_DECIMAL_MAX], uint64_t v)
{
    char *p = buf + BK_DECIMAL_MAX;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

char *bk_decimal_i64(char buf[BK_DECIMAL_MAX], int64_t v)
{
    char *p = bk_decimal_u64(buf, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    if (v < 0)
        *--p = '-';
    return p;
}
