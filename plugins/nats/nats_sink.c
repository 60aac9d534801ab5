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
 * Nothing here blocks kanald's loop.  What libnats does synchronously —
 * the first connection (each server's connect timeout, one after the
 * other) and the stream check (a JetStream request of up to 2 s) — runs on
 * the sink's own thread, the worker; libnats calls back on its own threads.
 * Both only queue what happened and wake the loop through an eventfd, where
 * the rest runs.  Publishing itself (js_PublishMsgAsync) only buffers.
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
#include "nats_source.h"

#define RECHECK_MS 2000 /* how often an unchecked stream is checked again */

/* One record on its way: queued (msg made, ours), published (sent: libnats
 * has it) or acknowledged.  The message is made when the record is
 * delivered, from the batch's text: its one copy. */
struct rec {
    struct rec *next;
    uint64_t seq;
    natsMsg *msg;  /* until published */
    natsMsg *sent; /* identity only: alive until the loop takes its ack */
    int acked;
};

/* What a libnats thread or the worker tells the loop, but for the acks,
 * which come in a vector of their own. */
struct event {
    struct event *next;
    int kind;
    natsMsg *msg; /* EV_NACK: the loop destroys it */
    int status;   /* EV_CHECKED: kanal_nats_check_stream's result */
    char text[];
};

/* The acknowledged messages since the loop last looked, in arrival order. */
struct acks {
    natsMsg **msg;
    size_t n, cap;
};
enum {
    EV_ACK = 1, /* the stream stored msg */
    EV_NACK,    /* it did not (text: why) */
    EV_DOWN,    /* disconnected */
    EV_UP,      /* (re)connected to text */
    EV_READY,   /* worker: nc and js exist, not necessarily connected */
    EV_NOTYET,  /* worker: no server answered the first round */
    EV_FATAL,   /* worker: libnats refused the options (text) */
    EV_CHECKED, /* worker: a stream check ended (status, text) */
};

struct sink {
    const struct kanal_host *host;
    struct kanal_source *src;
    struct kanal_nats_opts o;
    int64_t max_pending, ack_wait_ms, connect_timeout_ms;
    natsOptions *opts;  /* made by start, used and freed by the worker */
    natsConnection *nc; /* set by the worker; the loop's after EV_READY */
    jsCtx *js;
    int efd;
    struct kanal_watch *watch;
    char unchecked[512]; /* why the stream is not fit, as last logged */
    pthread_t worker;
    int worker_started;
    pthread_mutex_t lock; /* guards events, closed, quit */
    pthread_cond_t closed_cond;
    pthread_cond_t work_cond; /* wakes the worker: connected, quit */
    int closed;               /* libnats delivered the connection's last callback */
    int quit;                 /* the worker ends */
    struct event *ev_head, *ev_tail;
    struct acks acks, spare; /* acks: filled by libnats (lock); spare: the loop's */
    int woken;               /* the eventfd was written since the loop last took */
    struct rec *head, *tail; /* the delivered records, in seq order */
    struct rec *unsent;      /* the first not yet published (those after it neither) */
    int64_t inflight;
    int ready, verified, stopped;
};

/* Wake the loop unless it was woken and has not taken the queues yet:
 * one eventfd write per batch of acks and events, not one per ack.  Under
 * s->lock; the caller writes the eventfd after unlocking when it returns 1. */
static int wake_locked(struct sink *s)
{
    if (s->woken)
        return 0;
    s->woken = 1;
    return 1;
}

static void wake(struct sink *s)
{
    uint64_t one = 1;
    ssize_t w = write(s->efd, &one, sizeof one);
    (void)w; /* the counter only saturates: the loop wakes anyway */
}

static void push_status(struct sink *s, int kind, natsMsg *msg, int status, const char *text)
{
    size_t tl = text ? strnlen(text, 511) : 0;
    struct event *e = calloc(1, sizeof *e + tl + 1);
    if (!e) {
        natsMsg_Destroy(msg); /* its record's ack_wait fails the delivery */
        return;
    }
    e->kind = kind;
    e->msg = msg;
    e->status = status;
    if (tl)
        memcpy(e->text, text, tl);
    pthread_mutex_lock(&s->lock);
    if (s->ev_tail)
        s->ev_tail->next = e;
    else
        s->ev_head = e;
    s->ev_tail = e;
    int w = wake_locked(s);
    pthread_mutex_unlock(&s->lock);
    if (w)
        wake(s);
}

static void push_event(struct sink *s, int kind, natsMsg *msg, const char *text)
{
    push_status(s, kind, msg, 0, text);
}

/* libnats' reader thread, once per PubAck: append the message to the acks
 * (no allocation but the vector's growth) and wake the loop once per batch.
 * The loop destroys the message once it has matched it to its record, so
 * that its address cannot be reused by a newer message meanwhile. */
static void on_puback(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *arg)
{
    (void)js;
    struct sink *s = arg;
    if (!pa) {
        char why[256];
        snprintf(why, sizeof why, "%s%s%s",
                 pae ? natsStatus_GetText(pae->Err) : "no acknowledgement",
                 pae && pae->ErrText ? ": " : "", pae && pae->ErrText ? pae->ErrText : "");
        push_event(s, EV_NACK, msg, why);
        return;
    }
    pthread_mutex_lock(&s->lock);
    struct acks *a = &s->acks;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        natsMsg **m = realloc(a->msg, cap * sizeof *m);
        if (!m) {
            pthread_mutex_unlock(&s->lock);
            natsMsg_Destroy(msg); /* unmatched: its record waits for a failure */
            return;
        }
        a->msg = m;
        a->cap = cap;
    }
    a->msg[a->n++] = msg;
    int w = wake_locked(s);
    pthread_mutex_unlock(&s->lock);
    if (w)
        wake(s);
}

static void on_disconnected(natsConnection *nc, void *arg)
{
    (void)nc;
    push_event(arg, EV_DOWN, NULL, NULL);
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
    struct sink *s = arg;
    char url[200] = "";
    natsConnection_GetConnectedUrl(nc, url, sizeof url);
    push_event(s, EV_UP, NULL, url);
    pthread_mutex_lock(&s->lock);
    pthread_cond_signal(&s->work_cond); /* check the stream now */
    pthread_mutex_unlock(&s->lock);
}

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

/* The host delivers again from its cursor: what is kept here would be
 * published twice (harmless, de-duplicated, but wasted), so it goes. */
static void failed(struct sink *s, int64_t retry_ms, const char *reason)
{
    rec_free_all(s);
    s->host->sink_fail(s->src, retry_ms, reason);
}

static void publish_more(struct sink *s)
{
    if (s->stopped || !s->ready || !s->verified)
        return;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = s->ack_wait_ms;
    struct rec *r = s->unsent;
    for (; r && s->inflight < s->max_pending; r = r->next) {
        natsMsg *keep = r->msg;
        natsStatus st = js_PublishMsgAsync(s->js, &r->msg, &po);
        if (st != NATS_OK) {
            char why[300];
            snprintf(why, sizeof why, "publishing seq %llu to %s: %s",
                     (unsigned long long)r->seq, natsMsg_GetSubject(keep),
                     natsStatus_GetText(st));
            failed(s, -1, why);
            return;
        }
        r->msg = NULL; /* libnats has it now */
        r->sent = keep;
        s->inflight++;
        s->unsent = r->next;
    }
}

/* The record msg was published for, among those not yet acknowledged
 * (an acknowledged one's message is gone, its address maybe reused). */
static struct rec *rec_of(struct sink *s, natsMsg *msg)
{
    struct rec *r = s->head;
    while (r && (r->acked || r->sent != msg))
        r = r->next;
    return r;
}

/* The acknowledged prefix's last seq once msg is acknowledged (0: it did
 * not grow); the caller tells the host, once for all the acks of a wake. */
static uint64_t acked(struct sink *s, natsMsg *msg)
{
    struct rec *r = rec_of(s, msg);
    if (!r)
        return 0; /* from before a failure: the host delivers it again */
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

/* A stream check ended on the worker.  Not fit (missing, mis-configured,
 * no leader yet): the sink is unhealthy and publishes nothing, saying why
 * once per reason; the worker checks again. */
static void checked(struct sink *s, int status, char *why)
{
    size_t wl = strlen(why);
    if (wl && why[wl - 1] == ';')
        why[wl - 1] = '\0'; /* the list of differences ends with one */
    if (status == 0) {
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
    struct acks a = s->acks;
    s->acks = s->spare; /* emptied below: the two vectors take turns */
    s->woken = 0;
    pthread_mutex_unlock(&s->lock);
    /* The acks of one wake move the host's cursor once (its cursor, the
     * ack = cluster answers waiting for it, one read of what to deliver
     * next), not once per message; before a failure below rewinds. */
    uint64_t upto = 0;
    for (size_t i = 0; i < a.n; i++) {
        uint64_t u = s->stopped ? 0 : acked(s, a.msg[i]);
        if (u > upto)
            upto = u;
        natsMsg_Destroy(a.msg[i]);
    }
    a.n = 0;
    s->spare = a;
    if (upto && !s->stopped)
        s->host->sink_ack(s->src, upto);
    while (e) {
        struct event *next = e->next;
        if (!s->stopped) {
            if (e->kind == EV_NACK) {
                struct rec *r = rec_of(s, e->msg);
                if (r) {
                    char why[700];
                    snprintf(why, sizeof why, "stream %s: seq %llu not acknowledged: %s",
                             s->o.stream, (unsigned long long)r->seq, e->text);
                    failed(s, -1, why);
                }
            } else if (e->kind == EV_DOWN) {
                s->host->log(s->src, KANAL_LOG_WARNING,
                             "disconnected from NATS; reconnecting with backoff");
            } else if (e->kind == EV_UP) {
                s->host->log(s->src, KANAL_LOG_INFO, "connected to NATS at %s", e->text);
            } else if (e->kind == EV_READY) {
                s->ready = 1;
            } else if (e->kind == EV_NOTYET) {
                s->host->log(s->src, KANAL_LOG_WARNING,
                             "no NATS server of %s answers yet; records wait, retrying with "
                             "backoff",
                             s->o.servers);
                if (!s->verified)
                    s->host->set_health(s->src, 0, "not connected to NATS");
            } else if (e->kind == EV_FATAL) {
                s->host->log(s->src, KANAL_LOG_ERR, "%s; the sink publishes nothing", e->text);
                s->host->set_health(s->src, 0, e->text);
            } else if (e->kind == EV_CHECKED && !s->verified) {
                checked(s, e->status, e->text);
            }
        }
        natsMsg_Destroy(e->msg);
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
 * subject, with the headers Nats-Msg-Id and Kanal-Seq. */
static natsStatus make_msg(struct sink *s, const struct kanal_nats_fields *f, const char *text,
                           size_t len, natsMsg **out)
{
    char *subject = kanal_nats_subject(s->o.subject_prefix, f->source, f->kind);
    if (!subject)
        return NATS_NO_MEMORY;
    char seq[24];
    snprintf(seq, sizeof seq, "%lld", (long long)f->seq);
    natsMsg *m = NULL;
    natsStatus st = natsMsg_Create(&m, subject, NULL, text, (int)len);
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

/* The worker: the first connection, then the stream check whenever
 * connected and not yet verified, every RECHECK_MS, until it passes. */
static void *worker_main(void *arg)
{
    struct sink *s = arg;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    char why[512];
    natsStatus st = natsConnection_Connect(&nc, s->opts);
    natsOptions_Destroy(s->opts);
    s->opts = NULL;
    if (st != NATS_OK && st != NATS_NOT_YET_CONNECTED) {
        snprintf(why, sizeof why, "connecting to %s: %s", s->o.servers, natsStatus_GetText(st));
        push_event(s, EV_FATAL, NULL, why);
        return NULL;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.AckHandler = on_puback;
    jo.PublishAsync.AckHandlerClosure = s;
    /* No libnats limit: publish_more bounds what this sink has in flight,
     * and a limit there would block kanald's loop (StallWait) while
     * messages of a failed delivery wait out their ack_wait. */
    jo.PublishAsync.MaxPending = 0;
    if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK) {
        push_event(s, EV_FATAL, NULL, "out of memory");
        natsConnection_Close(nc); /* destroy waits for on_closed */
        pthread_mutex_lock(&s->lock);
        s->nc = nc;
        pthread_mutex_unlock(&s->lock);
        return NULL;
    }
    pthread_mutex_lock(&s->lock);
    s->nc = nc;
    s->js = js;
    pthread_mutex_unlock(&s->lock);
    push_event(s, EV_READY, NULL, NULL);
    if (st == NATS_NOT_YET_CONNECTED)
        push_event(s, EV_NOTYET, NULL, NULL);
    int verified = 0;
    pthread_mutex_lock(&s->lock);
    while (!s->quit) {
        if (!verified && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED) {
            pthread_mutex_unlock(&s->lock);
            int r = kanal_nats_check_stream(js, &s->o, why, sizeof why);
            push_status(s, EV_CHECKED, NULL, r, why);
            verified = r == 0;
            pthread_mutex_lock(&s->lock);
            if (s->quit)
                break;
        }
        if (verified) {
            pthread_cond_wait(&s->work_cond, &s->lock);
        } else {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += RECHECK_MS / 1000;
            pthread_cond_timedwait(&s->work_cond, &s->lock, &until);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
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
    char why[512];
    r = kanal_nats_options(&s->o, &s->opts, why, sizeof why);
    if (r < 0) {
        s->host->log(s->src, KANAL_LOG_ERR, "%s", why);
        return r;
    }
    natsOptions_SetClosedCB(s->opts, on_closed, s);
    natsOptions_SetDisconnectedCB(s->opts, on_disconnected, s);
    natsOptions_SetReconnectedCB(s->opts, on_connected, s);
    natsOptions_SetRetryOnFailedConnect(s->opts, true, on_connected, s);
    natsOptions_SetMaxPendingMsgs(s->opts, 65536);
    natsOptions_SetTimeout(s->opts, s->connect_timeout_ms);
    r = pthread_create(&s->worker, NULL, worker_main, s);
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

static void worker_quit(struct sink *s)
{
    pthread_mutex_lock(&s->lock);
    s->quit = 1;
    pthread_cond_signal(&s->work_cond);
    pthread_mutex_unlock(&s->lock);
}

static int nats_stop(void *state)
{
    struct sink *s = state;
    s->stopped = 1;
    worker_quit(s);
    return 0;
}

static void nats_destroy(void *state)
{
    struct sink *s = state;
    if (s->worker_started) {
        /* A first connection under way ends after its servers' connect
         * timeouts; a stream check after its 2 s. */
        worker_quit(s);
        pthread_join(s->worker, NULL);
    }
    natsOptions_Destroy(s->opts); /* NULL unless the worker never ran */
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
        natsMsg_Destroy(e->msg);
        free(e);
        e = n;
    }
    for (size_t i = 0; i < s->acks.n; i++)
        natsMsg_Destroy(s->acks.msg[i]);
    free(s->acks.msg);
    free(s->spare.msg);
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
     "messages fetched and not yet committed, at most", NULL},
    {"ack_wait", KANAL_OPT_DURATION, "10s", 0,
     "sink: time the stream has to acknowledge a message before the delivery fails and is "
     "retried; source: the consumer's redelivery delay for a message not acknowledged", NULL},
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
