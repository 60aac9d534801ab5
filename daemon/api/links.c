/* Campaign response tracking.  POST /v1/links makes a short, unguessable
 * URL under [kanald] public_url for a target, a campaign and optionally a
 * contact; GET /t/<token> records a `click` (campaign, contact, user agent)
 * and redirects to the target (linkhit.c).  With the outbound records of
 * sends carrying their campaign, a CRM can join sends, clicks and replies.
 * An unsubscribe link (made here or by the outbox for each campaign send)
 * answers GET with a confirmation page and opts out on POST (unsub.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "contacts.h"
#include "contacts_api.h"
#include "crypto.h"
#include "daemon.h"
#include "http.h"
#include "links.h"
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
    struct http_req *req; /* NULL: made by the outbox, nobody waits */
    json_t *link;
    char token[40];
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
    if (!op->req) {
        if (it->status)
            log_err("unsubscribe link for message %s not stored: the store cannot commit now",
                    json_string_value(json_object_get(op->link, "message")));
    } else if (it->status) {
        http_respond_error(op->req, 503, "store_unavailable", "the store cannot commit now");
    } else {
        const char *base = op->d->cfg->public_url ? op->d->cfg->public_url : "";
        char url[512];
        const char *action = json_string_value(json_object_get(op->link, "action"));
        snprintf(url, sizeof url, "%s/%s/%s", base, action ? "u" : "t", op->token);
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

int links_lookup(struct daemon *d, const char *token, json_t **out)
{
    *out = NULL;
    size_t n = strlen(token);
    if (n < 8 || n > 40)
        return 0;
    MDB_txn *txn;
    int rc = store_read_begin(&d->store, &txn);
    if (rc < 0)
        return rc;
    MDB_val k = {n, (void *)token}, v;
    if (mdb_get(txn, d->store.links, &k, &v) == 0)
        *out = json_loadb(v.mv_data, v.mv_size, 0, NULL);
    store_read_end(&d->store, txn);
    return 0;
}

int links_make_unsubscribe(struct daemon *d, const char *handle, const char *channel,
                           const char *campaign, const char *message_id, char *url,
                           size_t url_len)
{
    if (!d->cfg->public_url)
        return -EINVAL;
    char cid[32] = "";
    MDB_txn *txn;
    if (store_read_begin(&d->store, &txn) == 0) {
        if (contacts_of_handle(&d->store, txn, handle, cid, sizeof cid))
            cid[0] = '\0';
        store_read_end(&d->store, txn);
    }
    int64_t now = util_now_ms();
    char at[32];
    util_format_time(now, at, sizeof at);
    struct link_op *op = xcalloc(1, sizeof *op);
    op->d = d;
    /* The send time: a click within link_bot_window of it is a scanner's. */
    op->link = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "campaign", campaign, "created_at", at,
                         "action", "unsubscribe", "channel", channel, "message", message_id,
                         "sent_ms", (json_int_t)now);
    /* A first mail to a new address has no contact yet: the opt-out finds
     * it through the message's recipient (the send's outbound record has
     * made it by then).  The link never keeps the address itself, so an
     * erasure, which scrubs the message, leaves nothing of it here. */
    if (*cid)
        json_object_set_new(op->link, "contact", json_string(cid));
    make_token(op->token, sizeof op->token);
    snprintf(url, url_len, "%s/u/%s", d->cfg->public_url, op->token);
    struct write_item *it = xcalloc(1, sizeof *it);
    it->apply = apply_link;
    it->done = link_done;
    it->arg = op;
    writer_submit(&d->writer, it);
    return 0;
}

void links_click(struct daemon *d, struct http_req *req, const char *token)
{
    links_route(d, req, token, 0);
}

void links_route(struct daemon *d, struct http_req *req, const char *token, int unsub)
{
    req->route = unsub ? "unsubscribe" : "click";
    const char *m = req->pub.method;
    int post = !strcmp(m, "POST");
    if (!post && strcmp(m, "GET") && strcmp(m, "HEAD")) {
        http_respond_error(req, 405, "method_not_allowed", "use GET, HEAD or POST");
        return;
    }
    json_t *link;
    if (links_lookup(d, token, &link) < 0) {
        /* Not "no such link": the person (or provider) should try again. */
        log_err("link %.6s... from %s: the store cannot be read now", token, req->peer);
        http_req_add_header(req, "Retry-After", "60");
        http_respond_error(req, 503, "store_unavailable", "the store cannot be read now");
        return;
    }
    const char *action = json_string_value(json_object_get(link, "action"));
    int is_unsub = action && !strcmp(action, "unsubscribe");
    if (!link || (unsub && !is_unsub)) {
        json_decref(link);
        links_not_found(req, unsub);
        return;
    }
    if (is_unsub) {
        links_unsubscribe(d, req, token, link);
    } else if (post) {
        json_decref(link);
        http_req_add_header(req, "Allow", "GET, HEAD");
        http_respond_error(req, 405, "method_not_allowed", "a tracking link takes GET");
    } else {
        links_hit_click(d, req, token, link);
    }
}
