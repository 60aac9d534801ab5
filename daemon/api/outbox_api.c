/* SPDX-License-Identifier: Apache-2.0 */
/* POST /v1/messages and GET /v1/messages/<id>: queueing outbound messages
 * durably (202 only after the commit) and telling where they are.  And the
 * outbox's hooks (outbox_env_of), made of the ties main.c gives, so that
 * the outbox itself knows nothing of the sources, the contacts or the
 * links. */
#include "outbox_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http.h"
#include "jsonout.h"
#include "links.h"
#include "outbox_int.h"
#include "respond.h"
#include "store.h"
#include "util.h"
#include "writer.h"

/* ---- POST /v1/messages ---- */

struct enqueue {
    struct outbox *ob;
    struct http_req *req;
    json_t *msg; /* the message to store */
    char *idem_key;
    char *existing; /* id of the first message with this idempotency key */
    char *existing_status;
    int conflict; /* the first message with this key was another request */
    char *id;
};

/* Whether the stored message m was queued by the same request as body: the
 * fields a client sends, a null the same as an absent one.  A message whose
 * recipient was erased cannot be compared any more and counts as the same,
 * as every repeat did before: its repeat sends nothing either way. */
static int same_request(json_t *m, json_t *body)
{
    static const char *const fields[] = {"source",   "to",       "text",
                                         "reply_to", "campaign", "template"};
    const char *to = json_string_value(json_object_get(m, "to"));
    if (to && !strcmp(to, "erased"))
        return 1;
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        json_t *a = json_object_get(m, fields[i]), *b = json_object_get(body, fields[i]);
        if (json_is_null(a))
            a = NULL;
        if (json_is_null(b))
            b = NULL;
        if ((a || b) && !(a && b && json_equal(a, b)))
            return 0;
    }
    return 1;
}

static int enqueue_apply(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct enqueue *e = it->arg;
    int rc;
    /* A transaction retried (the map grew) starts again from nothing. */
    free(e->existing);
    free(e->existing_status);
    free(e->id);
    e->existing = e->existing_status = e->id = NULL;
    e->conflict = 0;
    if (e->idem_key) {
        MDB_val k = {strlen(e->idem_key), e->idem_key}, v;
        rc = mdb_get(txn, st->msgkeys, &k, &v);
        if (rc == 0) {
            e->existing = xmalloc(v.mv_size + 1);
            memcpy(e->existing, v.mv_data, v.mv_size);
            e->existing[v.mv_size] = '\0';
            MDB_val mk = {v.mv_size, v.mv_data}, mv;
            if (mdb_get(txn, st->messages, &mk, &mv) == 0) {
                json_t *o = json_loadb(mv.mv_data, mv.mv_size, 0, NULL);
                e->existing_status = outbox__opt_dup(o, "status");
                e->conflict = o && !same_request(o, e->msg);
                json_decref(o);
            }
            return 0;
        }
        if (rc != MDB_NOTFOUND)
            return rc;
    }
    static const char next_key[] = KANAL_META_NEXT_MESSAGE;
    MDB_val nk = {sizeof next_key - 1, (void *)next_key}, nv;
    uint64_t num = 1;
    rc = mdb_get(txn, st->meta, &nk, &nv);
    if (rc == 0 && nv.mv_size == sizeof num)
        memcpy(&num, nv.mv_data, sizeof num);
    else if (rc && rc != MDB_NOTFOUND)
        return rc;
    uint64_t after = num + 1;
    MDB_val av = {sizeof after, &after};
    if ((rc = mdb_put(txn, st->meta, &nk, &av, 0)))
        return rc;
    char id[32];
    snprintf(id, sizeof id, "m%llu", (unsigned long long)num);
    e->id = xstrdup(id);
    json_object_set_new(e->msg, "id", json_string(id));
    json_object_set_new(e->msg, "num", json_integer((json_int_t)num));
    char *text = jsonout_text(e->msg);
    MDB_val ik = {strlen(id), id}, iv = {strlen(text), text};
    rc = mdb_put(txn, st->messages, &ik, &iv, MDB_NOOVERWRITE);
    free(text);
    if (rc)
        return rc;
    MDB_val ok = {sizeof num, &num}, ov = {strlen(id), id};
    if ((rc = mdb_put(txn, st->outbox, &ok, &ov, MDB_APPEND)))
        return rc;
    if (e->idem_key) {
        MDB_val k = {strlen(e->idem_key), e->idem_key};
        if ((rc = mdb_put(txn, st->msgkeys, &k, &ov, 0)))
            return rc;
    }
    return 0;
}

static void enqueue_done(struct write_item *it)
{
    struct enqueue *e = it->arg;
    struct outbox *ob = e->ob;
    if (it->status) {
        http_req_add_header(e->req, "Retry-After", "5");
        http_respond_error(e->req, 503, "store_unavailable", "the store cannot commit now");
    } else if (e->existing && e->conflict) {
        /* A key names one message: a different body under it is a client's
         * bug (a reused key), not a repeat to answer as the first. */
        char msg[200];
        snprintf(msg, sizeof msg,
                 "idempotency_key was used for message %s with a different body; a new message "
                 "needs a new key",
                 e->existing);
        api_respond_json(e->req, 409,
                     json_pack("{s:{s:s,s:s,s:s}}", "error", "code", "idempotency_conflict",
                               "message", msg, "id", e->existing));
    } else if (e->existing) {
        api_respond_json(e->req, 202,
                     json_pack("{s:s,s:s,s:b}", "id", e->existing, "status",
                               e->existing_status ? e->existing_status : "queued", "duplicate", 1));
    } else {
        struct outbox_msg *m = outbox__msg_from_json(e->msg);
        m->next = NULL;
        struct outbox_msg **p = &ob->pending;
        while (*p)
            p = &(*p)->next;
        *p = m;
        ob->depth++;
        api_respond_json(e->req, 202, json_pack("{s:s,s:s}", "id", e->id, "status", "queued"));
        outbox__schedule(ob);
    }
    json_decref(e->msg);
    free(e->idem_key);
    free(e->existing);
    free(e->existing_status);
    free(e->id);
    free(e);
    write_item_free(it);
}

static const char *check_string(json_t *body, const char *name, int required, int max)
{
    json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v))
        return required ? "is required" : NULL;
    if (!json_is_string(v))
        return "must be a string";
    if (required && json_string_length(v) == 0)
        return "must not be empty";
    if (json_string_length(v) > (size_t)max)
        return "is too long";
    return NULL;
}

void outbox_handle_post(struct outbox *ob, struct http_req *req)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->pub.body, req->pub.body_len, 0, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        http_respond_error(req, 400, "bad_request", "expected a JSON object");
        return;
    }
    static const char *const allowed[] = {"source",   "to",       "text",           "reply_to",
                                          "campaign", "template", "idempotency_key"};
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        int ok = 0;
        for (size_t i = 0; i < ARRAY_SIZE(allowed); i++)
            ok |= strcmp(key, allowed[i]) == 0;
        if (!ok) {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown field '%.60s'", key);
            http_respond_error(req, 400, "bad_request", msg);
            json_decref(body);
            return;
        }
    }
    static const struct {
        const char *name;
        int required, max;
    } fields[] = {{"source", 1, 64},     {"to", 1, 512},       {"text", 0, 65536},
                  {"reply_to", 0, 1024}, {"campaign", 0, 256}, {"idempotency_key", 0, 256}};
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        const char *why = check_string(body, fields[i].name, fields[i].required, fields[i].max);
        if (why) {
            char msg[160];
            snprintf(msg, sizeof msg, "'%s' %s", fields[i].name, why);
            http_respond_error(req, 400, "bad_request", msg);
            json_decref(body);
            return;
        }
    }
    json_t *tmpl = json_object_get(body, "template");
    json_t *text = json_object_get(body, "text");
    if (json_is_null(tmpl)) {
        json_object_del(body, "template");
        tmpl = NULL;
    }
    if ((!text || json_is_null(text)) && !tmpl) {
        http_respond_error(req, 400, "bad_request", "give 'text' or 'template'");
        json_decref(body);
        return;
    }
    if (tmpl && !json_is_object(tmpl)) {
        http_respond_error(req, 400, "bad_request", "'template' must be an object");
        json_decref(body);
        return;
    }
    const char *source = json_string_value(json_object_get(body, "source"));
    struct outbox_source os;
    if (!ob->env.find_source(ob->env.arg, source, &os)) {
        http_respond_error(req, 422, "unknown_source", "no source of that name is running");
        json_decref(body);
        return;
    }
    if (!os.can_send) {
        http_respond_error(req, 422, "cannot_send", "this source's plugin cannot send messages");
        json_decref(body);
        return;
    }
    /* A `to` of which no handle can be made would only fail at send time
     * (consent_unknown): refuse it now, while the CRM is listening. */
    const char *to = json_string_value(json_object_get(body, "to"));
    char handle[640];
    const char *why = NULL;
    int r = outbox__recipient_handle(to, os.channel, os.default_country, os.page_id, handle,
                                     sizeof handle, &why);
    if (r < 0) {
        char msg[320];
        snprintf(msg, sizeof msg, "'to' is neither a handle nor an address of the %s channel: %s",
                 os.channel, why ? why : "too long");
        http_respond_error(req, 400, "bad_request", msg);
        json_decref(body);
        return;
    }
    int64_t now = util_now_ms();
    char created[32];
    util_format_time(now, created, sizeof created);
    json_object_set_new(body, "status", json_string("queued"));
    json_object_set_new(body, "attempts", json_integer(0));
    json_object_set_new(body, "created_at", json_string(created));
    json_object_set_new(body, "created_ms", json_integer(now));
    json_object_set_new(body, "next_try_ms", json_integer(now));
    struct enqueue *e = xcalloc(1, sizeof *e);
    e->ob = ob;
    e->req = req;
    e->msg = body;
    const char *ik = json_string_value(json_object_get(body, "idempotency_key"));
    e->idem_key = ik ? xstrdup(ik) : NULL;
    struct write_item *it = xcalloc(1, sizeof *it);
    it->apply = enqueue_apply;
    it->done = enqueue_done;
    it->arg = e;
    writer_submit(ob->env.writer, it);
}

/* ---- GET /v1/messages/<id> ---- */

void outbox_handle_get(struct outbox *ob, struct http_req *req, const char *id)
{
    MDB_txn *txn;
    if (!*id || strlen(id) > 64) {
        http_respond_error(req, 404, "not_found", "no such message");
        return;
    }
    if (store_read_begin(ob->env.store, &txn) < 0) {
        http_respond_error(req, 503, "store_unavailable", "the store cannot be read now");
        return;
    }
    MDB_val k = {strlen(id), (void *)id}, v;
    int rc = mdb_get(txn, ob->env.store->messages, &k, &v);
    json_t *o = rc == 0 ? json_loadb(v.mv_data, v.mv_size, 0, NULL) : NULL;
    store_read_end(ob->env.store, txn);
    if (!o) {
        http_respond_error(req, 404, "not_found", "no such message");
        return;
    }
    for (struct outbox_msg *m = ob->pending; m; m = m->next)
        if (strcmp(m->id, id) == 0) {
            if (m->inflight)
                json_object_set_new(o, "status", json_string("sending"));
            json_object_set_new(o, "attempts", json_integer(m->attempts));
            if (m->last_error)
                json_object_set_new(o, "last_error", json_string(m->last_error));
            char next[32];
            if (!m->inflight && m->next_try_ms > 0) {
                util_format_time(m->next_try_ms, next, sizeof next);
                json_object_set_new(o, "next_try_at", json_string(next));
            }
        }
    /* Internal bookkeeping stays inside. */
    json_object_del(o, "num");
    json_object_del(o, "created_ms");
    json_object_del(o, "next_try_ms");
    api_respond_json(req, 200, o);
}

/* ---- the outbox's hooks ---- */

static int env_find_source(void *arg, const char *name, struct outbox_source *out)
{
    struct outbox_ties *t = arg;
    struct kanal_source *src = t->find_source(t->sources, name);
    if (!src)
        return 0;
    t->describe(src, out);
    return 1;
}

static int env_opted_out(void *arg, const char *handle, const char *channel)
{
    struct outbox_ties *t = arg;
    return t->opted_out(t->contacts, handle, channel);
}

/* Only with [kanald] public_url set: the link is served under it. */
static char *env_unsubscribe_url(void *arg, struct kanal_source *src, const char *to,
                                 const char *campaign, const char *message_id)
{
    struct outbox_ties *t = arg;
    char handle[512], url[600];
    if (!links_public_url(t->links))
        return NULL;
    struct outbox_source os;
    t->describe(src, &os);
    if (t->normalize_handle(src, to, handle, sizeof handle) < 0 ||
        links_make_unsubscribe(t->links, handle, os.channel, campaign, message_id, url,
                               sizeof url) < 0)
        return NULL;
    return xstrdup(url);
}

static int env_stopping(void *arg)
{
    struct outbox_ties *t = arg;
    return t->stopping(t->sources);
}

void outbox_env_of(struct outbox_ties *t, struct outbox_env *env)
{
    *env = (struct outbox_env){.loop = t->loop,
                               .store = t->store,
                               .writer = t->writer,
                               .arg = t,
                               .find_source = env_find_source,
                               .describe = t->describe,
                               .source_ref = t->source_ref,
                               .source_unref = t->source_unref,
                               .send = t->send,
                               .normalize_handle = t->normalize_handle,
                               .opted_out = env_opted_out,
                               .unsubscribe_url = env_unsubscribe_url,
                               .stopping = env_stopping};
}
