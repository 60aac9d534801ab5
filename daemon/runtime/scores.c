/* SPDX-License-Identifier: Apache-2.0 */
/* Scoring runs (scores.h).  A run has three steps, the last two side by
 * side:
 *   1. on the loop: take the audiences configured and the seq to read up
 *      to, and queue the work;
 *   2. on a thread of its own, at a lower priority (score_nice: on a
 *      busy machine the loop and the writer go first) and pausing while
 *      ingest goes on (score_share), score_work_run (daemon/score/run.h,
 *      the path kanalctl score --compute and bench/score take too): find the
 *      audiences present in the records, feed every record once to the
 *      builder of each audience it belongs to, and make each audience's
 *      rows (keep.h: each row serialized as it is made, never the whole
 *      document, the ranks of each order sorted); no transaction is held
 *      between two chunks of the log, so the writer can grow the map
 *      meanwhile;
 *   3. each audience made goes to the loop (a uv_async), which hands it
 *      to the writer, one audience per write_item, each submitted when the
 *      one before has committed: delete the audiences no longer computed
 *      (with the first), then replace the audience's rows, leaving out
 *      those of contacts erased since the run read them.  The writer
 *      commits ingest between two audiences.  The work thread makes the
 *      next audience meanwhile, and waits before handing it over until
 *      the one before is kept: two audiences' rows are held at most.
 * The loop is never blocked, and the writer only for the puts. */
#include "scores.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "audience.h"
#include "config.h"
#include "error.h"
#include "keep.h"
#include "log.h"
#include "run.h"
#include "store.h"
#include "util.h"
#include "writer.h"

/* Audiences made into rows and not yet committed, at most: one in the
 * writer and one made meanwhile.  The work thread makes the next audience
 * only once the one before has gone to the writer, so that a run holds
 * two audiences' rows at most, not every audience's. */
#define KEEP_AHEAD 2

struct score_job {
    struct scores *sc;
    pthread_t tid;
    int nice;          /* score_nice, taken when the run starts */
    int share;         /* score_share, likewise */
    atomic_int worked; /* the work thread is done (j->rc is set) */
    uv_async_t ready;  /* the work thread made an audience's rows, or ended */
    uint64_t number;
    int64_t t0;
    /* The run's computing (run.h): its audiences, counts and results. */
    struct score_work w;
    /* The configured audiences (copied: a reload may free the config). */
    struct score_named *named;
    char *thread; /* a requested thread:ID, or NULL */
    /* Between the work thread and the loop, under mu: the audiences made
     * and waiting for the writer (queue, oldest first), how many are made
     * and not yet committed (pending: the queue and the one in the
     * writer), and whether the keeping failed.  cv wakes the work thread
     * when one is committed. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct score_kept *queue[KEEP_AHEAD];
    size_t nqueue, pending;
    atomic_int keeping;     /* an audience went to the writer: the run is no longer cancelled */
    atomic_int keep_failed; /* a commit failed: the run stops */
    /* The loop's: the audience in the writer (NULL: none, or the retiring
     * alone), whether a write_item is out, the work done. */
    struct score_kept *cur;
    int in_writer, work_done, retire_done;
    int64_t t_keep; /* when the keeping began (monotonic ms) */
    size_t commits; /* the keeping's commits */
    /* The longest put of one audience in the writer (its transaction, with
     * the ingest batched beside it, waits that long): how long and whose. */
    int64_t put_max_ms, put_ms, put_total_ms;
    uint64_t ingested;   /* the writer's records and duplicates when the last put went in */
    uv_timer_t pace;     /* holds the next audience after a put beside ingest */
    int pacing, closing; /* the timer is on; handles still to close */
    /* The run's threads' pacing (pace_step): paused in all. */
    atomic_llong paused_us;
    int64_t keep_paused_ms; /* the loop's: audiences held back for ingest (keep_done) */
    size_t put_max_rows;
    char put_max_id[64];
    size_t failed, retired;
    size_t unkeepable; /* of failed: an id no key can be (keep.h) */
    int rc;
};

static void kept_release(struct score_kept *k)
{
    if (k) {
        score_kept_free(k);
        free(k);
    }
}

static void job_closed(uv_handle_t *h)
{
    struct score_job *j = h->data;
    if (--j->closing)
        return;
    for (size_t i = 0; i < j->w.nnamed; i++) {
        free((char *)j->named[i].name);
        free((char *)j->named[i].match);
    }
    free(j->named);
    for (size_t i = 0; i < j->nqueue; i++)
        kept_release(j->queue[i]);
    kept_release(j->cur);
    free(j->thread);
    score_work_free(&j->w);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* The job's memory goes once its wakeup handle is closed. */
static void job_free(struct score_job *j)
{
    j->closing = 2;
    uv_close((uv_handle_t *)&j->ready, job_closed);
    uv_close((uv_handle_t *)&j->pace, job_closed);
}

/* ---- the work thread ---- */

/* Records (new and duplicates) the writer has committed so far (any
 * thread). */
static uint64_t ingested(struct scores *sc)
{
    struct writer_stats ws;
    writer_get_stats(sc->writer, &ws);
    return ws.records + ws.duplicates;
}

/* Shutdown stops a run while it reads the log, and until its first
 * audience goes to the writer: from then on it keeps every audience (a
 * few seconds of computing), so that the kept scores are all of one run
 * or all of the other, never half of each. */
static int stopped(struct score_job *j)
{
    if (atomic_load(&j->keep_failed))
        return 1;
    return atomic_load(&j->sc->cancel) && !atomic_load(&j->keeping);
}

static int64_t thread_cpu_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Between two steps of the work (a chunk of the log, outside its read
 * transaction; an audience made): when the writer committed records
 * during the step, the run pauses so that it computes (its CPU time: a
 * starved run is not paused for the time it waited) at most score_share
 * percent of the time while ingest goes on, on each of its threads.
 * Ingest goes on when the writer committed records during the step or
 * within INGEST_RECENT_MS before its end: a step shorter than the time
 * between two commits (an audience of a few rows) is paced too.  Its
 * priority (score_nice) gives the CPU to ingest, but not the caches, the
 * memory bandwidth or the disk that a run reading the whole log takes
 * too; on an idle machine it does not pause.  The pause is cut short at
 * shutdown. */
#define INGEST_RECENT_MS 200

/* Each thread's step (a run makes its documents on two threads, run.h):
 * its CPU time (us) when the step began, the writer's records then and
 * when they last changed; set when the thread begins (step_begin). */
static _Thread_local struct {
    int64_t t0, changed_ms;
    uint64_t ingested;
    int set;
} step;

static void step_begin(struct score_job *j)
{
    step.t0 = thread_cpu_us();
    step.ingested = ingested(j->sc);
    step.changed_ms = INT64_MIN / 2;
    step.set = 1;
}

static void pace_step(struct score_job *j)
{
    if (!step.set) {
        step_begin(j); /* the run's second thread, at its first step */
        return;
    }
    uint64_t in = ingested(j->sc);
    int64_t worked = thread_cpu_us() - step.t0, now = (int64_t)util_monotonic_ms();
    if (in != step.ingested)
        step.changed_ms = now;
    if (j->share < 100 && now - step.changed_ms <= INGEST_RECENT_MS && worked > 0 &&
        !atomic_load(&j->sc->cancel)) {
        int64_t pause = worked * (100 - j->share) / j->share; /* us */
        atomic_fetch_add(&j->paused_us, (long long)pause);
        /* Cut short at shutdown, also once the run keeps its audiences
         * (then stopped() is 0: it goes on, without pauses). */
        while (pause > 0 && !atomic_load(&j->sc->cancel) && !atomic_load(&j->keep_failed)) {
            int64_t us = pause < 50000 ? pause : 50000;
            struct timespec ts = {0, (long)us * 1000L};
            nanosleep(&ts, NULL);
            pause -= us;
        }
        uint64_t after = ingested(j->sc);
        if (after != in)
            step.changed_ms = (int64_t)util_monotonic_ms();
        in = after;
    }
    step.t0 = thread_cpu_us();
    step.ingested = in;
}

static int cancelled(void *arg)
{
    struct score_job *j = arg;
    if (stopped(j))
        return 1;
    pace_step(j);
    return stopped(j);
}

/* Each audience, made at once into the rows the store keeps (run.c never
 * holds its document), goes to the writer through the loop; the work
 * thread waits until the audience before it has gone (KEEP_AHEAD), so
 * that only the rows of the audience in the writer and of this one are
 * held. */
static int keep_rows(void *arg, size_t i, struct score_kept *k, int status)
{
    struct score_job *j = arg;
    (void)i;
    if (status) {
        /* Two threads make audiences (run.h): counted under the lock. */
        pthread_mutex_lock(&j->mu);
        j->failed++;
        if (status > 0)
            j->unkeepable++;
        pthread_mutex_unlock(&j->mu);
        return 0;
    }
    struct score_kept *made = xmalloc(sizeof *made);
    *made = *k;
    pthread_mutex_lock(&j->mu);
    while (j->pending >= KEEP_AHEAD - 1 && !atomic_load(&j->keep_failed))
        pthread_cond_wait(&j->cv, &j->mu);
    int failed = atomic_load(&j->keep_failed);
    if (!failed) {
        j->queue[j->nqueue++] = made;
        j->pending++;
        atomic_store(&j->keeping, 1);
    }
    pthread_mutex_unlock(&j->mu);
    if (failed) {
        kept_release(made);
        return -ECANCELED;
    }
    uv_async_send(&j->ready);
    return 0;
}

/* Before one of the largest audiences is made (run.h): every audience
 * handed to the writer kept. */
static void keep_drained(void *arg)
{
    struct score_job *j = arg;
    pthread_mutex_lock(&j->mu);
    while (j->pending > 0 && !atomic_load(&j->keep_failed))
        pthread_cond_wait(&j->cv, &j->mu);
    pthread_mutex_unlock(&j->mu);
}

/* The run is background work: on a machine whose cores the loop and the
 * writer keep busy, the kernel gives them the CPU first (nice 19 weighs
 * 15 against nice 0's 1024).  Raising one's own nice value needs no
 * privilege, and on Linux it is per thread.  Not undone: the thread ends
 * with the run. */
static void lower_priority(struct score_job *j)
{
    if (j->nice <= 0)
        return;
    errno = 0;
    int base = getpriority(PRIO_PROCESS, 0); /* this thread's, inherited from the loop's */
    if (base == -1 && errno) {
        log_warn("scores: run %llu: cannot read the thread's nice value (%s); score_nice = %d "
                 "not applied, the run competes with ingest",
                 (unsigned long long)j->number, strerror(errno), j->nice);
        return;
    }
    int want = base + j->nice > 19 ? 19 : base + j->nice;
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), want) != 0)
        log_warn("scores: run %llu: cannot set the scoring thread's nice value to %d (%s); "
                 "score_nice = %d not applied, the run competes with ingest",
                 (unsigned long long)j->number, want, strerror(errno), j->nice);
    else
        log_info("scores: run %llu computes at nice %d (kanald's %d + score_nice %d)",
                 (unsigned long long)j->number, want, base, j->nice);
}

static void *run_thread(void *arg)
{
    struct score_job *j = arg;
    lower_priority(j);
    step_begin(j);
    /* Named (once its priority is set), so that top -H and
     * /proc/PID/task/TID/comm tell it apart. */
    pthread_setname_np(pthread_self(), "kanal-score");
    j->rc = score_work_run(&j->w);
    atomic_store(&j->worked, 1);
    uv_async_send(&j->ready);
    return NULL;
}

/* ---- keeping the audiences, and the run's end ---- */

static void job_end(struct score_job *j, int ok)
{
    struct scores *sc = j->sc;
    int64_t ms = (int64_t)util_monotonic_ms() - j->t0;
    sc->stats.runs++;
    if (ok) {
        sc->stats.last_at_ms = util_now_ms();
        sc->stats.last_duration_ms = ms;
        sc->stats.last_seq = j->w.upto;
        sc->stats.last_audiences = j->w.naud - j->failed;
        sc->stats.last_left_out = j->w.left_out;
        log_notice("scores: run %llu kept %zu audience(s) over %zu record(s) and %zu contact(s) "
                   "up to seq %llu in %lld ms (keeping them: %lld ms in %zu commit(s)); the "
                   "puts %lld ms, the longest %lld ms (%s, %zu row(s)); paused %lld ms for "
                   "ingest",
                   (unsigned long long)j->number, j->w.naud - j->failed, j->w.records,
                   j->w.contacts, (unsigned long long)j->w.upto, (long long)ms,
                   (long long)((int64_t)util_monotonic_ms() - j->t_keep), j->commits,
                   (long long)j->put_total_ms, (long long)j->put_max_ms,
                   j->put_max_id[0] ? j->put_max_id : "-", j->put_max_rows,
                   (long long)(atomic_load(&j->paused_us) / 1000 + j->keep_paused_ms));
        if (j->retired)
            log_notice("scores: run %llu removed the scores of %zu audience(s) it no longer "
                       "computes",
                       (unsigned long long)j->number, j->retired);
        if (j->failed > j->unkeepable)
            log_warn("scores: run %llu: %zu audience(s) not kept: PageRank did not converge",
                     (unsigned long long)j->number, j->failed - j->unkeepable);
        if (j->unkeepable)
            log_warn("scores: run %llu: %zu audience(s) not kept: an audience or contact id of "
                     "more than 250 bytes, or with a \\x01 byte, cannot be a key",
                     (unsigned long long)j->number, j->unkeepable);
        if (j->w.left_out) {
            char *names = json_dumps(j->w.left_names, JSON_COMPACT);
            log_warn("scores: run %llu left %zu audience(s) out (score_max_audiences = %lld), "
                     "among them %s",
                     (unsigned long long)j->number, j->w.left_out, (long long)j->w.max_audiences,
                     names ? names : "?");
            free(names);
        }
    } else {
        sc->stats.failures++;
    }
    sc->job = NULL;
    job_free(j);
}

/* An audience this run computed, or a thread computed on request: a
 * thread stays until it is asked for again (no run finds threads itself). */
static int still_computed(void *arg, const char *id)
{
    struct score_job *j = arg;
    if (strncmp(id, "thread:", 7) == 0)
        return 1;
    for (size_t i = 0; i < j->w.naud; i++)
        if (strcmp(j->w.auds[i].id, id) == 0)
            return 1;
    return 0;
}

static int apply_keep(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct score_job *j = it->arg;
    int rc = 0;
    /* Audiences no run computes any more (an [audience NAME] removed, an
     * event left out by score_max_audiences) would be served stale
     * forever: they go, with the first audience kept.  The audiences are
     * chosen before the first is made, so the list is whole here. */
    if (!j->retire_done)
        rc = score_retire(st, txn, still_computed, j, &j->retired);
    /* A contact erased while the run computed is in its rows (the erasure
     * deleted the kept rows, not these): it is left out here. */
    if (rc == 0 && j->cur) {
        int64_t t0 = (int64_t)util_monotonic_ms();
        rc = score_kept_put(st, txn, j->cur, 1, NULL);
        /* On the writer thread; read on the loop after keep_done. */
        int64_t took = (int64_t)util_monotonic_ms() - t0;
        j->put_ms = took;
        j->put_total_ms += took;
        log_debug("scores: run %llu: %s, %zu row(s) put in %lld ms", (unsigned long long)j->number,
                  j->cur->id, j->cur->nrows, (long long)took);
        if (took >= j->put_max_ms) {
            j->put_max_ms = took;
            j->put_max_rows = j->cur->nrows;
            snprintf(j->put_max_id, sizeof j->put_max_id, "%s", j->cur->id);
        }
    }
    return rc;
}

static void keep_done(struct write_item *it);
static void keep_next(struct score_job *j);
static void maybe_end(struct score_job *j);

static void on_paced(uv_timer_t *t)
{
    struct score_job *j = t->data;
    j->pacing = 0;
    if (!atomic_load(&j->keep_failed))
        keep_next(j);
    maybe_end(j); /* j may be freed within: last */
}

/* Hand the oldest audience made to the writer, when none is there: one
 * write_item per audience, each submitted when the one before has
 * committed, so that the writer commits what came in between. */
static void keep_next(struct score_job *j)
{
    if (j->in_writer || j->pacing)
        return;
    pthread_mutex_lock(&j->mu);
    struct score_kept *k = NULL;
    if (j->nqueue) {
        k = j->queue[0];
        memmove(j->queue, j->queue + 1, --j->nqueue * sizeof *j->queue);
    }
    pthread_mutex_unlock(&j->mu);
    /* With nothing made, only a run that ended well and has not retired
     * yet still writes: the retiring, even when no audience is kept. */
    if (!k && !(j->work_done && j->rc == 0 && !j->retire_done))
        return;
    if (!j->commits && !j->in_writer && !j->t_keep)
        j->t_keep = (int64_t)util_monotonic_ms();
    j->cur = k;
    j->in_writer = 1;
    j->put_ms = 0;
    j->ingested = ingested(j->sc);
    struct write_item *it = xcalloc(1, sizeof *it);
    it->apply = apply_keep;
    it->done = keep_done;
    it->arg = j;
    writer_submit(j->sc->writer, it);
}

/* The run's end, once the work is done and nothing is in the writer: its
 * audiences all kept, or it failed (the kept ones stay). */
static void maybe_end(struct score_job *j)
{
    if (!j->work_done || j->in_writer || j->pacing)
        return;
    int ok = j->rc == 0 && !atomic_load(&j->keep_failed);
    if (ok && (j->nqueue || !j->retire_done)) {
        keep_next(j);
        return;
    }
    job_end(j, ok);
}

static void keep_done(struct write_item *it)
{
    struct score_job *j = it->arg;
    int status = it->status;
    write_item_free(it);
    j->in_writer = 0;
    if (status) {
        log_err("scores: run %llu: cannot keep the scores of %s: %s", (unsigned long long)j->number,
                j->cur ? j->cur->id : "(none)", kanal_strerror(status));
        atomic_store(&j->keep_failed, 1);
    } else {
        j->retire_done = 1;
        j->commits++;
    }
    kept_release(j->cur); /* kept: its memory goes now */
    j->cur = NULL;
    /* And back to the system, with the pages the commit dirtied: the
     * next audience is not made in the holes they leave. */
    malloc_trim(0);
    pthread_mutex_lock(&j->mu);
    j->pending--;
    pthread_cond_broadcast(&j->cv); /* a thread handing rows, or one waiting for none */
    pthread_mutex_unlock(&j->mu);
    /* An audience's put holds the writer, and the ingest batched beside
     * it, for as long as it takes (over a second for 100k rows).  When
     * ingest came meanwhile, the next audience waits so that the keeping
     * takes at most score_share percent of the writer's time while
     * ingest goes on, and all of it when nothing else comes (nor when
     * kanald is stopping). */
    if (!atomic_load(&j->keep_failed) && !status && j->put_ms > 0 && j->share < 100 &&
        !j->sc->stopping && ingested(j->sc) != j->ingested) {
        j->pacing = 1;
        uint64_t wait = (uint64_t)j->put_ms * (uint64_t)(100 - j->share) / (uint64_t)j->share;
        j->keep_paused_ms += (int64_t)wait;
        uv_timer_start(&j->pace, on_paced, wait, 0);
        return;
    }
    if (!atomic_load(&j->keep_failed))
        keep_next(j);
    maybe_end(j); /* j may be freed within: last */
}

static void after_work(struct score_job *j)
{
    /* Done (it set worked last): the join does not wait. */
    pthread_join(j->tid, NULL);
    j->work_done = 1;
    if (j->rc == -ECANCELED && !atomic_load(&j->keep_failed)) {
        log_notice("scores: run %llu stopped: kanald is stopping", (unsigned long long)j->number);
    } else if (j->rc && !atomic_load(&j->keep_failed)) {
        log_err("scores: run %llu failed reading the store: %s", (unsigned long long)j->number,
                kanal_strerror(j->rc < 0 ? j->rc : store_err(j->rc)));
    } else if (j->w.bad) {
        log_warn("scores: run %llu skipped %zu record(s) it could not read",
                 (unsigned long long)j->number, j->w.bad);
    }
    maybe_end(j); /* j may be freed within: last */
}

/* Wakeups coalesce: one may stand for audiences made and the work's end. */
static void on_ready(uv_async_t *a)
{
    struct score_job *j = a->data;
    if (!atomic_load(&j->keep_failed))
        keep_next(j);
    if (atomic_load(&j->worked) && !j->work_done)
        after_work(j);
}

int scores_refresh(struct scores *sc, const char *thread, json_t **started)
{
    *started = NULL;
    if (sc->stopping)
        return -ESHUTDOWN;
    if (sc->job)
        return -EBUSY;
    const struct config *cfg = *sc->cfg;
    struct score_job *j = xcalloc(1, sizeof *j);
    j->sc = sc;
    j->number = ++sc->started;
    j->w.upto = store_last_seq(sc->store);
    j->w.now_ms = util_now_ms();
    j->t0 = (int64_t)util_monotonic_ms();
    j->w.half_life_ms = cfg->score_half_life_ms;
    j->w.params = cfg->score;
    j->w.max_audiences = cfg->score_max_audiences;
    j->w.event_window_ms = cfg->score_event_window_ms;
    j->thread = thread ? xstrdup(thread) : NULL;
    j->named = xcalloc(cfg->naudiences ? cfg->naudiences : 1, sizeof *j->named);
    for (size_t i = 0; i < cfg->naudiences; i++) {
        j->named[i].name = xstrdup(cfg->audiences[i].name);
        j->named[i].match = xstrdup(cfg->audiences[i].match);
    }
    j->w.nnamed = cfg->naudiences;
    j->w.named = j->named;
    j->w.thread = j->thread;
    j->w.st = sc->store;
    j->w.chunk = sc->chunk;
    j->w.cancelled = cancelled;
    j->w.kept = keep_rows;
    j->w.threads = score_threads_default();
    j->w.drained = keep_drained;
    j->w.arg = j;
    j->nice = (int)cfg->score_nice;
    j->share = (int)cfg->score_share;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    uv_async_init(sc->loop, &j->ready, on_ready);
    j->ready.data = j;
    uv_timer_init(sc->loop, &j->pace);
    j->pace.data = j;
    /* A thread of its own, not libuv's pool: its priority is lowered
     * (score_nice) without slowing the API's reads that the pool runs, and
     * a run of seconds does not hold one of the pool's few threads. */
    int rc = pthread_create(&j->tid, NULL, run_thread, j);
    if (rc) {
        log_err("scores: cannot start a run's thread: %s", strerror(rc));
        job_free(j);
        return -EAGAIN;
    }
    sc->job = j;
    log_info("scores: run %llu started, reading up to seq %llu%s%s", (unsigned long long)j->number,
             (unsigned long long)j->w.upto, thread ? ", with " : "", thread ? thread : "");
    *started = json_pack("{s:I,s:I}", "run", (json_int_t)j->number, "seq", (json_int_t)j->w.upto);
    if (thread)
        json_object_set_new(*started, "thread", json_string(thread));
    return 0;
}

/* ---- the timer ---- */

static void on_tick(uv_timer_t *t)
{
    struct scores *sc = t->data;
    json_t *started;
    int rc = scores_refresh(sc, NULL, &started);
    json_decref(started);
    if (rc == -EBUSY)
        log_info("scores: score_interval came while a run is still on; skipped");
}

void scores_apply(struct scores *sc)
{
    int64_t iv = (*sc->cfg)->score_interval_ms;
    if (sc->stopping || iv == sc->interval_ms)
        return;
    sc->interval_ms = iv;
    uv_timer_stop(&sc->timer);
    if (iv > 0)
        uv_timer_start(&sc->timer, on_tick, (uint64_t)iv, (uint64_t)iv);
}

void scores_start(struct scores *sc)
{
    uv_timer_init(sc->loop, &sc->timer);
    sc->timer.data = sc;
    sc->interval_ms = 0;
    atomic_store(&sc->cancel, 0);
    scores_apply(sc);
}

void scores_stop(struct scores *sc)
{
    if (sc->stopping)
        return;
    sc->stopping = 1;
    atomic_store(&sc->cancel, 1);
    uv_timer_stop(&sc->timer);
    /* An audience held back for ingest goes to the writer now: the run
     * keeps its audiences before kanald stops (cancelled()). */
    if (sc->job && sc->job->pacing) {
        uv_timer_stop(&sc->job->pace);
        on_paced(&sc->job->pace); /* may end the job: last use */
    }
    if (!uv_is_closing((uv_handle_t *)&sc->timer))
        uv_close((uv_handle_t *)&sc->timer, NULL);
}

int scores_busy(const struct scores *sc)
{
    return sc->job != NULL;
}
