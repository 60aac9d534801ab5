/* SPDX-License-Identifier: Apache-2.0 */
/* Scoring runs in kanald (scores.c): every score_interval and on
 * POST /v1/scores/refresh, one run at a time computes the scores of the
 * audiences present in the store (daemon/score/) on a thread of its own
 * (named kanal-score, at nice score_nice above kanald's own),
 * off the loop and off the writer, reading the log in chunks of short read
 * transactions; its audiences are kept through the writer, one
 * write_item per audience (score_kept_put in its apply), with the seq the
 * run read up to. */
#ifndef KANAL_SCORES_H
#define KANAL_SCORES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

struct config;
struct store;
struct writer;
struct score_job;

/* The last run, for /metrics and the refresh route. */
struct scores_stats {
    uint64_t runs, failures;  /* runs ended (kept or failed) */
    int64_t last_at_ms;       /* wall clock when the last run that kept scores ended */
    int64_t last_duration_ms; /* how long it took */
    uint64_t last_seq;        /* the seq it read up to */
    size_t last_audiences, last_left_out;
};

struct scores {
    uv_loop_t *loop;
    struct store *store;
    struct writer *writer;
    struct config *const *cfg; /* main's, replaced on a reload */
    /* Log records a work-thread transaction reads at most (0: 4096); tests
     * of the daemon leave it. */
    size_t chunk;
    uv_timer_t timer;
    int64_t interval_ms; /* the timer's, to restart it when a reload changes it */
    int stopping;
    struct score_job *job; /* the run in progress, NULL when none */
    atomic_int cancel;     /* set at shutdown: the work thread stops between chunks */
    uint64_t started;      /* runs started */
    struct scores_stats stats;
};

/* Start the timer of (*cfg)->score_interval (loop thread). */
void scores_start(struct scores *sc);
/* A reload: follow a new score_interval. */
void scores_apply(struct scores *sc);
/* Start a run now, also computing the audience thread:ID when thread is
 * not NULL (a thread: audience is computed only on request).  0 with
 * *started (the run's number and the seq it reads up to) set; -EBUSY when a
 * run is on, -ESHUTDOWN when kanald is stopping. */
int scores_refresh(struct scores *sc, const char *thread, json_t **started);
/* Shutdown: stop the timer and ask a run in progress to stop between two
 * chunks; its results are then dropped (the kept ones stay).  A run that
 * has begun keeping its audiences keeps them all first. */
void scores_stop(struct scores *sc);
/* 1 while a run (its computing or its commit) is in progress. */
int scores_busy(const struct scores *sc);

#endif
