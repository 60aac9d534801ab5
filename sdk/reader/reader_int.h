/* SPDX-License-Identifier: Apache-2.0 */
/* libkanal's internals for kanalctl, which links libkanal.a: the LMDB
 * environment behind a reader, for the operator's commands that look at
 * more than the log (stats, check, backup).  Not part of the public API and
 * not exported from libkanal.so. */
#ifndef KANAL_READER_INT_H
#define KANAL_READER_INT_H

#include <stddef.h>

#include <lmdb.h>

#include <kanal/reader.h>

/* The store's named databases, enum kanal_store_db. */
#include "store_layout.h"

MDB_env *kanal__reader_env(struct kanal_reader *r);

/* The handle of one database: 0, or -ENOENT when the store has none. */
int kanal__reader_dbi(struct kanal_reader *r, enum kanal_store_db db, MDB_dbi *dbi);

/* A read transaction that follows kanald's map growth.  At most one at a
 * time per reader, and none may be open across other kanal_reader_ calls;
 * end it with kanal__reader_end.  0 or a negative error. */
int kanal__reader_begin(struct kanal_reader *r, MDB_txn **txn);
void kanal__reader_end(struct kanal_reader *r, MDB_txn *txn);

/* Adopt the map size kanald last committed and report it (no transaction
 * of the reader may be open).  0 or a negative error. */
int kanal__reader_map_size(struct kanal_reader *r, size_t *size);

/* The store's format version (0: written before versions were recorded). */
int kanal__reader_format(struct kanal_reader *r);

/* Map an LMDB or positive errno code to a negative code. */
int kanal__reader_err(int mdb_rc);

#endif
