/* Names for kanal's own error codes and for negative errno values. */
#include <string.h>

#include <lmdb.h>

#include "error.h"
#include "kanal_errors.h"

const char *kanal_strerror(int err)
{
    const char *text = kanal_error_text(err); /* common/kanal_errors.h */
    if (text)
        return text;
    /* LMDB's own codes run from MDB_KEYEXIST (-30799) up to MDB_LAST_ERRCODE. */
    if (err >= MDB_KEYEXIST && err <= MDB_LAST_ERRCODE)
        return mdb_strerror(err);
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}
