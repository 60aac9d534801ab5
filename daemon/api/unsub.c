/* SPDX-License-Identifier: Apache-2.0 */
/* Unsubscribe links.  Mail gateways' link scanners GET every link of a
 * message, so a GET (or HEAD) only shows a page asking to confirm and
 * changes nothing; the page's one button POSTs to the same URL, and so do
 * mailbox providers' one-click unsubscribes (RFC 8058: a POST with
 * List-Unsubscribe=One-Click, form-urlencoded or multipart).  A POST
 * records an `optout` of the link's contact on its channel and answers a
 * page, never a redirect.  Repeating the POST while the contact is still
 * opted out records nothing more: the record's external id names the token
 * and the consent it replaces, so even concurrent repeats are one record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "contacts.h"
#include "form.h"
#include "handle.h"
#include "http.h"
#include "links.h"
#include "log.h"
#include "statecmd_pub.h"
#include "store.h"
#include "unsub.h"
#include "util.h"
#include "writer.h"

struct page {
    char *p;
    size_t len, cap;
};

static void put(struct page *pg, const char *s, size_t n)
{
    if (pg->len + n + 1 > pg->cap) {
        pg->cap = (pg->len + n + 1) * 2;
        pg->p = xrealloc(pg->p, pg->cap);
    }
    memcpy(pg->p + pg->len, s, n);
    pg->len += n;
    pg->p[pg->len] = '\0';
}

static void puts_(struct page *pg, const char *s)
{
    put(pg, s, strlen(s));
}

/* Text and attribute values: everything HTML gives a meaning escaped. */
static void put_esc(struct page *pg, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            puts_(pg, "&amp;");
            break;
        case '<':
            puts_(pg, "&lt;");
            break;
        case '>':
            puts_(pg, "&gt;");
            break;
        case '"':
            puts_(pg, "&quot;");
            break;
        case '\'':
            puts_(pg, "&#39;");
            break;
        default:
            put(pg, s, 1);
        }
    }
}

static void page_start(struct page *pg, const char *title)
{
    puts_(pg, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
              "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
              "<meta name=\"robots\" content=\"noindex\"><title>");
    put_esc(pg, title);
    puts_(pg, "</title><style>body{font-family:sans-serif;max-width:34em;margin:3em auto;"
              "padding:0 1em;line-height:1.5}button{font-size:1.1em;padding:.5em 1.4em}"
              "</style></head><body>\n<h1>");
    put_esc(pg, title);
    puts_(pg, "</h1>\n");
}

/* The page is the whole answer: nothing outside it is loaded or framed,
 * and no cache or referer keeps the token. */
static void send_page(struct http_req *req, int status, struct page *pg)
{
    puts_(pg, "</body></html>\n");
    http_req_add_header(req, "Cache-Control", "no-store");
    http_req_add_header(req, "Content-Security-Policy",
                        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                        "frame-ancestors 'none'; base-uri 'none'");
    http_req_add_header(req, "Referrer-Policy", "no-referrer");
    http_req_add_header(req, "X-Content-Type-Options", "nosniff");
    http_req_add_header(req, "X-Robots-Tag", "noindex");
    http_respond(req, status, "text/html; charset=utf-8", pg->p, pg->len);
    free(pg->p);
}

void links_not_found(struct http_req *req, int html)
{
    if (!html) {
        http_respond_error(req, 404, "not_found", "no such link");
        return;
    }
    struct page pg = {0};
    page_start(&pg, "Link not found");
    puts_(&pg, "<p>This unsubscribe link is not valid (any more). If you still get messages "
               "you did not ask for, answer one of them and ask us to stop.</p>\n");
    send_page(req, 404, &pg);
}

static void confirm_page(struct http_req *req, const char *token, json_t *link)
{
    struct page pg = {0};
    page_start(&pg, "Unsubscribe");
    puts_(&pg, "<p>Stop receiving <strong>");
    put_esc(&pg, json_string_value(json_object_get(link, "channel")));
    puts_(&pg, "</strong> messages like those of <strong>");
    put_esc(&pg, json_string_value(json_object_get(link, "campaign")));
    puts_(&pg, "</strong>?</p>\n<form method=\"post\" action=\"");
    /* Relative: the page's own URL, whatever prefix a proxy adds. */
    put_esc(&pg, token);
    puts_(&pg, "\"><input type=\"hidden\" name=\"confirm\" value=\"yes\">"
               "<button type=\"submit\">Unsubscribe</button></form>\n");
    send_page(req, 200, &pg);
}

static void done_page(struct http_req *req, json_t *link)
{
    struct page pg = {0};
    page_start(&pg, "You are unsubscribed");
    puts_(&pg, "<p>You will get no more <strong>");
    put_esc(&pg, json_string_value(json_object_get(link, "channel")));
    puts_(&pg, "</strong> messages like those of <strong>");
    put_esc(&pg, json_string_value(json_object_get(link, "campaign")));
    puts_(&pg, "</strong>.</p>\n");
    const char *target = json_string_value(json_object_get(link, "target"));
    if (target) {
        puts_(&pg, "<p><a href=\"");
        put_esc(&pg, target);
        puts_(&pg, "\">Continue</a></p>\n");
    }
    send_page(req, 200, &pg);
}

static void retry_page(struct http_req *req)
{
    struct page pg = {0};
    page_start(&pg, "Please try again");
    puts_(&pg, "<p>Your request could not be saved just now. Please try again in a minute.</p>\n");
    http_req_add_header(req, "Retry-After", "60");
    send_page(req, 503, &pg);
}

/* RFC 8058's body, form-urlencoded or one multipart/form-data part. */
static int is_one_click(struct http_req *req)
{
    const char *body = req->pub.body;
    size_t len = req->pub.body_len;
    if (!body || !len)
        return 0;
    const char *ct = http_req_header(req, "Content-Type");
    if (ct && !strncasecmp(ct, "multipart/form-data", 19)) {
        const char *name = memmem(body, len, "name=\"List-Unsubscribe\"", 23);
        return name && memmem(name, len - (size_t)(name - body), "\r\n\r\nOne-Click", 13);
    }
    char *v = form_get(body, len, "List-Unsubscribe");
    int yes = v && !strcmp(v, "One-Click");
    free(v);
    return yes;
}

struct optout_op {
    struct http_req *req;
    json_t *link, *rec;
};

static int apply_optout(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct optout_op *op = it->arg;
    return links_append(st, txn, json_incref(op->rec), &it->last_seq);
}

static void optout_done(struct write_item *it)
{
    struct optout_op *op = it->arg;
    if (it->status) {
        log_err("opt-out of contact %s on %s (from %s) not recorded: the store cannot commit now",
                json_string_value(json_object_get(op->rec, "contact")),
                json_string_value(json_object_get(op->rec, "channel")), op->req->peer);
        retry_page(op->req);
    } else {
        done_page(op->req, op->link);
    }
    json_decref(op->link);
    json_decref(op->rec);
    free(op);
    write_item_free(it);
}

/* A core of a cluster: the stream stored the opt-out (every core appends
 * it when it consumes it), or did not: the person is asked to try again. */
static void optout_published(void *arg, struct http_req *req, const char *command_id,
                             const char *err)
{
    (void)command_id;
    struct optout_op *op = arg;
    if (err) {
        log_err("opt-out of contact %s on %s (from %s) not recorded: the cluster's stream did "
                "not store it (%s)",
                json_string_value(json_object_get(op->rec, "contact")),
                json_string_value(json_object_get(op->rec, "channel")), req->peer, err);
        retry_page(req);
    } else {
        done_page(req, op->link);
    }
    json_decref(op->link);
    json_decref(op->rec);
    free(op);
}

json_t *links_optout_record(const char *token, const char *ext, const char *contact, json_t *meta,
                            json_t *channel, json_t *campaign)
{
    json_t *rec = contacts_system_record("optout", ext, contact, meta);
    char from[64];
    snprintf(from, sizeof from, "link:%s", token);
    if (channel)
        json_object_set(rec, "channel", channel);
    json_object_set_new(
        rec, "from",
        json_pack("{s:s,s:s,s:[s]}", "handle", from, "role", "customer", "handles", from));
    if (campaign)
        json_object_set(rec, "campaign", campaign);
    return rec;
}

/* The contact of the recipient of the message the link was made for: its
 * `to`, normalized as the outbox did (with the source's default country
 * while the source runs).  An erased message's `to` is "erased". */
static int recipient_contact(struct links *l, MDB_txn *txn, const char *message, char *cid,
                             size_t len)
{
    if (!message)
        return -1;
    MDB_val k = {strlen(message), (void *)message}, v;
    if (mdb_get(txn, l->store->messages, &k, &v))
        return -1;
    json_t *m = json_loadb(v.mv_data, v.mv_size, 0, NULL);
    const char *to = json_string_value(json_object_get(m, "to"));
    const char *source = json_string_value(json_object_get(m, "source"));
    struct kanal_source *src = source ? l->find_source(l->sources, source) : NULL;
    char norm[512];
    const char *why;
    int rc = !to   ? -1
             : src ? l->normalize_handle(src, to, norm, sizeof norm)
                   : handle_normalize(to, NULL, norm, sizeof norm, &why);
    if (rc == 0)
        rc = contacts_of_handle(l->store, txn, norm, cid, len);
    json_decref(m);
    return rc;
}

/* The link's live contact and the seq of its consent on channel now (0:
 * none); -1 when no contact is known (any more). */
static int64_t find_contact(struct links *l, json_t *link, char *cid, size_t len, int *opted_out)
{
    const char *contact = json_string_value(json_object_get(link, "contact"));
    const char *message = json_string_value(json_object_get(link, "message"));
    const char *channel = json_string_value(json_object_get(link, "channel"));
    MDB_txn *txn;
    if (store_read_begin(l->store, &txn) < 0)
        return -1;
    int rc = contact ? contacts_follow(l->store, txn, contact, cid, len)
                     : recipient_contact(l, txn, message, cid, len);
    int64_t seq = -1;
    json_t *c;
    if (rc == 0 && contacts_load(l->store, txn, cid, &c) == 0) {
        json_t *cs = json_object_get(json_object_get(c, "consent"), channel ? channel : "");
        const char *state = json_string_value(json_object_get(cs, "state"));
        *opted_out = state && !strcmp(state, "optout");
        seq = json_integer_value(json_object_get(cs, "seq"));
        json_decref(c);
    }
    store_read_end(l->store, txn);
    return seq;
}

static void opt_out(struct links *l, struct http_req *req, const char *token, json_t *link)
{
    char cid[32];
    int opted_out = 0;
    int64_t seq = find_contact(l, link, cid, sizeof cid, &opted_out);
    if (seq < 0) {
        /* A prefix names the link without handing out the credential. */
        log_warn("unsubscribe link %.6s... (from %s) names no known contact (erased?): "
                 "nothing recorded",
                 token, req->peer);
        json_decref(link);
        links_not_found(req, 1);
        return;
    }
    if (opted_out) {
        done_page(req, link); /* already: a repeat, or another way out */
        json_decref(link);
        return;
    }
    char ext[96];
    snprintf(ext, sizeof ext, "unsub-%s-%lld", token, (long long)seq);
    json_t *meta =
        json_pack("{s:s,s:s}", "token", token, "via", is_one_click(req) ? "one-click" : "page");
    const char *ua = http_req_header(req, "User-Agent");
    if (ua)
        json_object_set_new(meta, "user_agent",
                            links_clean_text(ua, (size_t)(*l->cfg)->link_field_max));
    if (json_object_get(link, "message"))
        json_object_set(meta, "message", json_object_get(link, "message"));
    json_t *channel = json_object_get(link, "channel"),
           *campaign = json_object_get(link, "campaign");
    json_t *args = json_pack("{s:s,s:s,s:s,s:O}", "token", token, "external_id", ext, "contact",
                             cid, "meta", meta);
    if (json_is_string(channel))
        json_object_set(args, "channel", channel);
    if (json_is_string(campaign))
        json_object_set(args, "campaign", campaign);
    json_t *rec = links_optout_record(token, ext, cid, meta, channel, campaign);
    links_state(l)->stats.optouts++;
    struct optout_op *op = xcalloc(1, sizeof *op);
    op->req = req;
    op->link = link;
    op->rec = rec;
    /* In a cluster every core appends the same opt-out, with this external
     * id and contact, when it consumes the command. */
    if (statecmd_publish(links_cluster(l), req, "optout", args,
                         (size_t)(*l->cfg)->link_cluster_queue, optout_published, op))
        return;
    json_decref(args);
    struct write_item *it = xcalloc(1, sizeof *it);
    it->apply = apply_optout;
    it->done = optout_done;
    it->arg = op;
    writer_submit(l->writer, it);
}

void links_unsubscribe(struct links *l, struct http_req *req, const char *token, json_t *link)
{
    if (strcmp(req->pub.method, "POST")) {
        confirm_page(req, token, link); /* GET and HEAD change nothing */
        json_decref(link);
        return;
    }
    opt_out(l, req, token, link);
}
