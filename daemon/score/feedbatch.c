/* SPDX-License-Identifier: Apache-2.0 */
/* A run's records fed to the audiences' builders a batch at a time, on
 * two threads (feedbatch.h). */
#include "feedbatch.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static void *helper_main(void *arg);

void score_feed_init(struct score_feed *f, struct score_build *b, size_t naud, int threads)
{
    *f = (struct score_feed){.b = b, .naud = naud, .threads = threads > 1 ? 2 : 1};
    f->recs = xmalloc(SCORE_FEED_BATCH * sizeof *f->recs);
    f->act = xmalloc(SCORE_FEED_BATCH * (naud ? naud : 1));
    f->half = xcalloc(naud ? naud : 1, 1);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    /* One thread for the whole pass, not one per batch: without it, the
     * batches are fed on this thread alone. */
    if (f->threads > 1 && naud > 1)
        f->started = pthread_create(&f->helper, NULL, helper_main, f) == 0;
}

void score_feed_free(struct score_feed *f)
{
    if (f->started) {
        pthread_mutex_lock(&f->mu);
        f->stop = 1;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->helper, NULL);
    }
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f->recs);
    free(f->pool);
    free(f->act);
    free(f->half);
    memset(f, 0, sizeof *f);
}

uint8_t *score_feed_push(struct score_feed *f, const struct score_rec *r)
{
    if (f->n == SCORE_FEED_BATCH)
        score_feed_flush(f);
    size_t need = r->nto + r->nment + r->nrcpt;
    if (f->npool + need > f->poolcap) {
        size_t cap = f->poolcap ? f->poolcap : 4 * SCORE_FEED_BATCH;
        while (cap < f->npool + need)
            cap *= 2;
        /* The copies point into the pool: their offsets are kept, the
         * pointers set again at flush. */
        f->pool = xrealloc(f->pool, cap * sizeof *f->pool);
        f->poolcap = cap;
    }
    struct score_rec *c = &f->recs[f->n];
    *c = *r;
    size_t np = r->nto + r->nment;
    if (np)
        memcpy(f->pool + f->npool, r->party, np * sizeof *f->pool);
    if (r->nrcpt)
        memcpy(f->pool + f->npool + np, r->rcpt, r->nrcpt * sizeof *f->pool);
    c->party = (uint32_t *)(uintptr_t)f->npool; /* an offset until flush */
    c->rcpt = (uint32_t *)(uintptr_t)(f->npool + np);
    c->cap = 0;
    f->npool += need;
    uint8_t *row = f->act + f->n * f->naud;
    memset(row, SCORE_FEED_NONE, f->naud);
    f->n++;
    return row;
}

struct half {
    struct score_feed *f;
    uint8_t which;
    size_t bad;
};

/* Every record of the batch, in order, to the builders of one half. */
static void *feed_half(void *arg)
{
    struct half *h = arg;
    struct score_feed *f = h->f;
    for (size_t k = 0; k < f->n; k++) {
        const uint8_t *row = f->act + k * f->naud;
        for (size_t i = 0; i < f->naud; i++) {
            if (row[i] == SCORE_FEED_NONE || f->half[i] != h->which)
                continue;
            if (row[i] == SCORE_FEED_ADD) {
                if (score_build_add_rec(&f->b[i], &f->recs[k]) != 0)
                    h->bad++;
            } else {
                score_build_note_rec(&f->b[i], &f->recs[k]);
            }
        }
    }
    return NULL;
}

/* The audiences split in two halves of about as many records added to
 * each (what feeding costs), the largest first to the lighter half. */
static void split(struct score_feed *f)
{
    size_t *adds = xcalloc(f->naud ? f->naud : 1, sizeof *adds);
    size_t *by = xmalloc((f->naud ? f->naud : 1) * sizeof *by);
    for (size_t k = 0; k < f->n; k++)
        for (size_t i = 0; i < f->naud; i++)
            adds[i] += f->act[k * f->naud + i] != SCORE_FEED_NONE;
    for (size_t i = 0; i < f->naud; i++)
        by[i] = i;
    /* Largest first (insertion sort: a few hundred audiences at most). */
    for (size_t a = 1; a < f->naud; a++)
        for (size_t x = a; x > 0 && adds[by[x - 1]] < adds[by[x]]; x--) {
            size_t t = by[x];
            by[x] = by[x - 1];
            by[x - 1] = t;
        }
    size_t load[2] = {0, 0};
    for (size_t x = 0; x < f->naud; x++) {
        uint8_t h = load[1] < load[0];
        f->half[by[x]] = h;
        load[h] += adds[by[x]];
    }
    free(adds);
    free(by);
}

/* The second thread: half 1 of each batch it is given. */
static void *helper_main(void *arg)
{
    struct score_feed *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->stop && f->fed == f->batch)
            pthread_cond_wait(&f->cv, &f->mu);
        if (f->fed == f->batch)
            break; /* stopped, nothing left */
        pthread_mutex_unlock(&f->mu);
        struct half h = {f, 1, 0};
        feed_half(&h);
        pthread_mutex_lock(&f->mu);
        f->helper_bad += h.bad;
        f->fed++;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

void score_feed_flush(struct score_feed *f)
{
    if (!f->n)
        return;
    for (size_t k = 0; k < f->n; k++) {
        struct score_rec *c = &f->recs[k];
        c->party = f->pool + (uintptr_t)c->party;
        c->rcpt = f->pool + (uintptr_t)c->rcpt;
    }
    struct half h = {f, 0, 0};
    if (f->started) {
        split(f);
        pthread_mutex_lock(&f->mu);
        f->batch++;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
    } else {
        memset(f->half, 0, f->naud); /* all of it on this thread */
    }
    feed_half(&h);
    if (f->started) {
        pthread_mutex_lock(&f->mu);
        while (f->fed != f->batch)
            pthread_cond_wait(&f->cv, &f->mu);
        f->bad += f->helper_bad;
        f->helper_bad = 0;
        pthread_mutex_unlock(&f->mu);
    }
    f->bad += h.bad;
    f->n = f->npool = 0;
}
