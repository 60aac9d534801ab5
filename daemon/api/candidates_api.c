/* SPDX-License-Identifier: Apache-2.0 */
/* Merge candidates over HTTP (docs/identity.md):
 *
 *   GET    /v1/contacts/candidates[?after=<id>&limit=N]  the open candidates
 *   POST   /v1/contacts/<id>/merge  {"with"|"contact": "<cN>"} or
 *                                   {"candidate": "<cA>-<cB>"}  merge the two
 *   POST   /v1/contacts/candidates/<id>/reject   keep the two apart
 *   DELETE /v1/contacts/candidates/<id>          the same
 *
 * All of it needs an admin token: a candidate says that two people may be
 * one, which is itself personal data.  Changes go through the writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "contacts.h"
#include "candidates_api.h"
#include "contacts_api.h"
#include "contacts_op.h"
#include "form.h"
#include "http.h"
#include "log.h"
#include "respond.h"
#include "route_params.h"
#include "statecmd_pub.h"
#include "store.h"
#include "util.h"
#include "writer.h"

static uint64_t number_of(const char *id)
{
    return id && id[0] == 'c' ? strtoull(id + 1, NULL, 10) : UINT64_MAX;
}

/* Drop other from c's kept_apart and split_from lists: an admin's merge
 * overrides an earlier split or reject of the same two. */
static void unblock(json_t *c, const char *other)
{
    static const char *const keys[] = {"kept_apart", "split_from"};
    for (int k = 0; k < 2; k++) {
        json_t *list = json_object_get(c, keys[k]);
        for (size_t i = 0; i < json_array_size(list);) {
            const char *v = json_string_value(json_array_get(list, i));
            if (v && !strcmp(v, other))
                json_array_remove(list, i);
            else
                i++;
        }
    }
}

static int apply_merge(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct contacts_op *op = it->arg;
    const char *with = json_string_value(json_object_get(op->body, "with"));
    if (!with)
        with = json_string_value(json_object_get(op->body, "contact"));
    const char *cand_id = json_string_value(json_object_get(op->body, "candidate"));
    json_t *cand = NULL;
    char a[32], b[32], other[32];
    int rc = contacts_follow(st, txn, op->id, a, sizeof a);
    if (rc == MDB_NOTFOUND) {
        contacts_op_error(op, 404, "not_found", "no such contact");
        return 0;
    }
    if (rc)
        return rc;
    if (cand_id) {
        if ((rc = candidates_load(st, txn, cand_id, &cand)) == MDB_NOTFOUND) {
            contacts_op_error(op, 404, "not_found", "no such merge candidate");
            return 0;
        }
        if (rc)
            return rc;
        json_t *cs = json_object_get(cand, "contacts");
        const char *x = json_string_value(json_array_get(cs, 0));
        const char *y = json_string_value(json_array_get(cs, 1));
        with = x && !strcmp(x, a) ? y : y && !strcmp(y, a) ? x : NULL;
        if (!with) {
            json_decref(cand);
            contacts_op_error(op, 409, "not_a_candidate", "that candidate does not name this contact");
            return 0;
        }
    }
    snprintf(other, sizeof other, "%s", with);
    if ((rc = contacts_follow(st, txn, other, b, sizeof b)) == MDB_NOTFOUND) {
        json_decref(cand);
        contacts_op_error(op, 404, "not_found", "no such contact to merge with");
        return 0;
    }
    if (rc == 0 && !strcmp(a, b)) {
        json_decref(cand);
        contacts_op_error(op, 409, "already_merged", "the two are one contact already");
        return 0;
    }
    /* As a verified merge does: the older contact survives. */
    const char *sid = number_of(a) < number_of(b) ? a : b, *aid = sid == a ? b : a;
    json_t *s = NULL, *ab = NULL;
    if (rc == 0 && (rc = contacts_load(st, txn, aid, &ab)) == 0) {
        unblock(ab, sid);
        rc = contacts_save(st, txn, ab);
        json_decref(ab);
    }
    if (rc == 0 && (rc = contacts_load(st, txn, sid, &s)) == 0)
        unblock(s, aid);
    struct resolve_extra extra = {0};
    if (rc == 0)
        rc = contacts_merge(st, txn, s, aid, it->last_seq, NULL, "admin-confirmed", &extra);
    if (rc == 0)
        rc = contacts_save(st, txn, s);
    if (rc == 0 && extra.n == 1) {
        /* The feed says who merged and which record raised the question. */
        json_t *meta = json_object_get(extra.recs[0], "meta");
        json_object_set_new(meta, "by", json_string("admin"));
        if (cand) {
            json_object_set(meta, "candidate", json_object_get(cand, "id"));
            json_object_set(meta, "caused_by", json_object_get(cand, "last_seq"));
        }
        rc = writer_append_system(st, txn, &extra, &it->last_seq);
    }
    resolve_extra_clear(&extra);
    json_decref(s);
    if (rc == 0)
        contacts_op_answer(op, 200,
                   json_pack("{s:s,s:s,s:s,s:I}", "survivor", sid, "absorbed", aid, "rule",
                             "admin-confirmed", "seq", (json_int_t)it->last_seq));
    json_decref(cand);
    return rc;
}

static int apply_reject(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct contacts_op *op = it->arg;
    json_t *cand = NULL;
    int rc = candidates_reject(st, txn, op->id, &cand);
    if (rc == MDB_NOTFOUND) {
        contacts_op_error(op, 404, "not_found", "no such merge candidate");
        return 0;
    }
    if (rc == 0)
        contacts_op_answer(op, 200,
                   json_pack("{s:s,s:O,s:b}", "rejected", op->id, "contacts",
                             json_object_get(cand, "contacts"), "kept_apart", 1));
    json_decref(cand);
    return rc;
}

static void list_candidates(struct contacts_api *ca, struct http_req *req)
{
    char *after;
    unsigned limit;
    const char *why;
    /* A key longer than LMDB's 511 bytes could match none and would make
     * the cursor fail: refused like any other malformed after. */
    if (query_after_key(req->pub.query, 511, &after, &why) < 0 ||
        query_limit(req->pub.query, &limit, &why) < 0) {
        free(after);
        http_respond_error(req, 400, "bad_request", why);
        return;
    }
    MDB_txn *txn;
    MDB_cursor *cur;
    if (store_read_begin(ca->store, &txn) < 0) {
        free(after);
        http_respond_error(req, 503, "store_unavailable", "the store cannot be read now");
        return;
    }
    json_t *list = json_array();
    int more = 0;
    if (mdb_cursor_open(txn, ca->store->candidates, &cur) == 0) {
        MDB_val k = {after ? strlen(after) : 0, after}, v;
        int r = mdb_cursor_get(cur, &k, &v, after ? MDB_SET_RANGE : MDB_FIRST);
        if (r == 0 && after && k.mv_size == strlen(after) && !memcmp(k.mv_data, after, k.mv_size))
            r = mdb_cursor_get(cur, &k, &v, MDB_NEXT); /* strictly after */
        for (; r == 0; r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (json_array_size(list) == (size_t)limit) {
                more = 1;
                break;
            }
            json_t *c = json_loadb(v.mv_data, v.mv_size, 0, NULL);
            if (c)
                json_array_append_new(list, c);
        }
        mdb_cursor_close(cur);
    }
    store_read_end(ca->store, txn);
    free(after);
    json_t *last = json_object_get(json_array_get(list, json_array_size(list) - 1), "id");
    json_t *o = json_pack("{s:o,s:b}", "candidates", list, "more", more);
    if (more && last)
        json_object_set(o, "next", last);
    api_respond_json(req, 200, o);
}

/* GET /v1/contacts/candidates (routes.c; the router checked method and scope). */
void candidates_route_list(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct contacts_api *ca = ctx;
    (void)p;
    list_candidates(ca, req);
}

/* DELETE /v1/contacts/candidates/{id} and POST .../{id}/reject. */
void candidates_route_reject(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct contacts_api *ca = ctx;
    const char *id = route_param(p, "id");
    size_t idlen = strlen(id);
    char cid[80];
    if (idlen == 0 || idlen >= sizeof cid) {
        http_respond_error(req, 404, "not_found", "no such route");
        return;
    }
    memcpy(cid, id, idlen + 1);
    contacts_op_submit(ca, req, NULL, cid, apply_reject, "reject");
}

/* A merge's body: one of "with", "contact" or "candidate", a short string. */
static int merge_args_ok(json_t *b)
{
    int ok = 0;
    static const char *const keys[] = {"with", "contact", "candidate"};
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(b, keys[i]);
        if (v &&
            (!json_is_string(v) || !*json_string_value(v) || strlen(json_string_value(v)) >= 64))
            ok = -1;
        else if (v && ok == 0)
            ok = 1;
    }
    return json_is_object(b) && ok == 1;
}

/* A cluster's state command "merge" or "reject" (statecmd.c): the route's
 * item, checked as the route checks a request. */
struct write_item *candidates_cmd_item(struct contacts_api *ca, const char *command,
                                       const char *target, json_t *args, struct statecmd_run *run,
                                       const char **why)
{
    (void)ca;
    int merge = !strcmp(command, "merge");
    *why = NULL;
    if (!merge && strcmp(command, "reject"))
        return NULL;
    if (!target || strlen(target) >= (merge ? 64 : 80))
        *why = "no target, or one the route would not take";
    else if (merge && !merge_args_ok(args))
        *why = "a merge's args name one of with, contact or candidate";
    if (*why)
        return NULL;
    return contacts_op_cmd_item(merge ? json_incref(args) : NULL, target,
                                merge ? apply_merge : apply_reject, run);
}

/* POST /v1/contacts/{id}/merge. */
void contacts_route_merge(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct contacts_api *ca = ctx;
    char id[64];
    if (contacts_path_id(req, p, id) < 0)
        return;
    json_t *b = json_loadb(req->pub.body, req->pub.body_len, 0, NULL);
    if (!merge_args_ok(b)) {
        json_decref(b);
        http_respond_error(req, 400, "bad_request",
                           "expected {\"with\": \"<contact id>\"} or {\"candidate\": \"<id>\"}");
        return;
    }
    contacts_op_submit(ca, req, b, id, apply_merge, "merge");
}
