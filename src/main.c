/* Placeholder entry point until the server lands. */
#include "brook/common.h"
int main(void)
{
    bk_trace_info("main", "not yet");
    return 1;
}
