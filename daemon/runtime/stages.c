/* SPDX-License-Identifier: Apache-2.0 */
/* Pipeline stages: processors and sinks.
 *
 * A processor or sink is a struct kanal_source made from its section, so
 * that a plugin uses the same host functions (options, timers, transfers,
 * log) whatever role it serves; struct stage holds what only stages need.
 *
 * Processors run on the loop thread inside host emit, after the records
 * are normalized and before they are queued: config order, each seeing the
 * annotations of those before it.  A record is serialized once for all of
 * them and for the writer; annotations go into that text (annotext.c).
 * The loop cannot preempt a plugin, so the budget is checked after the
 * call: an overrun keeps the record without that annotation and is
 * counted, like an error or invalid JSON.
 *
 * Sinks read committed records from the store (a read transaction on the
 * loop, batch_max records at a time) only while fewer than max_inflight
 * seqs are delivered but unacknowledged: a stalled sink holds nothing but
 * its cursor, and ingest never waits for it.  Acks move the cursor at once
 * (ack = cluster answers, lag, the next delivery); the store gets it through
 * the writer at most every CURSOR_WRITE_MS (one write in flight per sink;
 * acks meanwhile are folded into the next), and when the sink stops: a
 * write per batch of acks was a writer wake-up, and often a commit of its
 * own, per few records.  After a crash the sink delivers again from the
 * stored cursor, which lags the acknowledged one by at most that much; what
 * it delivers twice is the sink's to de-duplicate (nats: the stream does,
 * by Nats-Msg-Id).  A failure rewinds delivery
 * to the cursor and retries after a backoff: nothing is skipped, so
 * delivery is at-least-once.
 *
 * ack = cluster: a source's answer waits until a sink's cursor passes the
 * seq of its records (host.c's emit_done asks stages_ack_wait).  Waiters
 * are kept per sink in seq order and released as the cursor moves; one
 * timer per sink, running only while some wait, expires them with
 * KANAL_EREPLICA after their ack_timeout: the records stay committed, the
 * provider retries, its retry is de-duplicated and waits again. */
#include "stages.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kanal/schema.h>

#include "annotext.h"
#include "error.h"
#include "http.h"
#include "jsonout.h"
#include "loader.h"
#include "log.h"
#include "record.h"
#include "source.h"
#include "stages_int.h"
#include "store.h"
#include "util.h"
#include "writer.h"

const char *const stages_fail_names[FAIL_N] = {"error", "invalid", "budget"};

static struct stage *stage_of(struct kanal_source *src)
{
    return src->stage;
}

/* ---- match = source:a,b channel:email kind:message ---- */

/* 1 when value is one of the comma-separated list [v, v + vl). */
static int in_csv(const char *v, size_t vl, const char *value)
{
    size_t n = strlen(value);
    while (vl) {
        size_t l = 0;
        while (l < vl && v[l] != ',')
            l++;
        if (l == n && strncmp(v, value, n) == 0)
            return 1;
        v += l;
        vl -= l;
        if (vl) {
            v++;
            vl--;
        }
    }
    return 0;
}

static int matches(const char *match, json_t *rec)
{
    if (!match)
        return 1;
    const char *p = match;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t wl = strcspn(p, " \t");
        const char *colon = memchr(p, ':', wl); /* checked at config load */
        char field[8] = {0};
        memcpy(field, p, (size_t)(colon - p) < sizeof field ? (size_t)(colon - p) : 7);
        const char *value = json_string_value(json_object_get(rec, field));
        if (!value || !in_csv(colon + 1, (size_t)(p + wl - colon - 1), value))
            return 0;
        p += wl;
    }
    return 1;
}

/* ---- processors ---- */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The annotation in out, in the store's form, added to the record's text:
 * as it is when it already is that form (annotext.c), else read, checked
 * and written the slow way; NULL, or why it cannot be kept (in err). */
static const char *add_annotation(struct kanal_source *src, struct annotext *t,
                                  const struct kanal_process_result *out, char *err, size_t err_len)
{
    const char *name = src->sc.name;
    if (record_check_annotation(name, json_null(), err, err_len) < 0)
        return err;
    if (annotext_canonical(out->annotation, out->annotation_len, KANAL_MAX_DEPTH - 2))
        return annotext_add(t, name, out->annotation, out->annotation_len) < 0 ? "out of memory"
                                                                               : NULL;
    json_error_t je;
    json_t *ann = json_loadb(out->annotation, out->annotation_len, JSON_DECODE_ANY, &je);
    if (!ann) {
        snprintf(err, err_len, "annotation is not JSON: %.100s", je.text);
        return err;
    }
    const char *why = err;
    if (record_check_annotation(name, ann, err, err_len) == 0) {
        size_t len;
        char *text = jsonout_dump(ann, &len); /* what the store could not keep */
        if (!text)
            snprintf(err, err_len, "annotation cannot be stored (a NUL in a string?)");
        else
            why = annotext_add(t, name, text, len) < 0 ? "out of memory" : NULL;
        free(text);
    }
    json_decref(ann);
    return why;
}

/* Run one processor over the record (rec, its text t): 1 to drop it, else
 * 0 (annotated or not). */
static int process_one(struct kanal_source *src, json_t *rec, struct annotext *t)
{
    struct stage *st = stage_of(src);
    struct kanal_process_result out = {.verdict = KANAL_PROCESS_PASS};
    int64_t t0 = mono_us();
    int r = src->plugin->process(src->state, t->p, t->len, &out);
    int64_t took_us = mono_us() - t0;
    st->seen++;
    const char *why = NULL;
    int reason = FAIL_INVALID;
    char err[160];
    if (r < 0) {
        reason = FAIL_ERROR;
        snprintf(err, sizeof err, "process failed: %s", kanal_strerror(r));
        why = err;
    } else if (took_us > src->sc.budget_ms * 1000) {
        reason = FAIL_BUDGET;
        snprintf(err, sizeof err, "took %lld us, over its budget of %lld ms", (long long)took_us,
                 (long long)src->sc.budget_ms);
        why = err;
    } else if (out.verdict == KANAL_PROCESS_DROP) {
        st->dropped++;
        log_msg(KANAL_LOG_DEBUG, src->sc.name, "dropped record %s",
                json_string_value(json_object_get(rec, "id")));
        return 1;
    } else if (out.annotation && out.annotation_len) {
        why = add_annotation(src, t, &out, err, sizeof err);
    }
    if (why) {
        st->failures[reason]++;
        log_msg(KANAL_LOG_WARNING, src->sc.name,
                "record %s kept without this processor's annotation: %s",
                json_string_value(json_object_get(rec, "id")), why);
    }
    return 0;
}

/* The record is serialized once, when a processor first matches it; each
 * processor sees that text with the annotations of those before it, and
 * the writer gets it as the record's stored form (wr->text, with ann_at
 * saying where the annotations are, which rec itself does not hold). */
void stages_process(struct source_set *set, struct write_item *item, size_t **kept)
{
    *kept = NULL;
    if (!set->nprocs || !item->nrecs)
        return;
    size_t n = item->nrecs, out = 0;
    size_t *idx = xcalloc(n, sizeof *idx);
    int any_dropped = 0;
    for (size_t i = 0; i < n; i++) {
        struct write_record *wr = &item->recs[i];
        struct annotext t = {0};
        int drop = 0, dumped = 0;
        for (size_t p = 0; p < set->nprocs && !drop; p++) {
            if (!matches(set->procs[p]->sc.match, wr->rec))
                continue;
            if (!dumped) {
                dumped = 1;
                t.p = jsonout_dump(wr->rec, &t.len);
                t.cap = t.len + 1;
            }
            if (!t.p)
                break; /* check_storable refuses the record with its reason */
            drop = process_one(set->procs[p], wr->rec, &t);
        }
        if (drop) {
            json_decref(wr->rec);
            free(wr->idem);
            free(t.p);
            any_dropped = 1;
            continue;
        }
        wr->text = t.p;
        wr->text_len = t.len;
        wr->ann_at = t.ann_at;
        idx[out] = i;
        item->recs[out++] = *wr;
    }
    item->nrecs = out;
    if (any_dropped)
        *kept = idx;
    else
        free(idx);
}

uint64_t *stages_expand_seqs(const uint64_t *seqs, const size_t *kept, size_t nkept, size_t n)
{
    uint64_t *all = xcalloc(n ? n : 1, sizeof *all);
    for (size_t i = 0; i < nkept; i++)
        all[kept[i]] = seqs[i];
    return all;
}

/* ---- sinks: the cursor ---- */

static void cursor_key(struct kanal_source *src, char *key, size_t len)
{
    snprintf(key, len, STAGES_CURSOR_PREFIX "%s", src->sc.name);
}

static void cursor_write(struct kanal_source *src, int now);

static void cursor_written(struct write_item *item)
{
    struct kanal_source *src = item->arg;
    struct stage *st = stage_of(src);
    st->writing = 0;
    if (item->status == 0)
        st->stored_cursor = strtoull(item->states[0].value, NULL, 10);
    else
        log_msg(KANAL_LOG_WARNING, src->sc.name, "sink cursor not stored: %s (retried)",
                kanal_strerror(item->status));
    write_item_free(item);
    cursor_write(src, src->stopped); /* a stopped sink has no timer: now */
    source_unref(src);
}

static void on_cursor_due(void *arg)
{
    struct kanal_source *src = arg;
    stage_of(src)->cursor_due = NULL;
    cursor_write(src, 0);
}

/* Store the cursor when it moved: now, or once CURSOR_WRITE_MS have passed
 * since the last write (a one-shot timer, armed at most once). */
static void cursor_write(struct kanal_source *src, int now)
{
    struct stage *st = stage_of(src);
    const struct host_env *env = src->set->host;
    if (st->cursor <= st->stored_cursor || st->writing || !*env->writer_running ||
        env->writer->joined)
        return;
    uint64_t t = util_monotonic_ms();
    if (!now && t - st->cursor_written_ms < CURSOR_WRITE_MS) {
        if (!st->cursor_due && !src->stopped)
            src->set->api->timer_start(src, CURSOR_WRITE_MS - (t - st->cursor_written_ms), 0,
                                       on_cursor_due, src, &st->cursor_due);
        return;
    }
    if (st->cursor_due) {
        src->set->api->timer_stop(st->cursor_due);
        st->cursor_due = NULL;
    }
    st->cursor_written_ms = t;
    char key[128], val[32];
    cursor_key(src, key, sizeof key);
    int vl = snprintf(val, sizeof val, "%llu", (unsigned long long)st->cursor);
    struct write_item *item = xcalloc(1, sizeof *item);
    item->states = xcalloc(1, sizeof *item->states);
    struct write_state *ws = &item->states[item->nstates++];
    size_t cap = strlen("kanal") + strlen(key) + 2;
    ws->key = xmalloc(cap);
    ws->key_len = store_state_key(ws->key, cap, "kanal", key);
    ws->value = xmalloc((size_t)vl + 1);
    memcpy(ws->value, val, (size_t)vl + 1);
    ws->len = (size_t)vl;
    item->done = cursor_written;
    item->arg = src;
    st->writing = 1;
    source_ref(src);
    writer_submit(env->writer, item);
}

static uint64_t cursor_read(struct kanal_source *src)
{
    char key[128], val[32];
    cursor_key(src, key, sizeof key);
    size_t len = sizeof val - 1;
    if (store_state_get(src->set->host->store, "kanal", key, val, &len) < 0)
        return 0;
    val[len] = '\0';
    return strtoull(val, NULL, 10);
}

/* ---- sinks: answers waiting for the cursor (ack = cluster) ---- */

struct ack_waiter {
    struct ack_waiter *prev, *next;
    uint64_t seq;
    int64_t deadline_ms; /* monotonic */
    stages_ack_cb cb;
    void *arg;
};

#define WAIT_TICK_MS 50 /* how late an expiry may be */

static void waiter_unlink(struct stage *st, struct ack_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        st->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        st->waiters_tail = w->prev;
    st->nwaiting--;
}

static void waiters_tick_stop(struct kanal_source *src)
{
    struct stage *st = stage_of(src);
    if (st->wait_tick && !st->waiters) {
        src->set->api->timer_stop(st->wait_tick);
        st->wait_tick = NULL;
    }
}

/* The cursor moved: answer everything at or below it, oldest seq first. */
static void waiters_release(struct kanal_source *src)
{
    struct stage *st = stage_of(src);
    while (st->waiters && st->waiters->seq <= st->cursor) {
        struct ack_waiter *w = st->waiters;
        waiter_unlink(st, w);
        w->cb(w->arg, 0);
        free(w);
    }
    waiters_tick_stop(src);
}

/* Answer every waiter with status (the sink stops). */
static void waiters_fail_all(struct kanal_source *src, int status)
{
    struct stage *st = stage_of(src);
    while (st->waiters) {
        struct ack_waiter *w = st->waiters;
        waiter_unlink(st, w);
        w->cb(w->arg, status);
        free(w);
    }
    waiters_tick_stop(src);
}

static void on_wait_tick(void *arg)
{
    struct kanal_source *src = arg;
    struct stage *st = stage_of(src);
    int64_t now = mono_us() / 1000;
    uint64_t expired = 0;
    for (struct ack_waiter *w = st->waiters, *next; w; w = next) {
        next = w->next;
        if (w->deadline_ms > now)
            continue;
        waiter_unlink(st, w);
        expired++;
        w->cb(w->arg, KANAL_EREPLICA);
        free(w);
    }
    if (expired) {
        st->ack_timeouts += expired;
        log_msg(KANAL_LOG_WARNING, src->sc.name,
                "ack = cluster: %llu answer(s) not acknowledged by this sink in time (cursor "
                "%llu): answered 503, the records stay committed here and are delivered later",
                (unsigned long long)expired, (unsigned long long)st->cursor);
    }
    waiters_tick_stop(src);
}

int stages_ack_wait(struct source_set *set, const char *sink, uint64_t seq, int64_t timeout_ms,
                    stages_ack_cb cb, void *arg)
{
    struct kanal_source *src = NULL;
    for (size_t i = 0; i < set->nsinks && !src; i++)
        if (strcmp(set->sinks[i]->sc.name, sink) == 0)
            src = set->sinks[i];
    if (!src || src->stopped)
        return KANAL_EREPLICA;
    struct stage *st = stage_of(src);
    if (seq <= st->cursor)
        return 1;
    struct ack_waiter *w = xcalloc(1, sizeof *w);
    w->seq = seq;
    w->deadline_ms = mono_us() / 1000 + timeout_ms;
    w->cb = cb;
    w->arg = arg;
    /* Commits end in seq order: the place is nearly always the tail. */
    struct ack_waiter *after = st->waiters_tail;
    while (after && after->seq > seq)
        after = after->prev;
    w->prev = after;
    w->next = after ? after->next : st->waiters;
    if (w->next)
        w->next->prev = w;
    else
        st->waiters_tail = w;
    if (after)
        after->next = w;
    else
        st->waiters = w;
    st->nwaiting++;
    if (!st->wait_tick)
        set->api->timer_start(src, WAIT_TICK_MS, WAIT_TICK_MS, on_wait_tick, src, &st->wait_tick);
    return 0;
}

/* ---- sinks: delivery ---- */

static void pump(struct kanal_source *src);

static void on_retry(void *arg)
{
    struct kanal_source *src = arg;
    struct stage *st = stage_of(src);
    st->retry_pending = 0;
    pump(src);
}

static void sink_failed(struct kanal_source *src, int64_t retry_after_ms, const char *reason)
{
    struct stage *st = stage_of(src);
    st->errors++;
    free(st->last_error);
    st->last_error = xstrdup(reason ? reason : "delivery failed");
    st->delivered = st->cursor; /* deliver again from the first unacknowledged */
    if (st->retry_pending || src->stopped)
        return;
    int64_t wait = retry_after_ms >= 0 ? retry_after_ms : st->backoff_ms;
    st->backoff_ms = st->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : st->backoff_ms * 2;
    log_msg(KANAL_LOG_WARNING, src->sc.name,
            "sink delivery failed after seq %llu: %s; retry in %lld ms",
            (unsigned long long)st->cursor, st->last_error, (long long)wait);
    st->retry_pending = 1;
    if (st->retry)
        src->set->api->timer_stop(st->retry);
    src->set->api->timer_start(src, (uint64_t)wait, 0, on_retry, src, &st->retry);
}

struct rbuf {
    char *p;
    size_t len, cap;
};

static void rbuf_add(struct rbuf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Read up to max records after seq `after` into a JSON array. */
static int read_batch(struct store *store, uint64_t after, size_t max, struct rbuf *b,
                      struct kanal_sink_batch *batch)
{
    MDB_txn *txn;
    int rc = store_read_begin(store, &txn);
    if (rc)
        return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, store->log, &cur))) {
        store_read_end(store, txn);
        return store_err(rc);
    }
    uint64_t start = after + 1;
    MDB_val k = {sizeof start, &start}, v;
    rbuf_add(b, "[", 1);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && batch->count < max) {
        uint64_t seq;
        memcpy(&seq, k.mv_data, sizeof seq);
        if (batch->count++)
            rbuf_add(b, ",", 1);
        else
            batch->first_seq = seq;
        batch->last_seq = seq;
        rbuf_add(b, v.mv_data, v.mv_size);
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    store_read_end(store, txn);
    rbuf_add(b, "]", 1);
    batch->json = b->p;
    batch->len = b->len;
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

static void pump(struct kanal_source *src)
{
    struct stage *st = stage_of(src);
    struct store *store = src->set->host->store;
    if (st->pumping) {
        st->pump_again = 1; /* an ack from inside deliver() */
        return;
    }
    st->pumping = 1;
    do {
        st->pump_again = 0;
        while (!src->stopped && src->started && !st->retry_pending &&
               st->delivered < store_last_seq(store) &&
               st->delivered - st->cursor < (uint64_t)src->sc.max_inflight) {
            uint64_t room = (uint64_t)src->sc.max_inflight - (st->delivered - st->cursor);
            size_t max =
                room < (uint64_t)src->sc.batch_max ? (size_t)room : (size_t)src->sc.batch_max;
            struct rbuf b = {0};
            struct kanal_sink_batch batch = {0};
            int r = read_batch(store, st->delivered, max, &b, &batch);
            if (r < 0 || batch.count == 0) {
                free(b.p);
                if (r < 0)
                    sink_failed(src, -1, kanal_strerror(r));
                else if (st->delivered == st->cursor) {
                    /* Nothing left after the cursor (erased records): the
                     * sink is not behind. */
                    st->cursor = st->delivered = store_last_seq(store);
                    if (st->cursor > st->max_delivered)
                        st->max_delivered = st->cursor;
                    cursor_write(src, 0);
                    waiters_release(src);
                }
                break;
            }
            st->delivered = batch.last_seq;
            if (batch.last_seq > st->max_delivered)
                st->max_delivered = batch.last_seq;
            st->batches++;
            r = src->plugin->deliver(src->state, &batch);
            free(b.p);
            if (r < 0) {
                char why[160];
                snprintf(why, sizeof why, "deliver failed: %s", kanal_strerror(r));
                sink_failed(src, -1, why);
                break;
            }
        }
    } while (st->pump_again);
    st->pumping = 0;
}

int stages_sink_ack(struct kanal_source *src, uint64_t seq)
{
    struct stage *st = stage_of(src);
    if (!st || src->sc.role != STAGE_SINK)
        return -EINVAL;
    if (seq > st->max_delivered)
        return -EINVAL;
    if (seq <= st->cursor)
        return 0;
    st->cursor = seq;
    if (st->delivered < seq)
        st->delivered = seq;
    st->backoff_ms = RETRY_MIN_MS;
    if (st->last_error && !st->retry_pending) {
        free(st->last_error);
        st->last_error = NULL;
    }
    cursor_write(src, 0);
    waiters_release(src);
    pump(src);
    return 0;
}

int stages_sink_fail(struct kanal_source *src, int64_t retry_after_ms, const char *reason)
{
    struct stage *st = stage_of(src);
    if (!st || src->sc.role != STAGE_SINK)
        return -EINVAL;
    sink_failed(src, retry_after_ms, reason);
    return 0;
}

void stages_wake_sinks(struct source_set *set)
{
    for (size_t i = 0; i < set->nsinks; i++)
        pump(set->sinks[i]);
}

/* ---- lifecycle ---- */

static struct kanal_source *stage_create(struct source_set *set, struct source_config *sc)
{
    struct stage *st = xcalloc(1, sizeof *st);
    struct kanal_source *src = source_create(set, sc);
    if (!src) {
        free(st);
        return NULL;
    }
    st->src = src;
    st->backoff_ms = RETRY_MIN_MS;
    src->stage = st;
    if (src->sc.role == STAGE_SINK) {
        st->cursor = st->stored_cursor = st->delivered = st->max_delivered = cursor_read(src);
        /* A cursor past the log (a store restored from an older copy)
         * would skip what comes next: start from the log's end. */
        struct store *store = set->host->store;
        if (st->cursor > store_last_seq(store))
            st->cursor = st->delivered = st->max_delivered = store_last_seq(store);
    }
    if (source_start(src) < 0) {
        source_retire(src);
        return NULL;
    }
    if (src->sc.role == STAGE_SINK)
        log_msg(KANAL_LOG_INFO, src->sc.name, "sink delivers from seq %llu",
                (unsigned long long)st->cursor + 1);
    return src;
}

static void add_stage(struct source_set *set, struct source_config *sc)
{
    struct kanal_source ***list = sc->role == STAGE_PROCESSOR ? &set->procs : &set->sinks;
    size_t *n = sc->role == STAGE_PROCESSOR ? &set->nprocs : &set->nsinks;
    size_t pos = *n;
    struct kanal_source *src = stage_create(set, sc);
    if (!src)
        return;
    *list = xrealloc(*list, (*n + 1) * sizeof **list);
    (*list)[pos] = src;
    (*n)++;
    if (src->sc.role == STAGE_SINK)
        pump(src);
}

void stages_start(struct source_set *set)
{
    struct config *cfg = *set->cfg;
    for (size_t i = 0; i < cfg->nprocessors; i++)
        add_stage(set, &cfg->processors[i]);
    for (size_t i = 0; i < cfg->nsinks; i++)
        add_stage(set, &cfg->sinks[i]);
}

static void stage_stop(struct kanal_source *src)
{
    struct stage *st = stage_of(src);
    waiters_fail_all(src, KANAL_ESTOPPED);
    if (st->retry) {
        src->set->api->timer_stop(st->retry);
        st->retry = NULL;
    }
    if (src->sc.role == STAGE_SINK)
        cursor_write(src, 1); /* what is acknowledged, stored before the writer stops */
    if (st->cursor_due) {
        src->set->api->timer_stop(st->cursor_due);
        st->cursor_due = NULL;
    }
    source_retire(src);
}

static void apply_list(struct source_set *set, int role, struct config *next)
{
    struct kanal_source **list = role == STAGE_PROCESSOR ? set->procs : set->sinks;
    size_t *n = role == STAGE_PROCESSOR ? &set->nprocs : &set->nsinks;
    for (size_t i = 0; i < *n;) {
        struct kanal_source *src = list[i];
        const struct source_config *nsc = config_find_stage(next, role, src->sc.name);
        if (nsc && source_config_equal(&src->sc, nsc)) {
            i++;
            continue;
        }
        log_msg(KANAL_LOG_NOTICE, src->sc.name,
                nsc ? "section changed: restarting the %s" : "section removed: stopping the %s",
                role == STAGE_PROCESSOR ? "processor" : "sink");
        memmove(&list[i], &list[i + 1], (*n - i - 1) * sizeof *list);
        (*n)--;
        stage_stop(src);
    }
}

void stages_apply(struct source_set *set, struct config *next)
{
    apply_list(set, STAGE_PROCESSOR, next);
    apply_list(set, STAGE_SINK, next);
    /* Processors keep config order: rebuild the list in the new order. */
    struct kanal_source **old = set->procs;
    size_t nold = set->nprocs;
    set->procs = NULL;
    set->nprocs = 0;
    for (size_t i = 0; i < next->nprocessors; i++) {
        struct kanal_source *found = NULL;
        for (size_t j = 0; j < nold; j++)
            if (old[j] && strcmp(old[j]->sc.name, next->processors[i].name) == 0) {
                found = old[j];
                old[j] = NULL;
            }
        if (found) {
            set->procs = xrealloc(set->procs, (set->nprocs + 1) * sizeof *set->procs);
            set->procs[set->nprocs++] = found;
        } else {
            add_stage(set, &next->processors[i]);
        }
    }
    free(old);
    for (size_t i = 0; i < next->nsinks; i++) {
        int running = 0;
        for (size_t j = 0; j < set->nsinks; j++)
            running |= strcmp(set->sinks[j]->sc.name, next->sinks[i].name) == 0;
        if (!running)
            add_stage(set, &next->sinks[i]);
    }
}

void stages_stop_all(struct source_set *set)
{
    while (set->nprocs)
        stage_stop(set->procs[--set->nprocs]);
    while (set->nsinks)
        stage_stop(set->sinks[--set->nsinks]);
    free(set->procs);
    free(set->sinks);
    set->procs = set->sinks = NULL;
}

void stages_free(struct kanal_source *src)
{
    struct stage *st = stage_of(src);
    if (!st)
        return;
    free(st->last_error);
    free(st);
    src->stage = NULL;
}
