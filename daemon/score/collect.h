/* SPDX-License-Identifier: Apache-2.0 */
/* An audience's graph from the store: the records of a read snapshot that
 * belong to the audience, fed in seq order to the builder (build.h), with
 * contacts resolved in the same snapshot (merges followed by
 * contacts_follow, mentioned and addressed handles by contacts_of_handle).
 * It holds only a read transaction: the caller runs it on a work thread,
 * off the loop and off the writer. */
#ifndef KANAL_SCORE_COLLECT_H
#define KANAL_SCORE_COLLECT_H

#include <stdint.h>

#include <lmdb.h>

#include "audience.h"
#include "build.h"

struct store;
struct score_pool;

/* Build a's graph into b (score_build_init'ed here with now_ms and
 * half_life_ms) from txn, a read transaction on st; *last_seq is the
 * snapshot's last seq, which the scores are kept with.  0, or an MDB
 * error (b is then freed).  A record that is not JSON is skipped and
 * counted in *bad. */
int score_collect(struct store *st, MDB_txn *txn, const struct audience *a, int64_t now_ms,
                  int64_t half_life_ms, struct score_build *b, uint64_t *last_seq, size_t *bad);

/* A long scan of the log on its own read transactions, chunk records each:
 * a read transaction holds the store's resize lock (store.h), so one held
 * for a whole scoring run would stall the writer's map growth, and every
 * commit after it, for as long.  Between chunks no transaction is open;
 * the next one starts after the last seq seen.  Only records with a seq up
 * to upto are scanned (the log as it was when the run began), but the
 * contacts are read in each chunk's own snapshot: a merge committed during
 * the run may already count for the later chunks. */
struct score_scan {
    struct store *st;
    uint64_t upto;
    size_t chunk; /* records per transaction, 0: 4096 */
    /* Called with each record (parsed) and the chunk's transaction: 0 to go
     * on, else the scan stops and returns that. */
    int (*each)(void *arg, MDB_txn *txn, json_t *rec);
    /* Optional, called first with each record's text: 1 when it took the
     * record as it is (each() is not called: no parse), 0 to have it
     * parsed and given to each(), negative to stop the scan (it returns that). */
    int (*peek)(void *arg, MDB_txn *txn, const char *text, size_t len);
    /* Called between chunks, with no transaction open: nonzero stops the
     * scan, which returns -ECANCELED. */
    int (*between)(void *arg);
    void *arg;
    /* Nonzero (and no peek): the records are read and parsed ahead on a
     * thread of the scan's own, a few hundred at a time in its own short
     * read transactions, while each() takes the ones read before, in seq
     * order, in a transaction opened for each such unit (the contacts'
     * snapshot), and between() comes after about chunk records, with
     * none of each()'s transactions open (the reading thread's may be:
     * it never waits holding one).  At most SCORE_SCAN_AHEAD_UNITS
     * units are held parsed. */
    int ahead;
    /* Optional, with ahead: called by the reading thread before each unit,
     * with no transaction open (a run's pacing: it may sleep); nonzero
     * stops the scan, which returns -ECANCELED. */
    int (*pace)(void *arg);
    /* Optional, with ahead: called by the reading thread with each
     * record's text instead of parsing it, to read into out (prepare_size
     * bytes; what it points to in pool, kept as long as out) what each()
     * needs: 0, or -1 when the text is not JSON (counted in bad).  each()
     * is then called with rec NULL, and finds the record's in prepared,
     * set only while it runs (NULL without prepare). */
    int (*prepare)(const char *text, size_t len, void *out, struct score_pool *pool);
    size_t prepare_size;
    const void *prepared;
    /* Out: records scanned, and those that were not JSON (skipped; of
     * those peek took, none is counted). */
    size_t records, bad;
};

/* Records a reading thread parses into one unit, the units held at most,
 * and the reading threads. */
#define SCORE_SCAN_AHEAD_RECORDS 512
#define SCORE_SCAN_AHEAD_UNITS 4
#define SCORE_SCAN_AHEAD_READERS 1

/* 0, -ECANCELED, what each() returned, or a negative store error. */
int score_scan_run(struct score_scan *s);

/* Each of b's contacts' value and currency from the CRM (PUT
 * /v1/contacts/crm) into b->facts: read for all of b's people (a run's
 * audiences share theirs) on a read transaction of its own the first time,
 * from what was read after that: 0, or a negative store error. */
int score_crm_values(struct store *st, struct score_build *b);

#endif
