/* SPDX-License-Identifier: Apache-2.0 */
/* Scoring runs (scores.h).  A run has three steps:
 *   1. on the loop: take the audiences configured and the seq to read up
 *      to, and queue the work;
 *   2. on a libuv work thread: find the audiences present in the records
 *      (sources, channels, campaigns, events: with each event's
 *      participants and dates), then feed every record once to the builder
 *      of each audience it belongs to (an event's also takes what its
 *      participants did around it), and make each audience's document
 *      (result.h), made at once into the rows the store keeps (keep.h:
 *      serialized, the ranks of each order sorted) and freed, so that no
 *      two audiences' documents are held; no transaction is held between
 *      two chunks of the log, so the writer can grow the map meanwhile;
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
#include "build.h"
#include "collect.h"
#include "config.h"
#include "contacts.h"
#include "error.h"
#include "keep.h"
#include "log.h"
#include "result.h"
#include "store.h"
#include "util.h"
#include "writer.h"

struct score_job {
    struct scores *sc;
    uv_work_t work;
    uint64_t number, upto;
    int64_t now_ms, half_life_ms, max_audiences, event_window_ms, t0;
    struct score_params params; /* the score_* thresholds */
    /* The configured audiences (copied: a reload may free the config). */
    struct config_audience *named;
    size_t nnamed;
    char *thread; /* a requested thread:ID, or NULL */
    /* Made by the work thread. */
    struct audience *auds;
    size_t naud, left_out;
    json_t *left_names; /* the first audiences left out, for the log */
    /* event id -> {"contacts": {id: true}, "from": ms, "to": ms}: who took
     * part in each event and when it happened (the first pass) */
    json_t *events;
    json_t **event_of;       /* per audience: its events entry (event: ones), else NULL */
    size_t nevents;          /* audiences with an entry */
    struct score_kept *kept; /* per audience; id NULL when not kept */
    size_t keeping;          /* the next audience to keep */
    int retire_done;
    int64_t t_keep;    /* when the keeping began (monotonic ms) */
    size_t commits;    /* the keeping's commits */
    uint64_t erasures; /* the store's count when the run started */
    size_t records, contacts, bad, failed, retired;
    size_t unkeepable; /* of failed: an id no key can be (keep.h) */
    int rc;
};

static void job_free(struct score_job *j)
{
    for (size_t i = 0; i < j->nnamed; i++) {
        free(j->named[i].name);
        free(j->named[i].match);
    }
    free(j->named);
    for (size_t i = 0; i < j->naud; i++) {
        audience_free(&j->auds[i]);
        if (j->kept)
            score_kept_free(&j->kept[i]);
    }
    free(j->auds);
    free(j->kept);
    free(j->thread);
    json_decref(j->left_names);
    json_decref(j->events);
    free(j->event_of);
    free(j);
}

/* ---- the work thread ---- */

static int cancelled(void *arg)
{
    struct score_job *j = arg;
    return atomic_load(&j->sc->cancel);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first pass: the values each built-in prefix takes in the records. */
struct found {
    struct score_job *j;
    json_t *sets[4]; /* source, channel, campaign, event: value -> true */
};

static const char *const found_prefix[4] = {"source:", "channel:", "campaign:", "event:"};

static void widen_span(json_t *e, const char *key, int64_t at, int later)
{
    json_t *v = json_object_get(e, key);
    if (!v || (later ? at > json_integer_value(v) : at < json_integer_value(v)))
        json_object_set_new(e, key, json_integer(at));
}

/* An event's record: its contact takes part, and its times (the record's,
 * and the event's start when given) widen the event's span. */
static void note_event(struct found *f, MDB_txn *txn, const char *id, json_t *rec)
{
    json_t *e = json_object_get(f->j->events, id);
    if (!e) {
        if (json_object_size(f->j->events) > (size_t)f->j->max_audiences)
            return;
        e = json_pack("{s:o}", "contacts", json_object());
        json_object_set_new(f->j->events, id, e);
    }
    const char *cid = json_string_value(json_object_get(rec, "contact"));
    char live[64];
    if (cid && contacts_follow(f->j->sc->store, txn, cid, live, sizeof live) == 0)
        json_object_set_new(json_object_get(e, "contacts"), live, json_true());
    const char *times[2] = {
        json_string_value(json_object_get(rec, "occurred_at")),
        json_string_value(json_object_get(json_object_get(rec, "event"), "starts_at"))};
    for (int i = 0; i < 2; i++) {
        int64_t at;
        if (times[i] && util_parse_time(times[i], &at) == 0) {
            widen_span(e, "from", at, 0);
            widen_span(e, "to", at, 1);
        }
    }
}

static int find_each(void *arg, MDB_txn *txn, json_t *rec)
{
    struct found *f = arg;
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    if (!kind || !strcmp(kind, "merge") || !strcmp(kind, "split") || !strcmp(kind, "erase"))
        return 0;
    const char *v[4] = {
        json_string_value(json_object_get(rec, "source")),
        json_string_value(json_object_get(rec, "channel")),
        json_string_value(json_object_get(rec, "campaign")),
        json_string_value(json_object_get(json_object_get(rec, "event"), "id")),
    };
    /* Each set is bounded: what would be left out anyway is not kept. */
    size_t cap = (size_t)f->j->max_audiences + 1;
    for (int i = 0; i < 4; i++)
        if (v[i] && *v[i] && json_object_size(f->sets[i]) < cap)
            json_object_set_new(f->sets[i], v[i], json_true());
    if (v[3] && *v[3])
        note_event(f, txn, v[3], rec);
    return 0;
}

static int find_between(void *arg)
{
    return cancelled(((struct found *)arg)->j);
}

/* Add the audience id (parsed, or named) to the run, or count it left out. */
static void add_audience(struct score_job *j, struct audience *a)
{
    for (size_t i = 0; i < j->naud; i++)
        if (strcmp(j->auds[i].id, a->id) == 0) {
            audience_free(a);
            return;
        }
    if ((int64_t)j->naud >= j->max_audiences) {
        j->left_out++;
        if (json_array_size(j->left_names) < 5)
            json_array_append_new(j->left_names, json_string(a->id));
        audience_free(a);
        return;
    }
    j->auds = xrealloc(j->auds, (j->naud + 1) * sizeof *j->auds);
    j->auds[j->naud++] = *a;
}

static void add_id(struct score_job *j, const char *id)
{
    struct audience a;
    if (audience_parse(id, &a) == 0)
        add_audience(j, &a);
}

/* Which audiences: all, the [audience NAME]s, a requested thread, then
 * the sources, channels, campaigns and events present, in that order
 * (each in id order) until score_max_audiences. */
static int choose_audiences(struct score_job *j)
{
    add_id(j, "all");
    for (size_t i = 0; i < j->nnamed; i++) {
        struct audience a;
        if (audience_named(&a, j->named[i].name, j->named[i].match) == 0)
            add_audience(j, &a);
    }
    if (j->thread)
        add_id(j, j->thread);
    struct found f = {.j = j};
    for (int i = 0; i < 4; i++)
        f.sets[i] = json_object();
    struct score_scan s = {.st = j->sc->store,
                           .upto = j->upto,
                           .chunk = j->sc->chunk,
                           .each = find_each,
                           .between = find_between,
                           .arg = &f};
    int rc = score_scan_run(&s);
    for (int i = 0; i < 4; i++) {
        /* Sorted, so that which ones are left out does not depend on the
         * order the records came in. */
        json_t *keys = json_array();
        const char *k;
        json_t *x;
        json_object_foreach(f.sets[i], k, x) json_array_append_new(keys, json_string(k));
        size_t nk = json_array_size(keys);
        const char **sorted = xcalloc(nk ? nk : 1, sizeof *sorted);
        for (size_t n = 0; n < nk; n++)
            sorted[n] = json_string_value(json_array_get(keys, n));
        qsort(sorted, nk, sizeof *sorted, cmp_str);
        for (size_t n = 0; n < nk; n++) {
            char id[AUDIENCE_ID_MAX + 32];
            snprintf(id, sizeof id, "%s%s", found_prefix[i], sorted[n]);
            add_id(j, id);
        }
        free(sorted);
        json_decref(keys);
        json_decref(f.sets[i]);
    }
    j->event_of = xcalloc(j->naud ? j->naud : 1, sizeof *j->event_of);
    for (size_t i = 0; i < j->naud; i++)
        if (j->auds[i].kind == AUDIENCE_EVENT &&
            (j->event_of[i] = json_object_get(j->events, j->auds[i].value)))
            j->nevents++;
    return rc;
}

/* The second pass: every record to the builder of each audience it is in. */
struct feed_all {
    struct score_job *j;
    struct score_build *b;
    MDB_txn *txn; /* the chunk's */
    /* What the run has resolved: contact id -> its current contact, and
     * handle -> its contact (JSON null: none).  A record is fed to every
     * audience it is in, each builder resolving its people again: read
     * and parsed once, a contact costs a lookup after that. */
    json_t *current, *handles;
};

/* Remember key's answer (buf, or none when !found) in cache. */
static const char *cached(json_t *cache, const char *key, const char *buf, int found)
{
    json_t *v = found ? json_string(buf) : json_null();
    json_object_set_new(cache, key, v);
    return json_string_value(v);
}

static const char *run_current(void *arg, const char *cid)
{
    struct feed_all *f = arg;
    json_t *v = json_object_get(f->current, cid);
    if (v)
        return json_string_value(v);
    char buf[64];
    int rc = contacts_follow(f->j->sc->store, f->txn, cid, buf, sizeof buf);
    return cached(f->current, cid, buf, rc == 0);
}

static const char *run_of_handle(void *arg, const char *handle)
{
    struct feed_all *f = arg;
    json_t *v = json_object_get(f->handles, handle);
    if (v)
        return json_string_value(v);
    char buf[64];
    int rc = contacts_of_handle(f->j->sc->store, f->txn, handle, buf, sizeof buf);
    return cached(f->handles, handle, buf, rc == 0);
}

/* 1 when rec, by a contact who took part in the event e, happened around
 * it: within score_event_window of the event's span. */
static int around_event(struct score_job *j, json_t *e, const char *author, int64_t at)
{
    if (!e || !author || !json_object_get(json_object_get(e, "contacts"), author))
        return 0;
    json_t *from = json_object_get(e, "from"), *to = json_object_get(e, "to");
    return from && to && at >= json_integer_value(from) - j->event_window_ms &&
           at <= json_integer_value(to) + j->event_window_ms;
}

static int feed_each(void *arg, MDB_txn *txn, json_t *rec)
{
    struct feed_all *f = arg;
    struct score_job *j = f->j;
    f->txn = txn;
    /* What a contact did around an event widens the event's audience: its
     * author and time, found once for every event audience. */
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    const char *cid = json_string_value(json_object_get(rec, "contact"));
    const char *occurred = json_string_value(json_object_get(rec, "occurred_at"));
    const char *author = NULL;
    int64_t at = 0;
    int can_widen = j->nevents && kind && strcmp(kind, "merge") && strcmp(kind, "split") &&
                    strcmp(kind, "erase") && cid && occurred &&
                    util_parse_time(occurred, &at) == 0 && (author = run_current(f, cid)) != NULL;
    /* The built-in audiences of one field are matched on the value read
     * once, not by audience_matches() reading the record again for each
     * of the (up to score_max_audiences) audiences. */
    int own = kind && strcmp(kind, "merge") && strcmp(kind, "split") && strcmp(kind, "erase");
    const char *field[AUDIENCE_NAMED + 1] = {
        [AUDIENCE_SOURCE] = json_string_value(json_object_get(rec, "source")),
        [AUDIENCE_CHANNEL] = json_string_value(json_object_get(rec, "channel")),
        [AUDIENCE_CAMPAIGN] = json_string_value(json_object_get(rec, "campaign")),
        [AUDIENCE_EVENT] = json_string_value(json_object_get(json_object_get(rec, "event"), "id")),
    };
    int brand = score_build_by_brand(rec);
    for (size_t i = 0; i < j->naud; i++) {
        const struct audience *a = &j->auds[i];
        int in;
        if (a->kind >= AUDIENCE_SOURCE && a->kind <= AUDIENCE_EVENT)
            in = own && field[a->kind] && strcmp(field[a->kind], a->value) == 0;
        else
            in = audience_matches(a, rec, j->now_ms);
        if (in || (can_widen && around_event(j, j->event_of[i], author, at))) {
            if (score_build_add(&f->b[i], rec) != 0)
                j->bad++;
        } else if (brand) {
            score_build_note(&f->b[i], rec); /* the brand's answers, wherever given */
        }
    }
    return 0;
}

static int feed_between(void *arg)
{
    return cancelled(((struct feed_all *)arg)->j);
}

/* An event audience's document says whom and which time it was widened
 * to: the participants, and the span (with score_event_window each side). */
static void describe_event(struct score_job *j, size_t i, json_t *doc)
{
    json_t *e = j->event_of[i];
    if (!e || !json_object_get(e, "from") || !json_object_get(e, "to"))
        return;
    char from[32], to[32];
    util_format_time(json_integer_value(json_object_get(e, "from")) - j->event_window_ms, from,
                     sizeof from);
    util_format_time(json_integer_value(json_object_get(e, "to")) + j->event_window_ms, to,
                     sizeof to);
    json_object_set_new(doc, "event",
                        json_pack("{s:I,s:s,s:s}", "participants",
                                  (json_int_t)json_object_size(json_object_get(e, "contacts")),
                                  "from", from, "to", to));
}

static void run_work(uv_work_t *w)
{
    struct score_job *j = w->data;
    j->rc = choose_audiences(j);
    if (j->rc)
        return;
    struct feed_all f = {.j = j, .current = json_object(), .handles = json_object()};
    struct score_resolver res = {run_current, run_of_handle, &f};
    f.b = xcalloc(j->naud, sizeof *f.b);
    for (size_t i = 0; i < j->naud; i++) {
        score_build_init(&f.b[i], j->now_ms, j->half_life_ms, &res);
        f.b[i].params = j->params;
    }
    struct score_scan s = {.st = j->sc->store,
                           .upto = j->upto,
                           .chunk = j->sc->chunk,
                           .each = feed_each,
                           .between = feed_between,
                           .arg = &f};
    j->rc = score_scan_run(&s);
    j->records = s.records;
    j->bad += s.bad;
    j->kept = xcalloc(j->naud ? j->naud : 1, sizeof *j->kept);
    for (size_t i = 0; i < j->naud; i++) {
        f.b[i].res = (struct score_resolver){0}; /* the snapshot is gone */
        if (j->rc == 0 && !cancelled(j)) {
            if (i == 0)
                j->contacts = f.b[0].nnodes - 1; /* "all": every contact met, less the brand */
            json_t *doc = score_result(j->auds[i].id, j->upto, &f.b[i]);
            if (!doc) {
                j->failed++;
            } else {
                char at[32];
                util_format_time(j->now_ms, at, sizeof at);
                json_object_set_new(doc, "computed_at", json_string(at));
                describe_event(j, i, doc);
                /* Only the rows' text is held until the writer keeps
                 * them: a document's JSON is several times their size. */
                if (score_kept_make(doc, &j->kept[i]) != 0) {
                    j->failed++;
                    j->unkeepable++;
                }
                json_decref(doc);
            }
        }
        score_build_free(&f.b[i]);
    }
    free(f.b);
    json_decref(f.current);
    json_decref(f.handles);
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
        sc->stats.last_seq = j->upto;
        sc->stats.last_audiences = j->naud - j->failed;
        sc->stats.last_left_out = j->left_out;
        log_notice("scores: run %llu kept %zu audience(s) over %zu record(s) and %zu contact(s) "
                   "up to seq %llu in %lld ms (keeping them: %lld ms in %zu commit(s))",
                   (unsigned long long)j->number, j->naud - j->failed, j->records, j->contacts,
                   (unsigned long long)j->upto, (long long)ms,
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
        if (j->left_out) {
            char *names = json_dumps(j->left_names, JSON_COMPACT);
            log_warn("scores: run %llu left %zu audience(s) out (score_max_audiences = %lld), "
                     "among them %s",
                     (unsigned long long)j->number, j->left_out, (long long)j->max_audiences,
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
    for (size_t i = 0; i < j->naud; i++)
        if (strcmp(j->auds[i].id, id) == 0)
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
    if (rc == 0 && j->keeping < j->naud && j->kept[j->keeping].id)
        rc = score_kept_put(st, txn, &j->kept[j->keeping], 1, NULL);
    return rc;
}

/* The next audience with rows to keep, from j->keeping. */
static size_t next_kept(struct score_job *j, size_t from)
{
    while (from < j->naud && !j->kept[from].id)
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
                j->keeping < j->naud ? j->auds[j->keeping].id : "(none)", kanal_strerror(status));
        job_end(j, 0);
        return;
    }
    j->retire_done = 1;
    j->commits++;
    if (j->keeping < j->naud)
        score_kept_free(&j->kept[j->keeping]); /* kept: its memory goes now */
    j->keeping = next_kept(j, j->keeping + 1);
    if (j->keeping >= j->naud) {
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
    if (j->bad)
        log_warn("scores: run %llu skipped %zu record(s) it could not read",
                 (unsigned long long)j->number, j->bad);
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
    j->upto = store_last_seq(sc->store);
    j->now_ms = util_now_ms();
    j->t0 = (int64_t)util_monotonic_ms();
    j->half_life_ms = cfg->score_half_life_ms;
    j->params = cfg->score;
    j->max_audiences = cfg->score_max_audiences;
    j->left_names = json_array();
    j->events = json_object();
    j->event_window_ms = cfg->score_event_window_ms;
    j->thread = thread ? xstrdup(thread) : NULL;
    j->named = xcalloc(cfg->naudiences ? cfg->naudiences : 1, sizeof *j->named);
    for (size_t i = 0; i < cfg->naudiences; i++) {
        j->named[i].name = xstrdup(cfg->audiences[i].name);
        j->named[i].match = xstrdup(cfg->audiences[i].match);
    }
    j->nnamed = cfg->naudiences;
    j->work.data = j;
    int rc = uv_queue_work(sc->loop, &j->work, run_work, after_work);
    if (rc) {
        log_err("scores: cannot queue a run: %s", uv_strerror(rc));
        job_free(j);
        return -EAGAIN;
    }
    sc->job = j;
    log_info("scores: run %llu started, reading up to seq %llu%s%s", (unsigned long long)j->number,
             (unsigned long long)j->upto, thread ? ", with " : "", thread ? thread : "");
    *started = json_pack("{s:I,s:I}", "run", (json_int_t)j->number, "seq", (json_int_t)j->upto);
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
