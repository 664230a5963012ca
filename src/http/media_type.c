/* Media type parsing for Content-Type checks. A value is
 *   OWS type "/" subtype *( OWS ";" OWS [ parameter ] ) OWS
 * where OWS is any run of SP and HTAB; parameters are not interpreted. */
#include "http/media_type.h"

#include <string.h>
#include <strings.h>

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

const char *bk_media_type(const char *ct, size_t len, size_t *type_len)
{
    if (!ct)
        return NULL;
    size_t i = 0;
    while (i < len && is_ows(ct[i]))
        i++;
    size_t start = i;
    while (i < len && !is_ows(ct[i]) && ct[i] != ';')
        i++;
    size_t end = i;
    while (i < len && is_ows(ct[i]))
        i++;
    if (i < len && ct[i] != ';')
        return NULL; /* "text/plain junk": not a media type */
    const char *slash = memchr(ct + start, '/', end - start);
    if (!slash || slash == ct + start || slash == ct + end - 1)
        return NULL;
    *type_len = end - start;
    return ct + start;
}

int bk_media_type_is(const char *ct, size_t len, const char *type)
{
    size_t n = 0;
    const char *t = bk_media_type(ct, len, &n);
    return t && n == strlen(type) && strncasecmp(t, type, n) == 0;
}

int bk_media_type_is_json(const char *ct, size_t len)
{
    if (len == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return 1; /* what nearly every request sends: no parsing needed */
    size_t n = 0;
    const char *t = bk_media_type(ct, len, &n);
    if (!t)
        return 0;
    if (n == 16 && strncasecmp(t, "application/json", 16) == 0)
        return 1;
    return n > 17 && strncasecmp(t, "application/", 12) == 0 &&
           strncasecmp(t + n - 5, "+json", 5) == 0;
}
