/* Accept header values (RFC 9110 section 12.5.1): a comma-separated list of media ranges
 * ("type/subtype", or with wildcards: "type/S" and "S/S", writing S for the star in these
 * comments), each with optional parameters and a weight ";q=0.5". Used to choose among the types a
 * route can answer in. Pure: never allocates, reads only the bytes it is given (the value need not
 * be NUL-terminated). */
#ifndef BROOK_HTTP_ACCEPT_H
#define BROOK_HTTP_ACCEPT_H

#include <stddef.h>

#define BK_ACCEPT_Q_MAX 1000 /* weights are in thousandths: q=1 is 1000, q=0.5 is 500 */

/* The weight accept gives type (a "type/subtype" with no parameters), taken from the most
 * specific range that matches it: "type/subtype" (*spec 3), then "type/S" (2), then "S/S"
 * (1); the first such range when several are equally specific. 0 with *spec 0 when no range
 * matches. Items that are not media ranges, or have a malformed weight, are skipped. A NULL
 * or empty accept accepts everything: BK_ACCEPT_Q_MAX with *spec 0. spec may be NULL. */
int bk_accept_weight(const char *accept, size_t len, const char *type, int *spec);

/* Of types[0 .. n), the index of the one accept prefers: the highest weight, then the most
 * specific matching range, then the lowest index (the caller lists its own preference
 * first). -1 when accept gives every type weight 0: answer 406. */
int bk_accept_pick(const char *accept, size_t len, const char *const *types, size_t n);

#endif
