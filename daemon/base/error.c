/* Names for kanal's own error codes and for negative errno values. */
#include <string.h>

#include <lmdb.h>

#include "error.h"

const char *kanal_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case KANAL_ERECORD:
        return "record does not match interaction schema v1";
    case KANAL_ESTORE:
        return "the store cannot commit now";
    case KANAL_EABI:
        return "plugin is not binary compatible";
    case KANAL_ECONFIG:
        return "invalid configuration";
    case KANAL_ESIGNATURE:
        return "signature missing or wrong";
    case KANAL_ESTOPPED:
        return "source or daemon is stopping";
    case KANAL_EHANDLE:
        return "handle cannot be normalized";
    }
    /* LMDB's own codes run from MDB_KEYEXIST (-30799) up to MDB_LAST_ERRCODE. */
    if (err >= MDB_KEYEXIST && err <= MDB_LAST_ERRCODE)
        return mdb_strerror(err);
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}
