/* SPDX-License-Identifier: Apache-2.0 */
/* kanal's own error codes and their names: the one table behind
 * kanal_strerror (kanald, host->strerror) and kanal_reader_strerror
 * (libkanal).  The codes themselves stay #defined in the public headers
 * (sdk/include/kanal/plugin.h, reader.h), where the ABI fixed them; this
 * table only names them, so a code added there and not here is caught by
 * tests/unit/test_errors.c.  Internal: not installed. */
#ifndef KANAL_ERRORS_H
#define KANAL_ERRORS_H

#include <stddef.h>
#include <string.h>

#include <lmdb.h>

#include <kanal/plugin.h>
#include <kanal/reader.h>

/* X(code, name): every kanal code, the plugin ABI's then the reader's. */
#define KANAL_ERROR_TABLE(X)                                                                  \
    X(KANAL_ERECORD, "record does not match interaction schema v1")                           \
    X(KANAL_ESTORE, "the store cannot commit now")                                            \
    X(KANAL_EABI, "plugin is not binary compatible")                                          \
    X(KANAL_ECONFIG, "invalid configuration")                                                 \
    X(KANAL_ESIGNATURE, "signature missing or wrong")                                         \
    X(KANAL_ESTOPPED, "source or daemon is stopping")                                         \
    X(KANAL_EHANDLE, "handle cannot be normalized")                                           \
    X(KANAL_EREPLICA, "committed here, but the cluster has not acknowledged it in time "      \
                      "(ack = cluster); it is published later")                               \
    X(KANAL_EFORMAT, "the store's format version is newer than this libkanal reads "          \
                     "(upgrade libkanal)")                                                    \
    X(KANAL_ENOTSTORE, "not a kanal store (no interaction log in it)")                        \
    X(KANAL_ECURSOR, "the cursor is past the store's last seq (a restored backup or another " \
                     "store: read again from a seq you know and dedupe by record id)")

struct kanal_error_name {
    int code;
    const char *symbol; /* "KANAL_ERECORD" */
    const char *text;
};

#define KANAL__ERROR_ENTRY(code, text) {code, #code, text},
static const struct kanal_error_name kanal_error_names[] = {KANAL_ERROR_TABLE(KANAL__ERROR_ENTRY)};
#undef KANAL__ERROR_ENTRY

/* The text of a kanal code (or "success" for 0), or NULL for any other
 * code (LMDB's, errno's: the caller names those). */
static inline const char *kanal_error_text(int err)
{
    if (err == 0)
        return "success";
    for (size_t i = 0; i < sizeof kanal_error_names / sizeof kanal_error_names[0]; i++)
        if (kanal_error_names[i].code == err)
            return kanal_error_names[i].text;
    return NULL;
}

/* The name of any code kanald and libkanal meet: kanal's own, LMDB's, a
 * negative errno; "unknown error" for anything else. */
static inline const char *kanal_error_string(int err)
{
    const char *text = kanal_error_text(err);
    if (text)
        return text;
    /* LMDB's own codes run from MDB_KEYEXIST (-30799) up to MDB_LAST_ERRCODE. */
    if (err >= MDB_KEYEXIST && err <= MDB_LAST_ERRCODE)
        return mdb_strerror(err);
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}

#endif
