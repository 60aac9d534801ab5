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
 * libnats calls back on its own threads; those callbacks only queue what
 * happened and wake the loop through an eventfd, where the rest runs.
 *
 * At start the stream must exist with file storage, the subjects
 * <subject_prefix>.> and a duplicate window: otherwise the sink is
 * refused, saying what differs.  When no server or no JetStream leader
 * answers at start, the check runs once a connection is made and every 2 s
 * until it passes (a stream missing then makes the sink unhealthy, not
 * refused), and publishing waits for it. */
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
#include "nats_source.h"

#define RECHECK_MS 2000 /* how often an unchecked stream is checked again */

/* One record on its way: queued, published (sent) or acknowledged. */
struct rec {
    struct rec *next;
    uint64_t seq;
    char *subject, *id, *body;
    size_t len;
    natsMsg *sent; /* identity only, never dereferenced: libnats owns it */
    int acked;
};

/* What a libnats thread tells the loop. */
struct event {
    struct event *next;
    int kind; /* EV_ACK, EV_NACK, EV_DOWN, EV_UP */
    natsMsg *msg;
    uint64_t seq;
    char text[256];
};
enum { EV_ACK = 1, EV_NACK, EV_DOWN, EV_UP };

struct sink {
    const struct kanal_host *host;
    struct kanal_source *src;
    struct kanal_nats_opts o;
    int64_t max_pending, ack_wait_ms;
    natsConnection *nc;
    jsCtx *js;
    int efd;
    struct kanal_watch *watch;
    struct kanal_timer *recheck; /* while the stream could not be checked */
    char unchecked[512];         /* why, as last logged */
    pthread_mutex_t lock;        /* guards events and closed */
    pthread_cond_t closed_cond;
    int closed; /* libnats delivered the connection's last callback */
    struct event *ev_head, *ev_tail;
    struct rec *head, *tail; /* the delivered records, in seq order */
    int64_t inflight;
    int verified, refused, stopped;
};

static void push_event(struct sink *s, int kind, natsMsg *msg, uint64_t seq, const char *text)
{
    struct event *e = calloc(1, sizeof *e);
    if (!e)
        return; /* the ack_wait timeout of the message fails the delivery */
    e->kind = kind;
    e->msg = msg;
    e->seq = seq;
    if (text)
        snprintf(e->text, sizeof e->text, "%s", text);
    pthread_mutex_lock(&s->lock);
    if (s->ev_tail)
        s->ev_tail->next = e;
    else
        s->ev_head = e;
    s->ev_tail = e;
    pthread_mutex_unlock(&s->lock);
    uint64_t one = 1;
    ssize_t w = write(s->efd, &one, sizeof one);
    (void)w; /* the counter only saturates: the loop wakes anyway */
}

static uint64_t msg_seq(natsMsg *msg)
{
    const char *v = NULL;
    if (!msg || natsMsgHeader_Get(msg, "Kanal-Seq", &v) != NATS_OK || !v)
        return 0;
    return strtoull(v, NULL, 10);
}

static void on_puback(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *arg)
{
    (void)js;
    struct sink *s = arg;
    if (pa) {
        push_event(s, EV_ACK, msg, msg_seq(msg), NULL);
    } else {
        char why[256];
        snprintf(why, sizeof why, "%s%s%s",
                 pae ? natsStatus_GetText(pae->Err) : "no acknowledgement",
                 pae && pae->ErrText ? ": " : "", pae && pae->ErrText ? pae->ErrText : "");
        push_event(s, EV_NACK, msg, msg_seq(msg), why);
    }
    natsMsg_Destroy(msg);
}

static void on_disconnected(natsConnection *nc, void *arg)
{
    (void)nc;
    push_event(arg, EV_DOWN, NULL, 0, NULL);
}

/* libnats' last callback of a connection: destroy waits for it, since the
 * others come from libnats' own thread, possibly after Close returned. */
static void on_closed(natsConnection *nc, void *arg)
{
    (void)nc;
    struct sink *s = arg;
    pthread_mutex_lock(&s->lock);
    s->closed = 1;
    pthread_cond_signal(&s->closed_cond);
    pthread_mutex_unlock(&s->lock);
}

static void on_connected(natsConnection *nc, void *arg)
{
    char url[200] = "";
    natsConnection_GetConnectedUrl(nc, url, sizeof url);
    push_event(arg, EV_UP, NULL, 0, url);
}

static void rec_free_all(struct sink *s)
{
    while (s->head) {
        struct rec *r = s->head;
        s->head = r->next;
        free(r->subject);
        free(r->id);
        free(r->body);
        free(r);
    }
    s->tail = NULL;
    s->inflight = 0;
}

/* The host delivers again from its cursor: what is kept here would be
 * published twice (harmless, de-duplicated, but wasted), so it goes. */
static void failed(struct sink *s, int64_t retry_ms, const char *reason)
{
    rec_free_all(s);
    s->host->sink_fail(s->src, retry_ms, reason);
}

static void publish_more(struct sink *s)
{
    if (s->stopped || !s->verified)
        return;
    for (struct rec *r = s->head; r && s->inflight < s->max_pending; r = r->next) {
        if (r->sent || r->acked)
            continue;
        natsMsg *m = NULL;
        char seq[24];
        snprintf(seq, sizeof seq, "%llu", (unsigned long long)r->seq);
        natsStatus st = natsMsg_Create(&m, r->subject, NULL, r->body, (int)r->len);
        if (st == NATS_OK)
            st = natsMsgHeader_Set(m, "Nats-Msg-Id", r->id);
        if (st == NATS_OK)
            st = natsMsgHeader_Set(m, "Kanal-Seq", seq);
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = s->ack_wait_ms;
        natsMsg *keep = m;
        if (st == NATS_OK)
            st = js_PublishMsgAsync(s->js, &m, &po);
        if (st != NATS_OK) {
            natsMsg_Destroy(m); /* NULL when libnats took it */
            char why[300];
            snprintf(why, sizeof why, "publishing seq %s to %s: %s", seq, r->subject,
                     natsStatus_GetText(st));
            failed(s, -1, why);
            return;
        }
        r->sent = keep;
        s->inflight++;
    }
}

static void acked(struct sink *s, natsMsg *msg, uint64_t seq)
{
    struct rec *r = s->head;
    while (r && !(r->sent == msg && r->seq == seq))
        r = r->next;
    if (!r)
        return; /* from before a failure: the host delivers it again */
    r->acked = 1;
    s->inflight--;
    uint64_t upto = 0;
    while (s->head && s->head->acked) {
        struct rec *h = s->head;
        upto = h->seq;
        s->head = h->next;
        free(h->subject);
        free(h->id);
        free(h->body);
        free(h);
    }
    if (!s->head)
        s->tail = NULL;
    if (upto)
        s->host->sink_ack(s->src, upto);
}

/* At start a stream that is missing or mis-configured refuses the sink;
 * found so later (the check was deferred), it makes the sink unhealthy and
 * the timer checks again, so that records flow once an operator fixed it. */
static void check_stream(struct sink *s, int at_start)
{
    char why[512];
    int r = kanal_nats_check_stream(s->js, &s->o, why, sizeof why);
    if (r == 0) {
        if (s->unchecked[0])
            s->host->log(s->src, KANAL_LOG_NOTICE, "stream %s checked: publishing", s->o.stream);
        s->verified = 1;
        s->host->set_health(s->src, 1, NULL);
        return;
    }
    if (r != -EAGAIN && at_start) {
        s->refused = 1;
        s->host->log(s->src, KANAL_LOG_ERR, "%s", why);
        return;
    }
    /* No JetStream leader yet, no server, or a stream still to be fixed. */
    if (strcmp(why, s->unchecked)) {
        s->host->log(s->src, r == -EAGAIN ? KANAL_LOG_WARNING : KANAL_LOG_ERR,
                     "%s; records wait, checking again every %d s", why, RECHECK_MS / 1000);
        snprintf(s->unchecked, sizeof s->unchecked, "%s", why);
    }
    s->host->set_health(s->src, 0, why);
}

static void on_recheck(void *arg)
{
    struct sink *s = arg;
    if (!s->verified && !s->stopped && natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED)
        check_stream(s, 0);
    if (s->verified || s->stopped) {
        s->host->timer_stop(s->recheck);
        s->recheck = NULL;
    }
    publish_more(s);
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
            if (e->kind == EV_ACK) {
                acked(s, e->msg, e->seq);
            } else if (e->kind == EV_NACK) {
                int ours = 0;
                for (struct rec *r = s->head; r && !ours; r = r->next)
                    ours = r->sent == e->msg && r->seq == e->seq;
                if (ours) {
                    char why[400];
                    snprintf(why, sizeof why, "stream %s: seq %llu not acknowledged: %s",
                             s->o.stream, (unsigned long long)e->seq, e->text);
                    failed(s, -1, why);
                }
            } else if (e->kind == EV_DOWN) {
                s->host->log(s->src, KANAL_LOG_WARNING,
                             "disconnected from NATS; reconnecting with backoff");
            } else if (e->kind == EV_UP) {
                s->host->log(s->src, KANAL_LOG_INFO, "connected to NATS at %s", e->text);
                if (!s->verified)
                    check_stream(s, 0);
            }
        }
        free(e);
        e = next;
    }
    publish_more(s);
}

/* Each record of the batch with what its message needs. */
static int nats_deliver(void *state, const struct kanal_sink_batch *batch)
{
    struct sink *s = state;
    json_error_t jerr;
    json_t *arr = json_loadb(batch->json, batch->len, 0, &jerr);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return -EINVAL;
    }
    size_t i;
    json_t *rec;
    json_array_foreach(arr, i, rec)
    {
        const char *id = json_string_value(json_object_get(rec, "id"));
        const char *source = json_string_value(json_object_get(rec, "source"));
        const char *kind = json_string_value(json_object_get(rec, "kind"));
        json_int_t seq = json_integer_value(json_object_get(rec, "seq"));
        struct rec *r = calloc(1, sizeof *r);
        if (!r || !id || seq <= 0) {
            free(r);
            json_decref(arr);
            return r ? -EINVAL : -ENOMEM;
        }
        r->seq = (uint64_t)seq;
        r->id = strdup(id);
        r->subject = kanal_nats_subject(s->o.subject_prefix, source, kind);
        r->body = json_dumps(rec, JSON_COMPACT);
        if (!r->id || !r->subject || !r->body) {
            free(r->id);
            free(r->subject);
            free(r->body);
            free(r);
            json_decref(arr);
            return -ENOMEM;
        }
        r->len = strlen(r->body);
        if (s->tail)
            s->tail->next = r;
        else
            s->head = r;
        s->tail = r;
    }
    json_decref(arr);
    publish_more(s);
    return 0;
}

static int64_t reconnect_delay(natsConnection *nc, int attempts, void *arg)
{
    (void)nc;
    (void)arg;
    int shift = attempts < 6 ? attempts : 6;
    int64_t ms = 100LL << shift;
    return ms > 5000 ? 5000 : ms;
}

static const struct kanal_kit_bind nats_binds[] = {
    KANAL_NATS_BINDS(struct sink, o),
    {"max_pending", KANAL_KIT_INT64, offsetof(struct sink, max_pending)},
    {"ack_wait", KANAL_KIT_INT64, offsetof(struct sink, ack_wait_ms)},
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
    if (r == 0)
        r = kanal_nats_opts_check(host, src, &s->o);
    if (r < 0) {
        free(s);
        return r;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->closed_cond, NULL);
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
    natsOptions *opts = NULL;
    char why[512];
    r = kanal_nats_options(&s->o, &opts, why, sizeof why);
    if (r == 0) {
        natsOptions_SetCustomReconnectDelay(opts, reconnect_delay, NULL);
        natsOptions_SetClosedCB(opts, on_closed, s);
        natsOptions_SetDisconnectedCB(opts, on_disconnected, s);
        natsOptions_SetReconnectedCB(opts, on_connected, s);
        natsOptions_SetRetryOnFailedConnect(opts, true, on_connected, s);
        natsOptions_SetMaxPendingMsgs(opts, 65536);
        natsStatus st = natsConnection_Connect(&s->nc, opts);
        if (st != NATS_OK && st != NATS_NOT_YET_CONNECTED) {
            snprintf(why, sizeof why, "connecting to %s: %s", s->o.servers, natsStatus_GetText(st));
            r = KANAL_ECONFIG;
        }
    }
    if (r == 0) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.PublishAsync.AckHandler = on_puback;
        jo.PublishAsync.AckHandlerClosure = s;
        /* No libnats limit: publish_more bounds what this sink has in flight,
         * and a limit there would block kanald's loop (StallWait) while
         * messages of a failed delivery wait out their ack_wait. */
        jo.PublishAsync.MaxPending = 0;
        if (natsConnection_JetStream(&s->js, s->nc, &jo) != NATS_OK) {
            snprintf(why, sizeof why, "out of memory");
            r = -ENOMEM;
        }
    }
    natsOptions_Destroy(opts);
    if (r < 0) {
        s->host->log(s->src, KANAL_LOG_ERR, "%s", why);
        return r;
    }
    if (natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED) {
        check_stream(s, 1);
        if (s->refused)
            return KANAL_ECONFIG;
    }
    if (!s->verified) {
        r = s->host->timer_start(s->src, RECHECK_MS, RECHECK_MS, on_recheck, s, &s->recheck);
        if (r < 0)
            return r;
    }
    if (natsConnection_Status(s->nc) != NATS_CONN_STATUS_CONNECTED) {
        s->host->log(s->src, KANAL_LOG_WARNING,
                     "no NATS server of %s answers yet; records wait, retrying with backoff",
                     s->o.servers);
        s->host->set_health(s->src, 0, "not connected to NATS");
    }
    return 0;
}

static int nats_stop(void *state)
{
    struct sink *s = state;
    s->stopped = 1;
    if (s->recheck)
        s->host->timer_stop(s->recheck);
    s->recheck = NULL;
    return 0;
}

static void nats_destroy(void *state)
{
    struct sink *s = state;
    if (s->recheck)
        s->host->timer_stop(s->recheck);
    if (s->watch)
        s->host->unwatch_fd(s->watch);
    if (s->nc) {
        natsConnection_Close(s->nc);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        pthread_mutex_lock(&s->lock);
        while (!s->closed && pthread_cond_timedwait(&s->closed_cond, &s->lock, &until) == 0)
            ;
        int closed = s->closed;
        pthread_mutex_unlock(&s->lock);
        if (!closed)
            s->host->log(s->src, KANAL_LOG_WARNING, "NATS connection did not close in 10 s");
    }
    jsCtx_Destroy(s->js); /* drops the acks still pending: the cursor stays */
    natsConnection_Destroy(s->nc);
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
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const struct kanal_option kanal_nats_option_table[] = {
    KANAL_NATS_OPTIONS,
    KANAL_NATS_SOURCE_OPTIONS,
    {"max_pending", KANAL_OPT_INT, "1024", 0,
     "sink: messages published and not yet acknowledged by the stream, at most; source: "
     "messages fetched and not yet committed, at most", NULL},
    {"ack_wait", KANAL_OPT_DURATION, "10s", 0,
     "sink: time the stream has to acknowledge a message before the delivery fails and is "
     "retried; source: the consumer's redelivery delay for a message not acknowledged", NULL},
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
