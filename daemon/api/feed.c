/* SPDX-License-Identifier: Apache-2.0 */
/* The feed: GET /v1/interactions pages through the log in seq order, and
 * long-polls (wait=) until a matching record commits.  Records are stored as
 * JSON text and copied into the page without re-encoding; only filtered
 * queries parse them. */
#include "feed.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "error.h"
#include "form.h"
#include "http.h"
#include "log.h"
#include "respond.h"
#include "route_params.h"
#include "store.h"
#include "util.h"

#define FEED_MAX_WAIT_S 60
/* A filtered page scans at most this many records before answering. */
#define FEED_SCAN_MAX 100000

struct feed_query {
    uint64_t after;
    unsigned limit;
    char *source, *channel, *kind, *contact;
    char *sentiment; /* annotations.sentiment.label */
    int complaint;   /* annotations.sentiment.complaint: -1 any, 0, 1 */
    int wait_s;
};

struct feed_waiter {
    struct feed_waiter *next;
    struct feed *f;
    struct http_req *req;
    struct feed_query q;
    uv_timer_t timer;
};

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_add(struct buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->len + n + 1)
            nc *= 2;
        b->p = xrealloc(b->p, nc);
        b->cap = nc;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void query_free(struct feed_query *q)
{
    free(q->source);
    free(q->channel);
    free(q->kind);
    free(q->contact);
    free(q->sentiment);
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_query(const char *qs, struct feed_query *q, const char **why)
{
    memset(q, 0, sizeof *q);
    size_t len = strlen(qs);
    char *v;
    uint64_t n;
    if (query_after_seq(qs, &q->after, why) < 0)
        return -EINVAL;
    if (query_limit(qs, &q->limit, why) < 0)
        return -EINVAL;
    if ((v = form_get(qs, len, "wait"))) {
        int r = parse_u64(v, &n);
        free(v);
        if (r || n > FEED_MAX_WAIT_S) {
            *why = "wait must be between 0 and 60 (seconds)";
            return -EINVAL;
        }
        q->wait_s = (int)n;
    }
    q->source = form_get(qs, len, "source");
    q->channel = form_get(qs, len, "channel");
    q->kind = form_get(qs, len, "kind");
    q->contact = form_get(qs, len, "contact");
    /* The sentiment processor's annotation, under its documented section
     * name [processor sentiment]. */
    q->complaint = -1;
    q->sentiment = form_get(qs, len, "sentiment");
    if (q->sentiment && strcmp(q->sentiment, "positive") != 0 &&
        strcmp(q->sentiment, "negative") != 0 && strcmp(q->sentiment, "neutral") != 0) {
        *why = "sentiment must be positive, negative or neutral";
        return -EINVAL;
    }
    if ((v = form_get(qs, len, "complaint"))) {
        q->complaint = strcmp(v, "true") == 0 ? 1 : strcmp(v, "false") == 0 ? 0 : -2;
        free(v);
        if (q->complaint == -2) {
            *why = "complaint must be true or false";
            return -EINVAL;
        }
    }
    return 0;
}

static int field_is(json_t *rec, const char *name, const char *want)
{
    const char *v = json_string_value(json_object_get(rec, name));
    return v && strcmp(v, want) == 0;
}

static int matches(const struct feed_query *q, const MDB_val *v)
{
    if (!q->source && !q->channel && !q->kind && !q->contact && !q->sentiment && q->complaint < 0)
        return 1;
    json_t *rec = json_loadb(v->mv_data, v->mv_size, 0, NULL);
    if (!rec)
        return 0;
    int ok = (!q->source || field_is(rec, "source", q->source)) &&
             (!q->channel || field_is(rec, "channel", q->channel)) &&
             (!q->kind || field_is(rec, "kind", q->kind)) &&
             (!q->contact || field_is(rec, "contact", q->contact));
    json_t *sa = json_object_get(json_object_get(rec, "annotations"), "sentiment");
    if (ok && q->sentiment)
        ok = field_is(sa, "label", q->sentiment);
    if (ok && q->complaint >= 0) {
        json_t *c = json_object_get(sa, "complaint");
        ok = json_is_boolean(c) && json_is_true(c) == q->complaint;
    }
    json_decref(rec);
    return ok;
}

/* Build one page; returns how many records it holds, or a negative error:
 * -ERANGE when the cursor is past the store's last seq.  *next_out and
 * *more_out say where the scan ended, *last_out what the last seq is (in
 * the snapshot the page was read from). */
static int read_page(struct feed *f, const struct feed_query *q, struct buf *out,
                     uint64_t *next_out, int *more_out, uint64_t *last_out)
{
    MDB_txn *txn;
    int rc = store_read_begin(f->store, &txn);
    if (rc)
        return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, f->store->log, &cur))) {
        store_read_end(f->store, txn);
        return store_err(rc);
    }
    /* Records are never deleted (erasure rewrites them in place), so the
     * last key is the last seq ever committed to this store. */
    uint64_t last = 0;
    MDB_val lk, lv;
    rc = mdb_cursor_get(cur, &lk, &lv, MDB_LAST);
    if (rc == 0)
        memcpy(&last, lk.mv_data, sizeof last);
    else if (rc != MDB_NOTFOUND) {
        mdb_cursor_close(cur);
        store_read_end(f->store, txn);
        return store_err(rc);
    }
    *last_out = last;
    if (q->after > last) {
        /* A cursor this store never handed out: a restored backup, or
         * another store.  Saying "nothing new" would skip records. */
        mdb_cursor_close(cur);
        store_read_end(f->store, txn);
        return -ERANGE;
    }
    uint64_t start = q->after + 1, next = q->after;
    MDB_val k = {sizeof start, &start}, v;
    unsigned count = 0, scanned = 0;
    int more = 0;
    buf_add(out, "{\"interactions\":[", 17);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        uint64_t seq;
        memcpy(&seq, k.mv_data, sizeof seq);
        if (count == q->limit || scanned == FEED_SCAN_MAX) {
            more = 1;
            break;
        }
        scanned++;
        next = seq;
        if (matches(q, &v)) {
            if (count++)
                buf_add(out, ",", 1);
            buf_add(out, v.mv_data, v.mv_size);
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    store_read_end(f->store, txn);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_err(rc);
    char tail[160];
    int n = snprintf(tail, sizeof tail,
                     "],\"next\":%llu,\"more\":%s,\"store_id\":\"%s\",\"last_seq\":%llu}",
                     (unsigned long long)next, more ? "true" : "false", f->store->store_id,
                     (unsigned long long)last);
    buf_add(out, tail, (size_t)n);
    *next_out = next;
    *more_out = more;
    return (int)count;
}

/* 409 for a cursor past the last seq, with what the CRM needs to notice a
 * restored or different store: its id and its last seq. */
static void answer_ahead(struct feed *f, struct http_req *req, uint64_t after, uint64_t last)
{
    char msg[256];
    snprintf(msg, sizeof msg,
             "after=%llu is past this store's last seq %llu: the store was restored from a "
             "backup or is another store; read again from a seq you know and dedupe by id",
             (unsigned long long)after, (unsigned long long)last);
    json_t *o = json_pack("{s:{s:s,s:s,s:s,s:I}}", "error", "code", "cursor_ahead", "message", msg,
                          "store_id", f->store->store_id, "last_seq", (json_int_t)last);
    api_respond_json(req, 409, o);
    log_info("feed: cursor after=%llu is ahead of last seq %llu (store %s): 409",
             (unsigned long long)after, (unsigned long long)last, f->store->store_id);
}

/* Answer with a page if it has records, if the scan stopped early (a
 * filtered query over many records), or if force; 1 when answered.  A
 * waiter that saw only non-matching records moves its cursor past them. */
static int try_answer(struct feed *f, struct http_req *req, struct feed_query *q, int force)
{
    struct buf b = {0};
    uint64_t next = q->after;
    int more = 0;
    uint64_t last = 0;
    int n = read_page(f, q, &b, &next, &more, &last);
    if (n == -ERANGE) {
        free(b.p);
        answer_ahead(f, req, q->after, last);
        return 1;
    }
    if (n < 0) {
        free(b.p);
        log_err("feed: cannot read the store: %s", kanal_strerror(n));
        http_respond_error(req, 503, "store_unavailable", "the store cannot be read now");
        return 1;
    }
    if (n == 0 && !force && !more) {
        free(b.p);
        q->after = next;
        return 0;
    }
    http_respond(req, 200, "application/json", b.p, b.len);
    free(b.p);
    return 1;
}

static void waiter_closed(uv_handle_t *h)
{
    struct feed_waiter *w = h->data;
    query_free(&w->q);
    free(w);
}

static void waiter_remove(struct feed_waiter *w)
{
    for (struct feed_waiter **p = &w->f->waiters; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

static void on_wait_timeout(uv_timer_t *t)
{
    struct feed_waiter *w = t->data;
    try_answer(w->f, w->req, &w->q, 1);
    waiter_remove(w);
}

void feed_notify(void *arg)
{
    struct feed *f = arg;
    for (struct feed_waiter *w = f->waiters, *next; w; w = next) {
        next = w->next;
        if (try_answer(f, w->req, &w->q, 0))
            waiter_remove(w);
    }
}

void feed_cancel_all(struct feed *f)
{
    while (f->waiters) {
        struct feed_waiter *w = f->waiters;
        try_answer(f, w->req, &w->q, 1);
        waiter_remove(w);
    }
}

static void get_one(struct feed *f, struct http_req *req, const char *seq_text)
{
    uint64_t seq;
    if (parse_u64(seq_text, &seq) < 0 || seq == 0) {
        http_respond_error(req, 400, "bad_request", "expected /v1/interactions/<seq>");
        return;
    }
    MDB_txn *txn;
    int rc = store_read_begin(f->store, &txn);
    if (rc) {
        http_respond_error(req, 503, "store_unavailable", "the store cannot be read now");
        return;
    }
    MDB_val k = {sizeof seq, &seq}, v;
    rc = mdb_get(txn, f->store->log, &k, &v);
    if (rc == 0)
        http_respond(req, 200, "application/json", v.mv_data, v.mv_size);
    else if (rc == MDB_NOTFOUND)
        http_respond_error(req, 404, "not_found", "no record with that seq");
    else
        http_respond_error(req, 503, "store_unavailable", "the store cannot be read now");
    store_read_end(f->store, txn);
}

void feed_handle(struct feed *f, struct http_req *req, const char *rest)
{
    if (rest[0] == '/') {
        get_one(f, req, rest + 1);
        return;
    }
    struct feed_query q;
    const char *why = "";
    if (parse_query(req->pub.query, &q, &why) < 0) {
        query_free(&q);
        http_respond_error(req, 400, "bad_request", why);
        return;
    }
    if (try_answer(f, req, &q, q.wait_s == 0 || *f->stopping)) {
        query_free(&q);
        return;
    }
    struct feed_waiter *w = xcalloc(1, sizeof *w);
    w->f = f;
    w->req = req;
    w->q = q;
    uv_timer_init(f->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_wait_timeout, (uint64_t)q.wait_s * 1000, 0);
    w->next = f->waiters;
    f->waiters = w;
}
