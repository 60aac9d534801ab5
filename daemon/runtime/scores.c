/* SPDX-License-Identifier: Apache-2.0 */
/* Scoring runs (scores.h).  A run has three steps:
 *   1. on the loop: take the audiences configured and the seq to read up
 *      to, and queue the work;
 *   2. on a libuv work thread, score_work_run (daemon/score/run.h, the
 *      path kanalctl score --compute and bench/score take too): find the
 *      audiences present in the records, feed every record once to the
 *      builder of each audience it belongs to, and make each audience's
 *      document (result.h), made at once into the rows the store keeps
 *      (keep.h: serialized, the ranks of each order sorted) and freed, so
 *      that no two audiences' documents are held; no transaction is held
 *      between two chunks of the log, so the writer can grow the map
 *      meanwhile;
 *   3. through the writer, one audience per write_item, each submitted
 *      when the one before has committed: delete the audiences no longer
 *      computed (with the first), then replace each audience's rows,
 *      leaving out those of contacts erased since the run read them.  The
 *      writer commits ingest between two audiences.
 * The loop is never blocked, and the writer only for the puts. */
#include "scores.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "audience.h"
#include "config.h"
#include "error.h"
#include "keep.h"
#include "log.h"
#include "run.h"
#include "store.h"
#include "util.h"
#include "writer.h"

struct score_job {
    struct scores *sc;
    uv_work_t work;
    uint64_t number;
    int64_t t0;
    /* The run's computing (run.h): its audiences, counts and results. */
    struct score_work w;
    /* The configured audiences (copied: a reload may free the config). */
    struct score_named *named;
    char *thread;            /* a requested thread:ID, or NULL */
    struct score_kept *kept; /* per audience; id NULL when not kept */
    size_t keeping;          /* the next audience to keep */
    int retire_done;
    int64_t t_keep; /* when the keeping began (monotonic ms) */
    size_t commits; /* the keeping's commits */
    size_t failed, retired;
    size_t unkeepable; /* of failed: an id no key can be (keep.h) */
    int rc;
};

static void job_free(struct score_job *j)
{
    for (size_t i = 0; i < j->w.nnamed; i++) {
        free((char *)j->named[i].name);
        free((char *)j->named[i].match);
    }
    free(j->named);
    if (j->kept)
        for (size_t i = 0; i < j->w.naud; i++)
            score_kept_free(&j->kept[i]);
    free(j->kept);
    free(j->thread);
    score_work_free(&j->w);
    free(j);
}

/* ---- the work thread ---- */

static int cancelled(void *arg)
{
    struct score_job *j = arg;
    return atomic_load(&j->sc->cancel);
}

/* Each audience's document, made at once into the rows the store keeps:
 * only the rows' text is held until the writer keeps them (a document's
 * JSON is several times their size). */
static int keep_doc(void *arg, size_t i, json_t *doc, const struct score_build *b)
{
    struct score_job *j = arg;
    if (!j->kept) /* the first document: the audiences are chosen */
        j->kept = xcalloc(j->w.naud ? j->w.naud : 1, sizeof *j->kept);
    if (!doc) {
        j->failed++;
        return 0;
    }
    if (score_kept_make(doc, &j->kept[i]) != 0) {
        j->failed++;
        j->unkeepable++;
    }
    json_decref(doc);
    return 0;
}

static void run_work(uv_work_t *wk)
{
    struct score_job *j = wk->data;
    j->rc = score_work_run(&j->w);
    if (!j->kept) /* no document was made */
        j->kept = xcalloc(j->w.naud ? j->w.naud : 1, sizeof *j->kept);
}

/* ---- keeping the documents, and the run's end ---- */

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
                   "up to seq %llu in %lld ms (keeping them: %lld ms in %zu commit(s))",
                   (unsigned long long)j->number, j->w.naud - j->failed, j->w.records,
                   j->w.contacts, (unsigned long long)j->w.upto, (long long)ms,
                   (long long)((int64_t)util_monotonic_ms() - j->t_keep), j->commits);
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
     * forever: they go, with the first audience kept. */
    if (!j->retire_done)
        rc = score_retire(st, txn, still_computed, j, &j->retired);
    /* A contact erased while the run computed is in its rows (the erasure
     * deleted the kept rows, not these): it is left out here. */
    if (rc == 0 && j->keeping < j->w.naud && j->kept[j->keeping].id)
        rc = score_kept_put(st, txn, &j->kept[j->keeping], 1, NULL);
    return rc;
}

/* The next audience with rows to keep, from j->keeping. */
static size_t next_kept(struct score_job *j, size_t from)
{
    while (from < j->w.naud && !j->kept[from].id)
        from++;
    return from;
}

static void keep_next(struct score_job *j);

static void keep_done(struct write_item *it)
{
    struct score_job *j = it->arg;
    int status = it->status;
    write_item_free(it);
    if (status) {
        log_err("scores: run %llu: cannot keep the scores of %s: %s", (unsigned long long)j->number,
                j->keeping < j->w.naud ? j->w.auds[j->keeping].id : "(none)",
                kanal_strerror(status));
        job_end(j, 0);
        return;
    }
    j->retire_done = 1;
    j->commits++;
    if (j->keeping < j->w.naud)
        score_kept_free(&j->kept[j->keeping]); /* kept: its memory goes now */
    j->keeping = next_kept(j, j->keeping + 1);
    if (j->keeping >= j->w.naud) {
        job_end(j, 1);
        return;
    }
    keep_next(j); /* j may be freed within (the writer stopped): last */
}

/* One write_item per audience, submitted when the one before has
 * committed, so that the writer commits what came in between. */
static void keep_next(struct score_job *j)
{
    struct write_item *it = xcalloc(1, sizeof *it);
    it->apply = apply_keep;
    it->done = keep_done;
    it->arg = j;
    writer_submit(j->sc->writer, it);
}

static void after_work(uv_work_t *w, int status)
{
    struct score_job *j = w->data;
    struct scores *sc = j->sc;
    if (status == UV_ECANCELED || atomic_load(&sc->cancel) || j->rc == -ECANCELED) {
        log_notice("scores: run %llu stopped: kanald is stopping", (unsigned long long)j->number);
        job_end(j, 0);
        return;
    }
    if (j->rc) {
        log_err("scores: run %llu failed reading the store: %s", (unsigned long long)j->number,
                kanal_strerror(j->rc < 0 ? j->rc : store_err(j->rc)));
        job_end(j, 0);
        return;
    }
    if (j->w.bad)
        log_warn("scores: run %llu skipped %zu record(s) it could not read",
                 (unsigned long long)j->number, j->w.bad);
    j->keeping = next_kept(j, 0);
    j->t_keep = (int64_t)util_monotonic_ms();
    keep_next(j); /* the first also retires: even when no audience is kept */
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
    j->w.each = keep_doc;
    j->w.arg = j;
    j->work.data = j;
    int rc = uv_queue_work(sc->loop, &j->work, run_work, after_work);
    if (rc) {
        log_err("scores: cannot queue a run: %s", uv_strerror(rc));
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
    if (!uv_is_closing((uv_handle_t *)&sc->timer))
        uv_close((uv_handle_t *)&sc->timer, NULL);
}

int scores_busy(const struct scores *sc)
{
    return sc->job != NULL;
}
