/* Error text for Brook's own codes and libuv's. Static strings only: callers may use the
 * result anywhere, including in a signal-free shutdown path. */
#include "brook/common.h"

#include <uv.h>

const char *bk_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case BK_ENOTLEADER:
        return "this broker is not the leader";
    case BK_ECORRUPT:
        return "corrupt data on disk";
    case BK_ENOTOPIC:
        return "unknown topic";
    case BK_ENOPART:
        return "unknown partition";
    case BK_ERANGE:
        return "offset out of range";
    case BK_ETOOBIG:
        return "over the size limit";
    case BK_EINVAL:
        return "invalid argument";
    case BK_ECLOSED:
        return "shutting down";
    case BK_EREDIS:
        return "redis unavailable";
    case BK_EFENCED:
        return "fenced by a newer leader epoch";
    case BK_ENOREPLICAS:
        return "not enough in-sync replicas after the append (the in-sync set fell below "
               "--min-insync-replicas before the write was replicated); it may or may not be "
               "kept";
    case BK_ENOKEY:
        return "a record without a key in a compacted topic";
    default:
        return uv_strerror(err);
    }
}
