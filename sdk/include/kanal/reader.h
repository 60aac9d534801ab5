/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libkanal: read a kanal store's interaction feed on the same host.
 *
 * A CRM (or any other process) opens kanald's store directory read-only and
 * reads the log of interaction records in seq order, straight from LMDB:
 * no HTTP, no token.  It works while kanald is running and committing, and
 * while it is stopped.  The process needs read access to the store's
 * data.mdb and write access to its lock.mdb (LMDB's table of readers).
 *
 * Records come out as the JSON text kanald stored, schema version 1
 * (share/kanal/schema/interaction-v1.json).  Seqs start at 1 and grow by one
 * per record: a consumer keeps the last seq it handled as its cursor.
 *
 *     struct kanal_reader *r;
 *     uint64_t seq = saved_cursor;
 *     const char *json;
 *     size_t len;
 *     int rc = kanal_reader_open(&r, "/var/lib/kanal");
 *     for (;;) {
 *         while ((rc = kanal_reader_next(r, &seq, &json, &len)) == 0)
 *             handle(seq, json, len);          // then save seq
 *         if (rc != -EAGAIN)
 *             break;                           // an error
 *         rc = kanal_reader_wait(r, seq, 30000);
 *         if (rc != 0 && rc != -ETIMEDOUT)
 *             break;
 *     }
 *     kanal_reader_close(r);
 *
 * Transactions: LMDB cannot reuse pages that an open read transaction may
 * still see, so a reader that held one for hours would make the store grow
 * without bound.  libkanal never keeps a read transaction open between
 * calls: kanal_reader_next() copies a batch of records out of one short
 * transaction and hands them out one by one from its own buffer.
 *
 * Waiting: kanal_reader_wait() sleeps in poll() on an inotify watch of the
 * store's data.mdb, which kanald writes at every commit, so it wakes within
 * moments of a commit and burns no CPU in between.  (It also looks once a
 * second: LMDB makes a commit visible a moment after its last write to the
 * file, and a wake-up may fall into that moment.)  Where inotify is not
 * available it falls back to looking every 100 ms.  kanal_reader_fd() gives
 * the inotify descriptor to a program that runs its own event loop.
 *
 * Threads: a struct kanal_reader is used by one thread at a time; open one
 * per thread if several threads read.  Open at most one reader per store in
 * a process (LMDB's rule: one environment per process and store).
 *
 * Errors: every function that can fail returns 0 or a negative errno, or
 * one of the KANAL_E* codes below; kanal_reader_strerror() names any of
 * them.
 */
#ifndef KANAL_READER_H
#define KANAL_READER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks libkanal's exported functions; everything else in it is hidden. */
#define KANAL_READER_EXPORT __attribute__((visibility("default")))

/** The newest store format version this library reads. */
#define KANAL_READER_FORMAT 1

/* Codes in kanal's reserved negative range, clear of the plugin ABI's. */
/** The store was written by a newer kanald than this library understands. */
#define KANAL_EFORMAT (-32000 - 100)
/** The directory holds an LMDB environment that is not a kanal store. */
#define KANAL_ENOTSTORE (-32000 - 101)
/** The cursor is past the store's last seq: this store never handed it out
 *  (it was restored from a backup, or is another store). */
#define KANAL_ECURSOR (-32000 - 102)

/** An open store; opaque. */
struct kanal_reader;

/**
 * Open the kanal store in a directory, read-only.
 * @param reader where to put the new reader; NULL on failure
 * @param dir    the store directory (kanald's `store`, e.g. /var/lib/kanal)
 * @return 0; -ENOENT when dir or its data.mdb does not exist; -EACCES;
 *         KANAL_EFORMAT when the store's format version is newer than
 *         KANAL_READER_FORMAT; KANAL_ENOTSTORE; another negative error
 */
KANAL_READER_EXPORT int kanal_reader_open(struct kanal_reader **reader, const char *dir);

/**
 * Close a reader and free everything it holds.
 * @param reader the reader, or NULL (nothing happens)
 */
KANAL_READER_EXPORT void kanal_reader_close(struct kanal_reader *reader);

/**
 * Get the record that follows a cursor.
 *
 * The text stays valid until the next call of any kanal_reader_ function on
 * this reader; copy it to keep it.  No read transaction stays open between
 * calls.
 * @param reader the reader
 * @param seq    in: the cursor, the seq of the last record handled (0 to
 *               start at the beginning); out, on success: the returned
 *               record's seq, which is the next cursor
 * @param json   out: the record's JSON text, NUL-terminated
 * @param len    out: its length in bytes, without the NUL; may be NULL
 * @return 0; -EAGAIN when no record follows *seq yet (see
 *         kanal_reader_wait()); KANAL_ECURSOR when *seq is past the last
 *         seq (docs/operations.md: after a restore); another negative error
 */
KANAL_READER_EXPORT int kanal_reader_next(struct kanal_reader *reader, uint64_t *seq,
                                          const char **json, size_t *len);

/**
 * Get one record by its seq.
 *
 * The text stays valid until the next call of any kanal_reader_ function on
 * this reader.
 * @param reader the reader
 * @param seq    the record's seq
 * @param json   out: the record's JSON text, NUL-terminated
 * @param len    out: its length in bytes, without the NUL; may be NULL
 * @return 0; -ENOENT when no record has that seq; another negative error
 */
KANAL_READER_EXPORT int kanal_reader_get(struct kanal_reader *reader, uint64_t seq,
                                         const char **json, size_t *len);

/**
 * Get the seq of the last committed record.
 * @param reader the reader
 * @param seq    out: the last seq, 0 when the store holds no record
 * @return 0 or a negative error
 */
KANAL_READER_EXPORT int kanal_reader_last_seq(struct kanal_reader *reader, uint64_t *seq);

/**
 * Wait until a record after a seq is committed, without busy-looping.
 *
 * Returns at once when one already is.  Otherwise sleeps in poll() on an
 * inotify watch of the store's data.mdb and looks again at each change, and
 * at least once a second; without inotify, looks every 100 ms.  A signal
 * delivered to the thread ends the wait with -EINTR, so a program can check
 * its stop flag.
 * @param reader     the reader
 * @param after      the cursor: wait for a record with a seq above it
 * @param timeout_ms the longest wait in milliseconds; negative: no limit
 * @return 0 when a record after `after` exists; -ETIMEDOUT; -EINTR;
 *         KANAL_ECURSOR at once when `after` is past the last seq; another
 *         negative error
 */
KANAL_READER_EXPORT int kanal_reader_wait(struct kanal_reader *reader, uint64_t after,
                                          int timeout_ms);

/**
 * Get a file descriptor that becomes readable when the store changes, for a
 * program's own event loop (poll, epoll, libuv, ...).
 *
 * When it is readable, call kanal_reader_next() until it returns -EAGAIN:
 * that also drains the descriptor.  Readability means "look again", not
 * "a record is there" (a commit writes the store more than once).  Wait
 * for it with a timeout of about a second and look again when the timeout
 * expires too: LMDB makes a commit visible a moment after its last write
 * to the file, so the last wake-up of a commit can come just before its
 * records can be read.  The descriptor belongs to the reader: do not read
 * or close it.
 * @param reader the reader
 * @return the descriptor; -ENOTSUP when inotify is not available (then poll
 *         kanal_reader_next() on a timer instead)
 */
KANAL_READER_EXPORT int kanal_reader_fd(struct kanal_reader *reader);

/**
 * Get the store's identity, which a backup keeps and a new store does not:
 * a consumer can save it with its cursor to notice a store it does not know.
 * @param reader the reader
 * @return 32 hex digits, or "" for a store older than format version 1;
 *         valid until kanal_reader_close()
 */
KANAL_READER_EXPORT const char *kanal_reader_store_id(struct kanal_reader *reader);

/**
 * Name an error code returned by a kanal_reader_ function.
 * @param err the code (a negative errno, a KANAL_E* or an LMDB code)
 * @return a static string
 */
KANAL_READER_EXPORT const char *kanal_reader_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
