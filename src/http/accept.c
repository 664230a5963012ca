/* Accept parsing (see accept.h). The value is walked once per type asked about, item by item;
 * an item is
 *   OWS type "/" subtype OWS *( ";" OWS name "=" ( token / quoted-string ) OWS )
 * and its weight is the first parameter named q (any case): "0" or "1", optionally followed by
 * "." and up to three digits, never above 1. Commas inside a quoted string do not end an item.
 * Anything else makes the item unusable, and it is skipped rather than failing the value. */
#include "http/accept.h"

#include <string.h>
#include <strings.h>

typedef struct {
    const char *type, *sub;
    size_t type_len, sub_len;
    int q;
} range_t;

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static size_t skip_ows(const char *s, size_t i, size_t end)
{
    while (i < end && is_ows(s[i]))
        i++;
    return i;
}

static size_t token(const char *s, size_t i, size_t end)
{
    while (i < end && is_tchar(s[i]))
        i++;
    return i;
}

/* End of the item starting at i: the next comma outside a quoted string, or end. */
static size_t item_end(const char *s, size_t i, size_t end)
{
    int quoted = 0;
    for (; i < end; i++) {
        if (quoted && s[i] == '\\')
            i++;
        else if (s[i] == '"')
            quoted = !quoted;
        else if (!quoted && s[i] == ',')
            return i;
    }
    return end;
}

/* "0", "0.5", "1.000": the weight in thousandths, or -1. */
static int qvalue(const char *s, size_t len)
{
    if (len == 0 || (s[0] != '0' && s[0] != '1') || len > 5 || (len > 1 && s[1] != '.'))
        return -1;
    int q = (s[0] - '0') * 1000, scale = 100;
    for (size_t i = 2; i < len; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q <= BK_ACCEPT_Q_MAX ? q : -1;
}

/* One parameter at s[i] (after ";" and OWS); returns the index after it, or 0 when malformed.
 * Sets r->q from the first q parameter. */
static size_t param(const char *s, size_t i, size_t end, range_t *r, int *seen_q)
{
    size_t name = i;
    i = token(s, i, end);
    if (i == name || i >= end || s[i] != '=')
        return 0;
    size_t name_len = i - name, value = ++i;
    if (i < end && s[i] == '"') {
        for (i++; i < end && s[i] != '"'; i++)
            if (s[i] == '\\')
                i++;
        if (i >= end)
            return 0;
        i++;
    } else {
        i = token(s, i, end);
        if (i == value)
            return 0;
    }
    if (!*seen_q && name_len == 1 && (s[name] == 'q' || s[name] == 'Q')) {
        *seen_q = 1;
        r->q = qvalue(s + value, i - value);
        if (r->q < 0)
            return 0;
    }
    return i;
}

/* Parses s[i .. end) as one media range; 1 when it is one. */
static int parse_range(const char *s, size_t i, size_t end, range_t *r)
{
    i = skip_ows(s, i, end);
    r->type = s + i;
    size_t t = token(s, i, end);
    if (t == i || t >= end || s[t] != '/')
        return 0;
    r->type_len = t - i;
    r->sub = s + t + 1;
    i = token(s, t + 1, end);
    r->sub_len = (size_t)(s + i - r->sub);
    if (r->sub_len == 0 ||
        (r->type_len == 1 && r->type[0] == '*' && !(r->sub_len == 1 && r->sub[0] == '*')))
        return 0; /* "S/json" is not a media range */
    r->q = BK_ACCEPT_Q_MAX;
    int seen_q = 0;
    for (i = skip_ows(s, i, end); i < end; i = skip_ows(s, i, end)) {
        if (s[i] != ';')
            return 0;
        i = skip_ows(s, i + 1, end);
        if (i == end)
            break; /* a trailing ";" */
        i = param(s, i, end, r, &seen_q);
        if (i == 0)
            return 0;
    }
    return 1;
}

/* How specifically r names type: 3 exact, 2 "type/S", 1 "S/S" (S: the star), 0 not at all. */
static int specificity(const range_t *r, const char *type, size_t type_len)
{
    const char *slash = memchr(type, '/', type_len);
    if (!slash)
        return 0;
    size_t tl = (size_t)(slash - type), sl = type_len - tl - 1;
    int any_type = r->type_len == 1 && r->type[0] == '*';
    int any_sub = r->sub_len == 1 && r->sub[0] == '*';
    if (any_type && any_sub)
        return 1;
    if (r->type_len != tl || strncasecmp(r->type, type, tl) != 0)
        return 0;
    if (any_sub)
        return 2;
    return r->sub_len == sl && strncasecmp(r->sub, slash + 1, sl) == 0 ? 3 : 0;
}

int bk_accept_weight(const char *accept, size_t len, const char *type, int *spec)
{
    int best = 0, q = 0;
    if (!accept || len == 0) {
        if (spec)
            *spec = 0;
        return BK_ACCEPT_Q_MAX;
    }
    size_t type_len = strlen(type);
    for (size_t i = 0; i <= len;) {
        size_t end = item_end(accept, i, len);
        range_t r;
        if (parse_range(accept, i, end, &r)) {
            int s = specificity(&r, type, type_len);
            if (s > best) {
                best = s;
                q = r.q;
            }
        }
        i = end + 1;
    }
    if (spec)
        *spec = best;
    return q;
}

int bk_accept_pick(const char *accept, size_t len, const char *const *types, size_t n)
{
    int pick = -1, best_q = 0, best_spec = -1;
    for (size_t i = 0; i < n; i++) {
        int spec;
        int q = bk_accept_weight(accept, len, types[i], &spec);
        if (q > best_q || (q == best_q && q > 0 && spec > best_spec)) {
            pick = (int)i;
            best_q = q;
            best_spec = spec;
        }
    }
    return pick;
}
