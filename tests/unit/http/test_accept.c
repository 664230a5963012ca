/* Accept values: weights from the most specific matching range, q-value syntax, quoted
 * parameters, malformed items skipped, and the pick among a route's types (406 when none). */
#include <string.h>

#include "check.h"
#include "http/accept.h"

#define W(acc, type) bk_accept_weight((acc), strlen(acc), (type), NULL)

static void weights(void)
{
    CHECK_EQ_INT(bk_accept_weight(NULL, 0, "application/json", NULL), 1000);
    CHECK_EQ_INT(W("application/json", "application/json"), 1000);
    CHECK_EQ_INT(W("Application/JSON", "application/json"), 1000);
    CHECK_EQ_INT(W("text/html", "application/json"), 0);
    CHECK_EQ_INT(W("application/json;q=0.5", "application/json"), 500);
    CHECK_EQ_INT(W("application/json ; Q=0.25 ", "application/json"), 250);
    CHECK_EQ_INT(W("application/json;q=0", "application/json"), 0);
    CHECK_EQ_INT(W("application/json;q=1.000", "application/json"), 1000);
    CHECK_EQ_INT(W("application/json;q=0.", "application/json"), 0);
    CHECK_EQ_INT(W("*/*;q=0.1", "application/json"), 100);
    CHECK_EQ_INT(W("application/*;q=0.3", "application/json"), 300);
    /* the most specific range decides, wherever it is in the list */
    CHECK_EQ_INT(W("*/*, application/json;q=0", "application/json"), 0);
    CHECK_EQ_INT(W("application/json;q=0.2, application/*;q=0.9", "application/json"), 200);
    CHECK_EQ_INT(W("application/*;q=0.9, */*;q=0.1", "text/plain"), 100);
    int spec = -1;
    CHECK_EQ_INT(bk_accept_weight("application/*", 13, "application/x", &spec), 1000);
    CHECK_EQ_INT(spec, 2);
    CHECK_EQ_INT(bk_accept_weight("text/a", 6, "application/x", &spec), 0);
    CHECK_EQ_INT(spec, 0);
}

static void malformed_items_are_skipped(void)
{
    CHECK_EQ_INT(W("application/json;q=2", "application/json"), 0);      /* above 1 */
    CHECK_EQ_INT(W("application/json;q=1.5", "application/json"), 0);    /* above 1 */
    CHECK_EQ_INT(W("application/json;q=0.1234", "application/json"), 0); /* 4 digits */
    CHECK_EQ_INT(W("application/json;q=", "application/json"), 0);
    CHECK_EQ_INT(W("application/json;q=x, */*;q=0.2", "application/json"), 200);
    CHECK_EQ_INT(W("*/json", "application/json"), 0);
    CHECK_EQ_INT(W("application", "application/json"), 0);
    CHECK_EQ_INT(W("/json", "application/json"), 0);
    CHECK_EQ_INT(W("application/", "application/json"), 0);
    CHECK_EQ_INT(W("application/json junk", "application/json"), 0);
    CHECK_EQ_INT(W(",,, ,application/json,", "application/json"), 1000);
    CHECK_EQ_INT(W("application/json;", "application/json"), 1000);
    /* parameters: quoted strings may hold commas and semicolons; only the first q counts */
    CHECK_EQ_INT(W("text/x;a=\"1,2;q=0\";q=0.7, application/json;q=0.4", "text/x"), 700);
    CHECK_EQ_INT(W("text/x;a=\"1,2;q=0\";q=0.7, application/json;q=0.4", "application/json"), 400);
    CHECK_EQ_INT(W("text/x;q=0.3;q=0.9", "text/x"), 300);
    CHECK_EQ_INT(W("text/x;a=\"unterminated, text/y", "text/y"), 0);
    CHECK_EQ_INT(W("text/x;charset=utf-8;q=0.6", "text/x"), 600);
}

static void pick(void)
{
    static const char *const types[] = {"application/json", "application/vnd.kafka.v2+json",
                                        "application/vnd.kafka.v1+json"};
#define PICK(acc) bk_accept_pick((acc), strlen(acc), types, 3)
    CHECK_EQ_INT(bk_accept_pick(NULL, 0, types, 3), 0);
    CHECK_EQ_INT(PICK("*/*"), 0);
    CHECK_EQ_INT(PICK("application/vnd.kafka.v2+json"), 1);
    CHECK_EQ_INT(PICK("application/vnd.kafka.v1+json, */*;q=0.5"), 2);
    CHECK_EQ_INT(PICK("application/json;q=0.5, application/vnd.kafka.v1+json;q=0.9"), 2);
    /* an exact name beats a wildcard at the same weight; equal ranges go by the list */
    CHECK_EQ_INT(PICK("*/*, application/vnd.kafka.v1+json"), 2);
    CHECK_EQ_INT(PICK("application/vnd.kafka.v1+json, application/vnd.kafka.v2+json"), 1);
    CHECK_EQ_INT(PICK("text/html"), -1);
    CHECK_EQ_INT(PICK("application/*;q=0"), -1);
    CHECK_EQ_INT(PICK("application/json;q=0, */*"), 1);
#undef PICK
}

CHECK_MAIN(CASE(weights), CASE(malformed_items_are_skipped), CASE(pick))
