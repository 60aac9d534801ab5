/* SPDX-License-Identifier: Apache-2.0 */
/* nats: a source that consumes the cluster's records stream on a core node.
 *
 *   [source cluster]
 *   plugin  = nats
 *   servers = nats://10.0.0.1:4222, nats://10.0.0.2:4222
 *   durable = core-1
 *
 * A durable pull consumer named by durable reads <subject_prefix>.> of the
 * stream in stream order.  Each message is a record an edge node stored;
 * it is relayed (host->relay, ABI 1.2): stored keeping its id, source and
 * times, with this store's seq and contact.  Messages are committed in
 * batches of at most batch, one batch at a time and in order, together
 * with the state entry "stream_seq" (the last stream sequence committed);
 * a batch is acknowledged only after it is committed, by one ack of its
 * last message that covers the messages before it.  A crash
 * between the commit and the acks redelivers messages: the cursor skips
 * them, and their ids would be stored once anyway.
 *
 * A message that is not a stored record (not JSON, another shape, over
 * max_message, or refused by kanald's check) is stored as kind "unknown"
 * with the stream sequence in meta and acknowledged: it never stops the
 * consumer.  Records of kanald's own source "kanal" (an edge's merges,
 * consent, erasure) are acknowledged and not stored: each node makes its
 * own from the records it resolves.
 *
 * A message on <subject_prefix>.kanal.state is a state command a core's
 * API published ([kanald] state_cluster = core: a CRM import, a merge, a
 * consent change, an erasure...): it is relayed alone, between the batches
 * before and after it, and kanald applies it in the commit as the route
 * would, so that every core changes at the same point of the stream.  One
 * that is not a command, or that kanald refuses, is kept as unknown.
 *
 * libnats blocks in natsSubscription_Fetch: that runs on the plugin's own
 * thread (nats_consume.c), which hands messages to the loop through a
 * queue and an eventfd (as the sink's callbacks do).  At most max_pending
 * messages are held fetched and not yet acknowledged. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <kanal/kit.h>
#include <kanal/plugin.h>
#include <nats/nats.h>

#include "nats_common.h"
#include "nats_relay.h"
#include "nats_source.h"
#include "nats_source_int.h"

static void pump(struct nsource *s);

/* A message on <subject_prefix>.kanal.state: a state command of a core's
 * API, committed alone so that it takes its place in the stream's order. */
static int is_state(const struct nsource *s, const struct qmsg *q)
{
    const char *subj = natsMsg_GetSubject(q->msg);
    size_t pl = strlen(s->o.subject_prefix);
    return subj && !strncmp(subj, s->o.subject_prefix, pl) &&
           !strcmp(subj + pl, KANAL_NATS_STATE_SUFFIX);
}

static void free_batch(struct nsource *s, int ack)
{
    int64_t n = 0;
    while (s->batch_head) {
        struct qmsg *q = s->batch_head;
        s->batch_head = q->next;
        /* The consumer's acks cover every message up to the one acked: one
         * for the batch, its last (in stream order).  Lost: redelivered,
         * and the cursor skips them. */
        if (ack && !q->next)
            natsMsg_Ack(q->msg, NULL);
        natsMsg_Destroy(q->msg);
        free(q);
        n++;
    }
    pthread_mutex_lock(&s->lock);
    s->held -= n;
    pthread_cond_signal(&s->room);
    pthread_mutex_unlock(&s->lock);
    nats_source_reap_subs(s, 0);
}

static void report_lag(struct nsource *s)
{
    pthread_mutex_lock(&s->lock);
    int64_t lag = (int64_t)s->pending + s->held;
    pthread_mutex_unlock(&s->lock);
    s->host->set_lag(s->src, lag);
}

static void on_retry(void *arg)
{
    struct nsource *s = arg;
    s->host->timer_stop(s->retry);
    s->retry = NULL;
    s->busy = 0;
    pump(s);
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* With log_level = debug, where a committed batch's records waited, the
 * longest of each step: in the stream (stored by its leader -> fetched
 * here: replication, delivery), on the loop (fetched -> handed to the
 * writer: the previous batch's commit) and in the commit.  Realtime
 * clocks, as the stream's timestamps are. */
static void log_batch(struct nsource *s)
{
    int64_t now = now_us(), n = 0, stream = 0, loop = 0, commit = 0;
    for (struct qmsg *q = s->batch_head; q; q = q->next) {
        n++;
        if (q->t_stored && q->t_fetched - q->t_stored > stream)
            stream = q->t_fetched - q->t_stored;
        if (q->t_submitted - q->t_fetched > loop)
            loop = q->t_submitted - q->t_fetched;
        if (now - q->t_submitted > commit)
            commit = now - q->t_submitted;
    }
    s->host->log(s->src, KANAL_LOG_DEBUG,
                 "stream %s seq %llu: batch of %lld committed; longest wait in the stream %.1f "
                 "ms, before the commit %.1f ms, in the commit %.1f ms",
                 s->o.stream, (unsigned long long)s->batch_head->sseq, (long long)n,
                 stream / 1000.0, loop / 1000.0, commit / 1000.0);
}

static void committed(void *arg, int status, const uint64_t *seqs, size_t n)
{
    (void)seqs;
    (void)n;
    struct nsource *s = arg;
    if (status == KANAL_ERECORD) {
        /* The store refused the records themselves at commit: as when
         * relay() refuses them at once, one by one, the refused one as
         * unknown. */
        s->split = 1;
        s->busy = 0;
        pump(s);
        return;
    }
    if (status) {
        /* The store cannot commit now (disk full, stopping): the batch is
         * kept and committed again, in the same order, before any later
         * message. */
        s->host->log(s->src, KANAL_LOG_ERR,
                     "stream %s: commit of messages up to seq %llu failed: %s; retrying",
                     s->o.stream, (unsigned long long)s->cursor, s->host->strerror(status));
        if (status != KANAL_ESTOPPED && !s->retry)
            s->host->timer_start(s->src, RETRY_MS, 0, on_retry, s, &s->retry);
        return;
    }
    log_batch(s); /* cheap: a walk of the batch, the line dropped below debug */
    for (struct qmsg *q = s->batch_head; q; q = q->next)
        if (q->sseq > s->cursor)
            s->cursor = q->sseq;
    free_batch(s, 1);
    s->busy = 0;
    report_lag(s);
    pump(s);
}

/* The unknown record of message q, for relay; why says what is wrong. */
static char *unknown_of(struct nsource *s, struct qmsg *q, const char *why, size_t *len)
{
    char occurred[32], received[32];
    jsMsgMetaData *md = NULL;
    int64_t ts = s->host->now_ms();
    if (natsMsg_GetMetaData(&md, q->msg) == NATS_OK && md->Timestamp > 0)
        ts = md->Timestamp / 1000000;
    jsMsgMetaData_Destroy(md);
    s->host->format_time(ts, occurred, sizeof occurred);
    s->host->format_time(s->host->now_ms(), received, sizeof received);
    struct kanal_nats_unknown u = {
        .source = s->host->source_name(s->src),
        .stream = s->o.stream,
        .subject = natsMsg_GetSubject(q->msg),
        .stream_seq = q->sseq,
        .occurred_at = occurred,
        .received_at = received,
        .why = why,
    };
    const char *data = natsMsg_GetData(q->msg);
    int dl = natsMsg_GetDataLength(q->msg);
    return kanal_nats_unknown_record(&u, data ? data : "", dl > 0 ? (size_t)dl : 0,
                                     (size_t)s->max_message, len);
}

/* The batch's text: a JSON array of what each message becomes (relayed
 * as it is, or its unknown record); refused 1: the batch is one message
 * whose record kanald refused, kept as unknown instead; 2: one whose
 * unknown record was refused too, passed over (only the cursor moves).  *last is the
 * stream seq the cursor moves to with it. */
static char *batch_text(struct nsource *s, int refused, size_t *len, uint64_t *last)
{
    size_t cap = 2, at = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[at++] = '[';
    *last = s->cursor;
    for (struct qmsg *q = s->batch_head; q; q = q->next) {
        if (q->sseq > *last)
            *last = q->sseq;
        if (q->sseq <= s->cursor || refused == 2)
            continue; /* redelivered after its commit, or passed over */
        const char *data = natsMsg_GetData(q->msg);
        int dl = natsMsg_GetDataLength(q->msg);
        size_t n = dl > 0 ? (size_t)dl : 0;
        char why[200];
        enum kanal_nats_verdict v =
            refused       ? KANAL_NATS_UNKNOWN
            : is_state(s, q) ? kanal_nats_classify_command(data ? data : "", n,
                                                           (size_t)s->max_message, why, sizeof why)
                             : kanal_nats_classify(data ? data : "", n, (size_t)s->max_message,
                                                   why, sizeof why);
        if (refused)
            snprintf(why, sizeof why, "kanald refused the record (the log says why)");
        char *own = NULL;
        if (v == KANAL_NATS_SKIP) {
            s->skipped++;
            continue;
        }
        if (v == KANAL_NATS_UNKNOWN) {
            s->host->log(s->src, KANAL_LOG_WARNING, "stream %s seq %llu (%s): kept as unknown: %s",
                         s->o.stream, (unsigned long long)q->sseq, natsMsg_GetSubject(q->msg), why);
            own = unknown_of(s, q, why, &n);
            if (!own) {
                free(out);
                return NULL;
            }
            data = own;
            s->unknown++;
        }
        char *grown = realloc(out, cap + n + 2);
        if (!grown) {
            free(own);
            free(out);
            return NULL;
        }
        out = grown;
        cap += n + 1;
        if (at > 1)
            out[at++] = ',';
        memcpy(out + at, data, n);
        at += n;
        free(own);
    }
    out[at++] = ']';
    *len = at;
    return out;
}

static int submit(struct nsource *s, int refused)
{
    size_t len;
    uint64_t last;
    char *text = batch_text(s, refused, &len, &last);
    if (!text)
        return -ENOMEM;
    char cur[24];
    snprintf(cur, sizeof cur, "%llu", (unsigned long long)last);
    struct kanal_state_entry st = {CURSOR_KEY, cur, strlen(cur)};
    int r = len > 2 ? s->host->relay(s->src, text, len, &st, 1, committed, s)
                    : s->host->emit(s->src, "", 0, &st, 1, committed, s);
    free(text);
    return r;
}

/* The next batch from the queue, committed as one: stream order holds on
 * this store since the next batch waits for this one's commit.  A batch
 * whose commit failed is kept and submitted again first. */
static void pump(struct nsource *s)
{
    if (s->busy || s->stopped)
        return;
    if (!s->batch_head) {
        pthread_mutex_lock(&s->lock);
        struct qmsg **tail = &s->batch_head;
        for (int64_t i = 0; i < s->batch && s->q_head; i++) {
            struct qmsg *q = s->q_head;
            int state = is_state(s, q);
            if (state && i > 0)
                break; /* a state command goes alone, after the records before it */
            s->q_head = q->next;
            if (!s->q_head)
                s->q_tail = NULL;
            q->next = NULL;
            *tail = q;
            tail = &q->next;
            if (state)
                break;
        }
        pthread_mutex_unlock(&s->lock);
    }
    if (!s->batch_head)
        return;
    s->busy = 1;
    int64_t now = now_us();
    for (struct qmsg *q = s->batch_head; q; q = q->next)
        if (!q->t_submitted)
            q->t_submitted = now;
    int r = s->split ? KANAL_ERECORD : submit(s, 0);
    s->split = 0;
    if (r == KANAL_ERECORD && s->batch_head->next) {
        /* One of them did not pass kanald's check: commit them one by one,
         * so that the others are kept as they are and the order stays. */
        struct qmsg *rest = s->batch_head->next;
        s->batch_head->next = NULL;
        pthread_mutex_lock(&s->lock);
        struct qmsg *t = rest;
        while (t->next)
            t = t->next;
        t->next = s->q_head; /* back to the queue's front */
        if (!s->q_head)
            s->q_tail = t;
        s->q_head = rest;
        pthread_mutex_unlock(&s->lock);
        r = submit(s, 0);
    }
    if (r == KANAL_ERECORD) /* this one message: kept as unknown */
        r = submit(s, 1);
    if (r == KANAL_ERECORD) { /* not even so: passed over, never a stop */
        s->host->log(s->src, KANAL_LOG_ERR,
                     "stream %s seq %llu: not stored, not even as unknown; passed over",
                     s->o.stream, (unsigned long long)s->batch_head->sseq);
        r = submit(s, 2);
    }
    if (r == 0 || r == KANAL_ESTOPPED)
        return;
    s->host->log(s->src, KANAL_LOG_ERR, "stream %s: messages after seq %llu not stored: %s",
                 s->o.stream, (unsigned long long)s->cursor, s->host->strerror(r));
    if (!s->retry)
        s->host->timer_start(s->src, RETRY_MS, 0, on_retry, s, &s->retry);
}

/* What the thread found, on the loop: health, errors, messages. */
static void on_wake(void *arg, int fd, int events)
{
    (void)events;
    struct nsource *s = arg;
    uint64_t n;
    ssize_t rd = read(fd, &n, sizeof n);
    (void)rd;
    char err[sizeof s->error] = "";
    int ok = 0;
    pthread_mutex_lock(&s->lock);
    if (s->error_new)
        snprintf(err, sizeof err, "%s", s->error);
    ok = s->ok_new;
    s->error_new = s->ok_new = 0;
    pthread_mutex_unlock(&s->lock);
    if (err[0]) {
        s->host->log(s->src, KANAL_LOG_WARNING, "%s; retrying", err);
        s->host->set_health(s->src, 0, err);
    } else if (ok) {
        s->host->log(s->src, KANAL_LOG_NOTICE, "consuming stream %s again", s->o.stream);
        s->host->set_health(s->src, 1, NULL);
    }
    report_lag(s);
    pump(s);
}

static void on_connected(natsConnection *nc, void *arg)
{
    (void)nc;
    (void)arg;
}

static const struct kanal_kit_bind source_binds[] = {
    KANAL_NATS_BINDS(struct nsource, o),
    {"durable", KANAL_KIT_STR, offsetof(struct nsource, durable)},
    {"max_pending", KANAL_KIT_INT64, offsetof(struct nsource, max_pending)},
    {"batch", KANAL_KIT_INT64, offsetof(struct nsource, batch)},
    {"max_message", KANAL_KIT_INT64, offsetof(struct nsource, max_message)},
    {"ack_wait", KANAL_KIT_INT64, offsetof(struct nsource, ack_wait_ms)},
    {NULL, 0, 0},
};

int nats_source_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    if (!KANAL_HOST_HAS(host, relay) || !KANAL_HOST_HAS(host, set_lag))
        return KANAL_EABI;
    struct nsource *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->host = host;
    s->src = src;
    s->efd = -1;
    int r = kanal_kit_bind_options(host, src, source_binds, s);
    const char *bad = NULL;
    if (r == 0) {
        if (!s->durable || !*s->durable || strpbrk(s->durable, ". *>\t"))
            bad = "durable is required: the consumer's name, without '.', '*', '>' or blanks "
                  "(one per core node)";
        else if (s->max_pending < 1 || s->max_pending > 1000000)
            bad = "max_pending must be 1..1000000";
        else if (s->batch < 1 || s->batch > 4096)
            bad = "batch must be 1..4096";
        else if (s->max_message < 1024 || s->max_message > 64 * 1024 * 1024)
            bad = "max_message must be 1K..64M";
        else if (s->ack_wait_ms < 1000)
            bad = "ack_wait must be 1s or more";
    }
    if (bad) {
        host->log(src, KANAL_LOG_ERR, "%s", bad);
        r = KANAL_ECONFIG;
    }
    if (r == 0)
        r = kanal_nats_opts_check(host, src, &s->o);
    if (r < 0) {
        free(s);
        return r;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->room, NULL);
    *state = s;
    return 0;
}

/* The cursor committed with the last batch: messages at or below it are
 * stored already. */
static void read_cursor(struct nsource *s)
{
    char buf[32];
    size_t len = sizeof buf - 1;
    if (s->host->state_get(s->src, CURSOR_KEY, buf, &len) == 0) {
        buf[len] = '\0';
        s->cursor = strtoull(buf, NULL, 10);
    }
}

/* The consumer thread's error, shown by the loop once per new text. */
static void connect_error(struct nsource *s, const char *why)
{
    char e[sizeof s->error];
    snprintf(e, sizeof e, "cannot connect to NATS (%s): %s", s->o.servers, why);
    pthread_mutex_lock(&s->lock);
    if (strcmp(e, s->error)) {
        snprintf(s->error, sizeof s->error, "%s", e);
        s->error_new = 1;
    }
    pthread_mutex_unlock(&s->lock);
    uint64_t one = 1;
    ssize_t w = write(s->efd, &one, sizeof one);
    (void)w;
}

/* A server that refuses the connection (authorization violation, a TLS
 * handshake that fails) makes libnats 3.4.1 close it for good, on the
 * first connection after one attempt.  The refusal is often transient (an
 * account reloading, credentials rotated a moment late): the consumer
 * thread makes a new connection, with the backoff of a lost one, until it
 * has one or the source stops, saying why once per new reason.  The old
 * connection's subscription stays until no held message comes from it.
 * @return 0: connected (or libnats reconnecting); -1: stopping. */
int nats_source_connect(struct nsource *s)
{
    char why[300];
    for (int attempts = 0;; attempts++) {
        if (s->nc && natsConnection_Status(s->nc) != NATS_CONN_STATUS_CLOSED)
            return 0;
        if (s->nc) { /* closed by libnats: it goes, a new one says why */
            struct oldsub *o = s->sub ? calloc(1, sizeof *o) : NULL;
            pthread_mutex_lock(&s->lock);
            if (o) {
                /* .at 0: its connection is closed, no grace needed */
                *o = (struct oldsub){.next = s->olds, .sub = s->sub, .gen = s->gen};
                s->olds = o;
            } /* else (none, or out of memory) left to the end of the process */
            s->gen++;
            s->sub = NULL;
            pthread_mutex_unlock(&s->lock);
            jsCtx_Destroy(s->js);
            s->js = NULL;
            natsConnection_Destroy(s->nc); /* its subscriptions keep what they need */
            s->nc = NULL;
            attempts--;
            continue;
        } else {
            natsOptions *opts = NULL;
            natsConnection *nc = NULL;
            jsCtx *js = NULL;
            natsStatus st = NATS_NO_MEMORY;
            if (kanal_nats_options(&s->o, &opts, why, sizeof why) == 0) {
                natsOptions_SetSendAsap(opts, true); /* as at start */
                st = natsConnection_Connect(&nc, opts);
                if (st == NATS_OK)
                    st = natsConnection_JetStream(&js, nc, NULL);
                kanal_nats_conn_why(st, nats_GetLastError(NULL), why, sizeof why);
            }
            natsOptions_Destroy(opts);
            if (st == NATS_OK) {
                s->nc = nc;
                s->js = js;
                return 0;
            }
            natsConnection_Destroy(nc);
        }
        connect_error(s, why);
        struct timespec until = kanal_nats_deadline(kanal_nats_backoff_ms(attempts));
        pthread_mutex_lock(&s->lock);
        if (!s->stopping)
            pthread_cond_timedwait(&s->room, &s->lock, &until);
        int stop = s->stopping;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            return -1;
    }
}

int nats_source_start(void *state)
{
    struct nsource *s = state;
    read_cursor(s);
    s->next_sseq = s->cursor + 1;
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
        /* No server at start: libnats goes on trying in the background (the
         * thread's fetches wait); the callback must not reach the state,
         * which may be gone when libnats calls it. */
        natsOptions_SetRetryOnFailedConnect(opts, true, on_connected, NULL);
        /* Fetch requests (and acknowledgements, one write each) go out
         * at once.  Buffered, each waited for libnats' flusher thread,
         * which lets 1 ms pass to gather more before it writes, and a
         * message stored just after a fetch ended waited for the next
         * one's whole round trip: under load (bench/cluster_lag) the wait
         * between the stream's acknowledgement to the edge and the core's
         * fetch had a p99 of 24-50 ms, 6-22 ms without the flusher. */
        natsOptions_SetSendAsap(opts, true);
        natsStatus st = natsConnection_Connect(&s->nc, opts);
        if (st == NATS_NOT_YET_CONNECTED) {
            s->host->log(s->src, KANAL_LOG_WARNING,
                         "no NATS server of %s answers yet; retrying with backoff", s->o.servers);
            st = NATS_OK;
        }
        if (st != NATS_OK) { /* refused: the thread connects again, the loop says why */
            kanal_nats_conn_why(st, nats_GetLastError(NULL), why, sizeof why);
            connect_error(s, why);
            natsConnection_Destroy(s->nc);
            s->nc = NULL;
        }
    }
    natsOptions_Destroy(opts);
    if (r == 0 && s->nc && natsConnection_JetStream(&s->js, s->nc, NULL) != NATS_OK) {
        snprintf(why, sizeof why, "out of memory");
        r = -ENOMEM;
    }
    if (r == 0 && s->nc && natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED) {
        r = kanal_nats_check_stream(s->js, &s->o, why, sizeof why);
        char *said = strstr(why, "refusing to publish");
        if (said)
            memcpy(said, "refusing to consume", sizeof "refusing to consume");
        if (r == -EAGAIN) { /* no JetStream leader yet: the thread retries */
            s->host->log(s->src, KANAL_LOG_WARNING, "%s; retrying", why);
            r = 0;
        }
    }
    if (r < 0) {
        s->host->log(s->src, KANAL_LOG_ERR, "%s", why);
        return r;
    }
    if (pthread_create(&s->thread, NULL, nats_source_consume, s) != 0) {
        s->host->log(s->src, KANAL_LOG_ERR, "cannot start the consumer thread");
        return -EAGAIN;
    }
    s->thread_started = 1;
    s->host->log(s->src, KANAL_LOG_INFO,
                 "consuming stream %s as %s from stream seq %llu (committed so far)", s->o.stream,
                 s->durable, (unsigned long long)s->cursor);
    return 0;
}

static void join(struct nsource *s)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_signal(&s->room);
    pthread_mutex_unlock(&s->lock);
    if (s->thread_started)
        pthread_join(s->thread, NULL);
    s->thread_started = 0;
}

int nats_source_stop(void *state)
{
    struct nsource *s = state;
    s->stopped = 1;
    pthread_mutex_lock(&s->lock); /* the thread ends by destroy, which joins it */
    s->stopping = 1;
    pthread_cond_signal(&s->room);
    pthread_mutex_unlock(&s->lock);
    if (s->retry)
        s->host->timer_stop(s->retry);
    s->retry = NULL;
    return 0;
}

void nats_source_destroy(void *state)
{
    struct nsource *s = state;
    join(s);
    if (s->retry)
        s->host->timer_stop(s->retry);
    if (s->watch)
        s->host->unwatch_fd(s->watch);
    /* Fetched and not committed: not acknowledged, redelivered to the
     * durable consumer after ack_wait or when this node consumes again. */
    free_batch(s, 0);
    while (s->q_head) {
        struct qmsg *q = s->q_head;
        s->q_head = q->next;
        natsMsg_Destroy(q->msg);
        free(q);
    }
    /* The connection closed first: its read loop ends, so that no message
     * reaches a subscription being destroyed (nats_common.h). */
    if (s->nc)
        natsConnection_Close(s->nc);
    nats_source_reap_subs(s, 1);
    if (s->sub)
        natsSubscription_Destroy(s->sub); /* not Unsubscribe: the consumer stays */
    jsCtx_Destroy(s->js);
    natsConnection_Destroy(s->nc);
    if (s->efd >= 0)
        close(s->efd);
    pthread_cond_destroy(&s->room);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
