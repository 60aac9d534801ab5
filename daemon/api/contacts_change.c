/* SPDX-License-Identifier: Apache-2.0 */
/* /v1/contacts, the changing routes: linking contacts to the CRM's
 * customers (one or an import), undoing wrong merges, and consent given or
 * withdrawn on the CRM side; and the same changes as a cluster's state
 * commands.  They go through the writer, so they are ordered with the
 * records and answered only once committed (contacts_op.c).  Declared in
 * contacts_api.h with the reading routes (contacts_api.c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "contacts.h"
#include "contacts_api.h"
#include "contacts_op.h"
#include "form.h"
#include "handle.h"
#include "http.h"
#include "route_params.h"
#include "statecmd_pub.h"
#include "store.h"
#include "util.h"
#include "value.h"
#include "writer.h"

/* ---- changes through the writer ---- */

static int apply_split(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct contacts_op *op = it->arg;
    const char *absorbed = json_string_value(json_object_get(op->body, "absorbed"));
    json_t *c;
    char live[32];
    int rc = contacts_follow(st, txn, op->id, live, sizeof live);
    if (rc == 0)
        rc = contacts_load(st, txn, live, &c);
    if (rc == MDB_NOTFOUND) {
        contacts_op_error(op, 404, "not_found", "no such contact");
        return 0;
    }
    if (rc)
        return rc;
    json_t *merged = json_object_get(c, "merged");
    if (!absorbed && json_array_size(merged) == 1)
        absorbed = json_string_value(json_object_get(json_array_get(merged, 0), "contact"));
    if (!absorbed) {
        json_decref(c);
        contacts_op_error(
            op, 400, "bad_request",
            "name the contact to restore: {\"absorbed\": \"cN\"} (see the contact's merged list)");
        return 0;
    }
    char name[32];
    snprintf(name, sizeof name, "%s", absorbed);
    json_decref(c);
    struct resolve_extra extra = {0};
    json_t *result = NULL;
    rc = contacts_split(st, txn, live, name, &extra, &result);
    if (rc == MDB_NOTFOUND) {
        resolve_extra_clear(&extra);
        contacts_op_error(op, 409, "not_merged", "that contact was not merged into this one");
        return 0;
    }
    if (rc == 0)
        rc = writer_append_system(st, txn, &extra, &it->last_seq);
    resolve_extra_clear(&extra);
    if (rc == 0) {
        json_object_set_new(result, "seq", json_integer((json_int_t)it->last_seq));
        contacts_op_answer(op, 200, result);
    } else {
        json_decref(result);
    }
    return rc;
}

/* One CRM customer: {"crm_id", "emails", "phones", "handles", "name",
 * "default_country"} → the normalized handles, crm:<id> first. */
static json_t *crm_handles(json_t *row, const char *crm_id, const char **why)
{
    json_t *out = json_array();
    char buf[512];
    snprintf(buf, sizeof buf, "crm:%s", crm_id);
    if (handle_normalize(buf, NULL, buf, sizeof buf, why) < 0) {
        json_decref(out);
        return NULL;
    }
    json_array_append_new(out, json_string(buf));
    const char *country = json_string_value(json_object_get(row, "default_country"));
    static const char *const fields[] = {"emails", "phones", "handles"};
    static const char *const schemes[] = {"email:", "phone:", ""};
    for (size_t f = 0; f < 3; f++) {
        json_t *list = json_object_get(row, fields[f]);
        if (json_is_string(list)) {
            json_t *one = json_array();
            json_array_append(one, list);
            list = one;
        } else {
            json_incref(list);
        }
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v)
        {
            const char *s = json_string_value(v);
            if (!s || !*s)
                continue;
            char in[512], norm[512];
            snprintf(in, sizeof in, "%s%s", schemes[f], s);
            if (handle_normalize(in, country, norm, sizeof norm, why) < 0) {
                json_decref(list);
                json_decref(out);
                return NULL;
            }
            int dup = 0;
            size_t j;
            json_t *o;
            json_array_foreach(out, j, o) dup |= strcmp(json_string_value(o), norm) == 0;
            if (!dup)
                json_array_append_new(out, json_string(norm));
        }
        json_decref(list);
    }
    return out;
}

/* The CRM's value of a customer (for the scores' monetary value,
 * docs/scores.md) and its currency: NULL when fine or absent, else why
 * not.  null clears what was kept. */
static const char *crm_value_check(json_t *row)
{
    json_t *v = json_object_get(row, "value"), *c = json_object_get(row, "currency");
    if (v && !json_is_null(v) &&
        (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0))
        return "'value' must be a number of 0 or more (the customer's value to the CRM)";
    if (c && !json_is_null(c) && !score_currency_ok(json_string_value(c)))
        return "'currency' must be an ISO 4217 code in capitals, e.g. TRY, EUR, USD";
    return NULL;
}

/* Keep the CRM's value and currency on the contact, when the row has them. */
static int crm_value_keep(struct store *st, MDB_txn *txn, const char *cid, json_t *row)
{
    json_t *v = json_object_get(row, "value"), *cur = json_object_get(row, "currency");
    if (!v && !cur)
        return 0;
    json_t *c;
    int rc = contacts_load(st, txn, cid, &c);
    if (rc)
        return rc;
    static const char *const keys[] = {"value", "currency"};
    json_t *vals[] = {v, cur};
    for (int i = 0; i < 2; i++) {
        if (!vals[i])
            continue;
        if (json_is_null(vals[i]))
            json_object_del(c, keys[i]);
        else
            json_object_set(c, keys[i], vals[i]);
    }
    rc = contacts_save(st, txn, c);
    json_decref(c);
    return rc;
}

static int link_one(struct store *st, MDB_txn *txn, json_t *row, const char *crm_id, uint64_t *last,
                    struct crm_result *res, const char **why)
{
    if ((*why = crm_value_check(row)))
        return -EINVAL;
    json_t *handles = crm_handles(row, crm_id, why);
    if (!handles)
        return -EINVAL;
    struct resolve_extra extra = {0};
    int rc = contacts_link_crm(st, txn, crm_id, handles,
                               json_string_value(json_object_get(row, "name")), *last, &extra, res);
    if (rc == 0)
        rc = writer_append_system(st, txn, &extra, last);
    if (rc == 0)
        rc = crm_value_keep(st, txn, res->contact, row);
    resolve_extra_clear(&extra);
    json_decref(handles);
    return rc;
}

static int apply_crm(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct contacts_op *op = it->arg;
    struct crm_result res;
    const char *why = "";
    int rc = link_one(st, txn, op->body, op->id, &it->last_seq, &res, &why);
    if (rc == -EINVAL) {
        contacts_op_error(op, 400, "bad_request", why);
        return 0;
    }
    if (rc == 0)
        contacts_op_answer(op, res.created ? 201 : 200,
                   json_pack("{s:s,s:s,s:b,s:b,s:i}", "crm_id", op->id, "contact", res.contact,
                             "created", res.created, "matched", res.matched, "merged", res.merged));
    return rc;
}

static int apply_import(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct contacts_op *op = it->arg;
    json_t *rows = op->body, *errors = json_array();
    int matched = 0, created = 0, merged = 0;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *crm_id = json_string_value(json_object_get(row, "crm_id"));
        if (!crm_id || !*crm_id) {
            json_array_append_new(
                errors, json_pack("{s:i,s:s}", "line", (int)i + 1, "error", "crm_id is required"));
            continue;
        }
        struct crm_result res;
        const char *why = "";
        int rc = link_one(st, txn, row, crm_id, &it->last_seq, &res, &why);
        if (rc == -EINVAL) {
            json_array_append_new(errors, json_pack("{s:i,s:s,s:s}", "line", (int)i + 1, "crm_id",
                                                    crm_id, "error", why));
            continue;
        }
        if (rc) {
            json_decref(errors);
            return rc;
        }
        matched += res.matched;
        created += res.created;
        merged += res.merged;
    }
    contacts_op_answer(op, 200,
               json_pack("{s:i,s:i,s:i,s:i,s:o}", "rows", (int)json_array_size(rows), "matched",
                         matched, "created", created, "merged", merged, "errors", errors));
    return 0;
}

/* Consent from the CRM side: an optin/optout record of kanal's own, which
 * sets the contact's consent like any channel's opt-out does. */
static int apply_consent(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct contacts_op *op = it->arg;
    char live[32];
    int rc = contacts_follow(st, txn, op->id, live, sizeof live);
    if (rc == MDB_NOTFOUND) {
        contacts_op_error(op, 404, "not_found", "no such contact");
        return 0;
    }
    if (rc)
        return rc;
    const char *channel = json_string_value(json_object_get(op->body, "channel"));
    const char *state = json_string_value(json_object_get(op->body, "state"));
    char ext[200], now[32];
    util_format_time(contacts_clock_ms(), now, sizeof now);
    snprintf(ext, sizeof ext, "%s-%s-%s-%s", live, channel, state, now);
    json_t *meta = json_pack("{s:s}", "by", "api");
    json_t *reason = json_object_get(op->body, "reason");
    if (json_is_string(reason))
        json_object_set(meta, "reason", reason);
    json_t *rec = contacts_system_record(state, ext, live, meta);
    /* The consent is for the channel named, not kanal's own, and the party
     * is the customer (by the first handle kanal knows of them). */
    json_object_set_new(rec, "channel", json_string(channel));
    json_t *c;
    char who[512];
    snprintf(who, sizeof who, "contact:%s", live);
    if (contacts_load(st, txn, live, &c) == 0) {
        const char *first = json_string_value(
            json_object_get(json_array_get(json_object_get(c, "handles"), 0), "handle"));
        if (first)
            snprintf(who, sizeof who, "%s", first);
        json_decref(c);
    }
    json_object_set_new(
        rec, "from",
        json_pack("{s:s,s:s,s:[s]}", "handle", who, "role", "customer", "handles", who));
    struct resolve_extra extra = {0};
    extra.recs = xmalloc(sizeof *extra.recs);
    extra.recs[0] = rec;
    extra.n = 1;
    rc = writer_append_system(st, txn, &extra, &it->last_seq);
    resolve_extra_clear(&extra);
    if (rc == 0)
        contacts_op_answer(op, 200,
                   json_pack("{s:s,s:s,s:s,s:I}", "contact", live, "channel", channel, "state",
                             state, "seq", (json_int_t)it->last_seq));
    return rc;
}

/* ---- routing ---- */

static json_t *body_object(struct http_req *req, int allow_empty)
{
    if (allow_empty && req->pub.body_len == 0)
        return json_object();
    json_t *b = json_loadb(req->pub.body, req->pub.body_len, 0, NULL);
    if (!json_is_object(b)) {
        json_decref(b);
        http_respond_error(req, 400, "bad_request", "expected a JSON object");
        return NULL;
    }
    return b;
}

/* JSON lines (or one JSON array) of CRM customers. */
static json_t *import_rows(struct http_req *req)
{
    json_t *rows = json_loadb(req->pub.body, req->pub.body_len, 0, NULL);
    if (json_is_array(rows))
        return rows;
    json_decref(rows);
    rows = json_array();
    const char *p = req->pub.body, *end = p + req->pub.body_len;
    int line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        line++;
        if (len > 0 && !(len == 1 && p[0] == '\r')) {
            json_t *row = json_loadb(p, len, 0, NULL);
            if (!json_is_object(row)) {
                json_decref(row);
                json_decref(rows);
                char msg[80];
                snprintf(msg, sizeof msg, "line %d is not a JSON object", line);
                http_respond_error(req, 400, "bad_request", msg);
                return NULL;
            }
            json_array_append_new(rows, row);
        }
        p += len + 1;
    }
    return rows;
}

/* What POST /v1/contacts/{id}/consent refuses with 400, or NULL. */
static const char *consent_args_bad(json_t *body)
{
    const char *channel = json_string_value(json_object_get(body, "channel"));
    const char *state = json_string_value(json_object_get(body, "state"));
    if (!channel || !*channel || strlen(channel) > 32 || !state ||
        (strcmp(state, "optin") && strcmp(state, "optout")))
        return "expected {\"channel\": \"sms\", \"state\": \"optin\"|\"optout\"}";
    return NULL;
}

/* A state command of the cluster (statecmd.c) that is one of these routes:
 * its item, checked as the route checks a request. */
struct write_item *contacts_cmd_item(struct contacts_api *ca, const char *command,
                                     const char *target, json_t *args, struct statecmd_run *run,
                                     const char **why)
{
    (void)ca;
    static const struct {
        const char *name;
        write_apply_fn apply;
    } ops[] = {{"import", apply_import},
               {"crm", apply_crm},
               {"split", apply_split},
               {"consent", apply_consent}};
    size_t i = 0;
    while (i < ARRAY_SIZE(ops) && strcmp(ops[i].name, command))
        i++;
    *why = NULL;
    if (i == ARRAY_SIZE(ops))
        return NULL;
    if (ops[i].apply == apply_import) {
        if (!json_is_array(args) || target)
            *why = "an import's args are an array of rows, without a target";
    } else if (!json_is_object(args)) {
        *why = "args are not a JSON object";
    } else if (!target || strlen(target) >= (ops[i].apply == apply_crm ? 201 : 64) ||
               (ops[i].apply == apply_crm && strchr(target, '/'))) {
        *why = "no target, or one the route would not take";
    } else if (ops[i].apply == apply_consent) {
        *why = consent_args_bad(args);
    }
    if (*why)
        return NULL;
    return contacts_op_cmd_item(json_incref(args), target, ops[i].apply, run);
}

/* The handlers of the /v1/contacts routes (routes.c): the router has
 * matched the method and checked the token's scope. */

void contacts_route_import(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct contacts_api *ca = ctx;
    (void)p;
    json_t *rows = import_rows(req);
    if (rows)
        contacts_op_submit(ca, req, rows, NULL, apply_import, "import");
}

void contacts_route_put_crm(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct contacts_api *ca = ctx;
    const char *crm = route_param(p, "crm_id");
    if (!*crm || strlen(crm) > 200 || strchr(crm, '/')) {
        http_respond_error(req, 400, "bad_request", "expected /v1/contacts/crm/<crm_id>");
        return;
    }
    char crm_id[256];
    form_unescape(crm, strlen(crm), crm_id, 0);
    json_t *body = body_object(req, 1);
    if (body)
        contacts_op_submit(ca, req, body, crm_id, apply_crm, "crm");
}

void contacts_route_split(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct contacts_api *ca = ctx;
    char id[64];
    if (contacts_path_id(req, p, id) < 0)
        return;
    json_t *body = body_object(req, 1);
    if (body)
        contacts_op_submit(ca, req, body, id, apply_split, "split");
}

void contacts_route_consent(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct contacts_api *ca = ctx;
    char id[64];
    if (contacts_path_id(req, p, id) < 0)
        return;
    json_t *body = body_object(req, 0);
    if (!body)
        return;
    const char *bad = consent_args_bad(body);
    if (bad) {
        json_decref(body);
        http_respond_error(req, 400, "bad_request", bad);
        return;
    }
    contacts_op_submit(ca, req, body, id, apply_consent, "consent");
}

