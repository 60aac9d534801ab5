/* SPDX-License-Identifier: Apache-2.0 */
/* The scores' HTTP routes (scores_api.h).  Every answer is read from the
 * documents kept in the store ('scores', keep.h): what the last run
 * computed, with the seq it read up to and when.  Lists of contacts are
 * paged like the rest of the API: ?limit= (1-1000) and ?after= the last
 * contact id of the page before, in the same order. */
#include "scores_api.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audience.h"
#include "contacts.h"
#include "form.h"
#include "http.h"
#include "jsonout.h"
#include "keep.h"
#include "route_params.h"
#include "scores.h"
#include "store.h"
#include "util.h"

static void respond_json(struct http_req *req, int status, json_t *o)
{
    char *text = jsonout_text(o);
    http_respond(req, status, "application/json", text, strlen(text));
    free(text);
    json_decref(o);
}

static void store_unavailable(struct http_req *req)
{
    http_respond_error(req, 503, "store_unavailable", "the store cannot be read now");
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

/* The kept document of the path's audience into *doc: 0, or answers (404
 * for one never computed) and -1. */
static int load_doc(struct scores *sc, struct http_req *req, const struct route_params *p,
                    json_t **doc)
{
    char id[AUDIENCE_ID_MAX + 1];
    if (audience_path_id(req, p, id) < 0)
        return -1;
    MDB_txn *txn;
    if (store_read_begin(sc->store, &txn) < 0) {
        store_unavailable(req);
        return -1;
    }
    int rc = score_get(sc->store, txn, id, doc);
    store_read_end(sc->store, txn);
    if (rc == MDB_NOTFOUND) {
        http_respond_error(req, 404, "not_found",
                           "no scores for that audience: it has never been computed (audiences "
                           "are all, source:NAME, channel:NAME, campaign:ID, event:ID, an "
                           "[audience NAME]'s name, and thread:ID on request)");
        return -1;
    }
    if (rc) {
        store_unavailable(req);
        return -1;
    }
    return 0;
}

/* What every audience's answer says of it. */
static json_t *summary(const char *id, json_t *doc)
{
    json_t *shape = json_object_get(doc, "shape");
    json_t *o =
        json_pack("{s:s,s:O*,s:O*,s:O*,s:O*,s:I}", "id", id, "seq", json_object_get(doc, "seq"),
                  "computed_at", json_object_get(doc, "computed_at"), "nodes",
                  json_object_get(shape, "nodes"), "edges", json_object_get(shape, "edges"),
                  "contacts", (json_int_t)json_array_size(json_object_get(doc, "contacts")));
    json_t *cls = json_object_get(shape, "class");
    if (cls)
        json_object_set(o, "class", cls);
    return o;
}

static int list_one(void *arg, const char *id, json_t *doc)
{
    json_array_append_new(arg, summary(id, doc));
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

void scores_route_list(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct scores *sc = ctx;
    (void)p;
    MDB_txn *txn;
    if (store_read_begin(sc->store, &txn) < 0) {
        store_unavailable(req);
        return;
    }
    json_t *list = json_array();
    int rc = score_each(sc->store, txn, list_one, list);
    store_read_end(sc->store, txn);
    if (rc) {
        json_decref(list);
        store_unavailable(req);
        return;
    }
    respond_json(req, 200, json_pack("{s:o,s:o}", "audiences", list, "run", run_state(sc)));
}

void scores_route_get(void *ctx, struct http_req *req, const struct route_params *p)
{
    json_t *doc;
    if (load_doc(ctx, req, p, &doc) < 0)
        return;
    json_t *o = summary(json_string_value(json_object_get(doc, "audience")), doc);
    json_object_set(o, "shape", json_object_get(doc, "shape"));
    json_object_set(o, "from", json_object_get(doc, "from"));
    if (json_object_get(doc, "event"))
        json_object_set(o, "event", json_object_get(doc, "event"));
    json_decref(doc);
    respond_json(req, 200, o);
}

/* ---- contacts in an order ---- */

struct ranked {
    json_t *row;
    const char *id;
    double key;
    int has;
};

static int by_key(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->has != y->has)
        return x->has ? -1 : 1;
    if (x->has && x->key != y->key)
        return x->key < y->key ? 1 : -1;
    return strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

/* The sort key of row in order: row.influence, row.reach, or row.ORDER.score
 * (value, advocacy, risk: the objects of the contact's value, advocacy and
 * risk).  0 when the row has none. */
static int row_key(json_t *row, const char *order, double *out)
{
    json_t *v = json_object_get(row, order);
    if (json_is_object(v))
        v = json_object_get(v, "score");
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return 0;
    *out = json_number_value(v);
    return 1;
}

static int order_ok(const char *o)
{
    const char *p = SCORES_ORDERS;
    size_t n = strlen(o);
    while (*p) {
        size_t w = strcspn(p, " ");
        if (w == n && strncmp(p, o, n) == 0)
            return 1;
        p += w + (p[w] == ' ');
    }
    return 0;
}

/* Answer rows of doc (those keep() takes) in order, one page. */
static void page(struct http_req *req, json_t *doc, const char *order, int advocates_only)
{
    const char *qs = req->pub.query;
    unsigned limit;
    const char *why;
    if (query_limit(qs, &limit, &why) < 0) {
        http_respond_error(req, 400, "bad_request", why);
        return;
    }
    char *after = form_get(qs, strlen(qs), "after");
    json_t *rows = json_object_get(doc, "contacts");
    size_t n = json_array_size(rows), m = 0;
    struct ranked *r = xcalloc(n ? n : 1, sizeof *r);
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_array_get(rows, i);
        if (advocates_only &&
            !json_is_true(json_object_get(json_object_get(row, "advocacy"), "advocate")))
            continue;
        r[m].row = row;
        r[m].id = json_string_value(json_object_get(row, "contact"));
        r[m].has = row_key(row, order, &r[m].key);
        m++;
    }
    qsort(r, m, sizeof *r, by_key);
    size_t start = 0;
    if (after) {
        while (start < m && !(r[start].id && strcmp(r[start].id, after) == 0))
            start++;
        if (start == m) {
            free(after);
            free(r);
            http_respond_error(req, 400, "bad_request",
                               "after names no contact of this list (the scores may have been "
                               "computed again since: start from the first page)");
            return;
        }
        start++;
    }
    free(after);
    json_t *list = json_array();
    size_t i = start;
    for (; i < m && json_array_size(list) < limit; i++)
        json_array_append(list, r[i].row);
    json_t *o = json_pack("{s:O,s:O*,s:O*,s:s,s:o,s:b}", "audience",
                          json_object_get(doc, "audience"), "seq", json_object_get(doc, "seq"),
                          "computed_at", json_object_get(doc, "computed_at"), "order", order,
                          "contacts", list, "more", i < m);
    json_object_set_new(o, "next",
                        i > start && r[i - 1].id ? json_string(r[i - 1].id) : json_null());
    free(r);
    respond_json(req, 200, o);
}

void scores_route_contacts(void *ctx, struct http_req *req, const struct route_params *p)
{
    const char *qs = req->pub.query;
    char *order = form_get(qs, strlen(qs), "order");
    if (order && !order_ok(order)) {
        free(order);
        http_respond_error(req, 400, "bad_request",
                           "order must be one of influence, reach, value, advocacy, risk");
        return;
    }
    json_t *doc;
    if (load_doc(ctx, req, p, &doc) == 0) {
        page(req, doc, order ? order : "influence", 0);
        json_decref(doc);
    }
    free(order);
}

void scores_route_advocates(void *ctx, struct http_req *req, const struct route_params *p)
{
    json_t *doc;
    if (load_doc(ctx, req, p, &doc) == 0) {
        page(req, doc, "advocacy", 1);
        json_decref(doc);
    }
}

/* ---- one contact in every audience ---- */

struct of_contact {
    const char *cid;
    json_t *list;
};

static int find_contact(void *arg, const char *id, json_t *doc)
{
    struct of_contact *oc = arg;
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(doc, "contacts"), i, row)
    {
        const char *c = json_string_value(json_object_get(row, "contact"));
        if (c && strcmp(c, oc->cid) == 0) {
            json_t *o = json_pack("{s:s,s:O*,s:O*,s:I,s:O}", "audience", id, "seq",
                                  json_object_get(doc, "seq"), "computed_at",
                                  json_object_get(doc, "computed_at"), "rank", (json_int_t)i + 1,
                                  "scores", row);
            /* rank: the place in the audience by influence, of that many */
            json_object_set_new(
                o, "of",
                json_integer((json_int_t)json_array_size(json_object_get(doc, "contacts"))));
            json_array_append_new(oc->list, o);
            break;
        }
    }
    return 0;
}

void scores_route_contact(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct scores *sc = ctx;
    const char *id = route_param(p, "id");
    if (!*id || strlen(id) >= 64) {
        http_respond_error(req, 404, "not_found", "no such contact");
        return;
    }
    MDB_txn *txn;
    if (store_read_begin(sc->store, &txn) < 0) {
        store_unavailable(req);
        return;
    }
    char live[64];
    int rc = contacts_follow(sc->store, txn, id, live, sizeof live);
    struct of_contact oc = {live, json_array()};
    if (rc == 0)
        rc = score_each(sc->store, txn, find_contact, &oc);
    store_read_end(sc->store, txn);
    if (rc == MDB_NOTFOUND) {
        json_decref(oc.list);
        http_respond_error(req, 404, "not_found", "no such contact");
        return;
    }
    if (rc) {
        json_decref(oc.list);
        store_unavailable(req);
        return;
    }
    json_t *o = json_pack("{s:s,s:o}", "contact", live, "audiences", oc.list);
    if (strcmp(live, id) != 0)
        json_object_set_new(o, "requested", json_string(id));
    respond_json(req, 200, o);
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
    respond_json(req, 202, started);
}
