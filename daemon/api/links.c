/* SPDX-License-Identifier: Apache-2.0 */
/* Campaign response tracking.  POST /v1/links makes a short, unguessable
 * URL under [kanald] public_url for a target, a campaign and optionally a
 * contact; GET /t/<token> records a `click` (campaign, contact, user agent)
 * and redirects to the target (linkhit.c).  With the outbound records of
 * sends carrying their campaign, a CRM can join sends, clicks and replies.
 * An unsubscribe link (made here or by the outbox for each campaign send)
 * answers GET with a confirmation page and opts out on POST (unsub.c).
 * Here too is what those two share: the context (struct links, which the
 * router hands every /v1/links, /t/ and /u/ request), the limiter's table
 * and the cut of stored header values.
 *
 * On a core of a cluster ([kanald] state_cluster = core) a link, a click
 * and an opt-out are not committed here: each is published as a state
 * command ("link", "click", "optout", everything chosen where the request
 * came: token, external id, contact, meta) and every core applies it with
 * links_cmd_item's item, so that every core serves the link and holds the
 * same records (docs/cluster.md#tracking-links). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "contacts.h"
#include "crypto.h"
#include "http.h"
#include "jsonout.h"
#include "links.h"
#include "log.h"
#include "respond.h"
#include "statecmd_pub.h"
#include "store.h"
#include "util.h"
#include "writer.h"

#define TOKEN_BYTES 16

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
    struct links *l;
    struct http_req *req; /* NULL: made by the outbox, nobody waits */
    json_t *link;
    char token[40];
};

static int apply_link(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct link_op *op = it->arg;
    char *text = jsonout_text(op->link);
    MDB_val k = {strlen(op->token), op->token}, v = {strlen(text), text};
    int rc = mdb_put(txn, st->links, &k, &v, MDB_NOOVERWRITE);
    free(text);
    return rc;
}

/* What POST /v1/links answers: the token, the URL and the link. */
static json_t *link_answer(struct link_op *op)
{
    const char *base = links_public_url(op->l) ? links_public_url(op->l) : "";
    char url[512];
    const char *action = json_string_value(json_object_get(op->link, "action"));
    snprintf(url, sizeof url, "%s/%s/%s", base, action ? "u" : "t", op->token);
    json_t *o = json_pack("{s:s,s:s}", "token", op->token, "url", url);
    json_object_update(o, op->link);
    return o;
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
        api_respond_json(op->req, 201, link_answer(op));
    }
    json_decref(op->link);
    free(op);
    write_item_free(it);
}

/* A core of a cluster: the stream stored the link's command (or not). */
static void link_published(void *arg, struct http_req *req, const char *command_id, const char *err)
{
    struct link_op *op = arg;
    if (err) {
        http_respond_error(req, 503, "cluster_unavailable",
                           "the cluster's stream did not store the link; retry later");
    } else {
        json_t *o = link_answer(op);
        json_object_set_new(o, "command", json_string(command_id));
        json_object_set_new(o, "status", json_string("accepted"));
        api_respond_json(req, 202, o);
    }
    json_decref(op->link);
    free(op);
}

void links_create(struct links *l, struct http_req *req)
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
    if (!url || (strncmp(url, "https://", 8) && strncmp(url, "http://", 7)) || strlen(url) > 2048 ||
        strpbrk(url, "\r\n ")) {
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
        int rc = store_read_begin(l->store, &txn);
        if (rc == 0) {
            rc = contacts_follow(l->store, txn, contact, live, sizeof live);
            store_read_end(l->store, txn);
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
    op->l = l;
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
    /* In a cluster every core makes the same link, with this token, when
     * it consumes the command: a link that one core alone knew would be
     * 404 on the others. */
    json_t *args = json_pack("{s:s,s:O}", "token", op->token, "link", op->link);
    if (statecmd_publish(links_cluster(l), req, "link", args, 0, link_published, op))
        return;
    json_decref(args);
    struct write_item *it = xcalloc(1, sizeof *it);
    it->apply = apply_link;
    it->done = link_done;
    it->arg = op;
    writer_submit(l->writer, it);
}

int links_lookup(struct links *l, const char *token, json_t **out)
{
    *out = NULL;
    size_t n = strlen(token);
    if (n < 8 || n > 40)
        return 0;
    MDB_txn *txn;
    int rc = store_read_begin(l->store, &txn);
    if (rc < 0)
        return rc;
    MDB_val k = {n, (void *)token}, v;
    if (mdb_get(txn, l->store->links, &k, &v) == 0)
        *out = json_loadb(v.mv_data, v.mv_size, 0, NULL);
    store_read_end(l->store, txn);
    return 0;
}

int links_make_unsubscribe(struct links *l, const char *handle, const char *channel,
                           const char *campaign, const char *message_id, char *url, size_t url_len)
{
    const char *base = links_public_url(l);
    if (!base)
        return -EINVAL;
    char cid[32] = "";
    MDB_txn *txn;
    if (store_read_begin(l->store, &txn) == 0) {
        if (contacts_of_handle(l->store, txn, handle, cid, sizeof cid))
            cid[0] = '\0';
        store_read_end(l->store, txn);
    }
    int64_t now = util_now_ms();
    char at[32];
    util_format_time(now, at, sizeof at);
    struct link_op *op = xcalloc(1, sizeof *op);
    op->l = l;
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
    snprintf(url, url_len, "%s/u/%s", base, op->token);
    struct write_item *it = xcalloc(1, sizeof *it);
    it->apply = apply_link;
    it->done = link_done;
    it->arg = op;
    writer_submit(l->writer, it);
    return 0;
}

struct statecmd_pub *links_cluster(const struct links *l)
{
    return l->cluster ? *l->cluster : NULL;
}

int links_append(struct store *st, MDB_txn *txn, json_t *rec, uint64_t *last_seq)
{
    struct resolve_extra extra = {0};
    extra.recs = xmalloc(sizeof *extra.recs);
    extra.recs[0] = rec;
    extra.n = 1;
    int rc = writer_append_system(st, txn, &extra, last_seq);
    resolve_extra_clear(&extra);
    return rc;
}

const char *links_public_url(const struct links *l)
{
    return (*l->cfg)->public_url;
}

struct link_state *links_state(struct links *l)
{
    size_t cap = (size_t)(*l->cfg)->link_rate_table;
    struct link_state *ls = &l->state;
    if (ls->slots && ls->cap == cap)
        return ls;
    if (!ls->slots)
        crypto_random(ls->seed, sizeof ls->seed);
    /* First use, or a reload changed the bound: start counting afresh. */
    free(ls->slots);
    ls->cap = cap;
    ls->size = 16;
    while (ls->size < 2 * cap)
        ls->size *= 2;
    ls->slots = xcalloc(ls->size, sizeof *ls->slots);
    ls->live = 0;
    return ls;
}

void links_free(struct links *l)
{
    free(l->state.slots);
    l->state.slots = NULL;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80             ? 1
                 : (s[0] & 0xE0) == 0xC0 ? 2
                 : (s[0] & 0xF0) == 0xE0 ? 3
                 : (s[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    if (!len || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    uint32_t c = len == 1 ? s[0] : len == 2 ? s[0] & 0x1Fu : len == 3 ? s[0] & 0x0Fu : s[0] & 0x07u;
    for (size_t i = 1; i < len; i++)
        c = (c << 6) | (s[i] & 0x3Fu);
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < least[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0; /* overlong, beyond Unicode, or a surrogate */
    return len;
}

json_t *links_clean_text(const char *in, size_t max)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t n = strlen(in), o = 0;
    char *out = xmalloc(max + 1);
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len(s + i, n - i);
        const char *piece = (const char *)s + i;
        size_t pl = l;
        if (!l || (l == 1 && (s[i] < 0x20 || s[i] == 0x7F))) {
            piece = "\xEF\xBF\xBD"; /* U+FFFD */
            pl = 3;
            l = 1;
        }
        if (o + pl > max)
            break; /* cut before a character, never inside one */
        memcpy(out + o, piece, pl);
        o += pl;
        i += l;
    }
    out[o] = '\0';
    json_t *j = json_string(out);
    free(out);
    return j;
}
