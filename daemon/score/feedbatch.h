/* SPDX-License-Identifier: Apache-2.0 */
/* A run's second pass feeds each record to the builders of the audiences
 * it is in.  Reading a record (parsing it, its people resolved in the
 * chunk's snapshot: score_rec_read) is done once, in log order, on the
 * run's thread; feeding the builders is most of the pass and each
 * builder is its own, so records are read a batch at a time and the
 * batch is then fed on two threads, each feeding its share of the
 * audiences every record of the batch in log order.
 *
 * Nothing is read while a batch is fed: feeding reads what reading wrote
 * (the people's records, for the replies), and the answers are those of
 * feeding each record as it is read.  A record of the batch later than
 * the one being fed is already among the people's records, but a builder
 * looks for the latest record it was fed (build.c's answered_author),
 * which a later one is not. */
#ifndef KANAL_SCORE_FEEDBATCH_H
#define KANAL_SCORE_FEEDBATCH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "build.h"

/* What an audience's builder does with a record of the batch. */
enum { SCORE_FEED_NONE, SCORE_FEED_ADD, SCORE_FEED_NOTE };

/* Records read in a batch at most. */
#define SCORE_FEED_BATCH 4096

struct score_feed {
    struct score_build *b; /* naud builders */
    size_t naud;
    int threads; /* 1 or 2 */
    /* The batch: records (their parties and recipients copied into pool)
     * and, per record, an action per audience (n * naud). */
    struct score_rec *recs;
    uint32_t *pool;
    size_t n, npool, poolcap;
    uint8_t *act;
    /* Per audience, in the batch being fed: which thread feeds it. */
    uint8_t *half;
    size_t bad; /* records a builder refused (not an object with a kind) */
    /* The second thread, started once for the whole pass (started: it
     * runs), given a batch (batch counts them) and done with it (fed). */
    pthread_t helper;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, stop;
    uint64_t batch, fed;
    size_t helper_bad;
};

void score_feed_init(struct score_feed *f, struct score_build *b, size_t naud, int threads);
/* Record r (read by score_rec_read; copied) into the batch, the batch fed
 * first when full: its row of actions, one per audience, all NONE, for
 * the caller to fill. */
uint8_t *score_feed_push(struct score_feed *f, const struct score_rec *r);
/* Feed the batch to the builders, and empty it. */
void score_feed_flush(struct score_feed *f);
void score_feed_free(struct score_feed *f);

#endif
