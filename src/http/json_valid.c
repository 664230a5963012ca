/* Whether bytes are one JSON value, decided without allocating: the check a stored value
 * passes before a format=json read embeds it as it is, so it must never pass text that is not
 * JSON (the answer would not be). Its verdict is that of bk_json_text_check followed by a
 * full yajl 2 parse (default settings: no comments, one value, strings validated), which is
 * what Brook accepts as JSON input, less two things yajl lets through that are not JSON: \v
 * and \f as whitespace, and an unterminated string after the value ("{} \"abc"). It never
 * reads outside the bytes it is given and never recurses on nesting (a bit per level); text
 * nested deeper than that bit stack goes to yajl. */
#include "http/json.h"

#include <string.h>
#include <yajl/yajl_parse.h>

#include "brook/common.h"

/* What may come next. */
enum { WANT_VALUE, WANT_VALUE_OR_END, WANT_KEY, WANT_KEY_OR_END, WANT_COLON, WANT_MORE, DONE };

typedef struct {
    uint8_t kind[BK_JSON_VALID_DEPTH / 8]; /* bit set: that level is an object */
    size_t depth;
} nest_t;

/* JSON's whitespace (yajl also takes \v and \f). */
static int is_space(uint8_t c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(uint8_t c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Whether any of the 8 bytes of w is '"', '\\' or below 0x20: the zero-byte and less-than
 * tests of "Bit Twiddling Hacks", exact as to whether any byte matches (a borrow may mark a
 * byte after a match as well, never a word without one). */
static int word_stops(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w)) & highs ? 1 : 0;
}

/* The position after the string that opens at t[i] (a '"'), or 0 when it is not one: a
 * control character, an escape other than \" \\ \/ \b \f \n \r \t \uXXXX, or no closing quote.
 * Bytes from 0x80 up are UTF-8 that bk_json_text_check has vouched for. Plain runs are skipped
 * 8 bytes at a time. */
static size_t skip_string(const uint8_t *t, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        uint64_t w;
        while (len - i >= 8 && (memcpy(&w, t + i, 8), !word_stops(w)))
            i += 8;
        if (i >= len)
            break;
        uint8_t c = t[i];
        if (c == '"')
            return i + 1;
        if (c < 0x20)
            return 0;
        if (c != '\\')
            continue;
        if (++i >= len)
            return 0;
        c = t[i];
        if (c == 'u') {
            if (len - i <= 4 || !is_hex(t[i + 1]) || !is_hex(t[i + 2]) || !is_hex(t[i + 3]) ||
                !is_hex(t[i + 4]))
                return 0;
            i += 4;
        } else if (!memchr("\"\\/bfnrt", c, 8)) {
            return 0;
        }
    }
    return 0;
}

/* The position after the digits from i on, or 0 when there is none. */
static size_t skip_digits(const uint8_t *t, size_t len, size_t i)
{
    if (i >= len || !is_digit(t[i]))
        return 0;
    while (i < len && is_digit(t[i]))
        i++;
    return i;
}

/* The position after the number that starts at t[i], or 0: -?(0|[1-9][0-9]*)(.[0-9]+)?
 * ([eE][+-]?[0-9]+)?. What follows it is the caller's (yajl lexes "01" as two numbers, which
 * the grammar then refuses, as it does here). */
static size_t skip_number(const uint8_t *t, size_t len, size_t i)
{
    if (t[i] == '-')
        i++;
    if (i < len && t[i] == '0')
        i++;
    else if ((i = skip_digits(t, len, i)) == 0)
        return 0;
    if (i < len && t[i] == '.' && (i = skip_digits(t, len, i + 1)) == 0)
        return 0;
    if (i < len && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        if (i < len && (t[i] == '+' || t[i] == '-'))
            i++;
        i = skip_digits(t, len, i);
    }
    return i;
}

static size_t skip_word(const uint8_t *t, size_t len, size_t i, const char *w, size_t n)
{
    return len - i >= n && memcmp(t + i, w, n) == 0 ? i + n : 0;
}

/* The position after the scalar at t[i], or 0 when none starts there. */
static size_t skip_scalar(const uint8_t *t, size_t len, size_t i)
{
    switch (t[i]) {
    case '"':
        return skip_string(t, len, i);
    case 't':
        return skip_word(t, len, i, "true", 4);
    case 'f':
        return skip_word(t, len, i, "false", 5);
    case 'n':
        return skip_word(t, len, i, "null", 4);
    default:
        return t[i] == '-' || is_digit(t[i]) ? skip_number(t, len, i) : 0;
    }
}

/* What may follow a complete value at the current depth. */
static int after_value(const nest_t *n)
{
    return n->depth ? WANT_MORE : DONE;
}

static int top_is_object(const nest_t *n)
{
    size_t d = n->depth - 1;
    return (n->kind[d / 8] >> (d % 8)) & 1;
}

/* Opens a container; BK_ETOOBIG past BK_JSON_VALID_DEPTH levels. */
static int open_level(nest_t *n, int object)
{
    if (n->depth == BK_JSON_VALID_DEPTH)
        return BK_ETOOBIG;
    size_t d = n->depth++;
    uint8_t bit = (uint8_t)(1u << (d % 8));
    n->kind[d / 8] = (uint8_t)(object ? n->kind[d / 8] | bit : n->kind[d / 8] & ~bit);
    return object ? WANT_KEY_OR_END : WANT_VALUE_OR_END;
}

/* One step from state want at t[*i] (not whitespace); the next state, or -1 when the text is
 * not JSON, or BK_ETOOBIG. */
static int step(nest_t *n, const uint8_t *t, size_t len, size_t *i, int want)
{
    uint8_t c = t[*i];
    size_t end;
    switch (want) {
    case WANT_KEY_OR_END:
    case WANT_VALUE_OR_END:
        if (c == (want == WANT_KEY_OR_END ? '}' : ']')) {
            n->depth--;
            (*i)++;
            return after_value(n);
        }
        return step(n, t, len, i, want == WANT_KEY_OR_END ? WANT_KEY : WANT_VALUE);
    case WANT_KEY:
        if (c != '"' || (end = skip_string(t, len, *i)) == 0)
            return -1;
        *i = end;
        return WANT_COLON;
    case WANT_COLON:
        if (c != ':')
            return -1;
        (*i)++;
        return WANT_VALUE;
    case WANT_MORE:
        (*i)++;
        if (c == ',')
            return top_is_object(n) ? WANT_KEY : WANT_VALUE;
        if (c != (top_is_object(n) ? '}' : ']'))
            return -1;
        n->depth--;
        return after_value(n);
    case WANT_VALUE:
        if (c == '{' || c == '[') {
            (*i)++;
            return open_level(n, c == '{');
        }
        if ((end = skip_scalar(t, len, *i)) == 0)
            return -1;
        *i = end;
        return after_value(n);
    default: /* DONE: a second value or trailing garbage */
        return -1;
    }
}

/* Text nested deeper than BK_JSON_VALID_DEPTH: yajl decides, parsing it alone and again
 * inside "[ ]" (which refuses the trailing unterminated string yajl lets through at the end of
 * the text, and nothing that is JSON). A \v or \f in text yajl passes can only be whitespace
 * (inside strings they are control characters, which it refuses). */
static int yajl_accepts(const uint8_t *text, size_t len, int wrap)
{
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    if (!h)
        return 0;
    yajl_config(h, yajl_dont_validate_strings, 0);
    int ok = (!wrap || yajl_parse(h, (const unsigned char *)"[", 1) == yajl_status_ok) &&
             yajl_parse(h, text, len) == yajl_status_ok &&
             (!wrap || yajl_parse(h, (const unsigned char *)"]", 1) == yajl_status_ok) &&
             yajl_complete_parse(h) == yajl_status_ok;
    yajl_free(h);
    return ok;
}

int bk_json_valid(const uint8_t *text, size_t len)
{
    size_t at;
    if (bk_json_text_check(text, len, &at) != BK_JSON_TEXT_OK)
        return 0;
    nest_t n;
    n.depth = 0;
    int want = WANT_VALUE;
    for (size_t i = 0;;) {
        while (i < len && is_space(text[i]))
            i++;
        if (i == len)
            return want == DONE;
        want = step(&n, text, len, &i, want);
        if (want == BK_ETOOBIG)
            return !memchr(text, '\v', len) && !memchr(text, '\f', len) &&
                   yajl_accepts(text, len, 0) && yajl_accepts(text, len, 1);
        if (want < 0)
            return 0;
    }
}
