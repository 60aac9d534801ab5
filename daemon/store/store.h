/* SPDX-License-Identifier: Apache-2.0 */
/* The LMDB store: one environment, the named databases of the contract. */
#ifndef KANAL_STORE_H
#define KANAL_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "store_layout.h"

/* How a commit reaches the disk ([kanald] sync): fsync data and meta,
 * meta only, or leave it to the kernel. */
enum sync_mode { SYNC_FULL = 0, SYNC_META, SYNC_NONE };

/* The store format this kanald writes; older ones are migrated at open. */
#define STORE_FORMAT_VERSION KANAL_STORE_FORMAT

struct store {
    MDB_env *env;
    MDB_dbi log, idem, state, meta, handles, contacts, outbox, messages, msgkeys;
    MDB_dbi timeline, erased, links, pending, candidates;
    MDB_dbi scores;
    uint64_t pending_count; /* writer thread only: entries of 'pending' */
    int identity; /* resolve contacts while committing (the default) */
    int64_t max_candidates; /* merge candidates kept at most ([kanald] max_merge_candidates) */
    int erased_none; /* writer thread: no erased keys in the current transaction */
    /* No erased keys in the store: counted at open, cleared for good by
     * the first erase (erase.c, even one rolled back: that only costs the
     * look-up), so that a commit need not count the tree. */
    int erased_none_known;
    /* Timeline entries of records whose one contact is their "contact"
     * (contacts_store.c), writer thread only: kept here and put in
     * 'pending' PENDING_STEP at a time, with the seq they reach in meta
     * (pending_through); the log after it is their journal.  pbuf_put:
     * how many of pbuf the current transaction has put; pbuf_txn: pbuf's
     * length when it began.  pending_known 0: read the mark and the log's
     * tail first. */
    struct pending_entry {
        uint64_t seq;
        char cid[32];
    } * pbuf;
    size_t pbuf_n, pbuf_cap, pbuf_put, pbuf_txn;
    /* The fold under load (contacts_store.c's sweep), writer thread only:
     * records of 'pending' read into sw once, sorted by timeline key;
     * sw_pos of them put in 'timeline', then sw_del of sw_seqs (their
     * seqs, in order) deleted from 'pending'.  sw_phase 0: no sweep, 1:
     * putting, 2: deleting.  The _saved ones: as the current transaction
     * began; sw_built: sw was read in it. */
    struct sweep_entry {
        char cid[32];
        uint64_t seq;
    } * sw;
    uint64_t *sw_seqs;
    size_t sw_n, sw_pos, sw_nseq, sw_del, sw_pos_saved, sw_del_saved;
    int sw_phase, sw_phase_saved, sw_built;
    uint64_t pending_through, pending_through_next;
    int pending_known, pending_mark_due, pending_mark_missing;
    /* The contact id counter (contacts_doc.c), writer thread only.  Inside
     * writer_commit_batch (in_batch) next_contact is the transaction's
     * working value and next_contact_bound the end of the block meta
     * holds; a new block goes to meta before the commit when the counter
     * passed it or an erasure pinned it (next_contact_pin).  The
     * _committed ones are both after the last commit, so the next
     * transaction need not read them back.  0: not known, read the store. */
    int in_batch, next_contact_pin;
    uint64_t next_contact, next_contact_bound;
    uint64_t next_contact_committed, next_contact_bound_committed;
    char *path;
    enum sync_mode sync;
    size_t map_size;
    /* Growing the map needs every transaction of this process closed:
     * readers hold this shared, the writer takes it exclusively to resize. */
    pthread_rwlock_t resize_lock;
    /* Last committed seq; written by the writer thread, read anywhere. */
    uint64_t last_seq;
    char store_id[33];
    /* The store's lock file (STORE_LOCK_FILE), held while open: one writer
     * per store.  have_lock says lock_fd is ours to close. */
    int lock_fd, have_lock;
};

/* In the store directory: an open file description lock on it says that a
 * process writes the store; its text is that process's PID. */
#define STORE_LOCK_FILE "kanald.pid"

/* Open (creating if needed) the store in dir, taking its lock first.  On
 * failure *err says why; -EBUSY when another process holds the lock. */
int store_open(struct store *st, const char *dir, enum sync_mode sync, size_t initial_map,
               char *err, size_t err_len);
void store_close(struct store *st);
/* Let go of the timeline fold's sweep (its arrays and position). */
void store_sweep_drop(struct store *st);

/* A read transaction under the resize lock; always pair with store_read_end. */
int store_read_begin(struct store *st, MDB_txn **txn);
void store_read_end(struct store *st, MDB_txn *txn);

/* Double the map (writer thread only, with no transaction of its own open). */
int store_grow(struct store *st);
/* Close and reopen the environment after LMDB reported a fatal error. */
int store_reopen(struct store *st);
/* Clear stale reader slots of dead processes; returns how many. */
int store_reader_check(struct store *st);
uint64_t store_last_seq(struct store *st);
/* For /metrics: the map's size, the bytes of its pages in use (the data
 * file's high-water mark), and the bytes free on the store's filesystem
 * (0 when statvfs fails).  Any thread. */
struct store_usage {
    uint64_t map_bytes, used_bytes, disk_free_bytes;
};
void store_usage(struct store *st, struct store_usage *u);
void store_set_last_seq(struct store *st, uint64_t seq);

/* LMDB's largest key (its default build). */
#define STORE_MAX_KEY KANAL_STORE_MAX_KEY

/* The key of one idempotency entry (common/store_layout.h): source \0 kind
 * \0 external_id, with an external id too long for a key replaced by
 * "sha256:" and its digest. */
size_t store_idem_key(char *buf, size_t buf_len, const char *source, const char *kind,
                      const char *external_id);
/* The key of one state entry: source \0 key. */
size_t store_state_key(char *buf, size_t buf_len, const char *source, const char *key);

/* Copy one state value (see kanal_host.state_get). */
int store_state_get(struct store *st, const char *source, const char *key, void *buf,
                    size_t *len);

/* Map an LMDB or errno code to a negative errno-style code. */
int store_err(int mdb_rc);

#endif
