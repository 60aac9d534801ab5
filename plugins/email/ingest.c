/* SPDX-License-Identifier: Apache-2.0 */
/* Parsed mail into records, and the batch one emit commits.
 *
 * Identity.  A message's external id is its Message-ID, so that a reply's
 * In-Reply-To names the record it answers and the same message fetched
 * again (an IMAP rescan, LMTP and IMAP both delivering it) is recognised by
 * the host's idempotency key.  Message-IDs are not always unique: kanal
 * keeps, per Message-ID, a hash of the body it stored and the thread's root
 * id ("mid/<hash of the id>" in the source's state, committed with the
 * record; no personal data, so that erasing a contact's records leaves
 * nothing readable behind).  The same Message-ID with
 * another body is another message and gets "<Message-ID>#<body hash>".  A
 * message without a Message-ID is named by a hash of its From, To, Date,
 * Subject and body: stable across fetches, distinct across messages.
 *
 * Direction.  From a brand address: outbound; to or cc a brand address:
 * inbound; neither: peer (customers writing to each other with the brand in
 * Bcc or on a list).  Delivery status notifications are `bounce` records,
 * linked to the Message-ID of the message they report. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "email.h"

#define MAX_RAW (1024 * 1024)

struct pending_mid {
    struct pending_mid *next;
    const struct mail_batch *owner;
    char key[48];
    char hash[33];
};

/* ---- helpers ---- */

char *utf8_clean(const char *s, size_t len)
{
    char *out = malloc(3 * len + 1), *o = out;
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        size_t n = 0;
        unsigned c = *p;
        if (c >= 0x01 && c < 0x80)
            n = 1;
        else if (c >= 0xC2 && c <= 0xDF)
            n = 2;
        else if (c >= 0xE0 && c <= 0xEF)
            n = 3;
        else if (c >= 0xF0 && c <= 0xF4)
            n = 4;
        int ok = n > 0 && (size_t)(end - p) >= n;
        for (size_t i = 1; ok && i < n; i++)
            ok = (p[i] & 0xC0) == 0x80;
        /* No overlong forms, surrogates or code points beyond U+10FFFF. */
        if (ok && n == 3)
            ok = !(c == 0xE0 && p[1] < 0xA0) && !(c == 0xED && p[1] >= 0xA0);
        if (ok && n == 4)
            ok = !(c == 0xF0 && p[1] < 0x90) && !(c == 0xF4 && p[1] >= 0x90);
        if (ok) {
            memcpy(o, p, n);
            o += n;
            p += n;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
        }
    }
    *o = '\0';
    return out;
}

/* Lower-case hex of HMAC-SHA256(key, data), cut to hexlen characters. */
static void digest_hex(struct email *e, const char *key, const void *data, size_t len, char *out,
                       size_t hexlen)
{
    unsigned char mac[32];
    char hex[65];
    e->host->hmac_sha256(key, strlen(key), data, len, mac);
    e->host->hex_encode(mac, sizeof mac, hex);
    hex[hexlen < 64 ? hexlen : 64] = '\0';
    memcpy(out, hex, strlen(hex) + 1);
}

/* The body (after the header block) with CRs dropped and trailing white
 * space trimmed, hashed: the same for a message however it was carried. */
static void body_hash(struct email *e, const char *raw, size_t len, char out[33])
{
    const char *body = raw;
    for (size_t i = 0; i + 1 < len; i++) {
        if (raw[i] == '\n' && raw[i + 1] == '\n') {
            body = raw + i + 2;
            break;
        }
        if (raw[i] == '\n' && raw[i + 1] == '\r' && i + 2 < len && raw[i + 2] == '\n') {
            body = raw + i + 3;
            break;
        }
    }
    size_t n = (size_t)(raw + len - body);
    char *norm = malloc(n + 1);
    size_t m = 0;
    for (size_t i = 0; norm && i < n; i++)
        if (body[i] != '\r')
            norm[m++] = body[i];
    while (m > 0 && (norm[m - 1] == '\n' || norm[m - 1] == ' ' || norm[m - 1] == '\t'))
        m--;
    digest_hex(e, "kanal-email-body", norm ? norm : "", m, out, 32);
    free(norm);
}

static void mid_key(struct email *e, const char *message_id, char key[48])
{
    char hex[33];
    digest_hex(e, "kanal-email-mid", message_id, strlen(message_id), hex, 32);
    snprintf(key, 48, "mid/%s", hex);
}

/* What the state (or a pending batch) holds for a Message-ID key. */
static json_t *mid_lookup(struct email *e, const char *key)
{
    for (struct pending_mid *p = e->pending; p; p = p->next)
        if (strcmp(p->key, key) == 0)
            return json_pack("{s:s}", "h", p->hash);
    char buf[2048]; /* {"h": 32 hex digits, "t": the thread's root id, at most 1000 bytes} */
    size_t len = sizeof buf;
    if (e->host->state_get(e->src, key, buf, &len) < 0)
        return NULL;
    return json_loadb(buf, len, 0, NULL);
}

int mail_thread_of(struct email *e, const char *message_id, char **root)
{
    char key[48];
    mid_key(e, message_id, key);
    json_t *o = mid_lookup(e, key);
    const char *t = json_string_value(json_object_get(o, "t"));
    *root = t ? strdup(t) : NULL;
    json_decref(o);
    return *root ? 0 : -ENOENT;
}

/* ---- the batch ---- */

void batch_init(struct mail_batch *b)
{
    memset(b, 0, sizeof *b);
    b->records = json_array();
}

int batch_set_state(struct mail_batch *b, const char *key, const void *value, size_t len)
{
    struct kanal_state_entry *slot = NULL;
    for (size_t i = 0; i < b->nstates; i++)
        if (strcmp(b->states[i].key, key) == 0)
            slot = &b->states[i];
    if (!slot) {
        if (b->nstates == b->cap) {
            size_t cap = b->cap ? 2 * b->cap : 8;
            struct kanal_state_entry *s = realloc(b->states, cap * sizeof *s);
            if (!s)
                return -ENOMEM;
            b->states = s;
            b->cap = cap;
        }
        slot = &b->states[b->nstates];
        slot->key = strdup(key);
        if (!slot->key)
            return -ENOMEM;
        slot->value = NULL;
        b->nstates++;
    }
    void *copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, value, len);
    free((void *)slot->value);
    slot->value = copy;
    slot->len = len;
    return 0;
}

int batch_emit(struct email *e, struct mail_batch *b, const struct kanal_kit_fallback *fb,
               kanal_kit_done_cb done, void *arg)
{
    char *text = json_dumps(b->records, JSON_COMPACT);
    if (!text)
        return -ENOMEM;
    int r = kanal_kit_emit_then(e->host, e->src, text, strlen(text), b->states, b->nstates, fb,
                                done, arg);
    free(text);
    return r;
}

int mail_unknown_json(struct email *e, const char *raw, size_t len, const struct mail_origin *o,
                      const char *why, char **out)
{
    struct mail_batch b;
    batch_init(&b);
    int r = batch_add_unknown(e, &b, raw, len, o, why);
    *out = r == 0 ? json_dumps(b.records, JSON_COMPACT) : NULL;
    batch_free(e, &b);
    return r < 0 ? r : *out ? 0 : -ENOMEM;
}

void batch_free(struct email *e, struct mail_batch *b)
{
    for (struct pending_mid **p = &e->pending; *p;) {
        if ((*p)->owner == b) {
            struct pending_mid *gone = *p;
            *p = gone->next;
            free(gone);
        } else {
            p = &(*p)->next;
        }
    }
    json_decref(b->records);
    for (size_t i = 0; i < b->nstates; i++) {
        free((void *)b->states[i].key);
        free((void *)b->states[i].value);
    }
    free(b->states);
    memset(b, 0, sizeof *b);
}

/* ---- records ---- */

/* Whether the receiving MTA vouches for the From (RFC 8601, RFC 7489): the
 * top-most Authentication-Results header carries its authserv-id and says
 * dmarc=pass for header.from = the From's domain.  Anyone can add such a
 * header to a message, so a header with another id, or one below the top,
 * proves nothing; the MTA must add its own on top (and remove forged ones
 * with its id, as RFC 8601 section 5 asks). */
static int from_verified(const struct email *e, const struct mail *m)
{
    const char *v = m->auth_results, *at = m->from.addr ? strrchr(m->from.addr, '@') : NULL;
    if (!e->authserv_id || !*e->authserv_id || !v || !at)
        return 0;
    while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
        v++;
    size_t idlen = strcspn(v, " \t\r\n;");
    if (idlen != strlen(e->authserv_id) || strncasecmp(v, e->authserv_id, idlen) != 0)
        return 0;
    const char *domain = at + 1;
    /* Each resinfo after a ';': "dmarc=pass (comment) header.from=example.com". */
    for (const char *p = strchr(v, ';'); p; p = strchr(p + 1, ';')) {
        const char *r = p + 1;
        while (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n')
            r++;
        size_t rl = strcspn(r, ";");
        if (rl < 10 || strncasecmp(r, "dmarc=pass", 10) != 0 ||
            (rl > 10 && !strchr(" \t\r\n(", r[10])))
            continue;
        for (const char *q = r; q < r + rl; q++) {
            if (strncasecmp(q, "header.from=", 12) != 0 || (q > r && !strchr(" \t\r\n", q[-1])))
                continue;
            const char *d = q + 12;
            if (*d == '"')
                d++;
            size_t dl = strcspn(d, " \t\r\n;()\"");
            if (dl == strlen(domain) && strncasecmp(d, domain, dl) == 0)
                return 1;
        }
    }
    return 0;
}

static json_t *party(struct email *e, const struct mail_addr *a)
{
    char in[600], h[620];
    if (snprintf(in, sizeof in, "email:%s", a->addr) >= (int)sizeof in ||
        e->host->normalize_handle(e->src, in, h, sizeof h) < 0)
        return NULL;
    json_t *p = json_pack("{s:s,s:s}", "handle", h, "role",
                          email_is_brand(e, a->addr) ? "brand" : "customer");
    if (p && a->name)
        json_object_set_new(p, "name", json_string(a->name));
    return p;
}

static const char *direction_of(struct email *e, const struct mail *m)
{
    if (m->is_dsn)
        return "outbound"; /* about the brand's own mail, as delivery receipts are */
    if (e->nbrand == 0)
        return "inbound";
    if (email_is_brand(e, m->from.addr))
        return "outbound";
    for (size_t i = 0; i < m->nto; i++)
        if (email_is_brand(e, m->to[i].addr))
            return "inbound";
    for (size_t i = 0; i < m->ncc; i++)
        if (email_is_brand(e, m->cc[i].addr))
            return "inbound";
    return "peer";
}

static void origin_meta(json_t *meta, const struct mail_origin *o)
{
    json_object_set_new(meta, "via", json_string(o->via));
    if (o->uid) {
        json_object_set_new(meta, "imap_uidvalidity", json_integer(o->uidvalidity));
        json_object_set_new(meta, "imap_uid", json_integer(o->uid));
    }
    if (o->envelope_from) {
        char *c = utf8_clean(o->envelope_from, strlen(o->envelope_from));
        json_object_set_new(meta, "envelope_from", json_string(c ? c : ""));
        free(c);
        json_t *to = json_array();
        for (size_t i = 0; i < o->nenvelope_to; i++) {
            c = utf8_clean(o->envelope_to[i], strlen(o->envelope_to[i]));
            json_array_append_new(to, json_string(c ? c : ""));
            free(c);
        }
        json_object_set_new(meta, "envelope_to", to);
    }
}

/* A bounce reports on mail the brand sent: like a delivery receipt it reads
 * brand → the recipients it reports, so that it lands on the customer's
 * timeline (the reporting mail system is only named in meta). */
static void bounce_fields(struct email *e, const struct mail *m, json_t *rec, json_t *meta)
{
    const char *status = NULL;
    json_t *recipients = json_array(), *dsn = json_array();
    for (size_t i = 0; i < m->ndsn; i++) {
        const struct dsn_recipient *d = &m->dsn[i];
        const char *action = d->action ? d->action : "";
        if (strcmp(action, "failed") == 0)
            status = "failed";
        else if (!status && (strcmp(action, "delivered") == 0 || strcmp(action, "relayed") == 0 ||
                             strcmp(action, "expanded") == 0))
            status = "delivered";
        json_t *entry = json_pack("{s:s,s:s}", "recipient", d->addr, "action", action);
        if (entry && d->status)
            json_object_set_new(entry, "status", json_string(d->status));
        if (entry && d->diagnostic) {
            char *c = utf8_clean(d->diagnostic, strlen(d->diagnostic));
            json_object_set_new(entry, "diagnostic", json_string(c ? c : ""));
            free(c);
        }
        if (entry)
            json_array_append_new(dsn, entry);
        struct mail_addr a = {.addr = d->addr};
        json_t *p = strchr(d->addr, '@') ? party(e, &a) : NULL;
        if (p)
            json_array_append_new(recipients, p);
    }
    if (status)
        json_object_set_new(rec, "status", json_string(status));
    /* The DSN goes to the original's sender: the brand. */
    json_t *sender = m->nto ? party(e, &m->to[0]) : NULL;
    if (sender && json_array_size(recipients)) {
        json_object_set_new(meta, "reported_by", json_string(m->from.addr));
        json_object_set_new(rec, "from", sender);
        json_object_set_new(rec, "to", recipients);
    } else {
        json_decref(sender);
        json_decref(recipients);
    }
    json_object_set_new(meta, "dsn", dsn);
    if (m->dsn_original_id) {
        char *root = NULL;
        mail_thread_of(e, m->dsn_original_id, &root);
        json_object_set_new(rec, "reply_to", json_string(m->dsn_original_id));
        json_object_set_new(rec, "thread", json_string(root ? root : m->dsn_original_id));
        json_object_set_new(meta, "original_message_id", json_string(m->dsn_original_id));
        free(root);
    }
}

/* external_id, and the dedup state entry to commit when this Message-ID is
 * new.  Returns 0 or -ENOMEM. */
static int identify(struct email *e, struct mail_batch *b, const struct mail *m, const char *hash,
                    const char *thread, char *ext, size_t ext_len, json_t *meta)
{
    if (!m->message_id) {
        char *ident = NULL;
        if (asprintf(&ident, "%s\n%s\n%s\n%s\n%s", m->raw_from ? m->raw_from : "",
                     m->raw_to ? m->raw_to : "", m->raw_date ? m->raw_date : "",
                     m->raw_subject ? m->raw_subject : "", hash) < 0)
            return -ENOMEM;
        char hex[41];
        digest_hex(e, "kanal-email-noid", ident, strlen(ident), hex, 40);
        free(ident);
        snprintf(ext, ext_len, "sha256:%s", hex);
        return 0;
    }
    char key[48];
    mid_key(e, m->message_id, key);
    json_t *known = mid_lookup(e, key);
    const char *known_hash = json_string_value(json_object_get(known, "h"));
    if (known_hash && strcmp(known_hash, hash) != 0) {
        snprintf(ext, ext_len, "%s#%.16s", m->message_id, hash);
        json_object_set_new(meta, "message_id_reused", json_true());
        json_decref(known);
        return 0;
    }
    snprintf(ext, ext_len, "%s", m->message_id);
    if (known) {
        json_decref(known);
        return 0;
    }
    json_t *v = json_pack("{s:s}", "h", hash);
    if (v && strlen(thread) <= 1000)
        json_object_set_new(v, "t", json_string(thread));
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    struct pending_mid *p = calloc(1, sizeof *p);
    int r = text && p ? batch_set_state(b, key, text, strlen(text)) : -ENOMEM;
    if (r == 0) {
        p->owner = b;
        snprintf(p->key, sizeof p->key, "%s", key);
        snprintf(p->hash, sizeof p->hash, "%s", hash);
        p->next = e->pending;
        e->pending = p;
    } else {
        free(p);
    }
    free(text);
    return r;
}

int batch_add_message(struct email *e, struct mail_batch *b, const char *raw, size_t len,
                      const struct mail_origin *o, int truncated)
{
    struct mail m;
    if (mail_parse(raw, len, &m) < 0) {
        mail_free(&m);
        return batch_add_unknown(e, b, raw, len, o, "not an RFC 5322 message");
    }
    json_t *from = m.from.addr ? party(e, &m.from) : NULL;
    if (!from) {
        mail_free(&m);
        return batch_add_unknown(e, b, raw, len, o, "no usable From address");
    }
    if (from_verified(e, &m) &&
        strcmp(json_string_value(json_object_get(from, "role")), "customer") == 0)
        json_object_set_new(from, "trust", json_string("verified"));
    char hash[33];
    body_hash(e, raw, len, hash);
    const char *thread = m.nrefs ? m.refs[0] : m.in_reply_to;
    json_t *meta = json_pack("{s:s}", "body_hash", hash);
    char ext[1100];
    int r = identify(e, b, &m, hash,
                     thread         ? thread
                     : m.message_id ? m.message_id
                                    : "",
                     ext, sizeof ext, meta);
    if (r < 0) {
        json_decref(from);
        json_decref(meta);
        mail_free(&m);
        return r;
    }
    if (!thread)
        thread = m.message_id ? m.message_id : ext;
    json_t *to = json_array(), *cc = json_array();
    for (size_t i = 0; i < m.nto + m.ncc; i++) {
        const struct mail_addr *a = i < m.nto ? &m.to[i] : &m.cc[i - m.nto];
        json_t *p = party(e, a);
        if (!p)
            continue;
        if (i >= m.nto)
            json_array_append(cc, json_object_get(p, "handle"));
        json_array_append_new(to, p);
    }
    json_t *rec =
        json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:O}", "kind", m.is_dsn ? "bounce" : "message",
                  "direction", direction_of(e, &m), "external_id", ext, "thread", thread, "from",
                  from, "to", to, "attachments", m.attachments);
    if (!rec) {
        json_decref(cc);
        json_decref(meta);
        mail_free(&m);
        return -ENOMEM;
    }
    const char *reply_to = m.in_reply_to ? m.in_reply_to : m.nrefs ? m.refs[m.nrefs - 1] : NULL;
    if (reply_to)
        json_object_set_new(rec, "reply_to", json_string(reply_to));
    if (m.date_ms) {
        char at[32];
        e->host->format_time(m.date_ms, at, sizeof at);
        json_object_set_new(rec, "occurred_at", json_string(at));
    }
    if (m.subject)
        json_object_set_new(rec, "subject", json_string(m.subject));
    if (m.text)
        json_object_set_new(rec, "text", json_string(m.text));
    if (m.message_id)
        json_object_set_new(meta, "message_id", json_string(m.message_id));
    if (m.in_reply_to)
        json_object_set_new(meta, "in_reply_to", json_string(m.in_reply_to));
    if (m.nrefs) {
        json_t *refs = json_array();
        for (size_t i = 0; i < m.nrefs; i++)
            json_array_append_new(refs, json_string(m.refs[i]));
        json_object_set_new(meta, "references", refs);
    }
    if (json_array_size(cc))
        json_object_set(meta, "cc", cc);
    json_decref(cc);
    if (m.auto_submitted)
        json_object_set_new(meta, "auto_submitted", json_string(m.auto_submitted));
    if (m.precedence)
        json_object_set_new(meta, "precedence", json_string(m.precedence));
    if (m.text_from_html)
        json_object_set_new(meta, "text_from_html", json_true());
    if (truncated)
        json_object_set_new(meta, "truncated", json_true());
    origin_meta(meta, o);
    if (m.is_dsn)
        bounce_fields(e, &m, rec, meta);
    json_object_set_new(rec, "meta", meta);
    json_array_append_new(b->records, rec);
    b->nmessages++;
    mail_free(&m);
    return 0;
}

int batch_add_unknown(struct email *e, struct mail_batch *b, const char *raw, size_t len,
                      const struct mail_origin *o, const char *why)
{
    char hex[41], ext[48];
    digest_hex(e, "kanal-email-raw", raw, len, hex, 40);
    snprintf(ext, sizeof ext, "sha256:%s", hex);
    size_t keep = len < MAX_RAW ? len : MAX_RAW;
    json_t *rawv = json_stringn(raw, keep);
    if (!rawv || memchr(raw, '\0', keep)) {
        json_decref(rawv);
        char *b64 = malloc(4 * ((keep + 2) / 3) + 1);
        if (!b64)
            return -ENOMEM;
        e->host->base64_encode(raw, keep, b64);
        rawv = json_pack("{s:s}", "base64", b64);
        free(b64);
    }
    json_t *meta = json_pack("{s:s}", "reason", why);
    if (keep < len)
        json_object_set_new(meta, "raw_truncated", json_true());
    origin_meta(meta, o);
    json_t *rec = json_pack("{s:s,s:s,s:s,s:o,s:o}", "kind", "unknown", "direction", "inbound",
                            "external_id", ext, "raw", rawv, "meta", meta);
    if (!rec)
        return -ENOMEM;
    e->host->log(e->src, KANAL_LOG_NOTICE, "%s message stored as unknown (%s): %s", o->via, ext,
                 why);
    json_array_append_new(b->records, rec);
    b->nmessages++;
    return 0;
}
