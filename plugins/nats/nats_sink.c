/* SPDX-License-Identifier: Apache-2.0 */
/* nats: a sink that publishes committed records to a NATS JetStream stream.
 *
 *   [sink cluster]
 *   plugin         = nats
 *   servers        = nats://10.0.0.1:4222, nats://10.0.0.2:4222
 *   stream         = KANAL
 *   subject_prefix = kanal.records
 *
 * Each record is one message, its JSON as stored (schema v1, with the
 * edge's seq), on <subject_prefix>.<source>.<kind> with the header
 * Nats-Msg-Id = the record's id.  The id is deterministic from (source,
 * kind, external_id), so the stream stores a provider's redelivery that
 * reached two edge nodes once (within the stream's duplicate_window), and
 * what this sink publishes again after a crash is de-duplicated as well.
 *
 * Publishing is asynchronous: at most max_pending messages wait for the
 * stream's acknowledgement; the cursor moves only over the acknowledged
 * prefix, so a record is never skipped.  An error or a missing
 * acknowledgement (ack_wait) fails the delivery: kanald delivers again
 * from the cursor after its backoff.  libnats reconnects by itself, with
 * backoff (100 ms doubling to 5 s), for ever.
 *
 * Except when a server refuses the connection (authorization violation,
 * a TLS handshake that fails): libnats 3.4.1 then closes it for good, on
 * the first connection after one attempt.  A refusal is often transient
 * (an account reloading, credentials rotated a moment late), so the worker
 * makes a new connection after the same backoff, for ever, saying why once
 * per new reason (log, /v1/sinks, /metrics, /healthz); records wait in the
 * store.  What can never work (no creds file, a seed that is not one) is
 * refused at start (kanal_nats_opts_check).
 *
 * What this costs kanald per record is kept small (docs/performance.md):
 * a message is made once from the delivered text and published with a
 * reply subject of our own, <inbox>.<generation>.<seq>, on which the
 * stream's PubAck comes back; the acks are read on the loop from a
 * synchronous subscription, every POLL_MS while messages are in flight.
 * js_PublishMsgAsync did the same through a map of pending messages, a
 * JSON parse and an allocation per ack, and a thread of its own per
 * subscription that called back once per ack, each waking the loop.
 *
 * Nothing here blocks kanald's loop.  What libnats does synchronously —
 * the first connection (each server's connect timeout, one after the
 * other) and the stream check (a JetStream request of up to 2 s) — runs on
 * the sink's own thread, the worker; libnats calls back on its own threads.
 * Both only queue what happened and wake the loop through an eventfd, where
 * the rest runs.  Publishing itself only buffers.
 *
 * The stream must exist with file storage, the subjects <subject_prefix>.>
 * and a duplicate window: until it does, the sink refuses to publish,
 * saying what differs, and is unhealthy.  The worker checks once connected
 * and every 2 s until the check passes (no server, no JetStream leader, a
 * stream still to be created or fixed); records wait in the store. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <jansson.h>
#include <kanal/kit.h>
#include <kanal/plugin.h>
#include <nats/nats.h>

#include "nats_common.h"
#include "nats_sink.h"
#include "nats_source.h"

#define POLL_MS 1 /* how often the acks are read while messages are in flight */

static void rec_free(struct rec *r)
{
    natsMsg_Destroy(r->msg);
    free(r);
}

static void rec_free_all(struct sink *s)
{
    while (s->head) {
        struct rec *r = s->head;
        s->head = r->next;
        rec_free(r);
    }
    s->tail = s->unsent = NULL;
    s->inflight = 0;
}

/* The acks' subscription of generation gen: <inbox>.<gen>.*, never limited
 * by libnats (publish_more bounds what is in flight; a dropped ack would
 * only time out). */
natsStatus kanal_nats_sink_subscribe(struct sink *s, natsConnection *nc, natsSubscription **sub)
{
    char subj[160];
    snprintf(subj, sizeof subj, "%s.%llu.*", s->inbox, (unsigned long long)s->gen);
    natsStatus st = natsConnection_SubscribeSync(sub, nc, subj);
    if (st == NATS_OK)
        natsSubscription_SetPendingLimits(*sub, -1, -1);
    return st;
}

/* sub, unsubscribed, kept among the retired (nats_common.h says why); those
 * retired KANAL_NATS_SUB_GRACE_MS ago, or the oldest when there is no room, go. */
static void retire(struct sink *s, natsSubscription *sub)
{
    natsSubscription_Unsubscribe(sub);
    int64_t now = kanal_nats_now_ms();
    int old = 0;
    while (old < s->nretired &&
           (now - s->retired_ms[old] > KANAL_NATS_SUB_GRACE_MS || s->nretired - old >= RETIRED_MAX))
        natsSubscription_Destroy(s->retired[old++]);
    s->nretired -= old;
    memmove(s->retired, s->retired + old, (size_t)s->nretired * sizeof *s->retired);
    memmove(s->retired_ms, s->retired_ms + old, (size_t)s->nretired * sizeof *s->retired_ms);
    s->retired[s->nretired] = sub;
    s->retired_ms[s->nretired++] = now;
}

/* After a failure: what is still to come for the messages published so far
 * (acks, "no responders" that libnats hands over without their subject)
 * goes to the old subscription, which goes; the next messages' acks come
 * to a new one.  Without a subscription the acks time out (ack_wait) and
 * the next failure tries again. */
static void new_generation(struct sink *s)
{
    if (!s->ready)
        return; /* nothing published yet; the worker subscribes to gen 0 */
    s->gen++;
    if (s->sub) {
        retire(s, s->sub);
        s->sub = NULL;
    }
    natsStatus st = kanal_nats_sink_subscribe(s, s->nc, &s->sub);
    if (st != NATS_OK) {
        s->sub = NULL;
        s->host->log(s->src, KANAL_LOG_WARNING, "subscribing to the acks: %s",
                     natsStatus_GetText(st));
    }
}

/* The host delivers again from its cursor: what is kept here would be
 * published twice (harmless, de-duplicated, but wasted), so it goes. */
static void failed(struct sink *s, int64_t retry_ms, const char *reason)
{
    rec_free_all(s);
    new_generation(s);
    s->host->sink_fail(s->src, retry_ms, reason);
}

static void on_poll(void *arg);

static void publish_more(struct sink *s)
{
    if (s->stopped || !s->ready || !s->verified)
        return;
    int64_t now = s->unsent ? kanal_nats_now_ms() : 0;
    struct rec *r = s->unsent;
    for (; r && s->inflight < s->max_pending; r = r->next) {
        natsStatus st = natsConnection_PublishMsg(s->nc, r->msg);
        if (st != NATS_OK) {
            char why[300];
            snprintf(why, sizeof why, "publishing seq %llu to %s: %s", (unsigned long long)r->seq,
                     natsMsg_GetSubject(r->msg), natsStatus_GetText(st));
            failed(s, -1, why);
            return;
        }
        natsMsg_Destroy(r->msg); /* libnats buffered its bytes */
        r->msg = NULL;
        r->sent_ms = now;
        s->inflight++;
        s->unsent = r->next;
    }
    if (s->inflight && !s->poll)
        s->host->timer_start(s->src, POLL_MS, POLL_MS, on_poll, s, &s->poll);
}

/* The acknowledged prefix's last seq once seq is acknowledged (0: it did
 * not grow); the caller tells the host, once for all the acks it read. */
static uint64_t acked(struct sink *s, uint64_t seq)
{
    struct rec *r = s->head;
    while (r && r->seq < seq)
        r = r->next;
    if (!r || r->seq != seq || !r->sent_ms || r->acked)
        return 0; /* not ours (any more): the host delivers it again */
    r->acked = 1;
    s->inflight--;
    uint64_t upto = 0;
    while (s->head && s->head->acked) {
        struct rec *h = s->head;
        upto = h->seq;
        s->head = h->next;
        rec_free(h);
    }
    if (!s->head)
        s->tail = NULL;
    return upto;
}

/* The seq of an ack's subject <inbox>.<gen>.<seq> when gen is this
 * generation's, else 0. */
static uint64_t ack_seq(struct sink *s, const char *subject)
{
    size_t il = strlen(s->inbox);
    if (!subject || strncmp(subject, s->inbox, il) != 0 || subject[il] != '.')
        return 0;
    char *end;
    unsigned long long gen = strtoull(subject + il + 1, &end, 10);
    if (*end != '.' || gen != s->gen)
        return 0;
    return strtoull(end + 1, NULL, 10);
}

/* Why a PubAck refuses the message (its error's description), or NULL
 * when it is an acknowledgement: {"stream":..,"seq":..[,"duplicate":true]}. */
static const char *ack_error(natsMsg *m, char *why, size_t len)
{
    const char *d = natsMsg_GetData(m);
    int dl = natsMsg_GetDataLength(m);
    if (d && dl > 0 && memmem(d, (size_t)dl, "\"seq\"", 5) &&
        !memmem(d, (size_t)dl, "\"error\"", 7))
        return NULL;
    snprintf(why, len, "%.*s", dl > 0 && dl < 400 ? dl : 400, d && dl > 0 ? d : "empty answer");
    return why;
}

/* Read the acks that came (without waiting), move the host's cursor once
 * for all of them, fail the delivery on a refusal or on a message older
 * than ack_wait, publish what waits; the timer stops when nothing is in
 * flight. */
static void poll_acks(struct sink *s)
{
    uint64_t upto = 0;
    char why[700] = "";
    natsMsg *m;
    natsStatus st;
    while (s->sub && !why[0] && (st = natsSubscription_NextMsg(&m, s->sub, 0)) != NATS_TIMEOUT) {
        if (st == NATS_NO_RESPONDERS) { /* for this generation's messages */
            snprintf(why, sizeof why, "stream %s: no responders (no JetStream leader?)",
                     s->o.stream);
            break;
        }
        if (st == NATS_SLOW_CONSUMER)
            continue; /* lost acks time out */
        if (st != NATS_OK)
            break; /* closed: what is in flight times out */
        uint64_t seq = ack_seq(s, natsMsg_GetSubject(m));
        char err[420];
        const char *bad = seq ? ack_error(m, err, sizeof err) : NULL;
        if (seq && bad) {
            snprintf(why, sizeof why, "stream %s: seq %llu not acknowledged: %s", s->o.stream,
                     (unsigned long long)seq, bad);
        } else if (seq) {
            uint64_t u = acked(s, seq);
            if (u > upto)
                upto = u;
        }
        natsMsg_Destroy(m);
    }
    if (upto)
        s->host->sink_ack(s->src, upto); /* before a failure rewinds */
    if (!why[0] && s->inflight) {
        struct rec *r = s->head; /* the oldest in flight: the first sent, not acked */
        while (r && (r->acked || !r->sent_ms))
            r = r->next;
        if (r && kanal_nats_now_ms() - r->sent_ms > s->ack_wait_ms)
            snprintf(why, sizeof why, "stream %s: seq %llu not acknowledged within %lld ms",
                     s->o.stream, (unsigned long long)r->seq, (long long)s->ack_wait_ms);
    }
    if (why[0] && !s->stopped)
        failed(s, -1, why);
    if (!s->inflight && s->poll) {
        s->host->timer_stop(s->poll);
        s->poll = NULL;
    }
    publish_more(s);
}

static void on_poll(void *arg)
{
    struct sink *s = arg;
    if (!s->stopped && s->ready)
        poll_acks(s);
}

/* No connection (why): the worker connects again after its backoff.  A
 * connection libnats closed is let go of here first: nothing of it is
 * used after released, when the worker destroys it.  The reason is said
 * once (log, and as a failed delivery in /v1/sinks and /metrics) until a
 * connection is made or the reason changes. */
static void refused(struct sink *s, int status, const char *why)
{
    int had = s->ready;
    if (had) {
        s->ready = s->verified = 0;
        if (s->poll) {
            s->host->timer_stop(s->poll);
            s->poll = NULL;
        }
        rec_free_all(s);
        s->gen++; /* what comes for the old messages is not theirs */
        pthread_mutex_lock(&s->lock);
        s->released = 1;
        pthread_cond_signal(&s->work_cond);
        pthread_mutex_unlock(&s->lock);
    }
    /* No server answers (down, unreachable): as a lost connection, the
     * sink waits; anything else is a refusal, an error. */
    int none = status == NATS_NO_SERVER, news = strcmp(why, s->refused) != 0;
    s->host->set_health(s->src, 0, none ? "not connected to NATS" : why);
    if (news)
        snprintf(s->refused, sizeof s->refused, "%s", why);
    if (news && none)
        s->host->log(s->src, KANAL_LOG_WARNING,
                     "no NATS server of %s answers yet; records wait, retrying with backoff",
                     s->o.servers);
    else if (news)
        s->host->log(s->src, KANAL_LOG_ERR,
                     "cannot connect to NATS (%s): %s; records wait, trying again with backoff",
                     s->o.servers, why);
    /* The records held went with the connection: the host delivers them
     * again from its cursor. */
    if (had || (news && !none))
        failed(s, -1, why);
}

/* A stream check ended on the worker.  Not fit (missing, mis-configured,
 * no leader yet): the sink is unhealthy and publishes nothing, saying why
 * once per reason; the worker checks again. */
static void checked(struct sink *s, int status, char *why)
{
    size_t wl = strlen(why);
    if (wl && why[wl - 1] == ';')
        why[wl - 1] = '\0'; /* the list of differences ends with one */
    if (status == 0) {
        s->refused[0] = '\0'; /* connected: a refusal later is news */
        if (s->unchecked[0])
            s->host->log(s->src, KANAL_LOG_NOTICE, "stream %s checked: publishing", s->o.stream);
        s->unchecked[0] = '\0';
        s->verified = 1;
        s->host->set_health(s->src, 1, NULL);
        return;
    }
    if (strcmp(why, s->unchecked)) {
        if (status == -EAGAIN)
            s->host->log(s->src, KANAL_LOG_WARNING, "%s; records wait, checking again every %d s",
                         why, RECHECK_MS / 1000);
        else
            s->host->log(s->src, KANAL_LOG_ERR,
                         "refusing to publish: %s; records wait, checking again every %d s", why,
                         RECHECK_MS / 1000);
        snprintf(s->unchecked, sizeof s->unchecked, "%s", why);
    }
    s->host->set_health(s->src, 0, why);
}

static void on_wake(void *arg, int fd, int events)
{
    (void)events;
    struct sink *s = arg;
    uint64_t n;
    ssize_t rd = read(fd, &n, sizeof n);
    (void)rd;
    pthread_mutex_lock(&s->lock);
    struct event *e = s->ev_head;
    s->ev_head = s->ev_tail = NULL;
    pthread_mutex_unlock(&s->lock);
    while (e) {
        struct event *next = e->next;
        if (!s->stopped) {
            if (e->kind == EV_DOWN) {
                s->host->log(s->src, KANAL_LOG_WARNING,
                             "disconnected from NATS; reconnecting with backoff");
            } else if (e->kind == EV_UP) {
                s->host->log(s->src, KANAL_LOG_INFO, "connected to NATS at %s", e->text);
                s->refused[0] = '\0';
            } else if (e->kind == EV_READY) {
                s->ready = 1;
            } else if (e->kind == EV_REFUSED) {
                refused(s, e->status, e->text);
            } else if (e->kind == EV_CHECKED && !s->verified) {
                checked(s, e->status, e->text);
            }
        }
        free(e);
        e = next;
    }
    publish_more(s);
}

/* The next element of the batch's array at *p: its fields, and its exact
 * text as stored, which is the message's body (no second serialization).
 * 0, or -1 when it is not a JSON object. */
static int next_record(const char **p, const char *end, const char **text, size_t *len,
                       struct kanal_nats_fields *f)
{
    while (*p < end && strchr(" \t\r\n,[", **p) && **p)
        (*p)++;
    const char *rend = kanal_nats_scan_record(*p, end, f);
    if (rend) {
        *text = *p;
        *len = (size_t)(rend - *p);
        *p = rend;
        return 0;
    }
    json_error_t jerr;
    json_t *rec = json_loadb(*p, (size_t)(end - *p), JSON_DISABLE_EOF_CHECK, &jerr);
    if (!json_is_object(rec) || jerr.position <= 0 || jerr.position > end - *p) {
        json_decref(rec);
        return -1;
    }
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *source = json_string_value(json_object_get(rec, "source"));
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    f->id = id ? strdup(id) : NULL;
    f->source = source ? strdup(source) : NULL;
    f->kind = kind ? strdup(kind) : NULL;
    f->seq = json_integer_value(json_object_get(rec, "seq"));
    json_decref(rec);
    *text = *p;
    *len = (size_t)jerr.position; /* with JSON_DISABLE_EOF_CHECK: the bytes read */
    *p += jerr.position;
    return 0;
}

/* The message of a record: its text as the body (the one copy), on its
 * subject, with the headers Nats-Msg-Id and Kanal-Seq, the PubAck to come
 * to <inbox>.<gen>.<seq>. */
static natsStatus make_msg(struct sink *s, const struct kanal_nats_fields *f, const char *text,
                           size_t len, natsMsg **out)
{
    char *subject = kanal_nats_subject(s->o.subject_prefix, f->source, f->kind);
    if (!subject)
        return NATS_NO_MEMORY;
    char seq[24], reply[128];
    snprintf(seq, sizeof seq, "%lld", (long long)f->seq);
    snprintf(reply, sizeof reply, "%s.%llu.%s", s->inbox, (unsigned long long)s->gen, seq);
    natsMsg *m = NULL;
    natsStatus st = natsMsg_Create(&m, subject, reply, text, (int)len);
    free(subject);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(m, "Nats-Msg-Id", f->id);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(m, "Kanal-Seq", seq);
    if (st != NATS_OK) {
        natsMsg_Destroy(m);
        return st;
    }
    *out = m;
    return NATS_OK;
}

/* Each record of the batch as its message, queued to be published. */
static int nats_deliver(void *state, const struct kanal_sink_batch *batch)
{
    struct sink *s = state;
    const char *p = batch->json, *end = batch->json + batch->len;
    for (size_t i = 0; i < batch->count; i++) {
        const char *text;
        size_t len;
        struct kanal_nats_fields f = {0};
        int bad = next_record(&p, end, &text, &len, &f) < 0 || !f.id || f.seq <= 0;
        struct rec *r = !bad ? calloc(1, sizeof *r) : NULL;
        if (r) {
            r->seq = (uint64_t)f.seq;
            if (make_msg(s, &f, text, len, &r->msg) != NATS_OK) {
                free(r);
                r = NULL;
            }
        }
        kanal_nats_fields_free(&f);
        if (!r) {
            rec_free_all(s); /* the host delivers again from its cursor */
            new_generation(s);
            return bad ? -EINVAL : -ENOMEM;
        }
        if (s->tail)
            s->tail->next = r;
        else
            s->head = r;
        s->tail = r;
        if (!s->unsent)
            s->unsent = r;
    }
    publish_more(s);
    return 0;
}

static const struct kanal_kit_bind nats_binds[] = {
    KANAL_NATS_BINDS(struct sink, o),
    {"max_pending", KANAL_KIT_INT64, offsetof(struct sink, max_pending)},
    {"ack_wait", KANAL_KIT_INT64, offsetof(struct sink, ack_wait_ms)},
    {"connect_timeout", KANAL_KIT_INT64, offsetof(struct sink, connect_timeout_ms)},
    {NULL, 0, 0},
};

static int nats_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    if (host->abi_minor < 1 || !host->sink_ack)
        return KANAL_EABI;
    struct sink *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->host = host;
    s->src = src;
    s->efd = -1;
    int r = kanal_kit_bind_options(host, src, nats_binds, s);
    if (r == 0 && (s->max_pending < 1 || s->max_pending > 1000000)) {
        host->log(src, KANAL_LOG_ERR, "max_pending must be 1..1000000");
        r = KANAL_ECONFIG;
    }
    if (r == 0 && s->connect_timeout_ms < 1) {
        host->log(src, KANAL_LOG_ERR, "connect_timeout must be at least 1ms");
        r = KANAL_ECONFIG;
    }
    if (r == 0)
        r = kanal_nats_opts_check(host, src, &s->o);
    if (r < 0) {
        free(s);
        return r;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->closed_cond, NULL);
    pthread_cond_init(&s->work_cond, NULL);
    *state = s;
    return 0;
}

static int nats_start(void *state)
{
    struct sink *s = state;
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->efd < 0)
        return -errno;
    int r = s->host->watch_fd(s->src, s->efd, KANAL_WATCH_READ, on_wake, s, &s->watch);
    if (r < 0)
        return r;
    if (natsInbox_Create(&s->inbox) != NATS_OK)
        return -ENOMEM;
    char why[512];
    r = kanal_nats_options(&s->o, &s->opts, why, sizeof why);
    if (r < 0) {
        s->host->log(s->src, KANAL_LOG_ERR, "%s", why);
        return r;
    }
    kanal_nats_sink_callbacks(s);
    natsOptions_SetMaxPendingMsgs(s->opts, 65536);
    natsOptions_SetTimeout(s->opts, s->connect_timeout_ms);
    r = pthread_create(&s->worker, NULL, kanal_nats_sink_worker, s);
    if (r != 0) {
        natsOptions_Destroy(s->opts);
        s->opts = NULL;
        s->host->log(s->src, KANAL_LOG_ERR, "cannot start the sink's thread: %s", strerror(r));
        return -r;
    }
    s->worker_started = 1;
    s->host->set_health(s->src, 0, "connecting to NATS");
    return 0;
}

static int nats_stop(void *state)
{
    struct sink *s = state;
    s->stopped = 1;
    if (s->poll) {
        s->host->timer_stop(s->poll);
        s->poll = NULL;
    }
    kanal_nats_sink_quit(s);
    return 0;
}

static void nats_destroy(void *state)
{
    struct sink *s = state;
    if (s->worker_started) {
        /* A first connection under way ends after its servers' connect
         * timeouts; a stream check after its 2 s. */
        kanal_nats_sink_quit(s);
        pthread_join(s->worker, NULL);
    }
    natsOptions_Destroy(s->opts); /* NULL unless the worker never ran */
    if (s->watch)
        s->host->unwatch_fd(s->watch);
    if (s->nc && !kanal_nats_sink_close_wait(s, s->nc))
        s->host->log(s->src, KANAL_LOG_WARNING, "NATS connection did not close in 10 s");
    if (s->poll)
        s->host->timer_stop(s->poll);
    kanal_nats_sink_drop_subs(s); /* drops the acks not read: the cursor stays */
    jsCtx_Destroy(s->js);
    natsConnection_Destroy(s->nc);
    natsInbox_Destroy(s->inbox);
    struct event *e = s->ev_head;
    while (e) {
        struct event *n = e->next;
        free(e);
        e = n;
    }
    rec_free_all(s);
    if (s->efd >= 0)
        close(s->efd);
    pthread_cond_destroy(&s->closed_cond);
    pthread_cond_destroy(&s->work_cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const struct kanal_option kanal_nats_option_table[] = {
    KANAL_NATS_OPTIONS,
    KANAL_NATS_SOURCE_OPTIONS,
    {"max_pending", KANAL_OPT_INT, "1024", 0,
     "sink: messages published and not yet acknowledged by the stream, at most; source: "
     "messages fetched and not yet committed, at most",
     NULL},
    {"ack_wait", KANAL_OPT_DURATION, "10s", 0,
     "sink: time the stream has to acknowledge a message before the delivery fails and is "
     "retried; source: the consumer's redelivery delay for a message not acknowledged",
     NULL},
    {"connect_timeout", KANAL_OPT_DURATION, "2s", 0,
     "time one server has to accept a connection and greet; the next is tried after it", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

/* The sink's callbacks; the plugin's descriptor is nats_plugin.c's. */
const struct kanal_plugin kanal_nats_sink = {
    KANAL_PLUGIN_HEADER,
    .name = "nats",
    .version = "1.0.0",
    .description = "sink: publishes committed records to a NATS JetStream stream",
    .options = kanal_nats_option_table,
    .init = nats_init,
    .start = nats_start,
    .stop = nats_stop,
    .destroy = nats_destroy,
    .deliver = nats_deliver,
};
