/* SPDX-License-Identifier: Apache-2.0 */
/* A hit on a link: GET, HEAD or POST on /t/<token> and /u/<token> finds the
 * link; an unsubscribe link's page and opt-out are unsub.c's.  GET on a
 * tracking link records a `click` and redirects.
 * The link is public, so what a client can make kanald keep is bounded:
 * hits are recorded at most [kanald] link_rate times per token and
 * link_rate_client times per client address a minute (token buckets, so a
 * burst gets no more than that either; over that the person
 * is still redirected, the hit is only counted in /metrics); the limiter's
 * table holds at most link_rate_table entries; the stored User-Agent and
 * Referer are cut to link_field_max bytes.  Clicks that look like a mail
 * gateway's link scanner (HEAD, a scanner's User-Agent, a hit within
 * link_bot_window of the send) are kept but flagged meta.suspected_bot. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "contacts.h"
#include "crypto.h"
#include "http.h"
#include "linkhit.h"
#include "links.h"
#include "log.h"
#include "statecmd_pub.h"
#include "unsub.h"
#include "util.h"
#include "writer.h"

/* Keyed, so that nobody can pick tokens or addresses that collide. */
static uint64_t slot_key(const struct link_state *ls, char kind, const char *s)
{
    unsigned char mac[32];
    char buf[160];
    int n = snprintf(buf, sizeof buf, "%c:%s", kind, s);
    crypto_hmac_sha256(ls->seed, sizeof ls->seed, buf,
                       (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1, mac);
    uint64_t k;
    memcpy(&k, mac, sizeof k);
    return k ? k : 1;
}

static struct rate_slot *find_slot(struct link_state *ls, uint64_t key)
{
    size_t mask = ls->size - 1;
    for (size_t i = (size_t)key & mask;; i = (i + 1) & mask)
        if (ls->slots[i].key == key || ls->slots[i].key == 0)
            return &ls->slots[i];
}

#define BUCKET_IDLE_MS 60000

/* Drop the buckets that are full again (linear probing has no deletion). */
static void sweep(struct link_state *ls, int64_t now)
{
    struct rate_slot *old = ls->slots;
    ls->slots = xcalloc(ls->size, sizeof *ls->slots);
    ls->live = 0;
    for (size_t i = 0; i < ls->size; i++)
        if (old[i].key && now - old[i].last_ms < BUCKET_IDLE_MS) {
            *find_slot(ls, old[i].key) = old[i];
            ls->live++;
        }
    free(old);
}

/* Take a hit from key's bucket; 1 while it is within limit per minute.  A
 * full table counts as over the limit: the limiter never grows. */
static int count_hit(struct link_state *ls, uint64_t key, int64_t now, int64_t limit)
{
    struct rate_slot *s = find_slot(ls, key);
    if (!s->key) {
        if (ls->live >= ls->cap) {
            sweep(ls, now);
            s = find_slot(ls, key);
            if (ls->live >= ls->cap)
                return 0;
        }
        *s = (struct rate_slot){.key = key, .last_ms = now, .left = (double)limit};
        ls->live++;
    }
    int64_t gone = now - s->last_ms;
    if (gone > 0) {
        s->left += (double)gone * (double)limit / (double)BUCKET_IDLE_MS;
        s->last_ms = now;
    }
    if (s->left > (double)limit)
        s->left = (double)limit;
    if (s->left < 1.0)
        return 0;
    s->left -= 1.0;
    return 1;
}

/* One client per IPv4 address, and per IPv6 /64: a host usually has a
 * whole /64, and must not get a fresh budget (and table entry) per address. */
const char *links_client_key(const char *peer, char out[INET6_ADDRSTRLEN])
{
    struct in6_addr a;
    if (!strchr(peer, ':') || inet_pton(AF_INET6, peer, &a) != 1 || IN6_IS_ADDR_V4MAPPED(&a))
        return peer;
    memset(a.s6_addr + 8, 0, 8);
    return inet_ntop(AF_INET6, &a, out, INET6_ADDRSTRLEN) ? out : peer;
}

int links_rate_ok(struct links *l, struct http_req *req, const char *token)
{
    struct link_state *ls = links_state(l);
    int64_t now = util_now_ms();
    /* Both are taken, so a client cannot spread one token's budget. */
    int tok = count_hit(ls, slot_key(ls, 't', token), now, (*l->cfg)->link_rate);
    char client[INET6_ADDRSTRLEN];
    int cli = count_hit(ls, slot_key(ls, 'c', links_client_key(req->peer, client)), now,
                        (*l->cfg)->link_rate_client);
    if (tok && cli)
        return 1;
    ls->stats.limited++;
    return 0;
}

/* Substrings (lower case) of User-Agents of mail gateways' link scanners and
 * other automata; docs/crm.md lists them. */
static const char *const scanner_agents[] = {
    "safelinks",       "safe links", "mimecast",    "proofpoint",     "urldefense", "barracuda",
    "trendmicro",      "forcepoint", "messagelabs", "symantec",       "ironport",   "fireeye",
    "sophos",          "zscaler",    "bot",         "spider",         "crawler",    "preview",
    "python-requests", "curl/",      "wget",        "go-http-client", "java/",      "okhttp",
    "libwww",          "scanner",
};

static const char *bot_reason(struct links *l, struct http_req *req, json_t *link)
{
    if (req->head_only)
        return "head";
    const char *ua = http_req_header(req, "User-Agent");
    if (!ua || !*ua)
        return "no_user_agent";
    char low[512];
    size_t n = 0;
    for (; ua[n] && n + 1 < sizeof low; n++)
        low[n] = (char)tolower((unsigned char)ua[n]);
    low[n] = '\0';
    for (size_t i = 0; i < sizeof scanner_agents / sizeof *scanner_agents; i++)
        if (strstr(low, scanner_agents[i]))
            return "user_agent";
    /* The send time when the link knows it, else when it was made. */
    int64_t at = json_integer_value(json_object_get(link, "sent_ms"));
    if (!at)
        util_parse_time(json_string_value(json_object_get(link, "created_at")), &at);
    if (at && util_now_ms() - at < (*l->cfg)->link_bot_window_ms)
        return "too_soon";
    return NULL;
}

struct click_op {
    struct http_req *req;
    char *target;
    json_t *rec;
};

static int apply_click(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct click_op *op = it->arg;
    return links_append(st, txn, json_incref(op->rec), &it->last_seq);
}

static void redirect(struct http_req *req, const char *target)
{
    http_req_add_header(req, "Location", target);
    http_req_add_header(req, "Cache-Control", "no-store");
    http_respond(req, 302, "text/plain", "", 0);
}

static void click_done(struct write_item *it)
{
    struct click_op *op = it->arg;
    if (it->status)
        log_err("click on %s from %s not recorded: the store cannot commit now", op->target,
                op->req->peer);
    /* The person clicking gets the target either way. */
    redirect(op->req, op->target);
    free(op->target);
    json_decref(op->rec);
    free(op);
    write_item_free(it);
}

/* A core of a cluster: the person is redirected once the stream stored
 * the click (every core appends it when it consumes it), or did not. */
static void click_published(void *arg, struct http_req *req, const char *command_id,
                            const char *err)
{
    (void)command_id;
    struct click_op *op = arg;
    if (err)
        log_err("click on %s from %s not recorded: the cluster's stream did not store it (%s)",
                op->target, req->peer, err);
    redirect(req, op->target);
    free(op->target);
    free(op);
}

json_t *links_click_record(const char *token, const char *ext, const char *contact, json_t *meta,
                           json_t *campaign)
{
    json_t *rec = contacts_system_record("click", ext, contact, meta);
    char from[64];
    snprintf(from, sizeof from, "link:%s", token);
    json_object_set_new(rec, "channel", json_string("web"));
    json_object_set_new(
        rec, "from",
        json_pack("{s:s,s:s,s:[s]}", "handle", from, "role", "customer", "handles", from));
    if (campaign)
        json_object_set(rec, "campaign", campaign);
    return rec;
}

static void hit_click(struct links *l, struct http_req *req, const char *token, json_t *link)
{
    const char *target = json_string_value(json_object_get(link, "target"));
    if (!links_rate_ok(l, req, token)) {
        redirect(req, target ? target : "/");
        json_decref(link);
        return;
    }
    const char *contact = json_string_value(json_object_get(link, "contact"));
    char ext[96], rnd[9];
    unsigned char r[4];
    crypto_random(r, sizeof r);
    crypto_hex_encode(r, sizeof r, rnd);
    snprintf(ext, sizeof ext, "%s-%lld-%s", token, (long long)util_now_ms(), rnd);
    json_t *meta = json_pack("{s:s,s:O}", "token", token, "url", json_object_get(link, "target"));
    size_t max = (size_t)(*l->cfg)->link_field_max;
    const char *ua = http_req_header(req, "User-Agent");
    if (ua)
        json_object_set_new(meta, "user_agent", links_clean_text(ua, max));
    const char *ref = http_req_header(req, "Referer");
    if (ref)
        json_object_set_new(meta, "referer", links_clean_text(ref, max));
    const char *why = bot_reason(l, req, link);
    json_object_set_new(meta, "suspected_bot", json_boolean(why != NULL));
    if (why) {
        json_object_set_new(meta, "bot_reason", json_string(why));
        links_state(l)->stats.suspected_bots++;
    }
    struct click_op *op = xcalloc(1, sizeof *op);
    op->req = req;
    op->target = xstrdup(target ? target : "/");
    json_t *campaign = json_object_get(link, "campaign");
    json_t *args = json_pack("{s:s,s:s,s:o}", "token", token, "external_id", ext, "meta", meta);
    if (contact)
        json_object_set_new(args, "contact", json_string(contact));
    if (json_is_string(campaign))
        json_object_set(args, "campaign", campaign);
    if (statecmd_publish(links_cluster(l), req, "click", args,
                         (size_t)(*l->cfg)->link_cluster_queue, click_published, op)) {
        json_decref(link);
        return;
    }
    op->rec = links_click_record(token, ext, contact, json_incref(meta), campaign);
    json_decref(args);
    json_decref(link);
    struct write_item *it = xcalloc(1, sizeof *it);
    it->apply = apply_click;
    it->done = click_done;
    it->arg = op;
    writer_submit(l->writer, it);
}

void links_route(struct links *l, struct http_req *req, const char *token, int unsub)
{
    req->route = unsub ? "unsubscribe" : "click";
    const char *m = req->pub.method;
    int post = !strcmp(m, "POST");
    if (!post && strcmp(m, "GET") && strcmp(m, "HEAD")) {
        http_respond_error(req, 405, "method_not_allowed", "use GET, HEAD or POST");
        return;
    }
    json_t *link;
    if (links_lookup(l, token, &link) < 0) {
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
        links_unsubscribe(l, req, token, link);
    } else if (post) {
        json_decref(link);
        http_req_add_header(req, "Allow", "GET, HEAD");
        http_respond_error(req, 405, "method_not_allowed", "a tracking link takes GET");
    } else {
        hit_click(l, req, token, link);
    }
}
