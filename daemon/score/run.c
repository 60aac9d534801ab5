/* SPDX-License-Identifier: Apache-2.0 */
/* A scoring run's computing (run.h): two passes over the log, each in
 * chunks of short read transactions (score_scan_run):
 *   1. find the audiences present in the records (sources, channels,
 *      campaigns, events: with each event's participants and dates),
 *      each record's few fields read from its text (peek.h);
 *   2. feed every record once to the builder of each audience it is in.
 * Then each audience's document, the smallest graphs first. */
#include "run.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "build.h"
#include "collect.h"
#include "contacts.h"
#include "feedbatch.h"
#include "keep.h"
#include "log.h"
#include "peek.h"
#include "result.h"
#include "store.h"
#include "util.h"

static int stop(struct score_work *w)
{
    return w->cancelled && w->cancelled(w->arg);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The store as the run's people (build.h) see it: the chunk's read
 * transaction, set before each record is read. */
struct snap {
    struct store *st;
    MDB_txn *txn;
    char cur[64], cid[64];
};

static const char *snap_current(void *arg, const char *cid)
{
    struct snap *s = arg;
    return contacts_follow(s->st, s->txn, cid, s->cur, sizeof s->cur) == 0 ? s->cur : NULL;
}

static const char *snap_of_handle(void *arg, const char *handle)
{
    struct snap *s = arg;
    return contacts_of_handle(s->st, s->txn, handle, s->cid, sizeof s->cid) == 0 ? s->cid : NULL;
}

/* ---- the first pass: the values each built-in prefix takes ---- */

struct found {
    struct score_work *w;
    json_t *sets[4]; /* source, channel, campaign, event: value -> true */
    struct score_people *people;
    struct snap *snap;
};

static const char *const found_prefix[4] = {"source:", "channel:", "campaign:", "event:"};

static void widen_span(json_t *e, const char *key, int64_t at, int later)
{
    json_t *v = json_object_get(e, key);
    if (!v || (later ? at > json_integer_value(v) : at < json_integer_value(v)))
        json_object_set_new(e, key, json_integer(at));
}

/* An event's record: its contact takes part, and its times (the record's,
 * and the event's start when given) widen the event's span.  v: the
 * record's fields (peek.h's). */
static void note_event(struct found *f, MDB_txn *txn, const char *id, const char *const *v)
{
    json_t *e = json_object_get(f->w->events, id);
    if (!e) {
        if (json_object_size(f->w->events) > (size_t)f->w->max_audiences)
            return;
        e = json_pack("{s:o}", "contacts", json_object());
        json_object_set_new(f->w->events, id, e);
    }
    const char *cid = v[PEEK_CONTACT];
    /* Its current contact, resolved once for the run (the people's). */
    f->snap->txn = txn;
    uint32_t live = cid ? score_people_contact(f->people, cid) : SCORE_PID_NONE;
    if (live != SCORE_PID_NONE)
        json_object_set_new(json_object_get(e, "contacts"), f->people->names[live], json_true());
    const char *times[2] = {v[PEEK_OCCURRED_AT], v[PEEK_EVENT_STARTS_AT]};
    for (int i = 0; i < 2; i++) {
        int64_t at;
        if (times[i] && util_parse_time(times[i], &at) == 0) {
            widen_span(e, "from", at, 0);
            widen_span(e, "to", at, 1);
        }
    }
}

static int is_own(const char *kind)
{
    return kind && strcmp(kind, "merge") && strcmp(kind, "split") && strcmp(kind, "erase");
}

static void find_fields(struct found *f, MDB_txn *txn, const char *const *v)
{
    if (!is_own(v[PEEK_KIND]))
        return;
    const char *set[4] = {v[PEEK_SOURCE], v[PEEK_CHANNEL], v[PEEK_CAMPAIGN], v[PEEK_EVENT_ID]};
    /* Each set is bounded: what would be left out anyway is not kept. */
    size_t cap = (size_t)f->w->max_audiences + 1;
    for (int i = 0; i < 4; i++)
        if (set[i] && *set[i] && json_object_size(f->sets[i]) < cap &&
            !json_object_get(f->sets[i], set[i]))
            json_object_set_new(f->sets[i], set[i], json_true());
    if (set[3] && *set[3])
        note_event(f, txn, set[3], v);
}

/* Most records are read from their text (score_peek): parsing each into a
 * json_t was most of this pass.  The rest are parsed (find_each). */
static int find_peek(void *arg, MDB_txn *txn, const char *text, size_t len)
{
    struct found *f = arg;
    struct score_peek p;
    if (score_peek(text, len, &p) != 0)
        return 0;
    f->w->peeked++;
    find_fields(f, txn, p.v);
    return 1;
}

static int find_each(void *arg, MDB_txn *txn, json_t *rec)
{
    json_t *ev = json_object_get(rec, "event");
    const char *v[PEEK_FIELDS] = {
        [PEEK_KIND] = json_string_value(json_object_get(rec, "kind")),
        [PEEK_SOURCE] = json_string_value(json_object_get(rec, "source")),
        [PEEK_CHANNEL] = json_string_value(json_object_get(rec, "channel")),
        [PEEK_CAMPAIGN] = json_string_value(json_object_get(rec, "campaign")),
        [PEEK_CONTACT] = json_string_value(json_object_get(rec, "contact")),
        [PEEK_OCCURRED_AT] = json_string_value(json_object_get(rec, "occurred_at")),
        [PEEK_EVENT_ID] = json_string_value(json_object_get(ev, "id")),
        [PEEK_EVENT_STARTS_AT] = json_string_value(json_object_get(ev, "starts_at")),
    };
    find_fields(arg, txn, v);
    return 0;
}

static int find_between(void *arg)
{
    return stop(((struct found *)arg)->w);
}

/* Add the audience (parsed, or named) to the run, or count it left out. */
static void add_audience(struct score_work *w, struct audience *a)
{
    for (size_t i = 0; i < w->naud; i++)
        if (strcmp(w->auds[i].id, a->id) == 0) {
            audience_free(a);
            return;
        }
    if ((int64_t)w->naud >= w->max_audiences) {
        w->left_out++;
        if (json_array_size(w->left_names) < 5)
            json_array_append_new(w->left_names, json_string(a->id));
        audience_free(a);
        return;
    }
    w->auds = xrealloc(w->auds, (w->naud + 1) * sizeof *w->auds);
    w->auds[w->naud++] = *a;
}

static void add_id(struct score_work *w, const char *id)
{
    struct audience a;
    if (audience_parse(id, &a) == 0)
        add_audience(w, &a);
}

/* Which audiences: all, the [audience NAME]s, a requested thread, then
 * the sources, channels, campaigns and events present, in that order
 * (each in id order) until max_audiences. */
static int choose_audiences(struct score_work *w, struct score_people *people, struct snap *snap)
{
    if (!w->only)
        add_id(w, "all");
    else
        add_id(w, w->only);
    for (size_t i = 0; i < w->nnamed; i++) {
        struct audience a;
        if ((!w->only || strcmp(w->only, w->named[i].name) == 0) &&
            audience_named(&a, w->named[i].name, w->named[i].match) == 0)
            add_audience(w, &a);
    }
    if (w->thread && !w->only)
        add_id(w, w->thread);
    struct found f = {.w = w, .people = people, .snap = snap};
    for (int i = 0; i < 4; i++)
        f.sets[i] = json_object();
    struct score_scan s = {.st = w->st,
                           .upto = w->upto,
                           .chunk = w->chunk,
                           .each = find_each,
                           .peek = w->no_peek ? NULL : find_peek,
                           .between = find_between,
                           .arg = &f};
    /* Alone, only an event's audience needs the first pass (whom and when
     * to widen it to). */
    int rc = w->only && strncmp(w->only, "event:", 6) != 0 ? 0 : score_scan_run(&s);
    for (int i = 0; i < 4; i++) {
        /* Sorted, so that which ones are left out does not depend on the
         * order the records came in. */
        size_t nk = json_object_size(f.sets[i]), n = 0;
        const char **sorted = xcalloc(nk ? nk : 1, sizeof *sorted);
        const char *k;
        json_t *x;
        json_object_foreach(f.sets[i], k, x) sorted[n++] = k;
        qsort(sorted, n, sizeof *sorted, cmp_str);
        for (size_t m = 0; !w->only && m < n; m++) {
            char id[AUDIENCE_ID_MAX + 32];
            snprintf(id, sizeof id, "%s%s", found_prefix[i], sorted[m]);
            add_id(w, id);
        }
        free(sorted);
        json_decref(f.sets[i]);
    }
    w->event_of = xcalloc(w->naud ? w->naud : 1, sizeof *w->event_of);
    for (size_t i = 0; i < w->naud; i++)
        if (w->auds[i].kind == AUDIENCE_EVENT &&
            (w->event_of[i] = json_object_get(w->events, w->auds[i].value)))
            w->nevents++;
    return rc;
}

/* ---- the second pass: every record to each audience it is in ---- */

/* An event audience's span: its records', event_window each side. */
struct around {
    int64_t from, to;
    int spans;
};

struct feed_all {
    struct score_work *w;
    struct score_build *b;
    /* The run's people: a record's contacts and handles are resolved once
     * (remembered for the run) and every audience's builder finds them by
     * number. */
    struct score_people *people;
    struct snap *snap;
    struct score_rec rec;    /* the record being read, read once */
    struct score_scan *scan; /* the second pass's (its prepared) */
    struct score_pool pool;  /* a record's parties, read here */
    struct score_feed feed;  /* the records read, fed a batch at a time */
    struct around *around;   /* per audience (events' only) */
    /* Each participant's event audiences: pid p's are
     * ev_aud[ev_start[p], ev_start[p + 1]) (pids below ev_n). */
    size_t *ev_start;
    uint32_t *ev_aud, ev_n;
    /* The audiences the record being fed widens: stamp[i] == fed. */
    size_t *stamp, fed;
};

/* Each event audience's span, and its participants' events by pid, from
 * the first pass's events: a record's author finds the events to widen by
 * number, not each event's participants by text. */
static void arounds(struct feed_all *f)
{
    struct score_work *w = f->w;
    f->around = xcalloc(w->naud ? w->naud : 1, sizeof *f->around);
    f->stamp = xcalloc(w->naud ? w->naud : 1, sizeof *f->stamp);
    size_t total = 0;
    for (size_t i = 0; i < w->naud; i++) {
        json_t *e = w->event_of[i], *c = json_object_get(e, "contacts");
        if (!e)
            continue;
        const char *id;
        json_t *x;
        json_object_foreach(c, id, x) score_people_intern(f->people, id);
        total += json_object_size(c);
        json_t *from = json_object_get(e, "from"), *to = json_object_get(e, "to");
        struct around *a = &f->around[i];
        if ((a->spans = from && to)) {
            a->from = json_integer_value(from) - w->event_window_ms;
            a->to = json_integer_value(to) + w->event_window_ms;
        }
    }
    /* Participants are interned: they all have pids below ev_n. */
    f->ev_n = f->people->n;
    f->ev_start = xcalloc((size_t)f->ev_n + 1, sizeof *f->ev_start);
    f->ev_aud = xmalloc((total ? total : 1) * sizeof *f->ev_aud);
    for (int fill = 0; fill < 2; fill++) {
        size_t *at = fill ? xmalloc(((size_t)f->ev_n + 1) * sizeof *at) : NULL;
        if (fill)
            memcpy(at, f->ev_start, ((size_t)f->ev_n + 1) * sizeof *at);
        for (size_t i = 0; i < w->naud; i++) {
            json_t *c = json_object_get(w->event_of[i], "contacts");
            const char *id;
            json_t *x;
            json_object_foreach(c, id, x)
            {
                uint32_t pid = score_people_intern(f->people, id);
                if (fill)
                    f->ev_aud[at[pid]++] = (uint32_t)i;
                else
                    f->ev_start[pid + 1]++;
            }
        }
        if (!fill)
            for (uint32_t p = 0; p < f->ev_n; p++)
                f->ev_start[p + 1] += f->ev_start[p];
        free(at);
    }
}

/* Stamp the event audiences a record by author (a pid) at at widens: the
 * events author took part in, when it happened within event_window of
 * their span. */
static void around_events(struct feed_all *f, uint32_t author, int64_t at)
{
    if (author >= f->ev_n)
        return;
    for (size_t k = f->ev_start[author]; k < f->ev_start[author + 1]; k++) {
        const struct around *a = &f->around[f->ev_aud[k]];
        if (a->spans && at >= a->from && at <= a->to)
            f->stamp[f->ev_aud[k]] = f->fed;
    }
}

static int feed_each(void *arg, MDB_txn *txn, json_t *rec)
{
    struct feed_all *f = arg;
    struct score_work *w = f->w;
    f->snap->txn = txn;
    struct score_rec *r = &f->rec;
    /* Read ahead on the scan's reading thread, or here. */
    const struct score_pre *pre = f->scan->prepared;
    struct score_pre here;
    if (!pre) {
        score_pool_reset(&f->pool);
        score_pre_read(&here, rec, &f->pool);
        pre = &here;
    }
    score_rec_resolve(r, pre, f->people);
    f->fed++;
    /* What a contact did around an event widens the event's audience: its
     * author (the record's contact) and time, found once for every event
     * audience. */
    int own = is_own(pre->kind_name);
    if (w->nevents && own && r->has_contact && r->has_at)
        around_events(f, r->contact, r->at);
    /* The built-in audiences of one field are matched on the value read
     * once, not by audience_matches() reading the record again for each
     * of the (up to max_audiences) audiences. */
    const char *field[AUDIENCE_NAMED + 1] = {
        [AUDIENCE_SOURCE] = pre->source,
        [AUDIENCE_CHANNEL] = pre->channel,
        [AUDIENCE_CAMPAIGN] = pre->campaign,
        [AUDIENCE_EVENT] = pre->event_id,
    };
    /* Which builders take it: fed with the rest of the batch (feedbatch.h). */
    uint8_t *act = score_feed_push(&f->feed, r);
    for (size_t i = 0; i < w->naud; i++) {
        const struct audience *a = &w->auds[i];
        int in;
        if (a->kind == AUDIENCE_ALL)
            in = own;
        else if (a->kind >= AUDIENCE_SOURCE && a->kind <= AUDIENCE_EVENT)
            in = own && field[a->kind] && strcmp(field[a->kind], a->value) == 0;
        else
            in = audience_matches(a, rec, w->now_ms);
        if (in || f->stamp[i] == f->fed)
            act[i] = SCORE_FEED_ADD;
        else if (r->by_brand)
            act[i] = SCORE_FEED_NOTE; /* the brand's answers, wherever given */
    }
    return 0;
}

static int feed_between(void *arg)
{
    score_feed_flush(&((struct feed_all *)arg)->feed);
    /* The builders' arrays grow by doubling: the blocks they leave are
     * given back to the system between two chunks, not kept as the
     * process's memory for the rest of the run. */
    malloc_trim(0);
    return stop(((struct feed_all *)arg)->w);
}

/* On the reading thread, from the record's text: what needs no people. */
static int feed_prepare(const char *text, size_t len, void *out, struct score_pool *pool)
{
    return score_pre_scan(out, text, len, pool);
}

/* The reading thread's pacing (score_scan.pace): as the run's own. */
static int feed_pace(void *arg)
{
    return stop(((struct feed_all *)arg)->w);
}

/* An event audience's document says whom and which time it was widened
 * to: the participants, and the span (with event_window each side). */
static void describe_event(struct score_work *w, size_t i, json_t *doc)
{
    json_t *e = w->event_of[i];
    if (!e || !json_object_get(e, "from") || !json_object_get(e, "to"))
        return;
    char from[32], to[32];
    util_format_time(json_integer_value(json_object_get(e, "from")) - w->event_window_ms, from,
                     sizeof from);
    util_format_time(json_integer_value(json_object_get(e, "to")) + w->event_window_ms, to,
                     sizeof to);
    json_object_set_new(doc, "event",
                        json_pack("{s:I,s:s,s:s}", "participants",
                                  (json_int_t)json_object_size(json_object_get(e, "contacts")),
                                  "from", from, "to", to));
}

/* qsort has no argument: the graphs being ordered (one run at a time per
 * thread). */
static _Thread_local const struct score_build *sort_by_size;

static int smaller_graph(const void *a, const void *b)
{
    const struct score_build *x = &sort_by_size[*(const size_t *)a];
    const struct score_build *y = &sort_by_size[*(const size_t *)b];
    size_t sx = (x->graphed ? x->raw_edges : x->edges.n) + x->nnodes;
    size_t sy = (y->graphed ? y->raw_edges : y->edges.n) + y->nnodes;
    if (sx != sy)
        return sx < sy ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* An audience being made into rows: they go to k; drain, when set, is
 * waited for once the measures are computed and before the first row. */
struct making {
    struct score_kept k;
    struct score_work *drain;
};

static void kept_row(void *arg, const struct score_row_text *row)
{
    score_kept_text(&((struct making *)arg)->k, row);
}

static void rows_ready(void *arg)
{
    struct making *m = arg;
    if (m->drain && m->drain->drained)
        m->drain->drained(m->drain->arg); /* the large one before it kept, its rows freed */
}

/* Audience i made into the rows the store keeps, a row at a time (the
 * document is never whole), handed to w->kept; with wait, its rows are
 * made once those handed before are kept (its measures computed
 * meanwhile). */
static int make_kept(struct score_work *w, size_t i, const struct score_build *b, const char *at,
                     int wait)
{
    struct making m = {.drain = wait ? w : NULL};
    int status = score_kept_begin(&m.k, w->auds[i].id);
    m.k.rc = status; /* an id no key can be: computed all the same, not kept */
    json_t *sum = score_result_text_when(w->auds[i].id, w->upto, b, rows_ready, kept_row, &m);
    if (!sum) {
        score_kept_free(&m.k);
        status = -EDOM;
    } else {
        json_object_set_new(sum, "computed_at", json_string(at));
        describe_event(w, i, sum);
        status = score_kept_end(&m.k, sum);
        json_decref(sum);
    }
    return w->kept(w->arg, i, status == 0 ? &m.k : NULL, status);
}

/* The documents being made: the next in order, and the first failure. */
struct docs {
    struct score_work *w;
    struct score_build *b;
    const size_t *order;
    const uint8_t *big; /* per audience: one of the largest */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next;
    int rc, big_on; /* a large one is being made */
    char at[32];
};

/* Make the next audience's document until none is left or one failed. */
static void *docs_main(void *arg)
{
    struct docs *d = arg;
    struct score_work *w = d->w;
    for (;;) {
        pthread_mutex_lock(&d->mu);
        /* Two of the largest are never made at once, nor one's rows
         * beside another's not yet kept (make_kept waits, its measures
         * computed): together they would be the run's peak (bench/score
         * at 1M records: 325 MB, 280 without). */
        while (!d->rc && d->next < w->naud && d->big[d->order[d->next]] && d->big_on)
            pthread_cond_wait(&d->cv, &d->mu);
        if (d->rc || d->next == w->naud) {
            pthread_mutex_unlock(&d->mu);
            return NULL;
        }
        size_t i = d->order[d->next++];
        if (d->big[i])
            d->big_on = 1;
        pthread_mutex_unlock(&d->mu);
        int rc = stop(w) ? -ECANCELED : 0;
        if (rc == 0 && w->kept) {
            rc = make_kept(w, i, &d->b[i], d->at, d->big[i]);
        } else if (rc == 0) {
            json_t *doc = score_result(w->auds[i].id, w->upto, &d->b[i]);
            if (doc) {
                json_object_set_new(doc, "computed_at", json_string(d->at));
                describe_event(w, i, doc);
            }
            rc = w->each(w->arg, i, doc, &d->b[i]);
        }
        score_build_free(&d->b[i]);
        malloc_trim(0); /* its graph and document */
        pthread_mutex_lock(&d->mu);
        if (rc && !d->rc)
            d->rc = rc;
        if (d->big[i])
            d->big_on = 0;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
    }
}

/* The documents, the smallest graphs first (when kept, the largest ones
 * each after one of the smallest): when the largest audience's document
 * (all's) is made, the other graphs are gone, so the peak is not every
 * graph and the largest document.  Every graph is trimmed first (its
 * maps freed: they only serve feeding). */
static int make_documents(struct score_work *w, struct score_build *b)
{
    size_t *order = xcalloc(w->naud ? w->naud : 1, sizeof *order);
    for (size_t i = 0; i < w->naud; i++) {
        order[i] = i;
        score_build_trim(&b[i]);
    }
    malloc_trim(0); /* the maps just freed */
    sort_by_size = b;
    qsort(order, w->naud, sizeof *order, smaller_graph);
    /* Every graph made first, the smallest first, each audience's edges
     * as fed freed as soon as its graph holds them merged: the largest
     * audiences, made last, are then made beside the others' merged
     * edges, not beside every edge each one was fed.  Only when the rows
     * are kept: w->each is handed the builder with its edges as fed. */
    for (size_t k = 0; w->kept && k < w->naud; k++) {
        score_build_graph(&b[order[k]]); /* on an error, make() says it */
        malloc_trim(0);
    }
    /* When the rows are kept, the largest audiences (up to 8) each made
     * after one of the smallest: an audience made waits while the one
     * before is kept, so two large ones in a row meant both one's rows
     * and the other's rows and dirty pages at once (bench/score at 1M
     * records: 350 -> 281 MB peak). */
    size_t big = !w->kept ? 0 : w->naud / 3 < 8 ? w->naud / 3 : 8;
    uint8_t *is_big = xcalloc(w->naud ? w->naud : 1, 1);
    for (size_t k = 0; k < big; k++)
        is_big[order[w->naud - 1 - k]] = 1;
    if (big) {
        size_t *o2 = xcalloc(w->naud, sizeof *o2), next = 0;
        for (size_t k = big; k < w->naud - big; k++)
            o2[next++] = order[k];
        for (size_t k = 0; k < big; k++) {
            o2[next++] = order[k];
            o2[next++] = order[w->naud - big + k];
        }
        memcpy(order, o2, w->naud * sizeof *order);
        free(o2);
    }
    struct docs d = {.w = w, .b = b, .order = order, .big = is_big};
    util_format_time(w->now_ms, d.at, sizeof d.at);
    pthread_mutex_init(&d.mu, NULL);
    pthread_cond_init(&d.cv, NULL);
    /* When the rows are kept, a second thread makes documents beside this
     * one (each audience's graph and builder are its own; the people and
     * the work are only read): the keeping's commits, on the writer, then
     * overlap two audiences being made, not one. */
    pthread_t second;
    int two = w->kept && w->naud > 1 && w->threads > 1 &&
              pthread_create(&second, NULL, docs_main, &d) == 0;
    docs_main(&d);
    if (two)
        pthread_join(second, NULL);
    /* What a stopped or failed run did not make is freed here. */
    for (size_t k = d.next; k < w->naud; k++)
        score_build_free(&b[order[k]]);
    pthread_mutex_destroy(&d.mu);
    pthread_cond_destroy(&d.cv);
    free(is_big);
    free(order);
    return d.rc;
}

int score_threads_default(void)
{
    return sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 2 : 1;
}

void score_work_defaults(struct score_work *w)
{
    w->half_life_ms = SCORE_HALF_LIFE_DEFAULT_MS;
    w->event_window_ms = SCORE_EVENT_WINDOW_DEFAULT_MS;
    w->max_audiences = SCORE_MAX_AUDIENCES_DEFAULT;
    score_params_default(&w->params);
    w->threads = score_threads_default();
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_once(struct score_work *w)
{
    double t0 = seconds(), t1, t2, t3;
    w->left_names = json_array();
    w->events = json_object();
    /* The run's people, resolved in each chunk's snapshot, once. */
    struct snap snap = {.st = w->st};
    struct score_resolver res = {snap_current, snap_of_handle, &snap};
    struct score_people people;
    score_people_init(&people, &res, 1);
    int rc = choose_audiences(w, &people, &snap);
    if (rc) {
        score_people_free(&people);
        return rc;
    }
    t1 = seconds();
    struct feed_all f = {.w = w, .people = &people, .snap = &snap};
    arounds(&f);
    f.b = xcalloc(w->naud ? w->naud : 1, sizeof *f.b);
    for (size_t i = 0; i < w->naud; i++) {
        score_build_init_people(&f.b[i], w->now_ms, w->half_life_ms, &people);
        f.b[i].params = w->params;
    }
    score_feed_init(&f.feed, f.b, w->naud, w->threads);
    struct score_scan s = {.st = w->st,
                           .upto = w->upto,
                           .chunk = w->chunk,
                           .each = feed_each,
                           .between = feed_between,
                           .arg = &f,
                           /* Parsing the records was half of this pass's
                            * one thread: it goes on ahead on another. */
                           .ahead = w->threads > 1,
                           .pace = feed_pace,
                           .prepare_size = sizeof(struct score_pre)};
    /* Records read from their text need no parse, as long as no audience
     * is matched on the whole record (an [audience NAME], a thread). */
    int all_builtin = 1;
    for (size_t i = 0; i < w->naud; i++)
        all_builtin &= w->auds[i].kind <= AUDIENCE_EVENT;
    if (all_builtin)
        s.prepare = feed_prepare;
    f.scan = &s;
    rc = score_scan_run(&s);
    score_feed_flush(&f.feed); /* the last chunk's */
    w->records = s.records;
    w->bad += s.bad + f.feed.bad;
    score_feed_free(&f.feed);
    /* A record the first pass read from its text but that is not JSON
     * (jsonin refuses it here): the audiences may have counted it, as a
     * parse would not have.  The run is made again with every record of
     * the first pass parsed. */
    if (rc == 0 && s.bad && w->peeked)
        rc = -EAGAIN;
    score_rec_free(&f.rec);
    score_pool_free(&f.pool);
    free(f.around);
    free(f.stamp);
    free(f.ev_start);
    free(f.ev_aud);
    /* The snapshot is gone. */
    for (size_t i = 0; i < w->naud; i++)
        f.b[i].res = (struct score_resolver){0};
    score_people_done(&people);
    if (rc == 0 && w->naud && strcmp(w->auds[0].id, "all") == 0)
        w->contacts = f.b[0].nnodes - 1; /* every contact met, less the brand */
    t2 = seconds();
    /* Each contact's value from the CRM, as the store holds it now. */
    for (size_t i = 0; rc == 0 && i < w->naud; i++)
        rc = score_crm_values(w->st, &f.b[i]);
    t3 = seconds();
    if (rc == 0)
        rc = make_documents(w, f.b);
    else
        for (size_t i = 0; i < w->naud; i++)
            score_build_free(&f.b[i]);
    free(f.b);
    score_people_free(&people); /* the graphs' ids: after the last document */
    /* Where a run's time goes, for whoever profiles one. */
    log_debug("scores: run of %zu records, %zu audiences: finding the audiences %.2f s, reading "
              "the records into their graphs %.2f s, CRM values %.2f s, documents %.2f s",
              w->records, w->naud, t1 - t0, t2 - t1, t3 - t2, seconds() - t3);
    return rc;
}

int score_work_run(struct score_work *w)
{
    w->peeked = 0;
    int rc = run_once(w);
    if (rc == -EAGAIN && !w->no_peek) {
        log_info("scores: %zu of the log's records are not JSON: the audiences found again with "
                 "every record parsed",
                 w->bad);
        score_work_free(w);
        w->left_out = w->nevents = w->bad = w->records = w->contacts = w->peeked = 0;
        w->no_peek = 1;
        rc = run_once(w);
        w->no_peek = 0;
    }
    return rc;
}

void score_work_free(struct score_work *w)
{
    for (size_t i = 0; i < w->naud; i++)
        audience_free(&w->auds[i]);
    free(w->auds);
    free(w->event_of);
    json_decref(w->left_names);
    json_decref(w->events);
    w->auds = NULL;
    w->event_of = NULL;
    w->left_names = w->events = NULL;
    w->naud = 0;
}
