/* SPDX-License-Identifier: Apache-2.0 */
/* The outbox.  POST /v1/messages is answered 202 only once the message is
 * committed; a scheduler on the loop hands due messages to their source's
 * plugin, within the source's send_concurrency and send_rate (a token
 * bucket).  The plugin reports sent, retry (with the provider's delay hint
 * when it gave one) or failed.  A sent message's outbound record is committed
 * in the same transaction that removes it from the outbox, so a crash can
 * never leave a message both sent and pending without its record; it can
 * only make kanal send it again (at-least-once), and the provider's
 * idempotency key (the message id unless the CRM gave one) lets providers
 * that honour it drop the repeat. */
#include "outbox.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crypto.h"
#include "error.h"
#include "handle.h"
#include "jsonout.h"
#include "log.h"
#include "outbox_int.h"
#include "record.h"
#include "store.h"
#include "util.h"
#include "writer.h"

#define BACKOFF_BASE_MS 1000
#define BACKOFF_MAX_MS (15 * 60 * 1000)
#define WAIT_FOR_SOURCE_MS 1000

/* ---- messages in memory ---- */

static void msg_free(struct outbox_msg *m)
{
    free(m->final_status);
    free(m->final_reason);
    free(m->final_provider_id);
    json_decref(m->final_record);
    free(m->id);
    free(m->source);
    free(m->to);
    free(m->text);
    free(m->reply_to);
    free(m->campaign);
    free(m->template_json);
    free(m->idem_key);
    free(m->provider_key);
    free(m->unsub_url);
    free(m->last_error);
    free(m);
}

void outbox__msg_free(struct outbox_msg *m)
{
    msg_free(m);
}

char *outbox__opt_dup(json_t *o, const char *name)
{
    const char *v = json_string_value(json_object_get(o, name));
    return v ? xstrdup(v) : NULL;
}

/* Build the in-memory message from its stored JSON. */
struct outbox_msg *outbox__msg_from_json(json_t *o)
{
    struct outbox_msg *m = xcalloc(1, sizeof *m);
    m->id = outbox__opt_dup(o, "id");
    m->source = outbox__opt_dup(o, "source");
    m->to = outbox__opt_dup(o, "to");
    m->text = outbox__opt_dup(o, "text");
    m->reply_to = outbox__opt_dup(o, "reply_to");
    m->campaign = outbox__opt_dup(o, "campaign");
    m->idem_key = outbox__opt_dup(o, "idempotency_key");
    m->last_error = outbox__opt_dup(o, "last_error");
    json_t *t = json_object_get(o, "template");
    if (t && !json_is_null(t))
        m->template_json = json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY);
    m->num = (uint64_t)json_integer_value(json_object_get(o, "num"));
    m->attempts = (unsigned)json_integer_value(json_object_get(o, "attempts"));
    m->created_ms = json_integer_value(json_object_get(o, "created_ms"));
    m->next_try_ms = json_integer_value(json_object_get(o, "next_try_ms"));
    m->provider_key = xstrdup(m->idem_key ? m->idem_key : m->id);
    m->cluster = json_is_true(json_object_get(o, "cluster"));
    return m;
}

static struct bucket *bucket_for(struct outbox *ob, const char *source)
{
    for (size_t i = 0; i < ob->nbuckets; i++)
        if (strcmp(ob->buckets[i].source, source) == 0)
            return &ob->buckets[i];
    ob->buckets = xrealloc(ob->buckets, (ob->nbuckets + 1) * sizeof *ob->buckets);
    struct bucket *b = &ob->buckets[ob->nbuckets++];
    memset(b, 0, sizeof *b);
    b->source = xstrdup(source);
    b->stats.source = b->source;
    b->tokens = -1; /* filled on first use */
    return b;
}

static void unlink_msg(struct outbox *ob, struct outbox_msg *m)
{
    for (struct outbox_msg **p = &ob->pending; *p; p = &(*p)->next)
        if (*p == m) {
            *p = m->next;
            ob->depth--;
            return;
        }
}

/* ---- persistence ---- */

/* A write item whose apply() updates the message's stored state. */
struct msg_write {
    struct outbox *ob;
    struct outbox_msg *m;
    char *id;
    uint64_t num;
    char *status; /* sent, failed or queued (a retry) */
    char *reason;
    char *provider_id;
    unsigned attempts;
    int64_t next_try_ms;
    int remove; /* drop from the outbox db */
};

static int update_message(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct msg_write *w = it->arg;
    MDB_val k = {strlen(w->id), w->id}, v;
    int rc = mdb_get(txn, st->messages, &k, &v);
    if (rc)
        return rc;
    json_t *o = json_loadb(v.mv_data, v.mv_size, 0, NULL);
    if (!o)
        return MDB_CORRUPTED;
    /* sent and failed are final: a late outcome (a retry racing an erasure)
     * must not bring a message back. */
    const char *was = json_string_value(json_object_get(o, "status"));
    if (was && (!strcmp(was, "sent") || !strcmp(was, "failed"))) {
        json_decref(o);
        return 0;
    }
    char now[32];
    util_format_time(util_now_ms(), now, sizeof now);
    json_object_set_new(o, "status", json_string(w->status));
    json_object_set_new(o, "attempts", json_integer(w->attempts));
    json_object_set_new(o, "updated_at", json_string(now));
    json_object_set_new(o, "next_try_ms", json_integer(w->next_try_ms));
    if (w->reason)
        json_object_set_new(o, strcmp(w->status, "failed") == 0 ? "reason" : "last_error",
                            json_string(w->reason));
    if (w->provider_id)
        json_object_set_new(o, "provider_id", json_string(w->provider_id));
    if (it->nrecs && it->seqs)
        json_object_set_new(o, "seq", json_integer((json_int_t)it->seqs[0]));
    char *text = jsonout_text(o);
    json_decref(o);
    MDB_val nv = {strlen(text), text};
    rc = mdb_put(txn, st->messages, &k, &nv, 0);
    free(text);
    if (rc)
        return rc;
    if (w->remove) {
        MDB_val nk = {sizeof w->num, &w->num};
        rc = mdb_del(txn, st->outbox, &nk, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    return rc;
}

static void msg_write_free(struct msg_write *w)
{
    free(w->id);
    free(w->status);
    free(w->reason);
    free(w->provider_id);
    free(w);
}

static void update_done(struct write_item *it)
{
    struct msg_write *w = it->arg;
    struct outbox *ob = w->ob;
    struct outbox_msg *m = w->m;
    if (it->status) {
        log_err("outbox: cannot record the state of message %s: %s", w->id,
                kanal_strerror(it->status));
        if (m && m->forgotten) {
            outbox_nats__release(ob, m, 1); /* erased: nobody sends it */
            unlink_msg(ob, m);
            msg_free(m);
        } else if (m && m->finishing) {
            /* Not recorded: commit the same final state again later; the
             * message is not sent again. */
            m->finishing = 0;
            m->next_try_ms = util_now_ms() + 5000;
        }
    } else if (m && w->remove) {
        /* Final and committed (with its outbound record): the stream may
         * forget the message now. */
        if (m->jsmsg)
            outbox_nats__release(ob, m, 1);
        unlink_msg(ob, m);
        msg_free(m);
    }
    write_item_free(it);
    msg_write_free(w);
    if (!ob->closed)
        outbox__schedule(ob);
}

static void persist(struct outbox *ob, struct outbox_msg *m, const char *status,
                    const char *reason, const char *provider_id, json_t *record, int remove)
{
    struct msg_write *w = xcalloc(1, sizeof *w);
    *w = (struct msg_write){.ob = ob, .m = remove ? m : NULL, .id = xstrdup(m->id),
                            .num = m->num, .status = xstrdup(status),
                            .reason = reason ? xstrdup(reason) : NULL,
                            .provider_id = provider_id ? xstrdup(provider_id) : NULL,
                            .attempts = m->attempts, .next_try_ms = m->next_try_ms,
                            .remove = remove};
    struct write_item *it = xcalloc(1, sizeof *it);
    if (record) {
        it->recs = xcalloc(1, sizeof *it->recs);
        it->nrecs = 1;
        it->recs[0].rec = record;
        const char *kind = json_string_value(json_object_get(record, "kind"));
        const char *ext = json_string_value(json_object_get(record, "external_id"));
        size_t cap = strlen(m->source) + strlen(kind) + strlen(ext) + 3;
        it->recs[0].idem = xmalloc(cap);
        it->recs[0].idem_len = store_idem_key(it->recs[0].idem, cap, m->source, kind, ext);
    }
    it->apply = update_message;
    it->done = update_done;
    it->arg = w;
    if (remove) {
        m->finishing = 1;
        if (!m->final_status) { /* the first try: keep it to commit again if need be */
            m->final_status = xstrdup(status);
            m->final_reason = reason ? xstrdup(reason) : NULL;
            m->final_provider_id = provider_id ? xstrdup(provider_id) : NULL;
            m->final_record = record ? json_deep_copy(record) : NULL;
        }
    }
    writer_submit(ob->env.writer, it);
}

/* ---- the outbound record ---- */

static json_t *outbound_record(struct outbox *ob, struct outbox_msg *m, struct kanal_source *src,
                               const struct kanal_send_result *res)
{
    char received[32], err[256];
    util_format_time(util_now_ms(), received, sizeof received);
    struct outbox_source os;
    ob->env.describe(src, &os);
    struct record_ctx ctx = {.source = m->source, .channel = os.channel,
                             .default_country = os.default_country,
                             .keep_raw = os.keep_raw, .received_at = received};
    json_t *in = NULL;
    if (res->record_json) {
        in = json_loads(res->record_json, 0, NULL);
        if (!in)
            log_msg(KANAL_LOG_ERR, m->source, "send_done: the outbound record is not JSON");
    }
    if (!in) {
        /* The plugin gave no record: describe the send as well as kanal can. */
        char to[512];
        if (ob->env.normalize_handle(src, m->to, to, sizeof to) < 0)
            snprintf(to, sizeof to, "address:%s", m->to);
        char from[160];
        snprintf(from, sizeof from, "source:%s", m->source);
        in = json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:[{s:s}]}", "kind", "message", "direction",
                       "outbound", "external_id", res->provider_id ? res->provider_id : m->id,
                       "from", "handle", from, "role", "brand", "to", "handle", to);
        if (m->text)
            json_object_set_new(in, "text", json_string(m->text));
        if (m->reply_to)
            json_object_set_new(in, "reply_to", json_string(m->reply_to));
    }
    if (m->campaign && !json_object_get(in, "campaign"))
        json_object_set_new(in, "campaign", json_string(m->campaign));
    json_t *meta = json_object_get(in, "meta");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(in, "meta", meta);
    }
    json_object_set_new(meta, "message_id", json_string(m->id));
    json_object_set_new(meta, "attempts", json_integer(m->attempts));
    json_t *out = NULL;
    if (record_normalize(in, &ctx, &out, err, sizeof err) < 0) {
        log_msg(KANAL_LOG_ERR, m->source, "send_done: outbound record of message %s refused: %s",
                m->id, err);
        out = NULL;
    }
    json_decref(in);
    return out;
}

/* ---- outcomes ---- */

static int64_t backoff_ms(unsigned attempts)
{
    int64_t d = BACKOFF_BASE_MS;
    for (unsigned i = 1; i < attempts && d < BACKOFF_MAX_MS; i++)
        d *= 2;
    if (d > BACKOFF_MAX_MS)
        d = BACKOFF_MAX_MS;
    /* Jitter: anywhere in [d/2, d], so that many messages failing together
     * do not come back together. */
    uint32_t r = 0;
    crypto_random(&r, sizeof r);
    return d / 2 + (int64_t)(r % (uint32_t)(d / 2 + 1));
}

static void fail_msg(struct outbox *ob, struct outbox_msg *m, const char *reason)
{
    struct bucket *b = bucket_for(ob, m->source);
    b->stats.failed++;
    log_msg(KANAL_LOG_WARNING, m->source, "message %s failed after %u attempt(s): %s", m->id,
            m->attempts, reason);
    persist(ob, m, "failed", reason, NULL, NULL, 1);
}

static void retry_msg(struct outbox *ob, struct outbox_msg *m, int64_t hint_ms,
                      const char *reason)
{
    struct outbox_source os;
    int found = ob->env.find_source(ob->env.arg, m->source, &os);
    int64_t max_attempts = found ? os.send_max_attempts : 10;
    int64_t max_age = found ? os.send_max_age_ms : 86400000;
    int64_t now = util_now_ms();
    free(m->last_error);
    m->last_error = xstrdup(reason ? reason : "retry");
    if ((int64_t)m->attempts >= max_attempts) {
        char why[600];
        snprintf(why, sizeof why, "gave up after %u attempts: %s", m->attempts, m->last_error);
        fail_msg(ob, m, why);
        return;
    }
    int64_t delay = hint_ms >= 0 ? hint_ms : backoff_ms(m->attempts);
    if (now + delay - m->created_ms > max_age) {
        char why[600];
        snprintf(why, sizeof why, "send_max_age reached after %u attempts: %s", m->attempts,
                 m->last_error);
        fail_msg(ob, m, why);
        return;
    }
    bucket_for(ob, m->source)->stats.retried++;
    m->next_try_ms = now + delay;
    log_msg(KANAL_LOG_INFO, m->source, "message %s: attempt %u: %s; next try in %lld ms", m->id,
            m->attempts, m->last_error, (long long)delay);
    persist(ob, m, "queued", m->last_error, NULL, NULL, 0);
}

int outbox_send_done(struct outbox *ob, struct kanal_source *src,
                     const struct kanal_send_request *req, const struct kanal_send_result *res)
{
    struct outbox_msg *m = (struct outbox_msg *)((char *)req - offsetof(struct outbox_msg, req));
    if (!ob || !m->inflight || m->src != src || !res)
        return -EINVAL;
    m->inflight = 0;
    m->src = NULL;
    struct bucket *b = bucket_for(ob, m->source);
    b->inflight--;
    if (m->forgotten) {
        outbox_nats__release(ob, m, 1);
        unlink_msg(ob, m);
        msg_free(m);
        ob->env.source_unref(src);
        outbox__schedule(ob);
        return 0;
    }
    switch (res->outcome) {
    case KANAL_SEND_SENT: {
        b->stats.sent++;
        json_t *rec = outbound_record(ob, m, src, res);
        log_msg(KANAL_LOG_INFO, m->source, "message %s sent (provider id %s)", m->id,
                res->provider_id ? res->provider_id : "-");
        persist(ob, m, "sent", NULL, res->provider_id, rec, 1);
        break;
    }
    case KANAL_SEND_RETRY:
        retry_msg(ob, m, res->retry_after_ms, res->reason);
        break;
    case KANAL_SEND_FAILED:
    default:
        fail_msg(ob, m, res->reason ? res->reason : "the provider refused the message");
        break;
    }
    ob->env.source_unref(src);
    outbox__schedule(ob);
    return 0;
}

/* ---- the scheduler ---- */

static void on_timer(uv_timer_t *t)
{
    outbox__schedule(t->data);
}

/* Take a token from the source's bucket; 0 when it is empty, with *wait_ms
 * set to when the next token arrives. */
static int take_token(struct bucket *b, int64_t rate, uint64_t now, int64_t *wait_ms)
{
    if (rate <= 0)
        return 1;
    double cap = rate > 1 ? (double)rate : 1.0;
    if (b->tokens < 0) {
        b->tokens = cap;
        b->refilled_ms = now;
    }
    b->tokens += (double)(now - b->refilled_ms) * (double)rate / 1000.0;
    if (b->tokens > cap)
        b->tokens = cap;
    b->refilled_ms = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 1;
    }
    *wait_ms = (int64_t)((1.0 - b->tokens) * 1000.0 / (double)rate) + 1;
    return 0;
}

static void dispatch(struct outbox *ob, struct outbox_msg *m, struct kanal_source *src)
{
    struct bucket *b = bucket_for(ob, m->source);
    m->attempts++;
    b->stats.attempts++;
    m->inflight = 1;
    m->src = src;
    b->inflight++;
    /* A campaign message carries its recipient's unsubscribe link on the
     * source's channel (e-mail puts it in List-Unsubscribe); the link is
     * committed before the message's outbound record (links.h). */
    if (m->campaign && !m->unsub_url)
        m->unsub_url = ob->env.unsubscribe_url(ob->env.arg, src, m->to, m->campaign, m->id);
    m->req = (struct kanal_send_request){.id = m->id, .to = m->to, .text = m->text,
                                         .reply_to = m->reply_to, .campaign = m->campaign,
                                         .template_json = m->template_json,
                                         .idempotency_key = m->provider_key,
                                         .attempt = m->attempts,
                                         .unsubscribe_url = m->unsub_url};
    ob->env.source_ref(src);
    int r = ob->env.send(src, &m->req);
    if (r < 0 && m->inflight) {
        /* The plugin did not take it: count it as a retryable attempt. */
        struct kanal_send_result res = {.outcome = KANAL_SEND_RETRY, .retry_after_ms = -1,
                                        .reason = kanal_strerror(r)};
        outbox_send_done(ob, src, &m->req, &res);
    }
}

static void schedule_pass(struct outbox *ob);

/* The handle a recipient is filed under.  `to` is a handle, or the
 * channel's own address for a person (docs/crm.md: "a handle or the channel's
 * address"): a bare e-mail address on email, a phone number on sms, a wa_id
 * or number on whatsapp, a PSID (a person of the source's page) on
 * facebook; those are looked up as the handle the channel records them
 * under.  1 when the message has no recipient person (a public X post), 0
 * with the handle in out, or KANAL_EHANDLE with *why. */
int outbox__recipient_handle(const char *to, const char *channel, const char *default_country,
                             const char *page_id, char *out, size_t out_len, const char **why)
{
    if (strcmp(channel, "twitter") == 0 && (!strcmp(to, "public") || !strcmp(to, "x:public")))
        return 1;
    char in[640];
    const char *handle = to;
    if (!strchr(to, ':')) {
        const char *scheme = !strcmp(channel, "email")      ? "email"
                             : !strcmp(channel, "sms")      ? "phone"
                             : !strcmp(channel, "whatsapp") ? "wa"
                                                            : NULL;
        if (scheme)
            snprintf(in, sizeof in, "%s:%s", scheme, to);
        else if (!strcmp(channel, "facebook") && page_id)
            snprintf(in, sizeof in, "fb:%s/%s", page_id, to);
        else
            in[0] = '\0';
        if (in[0])
            handle = in;
    }
    int r = handle_normalize(handle, default_country, out, out_len, why);
    if (r < 0)
        return r;
    /* A channel with addresses of its own reaches only those: an e-mail
     * handle on an sms source is refused when queued, not at the send. */
    static const struct {
        const char *channel, *schemes[2], *why;
    } reach[] = {
        {"email", {"email"}, "the email channel reaches only email: handles"},
        {"sms", {"phone"}, "the sms channel reaches only phone: handles"},
        {"whatsapp", {"wa", "phone"}, "the whatsapp channel reaches only wa: or phone: handles"},
        {"facebook", {"fb", "ig"}, "the facebook channel reaches only fb: or ig: handles"},
        {"twitter", {"x"}, "the twitter channel reaches only x: handles"},
    };
    size_t slen = strcspn(out, ":");
    for (size_t i = 0; i < ARRAY_SIZE(reach); i++) {
        if (strcmp(channel, reach[i].channel))
            continue;
        for (size_t j = 0; j < ARRAY_SIZE(reach[i].schemes); j++)
            if (reach[i].schemes[j] && strlen(reach[i].schemes[j]) == slen &&
                !strncmp(out, reach[i].schemes[j], slen))
                return 0;
        *why = reach[i].why;
        return KANAL_EHANDLE;
    }
    return 0;
}

/* Consent is checked before every send, so an opt-out recorded a second
 * ago stops a message queued an hour ago.  No provider call is made.  It
 * fails closed: a message is sent only when the store said that its
 * recipient did not opt out.  A `to` that is no handle kanal can make
 * cannot be looked up at all (CONSENT_UNKNOWN: the message fails); a store
 * that cannot be read now may be readable later (CONSENT_RETRY). */
enum outbox_consent outbox__consent(struct outbox *ob, const char *to, const char *channel,
                                    const char *default_country, const char *page_id,
                                    const char **why)
{
    char handle[512];
    *why = NULL;
    int r = outbox__recipient_handle(to, channel, default_country, page_id, handle, sizeof handle,
                                     why);
    if (r == 1)
        return CONSENT_GIVEN; /* nobody in particular: no consent applies */
    if (r < 0) {
        if (!*why)
            *why = kanal_strerror(r);
        return CONSENT_UNKNOWN;
    }
    r = ob->env.opted_out(ob->env.arg, handle, channel);
    if (r < 0) {
        *why = kanal_strerror(r);
        return CONSENT_RETRY;
    }
    return r ? CONSENT_OPTED_OUT : CONSENT_GIVEN;
}

void outbox__schedule(struct outbox *ob)
{
    if (ob->closed || ob->env.stopping(ob->env.arg))
        return;
    if (ob->scheduling) {
        ob->again = 1;
        return;
    }
    ob->scheduling = 1;
    do {
        ob->again = 0;
        schedule_pass(ob);
    } while (ob->again && !ob->closed);
    ob->scheduling = 0;
}

static void schedule_pass(struct outbox *ob)
{
    int64_t now = util_now_ms();
    uint64_t mono = util_monotonic_ms();
    int64_t next = -1;
    for (struct outbox_msg *m = ob->pending, *nm; m; m = nm) {
        nm = m->next;
        if (m->inflight || m->finishing)
            continue;
        if (m->final_status && m->next_try_ms <= now) {
            json_t *rec = m->final_record ? json_deep_copy(m->final_record) : NULL;
            char *status = xstrdup(m->final_status);
            persist(ob, m, status, m->final_reason, m->final_provider_id, rec, 1);
            free(status);
            continue;
        }
        if (m->next_try_ms > now) {
            if (next < 0 || m->next_try_ms - now < next)
                next = m->next_try_ms - now;
            continue;
        }
        struct outbox_source os;
        if (!ob->env.find_source(ob->env.arg, m->source, &os)) {
            /* The source may come back with a reload; check again soon. */
            if (next < 0 || WAIT_FOR_SOURCE_MS < next)
                next = WAIT_FOR_SOURCE_MS;
            continue;
        }
        if (!os.can_send) {
            char why[160];
            snprintf(why, sizeof why, "plugin %s cannot send messages", os.channel);
            m->attempts++;
            fail_msg(ob, m, why);
            continue;
        }
        if (now - m->created_ms > os.send_max_age_ms && m->attempts > 0) {
            fail_msg(ob, m, "send_max_age reached");
            continue;
        }
        const char *why;
        enum outbox_consent consent = outbox__consent(ob, m->to, os.channel,
                                                      os.default_country, os.page_id, &why);
        if (consent == CONSENT_OPTED_OUT) {
            fail_msg(ob, m, "opted_out");
            continue;
        }
        if (consent == CONSENT_UNKNOWN) {
            log_msg(KANAL_LOG_WARNING, m->source,
                    "message %s: consent unknown: 'to' is no handle kanal can look up (%s)", m->id,
                    why ? why : "?");
            fail_msg(ob, m, "consent_unknown");
            continue;
        }
        if (consent == CONSENT_RETRY) {
            char reason[300];
            snprintf(reason, sizeof reason, "consent cannot be checked now: %s", why);
            m->attempts++; /* not sent: an attempt, as when the plugin refuses one */
            retry_msg(ob, m, -1, reason);
            continue;
        }
        if (outbox_nats__core(ob)) {
            /* A core node: an edge sends it (outbox_nats.c). */
            outbox_nats__publish(ob, m);
            continue;
        }
        struct bucket *b = bucket_for(ob, m->source);
        if ((int64_t)b->inflight >= os.send_concurrency)
            continue; /* a completion reschedules */
        int64_t wait = 0;
        if (!take_token(b, os.send_rate, mono, &wait)) {
            if (next < 0 || wait < next)
                next = wait;
            continue;
        }
        dispatch(ob, m, os.src);
    }
    if (next >= 0)
        uv_timer_start(&ob->timer, on_timer, (uint64_t)next, 0);
    else
        uv_timer_stop(&ob->timer);
}

void outbox_forget(struct outbox *ob, const char *id)
{
    if (!ob || !id)
        return;
    for (struct outbox_msg *m = ob->pending; m; m = m->next)
        if (strcmp(m->id, id) == 0) {
            if (m->inflight || m->finishing) {
                m->forgotten = 1;
            } else {
                outbox_nats__release(ob, m, 1);
                unlink_msg(ob, m);
                msg_free(m);
            }
            return;
        }
}

void outbox__relayed(struct outbox *ob, struct outbox_msg *m, const char *err)
{
    m->inflight = 0;
    if (m->forgotten) {
        unlink_msg(ob, m);
        msg_free(m);
        return;
    }
    if (err) {
        log_msg(KANAL_LOG_WARNING, m->source,
                "message %s: cannot hand it to the cluster's outbox stream: %s; trying again in "
                "%d s",
                m->id, err, 2);
        m->next_try_ms = util_now_ms() + 2000;
        outbox__schedule(ob);
        return;
    }
    log_msg(KANAL_LOG_INFO, m->source, "message %s handed to the cluster: an edge sends it",
            m->id);
    persist(ob, m, "relayed", NULL, NULL, NULL, 1);
}

void outbox__adopt(struct outbox *ob, json_t *stored, void *jsmsg)
{
    struct outbox_msg *m = outbox__msg_from_json(stored);
    m->jsmsg = jsmsg;
    struct outbox_msg **tail = &ob->pending;
    while (*tail)
        tail = &(*tail)->next;
    *tail = m;
    ob->depth++;
    outbox__schedule(ob);
}

void outbox_kick(struct outbox *ob)
{
    if (ob)
        outbox__schedule(ob);
}

/* ---- life cycle ---- */

struct outbox *outbox_new(const struct outbox_env *env)
{
    struct outbox *ob = xcalloc(1, sizeof *ob);
    ob->env = *env;
    uv_timer_init(env->loop, &ob->timer);
    ob->timer.data = ob;
    return ob;
}

int outbox_load(struct outbox *ob)
{
    MDB_txn *txn;
    int rc = store_read_begin(ob->env.store, &txn);
    if (rc)
        return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, ob->env.store->outbox, &cur))) {
        store_read_end(ob->env.store, txn);
        return store_err(rc);
    }
    MDB_val k, v;
    struct outbox_msg **tail = &ob->pending;
    unsigned n = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        MDB_val mv;
        if (mdb_get(txn, ob->env.store->messages, &v, &mv) != 0)
            continue;
        json_t *o = json_loadb(mv.mv_data, mv.mv_size, 0, NULL);
        if (!o)
            continue;
        struct outbox_msg *m = outbox__msg_from_json(o);
        json_decref(o);
        if (m->cluster) {
            /* Taken from the cluster's stream and not acknowledged: the
             * stream gives it to an edge again, maybe this one. */
            msg_free(m);
            continue;
        }
        *tail = m;
        tail = &m->next;
        ob->depth++;
        n++;
    }
    mdb_cursor_close(cur);
    store_read_end(ob->env.store, txn);
    if (n)
        log_notice("outbox: %u message(s) pending from before the restart; sending them", n);
    outbox__schedule(ob);
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    struct outbox *ob = h->data;
    for (struct outbox_msg *m = ob->pending, *n; m; m = n) {
        n = m->next;
        msg_free(m);
    }
    for (size_t i = 0; i < ob->nbuckets; i++)
        free(ob->buckets[i].source);
    free(ob->buckets);
    free(ob->stats_view);
    free(ob);
}

void outbox_close(struct outbox *ob)
{
    if (!ob)
        return;
    ob->closed = 1;
    outbox_nats__close(ob);
    uv_timer_stop(&ob->timer);
    uv_close((uv_handle_t *)&ob->timer, timer_closed);
}

uint64_t outbox_depth(const struct outbox *ob)
{
    return ob ? ob->depth : 0;
}

const struct outbox_source_stats *outbox_stats(const struct outbox *ob, size_t *n)
{
    struct outbox *o = (struct outbox *)ob;
    o->stats_view = xrealloc(o->stats_view, (ob->nbuckets ? ob->nbuckets : 1) *
                                                sizeof *o->stats_view);
    for (size_t i = 0; i < ob->nbuckets; i++)
        o->stats_view[i] = ob->buckets[i].stats;
    *n = ob->nbuckets;
    return o->stats_view;
}
