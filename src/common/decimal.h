/* Integers to decimal text without printf (which showed in profiles of the answer path):
 * the digits are written right-aligned into a caller's buffer. */
#ifndef BROOK_COMMON_DECIMAL_H
#define BROOK_COMMON_DECIMAL_H

#include <stdint.h>

#define BK_DECIMAL_MAX 24 /* room for any int64, sign included */

/* Writes v into buf, ending at buf + BK_DECIMAL_MAX; returns its first character. */
char *bk_decimal_u64(char buf[BK_DECIMAL_MAX], uint64_t v);
char *bk_decimal_i64(char buf[BK_DECIMAL_MAX], int64_t v);

#endif
