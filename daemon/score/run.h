/* SPDX-License-Identifier: Apache-2.0 */
/* A whole scoring run's computing (run.c): the one path kanald's runs
 * (runtime/scores.c, on a libuv work thread), kanalctl score --compute and
 * bench/score all take.  It chooses the audiences (all, the named ones, a
 * requested thread, then the sources, channels, campaigns and events the
 * records name, up to max_audiences), reads the log up to a seq in chunks
 * of short read transactions (collect.h: no transaction is held between
 * two chunks, so the writer can grow the map meanwhile), feeds every record
 * once to the builder of each audience it is in (an event's also takes
 * what its participants did around it; the brand's answers elsewhere are
 * noted), and hands each audience's document (result.h) on as it is made,
 * or, for a caller keeping them (kept), its rows made one at a time
 * (keep.h): every graph trimmed first, the smallest first, each freed once
 * its document is made.  It holds no lock and touches no writer: keeping the
 * documents is the caller's. */
#ifndef KANAL_SCORE_RUN_H
#define KANAL_SCORE_RUN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "audience.h"
#include "build.h"
#include "value.h"

struct store;
struct score_kept;

/* The defaults of the [kanald] keys score_half_life (30d),
 * score_event_window (7d) and score_max_audiences (200): what kanalctl
 * score and bench/score use, as kanald does when kanal.conf says nothing. */
#define SCORE_HALF_LIFE_DEFAULT_MS (30LL * 24 * 3600 * 1000)
#define SCORE_EVENT_WINDOW_DEFAULT_MS (7LL * 24 * 3600 * 1000)
#define SCORE_MAX_AUDIENCES_DEFAULT 200

/* An [audience NAME] of the config: match = ... (audience.h). */
struct score_named {
    const char *name, *match;
};

struct score_work {
    /* In. */
    struct store *st;
    uint64_t upto; /* the last seq to read (the log as the run began) */
    size_t chunk;  /* records per read transaction, 0: 4096 */
    int64_t now_ms, half_life_ms, max_audiences, event_window_ms;
    struct score_params params; /* the score_* thresholds */
    const struct score_named *named;
    size_t nnamed;
    const char *thread; /* a requested thread:ID, or NULL */
    /* Compute this audience id alone (kanalctl score --compute: a built-in,
     * or one of named), or NULL for all of them.  An event's is still
     * widened as kanald's is. */
    const char *only;
    /* Nonzero stops the run between two chunks (-ECANCELED); may be NULL. */
    int (*cancelled)(void *arg);
    /* Each audience's document, as it is made: auds[i]'s (NULL when its
     * PageRank did not converge), given to each, which owns it, with the
     * graph it was made from (trimmed: ids, edges and counts; freed after
     * the call); 0 to go on, else the run stops and returns that. */
    int (*each)(void *arg, size_t i, json_t *doc, const struct score_build *b);
    /* Instead of each, when set: auds[i] made at once into the rows the
     * store keeps (keep.h), a row at a time, so that no audience's
     * document is ever whole: kept(arg, i, k, status) with status 0 (the
     * callee takes k's contents: score_kept_free them), -EDOM (its
     * PageRank did not converge; k NULL) or score_kept_end's error (EINVAL:
     * an id no key can be; k NULL); 0 to go on, as each. */
    int (*kept)(void *arg, size_t i, struct score_kept *k, int status);
    void *arg;
    /* Threads making the documents when kept is set (1 or 2; the second
     * calls kept too, so kept must be thread-safe): score_work_defaults
     * gives score_threads_default(). */
    int threads;
    /* With two threads: waits until every audience handed to kept is
     * kept (or the keeping failed); called when each of the largest
     * audiences' measures are computed and before its rows are made, so
     * that they are never held beside another large one's.  May be
     * NULL. */
    void (*drained)(void *arg);

    /* Out (score_work_free frees them). */
    struct audience *auds;
    size_t naud;
    size_t left_out;    /* audiences over max_audiences */
    json_t *left_names; /* the first five of them */
    size_t records;     /* records read (the second pass) */
    size_t contacts;    /* contacts in "all", less the brand */
    size_t bad;         /* records that were not JSON, or a builder refused */
    json_t *events;     /* event id -> {"contacts": {id: true}, "from", "to"} */
    json_t **event_of;  /* per audience: its events entry, or NULL */
    size_t nevents;
    /* The first pass's records read from their text (peek.h), and, set
     * while a run is made again, none. */
    size_t peeked;
    int no_peek;
};

/* 2 when the machine has more than one CPU, else 1. */
int score_threads_default(void);

/* w's in fields with the defaults above (and score_params_default); the
 * caller sets st, upto, now_ms, each and arg. */
void score_work_defaults(struct score_work *w);

/* Run w: 0, -ECANCELED, what each returned, or a negative store error.
 * w's out fields stay until score_work_free, whatever it returned. */
int score_work_run(struct score_work *w);
void score_work_free(struct score_work *w);

#endif
