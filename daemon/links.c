/* Campaign response tracking.  POST /v1/links makes a short, unguessable
 * URL under [kanald] public_url for a target, a campaign and optionally a
 * contact; GET /t/<token> records a `click` (campaign, contact, user agent)
 * and redirects to the target.  With the outbound records of sends carrying
 * their campaign, a CRM can join sends, clicks and replies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "contacts.h"
#include "contacts_api.h"
#include "crypto.h"
#include "daemon.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define TOKEN_BYTES 16

static void respond_json(struct http_req *req, int status, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    http_respond(req, status, "application/json", text, strlen(text));
    free(text);
    json_decref(o);
}

/* base64url without padding: URL-safe and short. */
static void make_token(char *out, size_t len)
{
    unsigned char raw[TOKEN_BYTES];
    char b64[64];
    crypto_random(raw, sizeof raw);
    crypto_base64_encode(raw, sizeof raw, b64);
    size_t n = 0;
    for (char *p = b64; *p && *p != '=' && n + 1 < len; p++)
        out[n++] = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    out[n] = '\0';
}

struct link_op {
    struct daemon *d;
    struct http_req *req;
    json_t *link;
    char token[40];
    char *target;
};

static int apply_link(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct link_op *op = it->arg;
    char *text = json_dumps(op->link, JSON_COMPACT);
    MDB_val k = {strlen(op->token), op->token}, v = {strlen(text), text};
    int rc = mdb_put(txn, st->links, &k, &v, MDB_NOOVERWRITE);
    free(text);
    return rc;
}

static void link_done(struct write_item *it)
{
    struct link_op *op = it->arg;
    if (it->status) {
        http_respond_error(op->req, 503, "store_unavailable", "the store cannot commit now");
    } else {
        const char *base = op->d->cfg->public_url ? op->d->cfg->public_url : "";
        char url[512];
        snprintf(url, sizeof url, "%s/t/%s", base, op->token);
        json_t *o = json_pack("{s:s,s:s}", "token", op->token, "url", url);
        json_object_update(o, op->link);
        respond_json(op->req, 201, o);
    }
    json_decref(op->link);
    free(op);
    write_item_free(it);
}

void links_create(struct daemon *d, struct http_req *req)
{
    json_t *body = json_loadb(req->pub.body, req->pub.body_len, 0, NULL);
    const char *url = json_string_value(json_object_get(body, "url"));
    const char *campaign = json_string_value(json_object_get(body, "campaign"));
    const char *contact = json_string_value(json_object_get(body, "contact"));
    const char *action = json_string_value(json_object_get(body, "action"));
    const char *channel = json_string_value(json_object_get(body, "channel"));
    if (action && strcmp(action, "click") && strcmp(action, "unsubscribe")) {
        json_decref(body);
        http_respond_error(req, 400, "bad_request", "'action' is click (default) or unsubscribe");
        return;
    }
    int unsubscribe = action && !strcmp(action, "unsubscribe");
    if (unsubscribe && (!contact || !channel || !*channel || strlen(channel) > 32)) {
        json_decref(body);
        http_respond_error(req, 400, "bad_request",
                           "an unsubscribe link needs 'contact' and the 'channel' it is for");
        return;
    }
    if (!url || (strncmp(url, "https://", 8) && strncmp(url, "http://", 7)) ||
        strlen(url) > 2048 || strpbrk(url, "\r\n ")) {
        json_decref(body);
        http_respond_error(req, 400, "bad_request", "'url' must be an absolute http(s) URL");
        return;
    }
    if (!campaign || !*campaign || strlen(campaign) > 256) {
        json_decref(body);
        http_respond_error(req, 400, "bad_request", "'campaign' is required");
        return;
    }
    char live[32] = "";
    if (contact) {
        MDB_txn *txn;
        int rc = store_read_begin(&d->store, &txn);
        if (rc == 0) {
            rc = contacts_follow(&d->store, txn, contact, live, sizeof live);
            store_read_end(&d->store, txn);
        }
        if (rc) {
            json_decref(body);
            http_respond_error(req, 422, "unknown_contact", "no such contact");
            return;
        }
    }
    char now[32];
    util_format_time(util_now_ms(), now, sizeof now);
    struct link_op *op = xcalloc(1, sizeof *op);
    op->d = d;
    op->req = req;
    op->link = json_pack("{s:s,s:s,s:s}", "target", url, "campaign", campaign, "created_at", now);
    if (*live)
        json_object_set_new(op->link, "contact", json_string(live));
    if (unsubscribe) {
        json_object_set_new(op->link, "action", json_string("unsubscribe"));
        json_object_set_new(op->link, "channel", json_string(channel));
    }
    make_token(op->token, sizeof op->token);
    json_decref(body);
    struct write_item *it = xcalloc(1, sizeof *it);
    it->apply = apply_link;
    it->done = link_done;
    it->arg = op;
    writer_submit(&d->writer, it);
}

struct click_op {
    struct http_req *req;
    char *target;
    json_t *rec;
};

static int apply_click(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct click_op *op = it->arg;
    struct resolve_extra extra = {0};
    extra.recs = xmalloc(sizeof *extra.recs);
    extra.recs[0] = json_incref(op->rec);
    extra.n = 1;
    int rc = writer_append_system(st, txn, &extra, &it->last_seq);
    resolve_extra_clear(&extra);
    return rc;
}

static void click_done(struct write_item *it)
{
    struct click_op *op = it->arg;
    if (it->status)
        log_err("click on %s not recorded: the store cannot commit now", op->target);
    /* The person clicking gets the target either way. */
    http_req_add_header(op->req, "Location", op->target);
    http_req_add_header(op->req, "Cache-Control", "no-store");
    http_respond(op->req, 302, "text/plain", "", 0);
    free(op->target);
    json_decref(op->rec);
    free(op);
    write_item_free(it);
}

void links_click(struct daemon *d, struct http_req *req, const char *token)
{
    req->route = "click";
    json_t *link = NULL;
    MDB_txn *txn;
    if (strlen(token) < 8 || strlen(token) > 40 || store_read_begin(&d->store, &txn) < 0) {
        http_respond_error(req, 404, "not_found", "no such link");
        return;
    }
    MDB_val k = {strlen(token), (void *)token}, v;
    if (mdb_get(txn, d->store.links, &k, &v) == 0)
        link = json_loadb(v.mv_data, v.mv_size, 0, NULL);
    store_read_end(&d->store, txn);
    if (!link) {
        http_respond_error(req, 404, "not_found", "no such link");
        return;
    }
    const char *contact = json_string_value(json_object_get(link, "contact"));
    char ext[96], rnd[9];
    unsigned char r[4];
    crypto_random(r, sizeof r);
    crypto_hex_encode(r, sizeof r, rnd);
    snprintf(ext, sizeof ext, "%s-%lld-%s", token, (long long)util_now_ms(), rnd);
    json_t *meta = json_pack("{s:s,s:O}", "token", token, "url", json_object_get(link, "target"));
    const char *ua = http_req_header(req, "User-Agent");
    if (ua)
        json_object_set_new(meta, "user_agent", json_string(ua));
    const char *ref = http_req_header(req, "Referer");
    if (ref)
        json_object_set_new(meta, "referer", json_string(ref));
    /* An unsubscribe link records the contact's opt-out on its channel (the
     * consent ledger and every later send see it); any other, a click. */
    const char *action = json_string_value(json_object_get(link, "action"));
    int unsubscribe = action && !strcmp(action, "unsubscribe") && contact;
    json_t *rec = contacts_system_record(unsubscribe ? "optout" : "click", ext, contact, meta);
    char from[64];
    snprintf(from, sizeof from, "link:%s", token);
    if (unsubscribe)
        json_object_set(rec, "channel", json_object_get(link, "channel"));
    else
        json_object_set_new(rec, "channel", json_string("web"));
    json_object_set_new(rec, "from",
                        json_pack("{s:s,s:s,s:[s]}", "handle", from, "role", "customer",
                                  "handles", from));
    json_object_set(rec, "campaign", json_object_get(link, "campaign"));
    struct click_op *op = xcalloc(1, sizeof *op);
    op->req = req;
    op->target = xstrdup(json_string_value(json_object_get(link, "target")));
    op->rec = rec;
    json_decref(link);
    struct write_item *it = xcalloc(1, sizeof *it);
    it->apply = apply_click;
    it->done = click_done;
    it->arg = op;
    writer_submit(&d->writer, it);
}
