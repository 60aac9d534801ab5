/* SPDX-License-Identifier: Apache-2.0 */
/* The scores' HTTP routes (scores_api.h).  Every answer is read from the
 * documents kept in the store ('scores', keep.h): what the last run
 * computed, with the seq it read up to and when.  Lists of contacts are
 * paged like the rest of the API: ?limit= (1-1000) and ?after= the last
 * contact id of the page before, in the same order.
 *
 * An audience is kept row by row with a rank index per order (keep.h):
 * a page is a cursor range from the rank of its 'after' and a point read
 * per row, a contact's scores a point read per kept audience.  The reads
 * still run on a libuv work thread (struct read_job), so that a slow disk
 * never blocks the loop; it checks the path and answers when they are
 * done. */
#include "respond.h"
#include "scores_api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audience.h"
#include "contacts.h"
#include "form.h"
#include "http.h"
#include "keep.h"
#include "route_params.h"
#include "scores.h"
#include "store.h"
#include "util.h"

/* ---- reading off the loop ---- */

struct read_job;
typedef void (*read_fn)(struct read_job *rj);

struct read_job {
    uv_work_t work;
    struct scores *sc;
    struct http_req *req;
    read_fn fn;                   /* on the work thread: fills status and answer, or the error */
    char id[AUDIENCE_ID_MAX + 1]; /* the path's audience or contact id */
    char *query;                  /* a copy of the request's query */
    int order;                    /* an enum score_order */
    int advocates;
    /* The list's "run": the runs' state (the loop's) read when the request
     * came, before the work thread's snapshot of the audiences.  A run ends
     * once all it keeps is committed, so an ended run's audiences are all
     * in the list; read after, a run that ended meanwhile would be
     * reported with audiences the snapshot has not got. */
    json_t *run;
    int status;
    json_t *answer;
    const char *code, *message; /* an error's, static strings */
};

static void fail(struct read_job *rj, int status, const char *code, const char *message)
{
    rj->status = status;
    rj->code = code;
    rj->message = message;
}

static void store_unavailable(struct read_job *rj)
{
    fail(rj, 503, "store_unavailable", "the store cannot be read now");
}

static void read_work(uv_work_t *w)
{
    struct read_job *rj = w->data;
    rj->fn(rj);
}

static void read_done(uv_work_t *w, int status)
{
    struct read_job *rj = w->data;
    if (status < 0)
        http_respond_error(rj->req, 503, "stopping", "kanald is stopping; retry later");
    else if (rj->code)
        http_respond_error(rj->req, rj->status, rj->code, rj->message);
    else {
        if (rj->run) {
            json_object_set_new(rj->answer, "run", rj->run);
            rj->run = NULL;
        }
        api_respond_json(rj->req, rj->status, rj->answer);
        rj->answer = NULL;
    }
    json_decref(rj->answer);
    json_decref(rj->run);
    free(rj->query);
    free(rj);
}

static void defer(struct read_job *rj)
{
    rj->query = xstrdup(rj->req->pub.query);
    rj->work.data = rj;
    if (uv_queue_work(rj->sc->loop, &rj->work, read_work, read_done) != 0) {
        http_respond_error(rj->req, 500, "internal", "cannot read the scores now");
        json_decref(rj->run);
        free(rj->query);
        free(rj);
    }
}

static struct read_job *job_new(struct scores *sc, struct http_req *req, read_fn fn)
{
    struct read_job *rj = xcalloc(1, sizeof *rj);
    rj->sc = sc;
    rj->req = req;
    rj->fn = fn;
    return rj;
}

/* The path's {id}, percent-decoded (audience ids have a ':', and a value
 * may have a '/' written %2F), into id: 0, or answers 404 and -1. */
static int audience_path_id(struct http_req *req, const struct route_params *p,
                            char id[AUDIENCE_ID_MAX + 1])
{
    const char *v = route_param(p, "id");
    size_t len = strlen(v);
    char buf[ROUTE_PARAM_BUF + 1];
    size_t n = len < ROUTE_PARAM_BUF ? form_unescape(v, len, buf, 0) : 0;
    if (n == 0 || n > AUDIENCE_ID_MAX || memchr(buf, '\0', n)) {
        http_respond_error(req, 404, "not_found", "no audience has that id");
        return -1;
    }
    memcpy(id, buf, n + 1);
    return 0;
}

/* The kept summary of rj's audience into *doc and its count of rows into
 * *rows, in txn (work thread): 0, or -1 with the error (404 for one never
 * computed). */
static int load_summary(struct read_job *rj, MDB_txn *txn, json_t **doc, size_t *rows)
{
    int rc = score_summary_get(rj->sc->store, txn, rj->id, doc, rows);
    if (rc == MDB_NOTFOUND) {
        fail(rj, 404, "not_found",
             "no scores for that audience: it has never been computed (audiences are all, "
             "source:NAME, channel:NAME, campaign:ID, event:ID, an [audience NAME]'s name, and "
             "thread:ID on request)");
        return -1;
    }
    if (rc) {
        store_unavailable(rj);
        return -1;
    }
    return 0;
}

/* What every audience's answer says of it. */
static json_t *summary(const char *id, json_t *doc, size_t rows)
{
    json_t *shape = json_object_get(doc, "shape");
    json_t *o =
        json_pack("{s:s,s:O*,s:O*,s:O*,s:O*,s:I}", "id", id, "seq", json_object_get(doc, "seq"),
                  "computed_at", json_object_get(doc, "computed_at"), "nodes",
                  json_object_get(shape, "nodes"), "edges", json_object_get(shape, "edges"),
                  "contacts", (json_int_t)rows);
    json_t *cls = json_object_get(shape, "class");
    if (cls)
        json_object_set(o, "class", cls);
    return o;
}

static int list_one(void *arg, const char *id, json_t *doc, size_t rows)
{
    json_array_append_new(arg, summary(id, doc, rows));
    return 0;
}

static json_t *run_state(struct scores *sc)
{
    const struct scores_stats *s = &sc->stats;
    json_t *o = json_pack("{s:b,s:I}", "running", scores_busy(sc), "runs", (json_int_t)s->runs);
    if (s->last_at_ms) {
        char at[32];
        util_format_time(s->last_at_ms, at, sizeof at);
        json_object_set_new(
            o, "last",
            json_pack("{s:s,s:I,s:I,s:I,s:I}", "ended_at", at, "duration_ms",
                      (json_int_t)s->last_duration_ms, "seq", (json_int_t)s->last_seq, "audiences",
                      (json_int_t)s->last_audiences, "left_out", (json_int_t)s->last_left_out));
    }
    return o;
}

static void do_list(struct read_job *rj)
{
    struct store *st = rj->sc->store;
    MDB_txn *txn;
    if (store_read_begin(st, &txn) < 0) {
        store_unavailable(rj);
        return;
    }
    json_t *list = json_array();
    int rc = score_each_summary(st, txn, list_one, list);
    store_read_end(st, txn);
    if (rc) {
        json_decref(list);
        store_unavailable(rj);
        return;
    }
    rj->status = 200;
    rj->answer = json_pack("{s:o}", "audiences", list);
}

void scores_route_list(void *ctx, struct http_req *req, const struct route_params *p)
{
    (void)p;
    struct read_job *rj = job_new(ctx, req, do_list);
    rj->run = run_state(rj->sc);
    defer(rj);
}

static void do_get(struct read_job *rj)
{
    struct store *st = rj->sc->store;
    MDB_txn *txn;
    if (store_read_begin(st, &txn) < 0) {
        store_unavailable(rj);
        return;
    }
    json_t *doc;
    size_t rows;
    int rc = load_summary(rj, txn, &doc, &rows);
    store_read_end(st, txn);
    if (rc < 0)
        return;
    json_t *o = summary(json_string_value(json_object_get(doc, "audience")), doc, rows);
    json_object_set(o, "shape", json_object_get(doc, "shape"));
    json_object_set(o, "from", json_object_get(doc, "from"));
    if (json_object_get(doc, "event"))
        json_object_set(o, "event", json_object_get(doc, "event"));
    json_decref(doc);
    rj->status = 200;
    rj->answer = o;
}

void scores_route_get(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct read_job *rj = job_new(ctx, req, do_get);
    if (audience_path_id(req, p, rj->id) < 0) {
        free(rj);
        return;
    }
    defer(rj);
}

/* ---- contacts in an order ---- */

/* One page of the audience's rows (those of advocates only, if asked) in
 * rj->order. */
static void do_page(struct read_job *rj)
{
    const char *qs = rj->query;
    unsigned limit;
    const char *why;
    if (query_limit(qs, &limit, &why) < 0) {
        fail(rj, 400, "bad_request", why);
        return;
    }
    struct store *st = rj->sc->store;
    MDB_txn *txn;
    if (store_read_begin(st, &txn) < 0) {
        store_unavailable(rj);
        return;
    }
    json_t *doc;
    size_t rows;
    if (load_summary(rj, txn, &doc, &rows) < 0) {
        store_read_end(st, txn);
        return;
    }
    char *after = form_get(qs, strlen(qs), "after");
    json_t *list = json_array();
    int more;
    int rc = score_page(st, txn, rj->id, rj->advocates ? SCORE_ORDER_ADVOCATES : rj->order, after,
                        limit, list, &more);
    store_read_end(st, txn);
    free(after);
    if (rc) {
        json_decref(list);
        json_decref(doc);
        if (rc == ENOENT)
            fail(rj, 400, "bad_request",
                 "after names no contact of this list (the scores may have been computed again "
                 "since: start from the first page)");
        else
            store_unavailable(rj);
        return;
    }
    size_t n = json_array_size(list);
    json_t *last = n ? json_object_get(json_array_get(list, n - 1), "contact") : NULL;
    json_t *o = json_pack("{s:O,s:O*,s:O*,s:s,s:o,s:b}", "audience",
                          json_object_get(doc, "audience"), "seq", json_object_get(doc, "seq"),
                          "computed_at", json_object_get(doc, "computed_at"), "order",
                          score_order_name(rj->order), "contacts", list, "more", more);
    json_object_set_new(o, "next", json_is_string(last) ? json_copy(last) : json_null());
    json_decref(doc);
    rj->status = 200;
    rj->answer = o;
}

void scores_route_contacts(void *ctx, struct http_req *req, const struct route_params *p)
{
    const char *qs = req->pub.query;
    char *asked = form_get(qs, strlen(qs), "order");
    int order = asked ? score_order_of(asked) : SCORE_ORDER_INFLUENCE;
    free(asked);
    if (order < 0) {
        http_respond_error(req, 400, "bad_request",
                           "order must be one of influence, reach, value, advocacy, risk");
        return;
    }
    struct read_job *rj = job_new(ctx, req, do_page);
    rj->order = order;
    if (audience_path_id(req, p, rj->id) < 0) {
        free(rj);
        return;
    }
    defer(rj);
}

void scores_route_advocates(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct read_job *rj = job_new(ctx, req, do_page);
    rj->order = SCORE_ORDER_ADVOCACY;
    rj->advocates = 1;
    if (audience_path_id(req, p, rj->id) < 0) {
        free(rj);
        return;
    }
    defer(rj);
}

/* ---- one contact in every audience ---- */

struct of_contact {
    struct store *st;
    MDB_txn *txn;
    const char *cid;
    json_t *list;
};

static int find_contact(void *arg, const char *id, json_t *doc, size_t rows)
{
    struct of_contact *oc = arg;
    json_t *row;
    uint32_t place;
    int rc = score_row_get(oc->st, oc->txn, id, oc->cid, &row, &place);
    if (rc == MDB_NOTFOUND || rc == MDB_CORRUPTED)
        return 0;
    if (rc)
        return rc;
    /* rank: the place in the audience by influence, of that many */
    json_array_append_new(oc->list,
                          json_pack("{s:s,s:O*,s:O*,s:I,s:I,s:o}", "audience", id, "seq",
                                    json_object_get(doc, "seq"), "computed_at",
                                    json_object_get(doc, "computed_at"), "rank",
                                    (json_int_t)place + 1, "of", (json_int_t)rows, "scores", row));
    return 0;
}

static void do_contact(struct read_job *rj)
{
    struct store *st = rj->sc->store;
    MDB_txn *txn;
    if (store_read_begin(st, &txn) < 0) {
        store_unavailable(rj);
        return;
    }
    char live[64];
    int rc = contacts_follow(st, txn, rj->id, live, sizeof live);
    struct of_contact oc = {st, txn, live, json_array()};
    if (rc == 0)
        rc = score_each_summary(st, txn, find_contact, &oc);
    store_read_end(st, txn);
    if (rc) {
        json_decref(oc.list);
        if (rc == MDB_NOTFOUND)
            fail(rj, 404, "not_found", "no such contact");
        else
            store_unavailable(rj);
        return;
    }
    json_t *o = json_pack("{s:s,s:o}", "contact", live, "audiences", oc.list);
    if (strcmp(live, rj->id) != 0)
        json_object_set_new(o, "requested", json_string(rj->id));
    rj->status = 200;
    rj->answer = o;
}

void scores_route_contact(void *ctx, struct http_req *req, const struct route_params *p)
{
    const char *id = route_param(p, "id");
    if (!*id || strlen(id) >= 64) {
        http_respond_error(req, 404, "not_found", "no such contact");
        return;
    }
    struct read_job *rj = job_new(ctx, req, do_contact);
    snprintf(rj->id, sizeof rj->id, "%s", id);
    defer(rj);
}

/* ---- starting a run ---- */

void scores_route_refresh(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct scores *sc = ctx;
    (void)p;
    const char *thread = NULL;
    json_t *body = NULL;
    if (req->pub.body_len) {
        body = json_loadb(req->pub.body, req->pub.body_len, 0, NULL);
        json_t *a = json_object_get(body, "audience");
        if (!json_is_object(body) || json_object_size(body) != (a ? 1u : 0u) ||
            (a && !json_is_string(a))) {
            json_decref(body);
            http_respond_error(req, 400, "bad_request",
                               "expected no body, {} or {\"audience\": \"thread:ID\"}");
            return;
        }
        if (a) {
            struct audience au;
            int r = audience_parse(json_string_value(a), &au);
            int is_thread = r == 0 && au.kind == AUDIENCE_THREAD;
            audience_free(&au);
            if (!is_thread) {
                json_decref(body);
                http_respond_error(req, 400, "bad_request",
                                   "audience: only a thread:ID is computed on request (every "
                                   "other audience is computed by each run)");
                return;
            }
            thread = json_string_value(a);
        }
    }
    json_t *started;
    int rc = scores_refresh(sc, thread, &started);
    json_decref(body);
    if (rc == -EBUSY) {
        http_respond_error(req, 409, "already_running",
                           "a scoring run is in progress; GET /v1/audiences says when it ends");
        return;
    }
    if (rc == -ESHUTDOWN) {
        http_respond_error(req, 503, "stopping", "kanald is stopping; retry later");
        return;
    }
    if (rc) {
        http_respond_error(req, 500, "internal", "cannot start a scoring run");
        return;
    }
    json_object_set_new(started, "status", json_string("started"));
    api_respond_json(req, 202, started);
}
