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
 * each message is acknowledged only after its batch is committed.  A crash
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
 * libnats blocks in natsSubscription_Fetch: that runs on the plugin's own
 * thread, which hands messages to the loop through a queue and an eventfd
 * (as the sink's callbacks do).  At most max_pending messages are held
 * fetched and not yet acknowledged. */
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

#define FETCH_WAIT_MS 1000 /* a fetch returns at the latest then: stop is seen */
#define RETRY_MS 1000      /* after a failed commit or subscription */
#define CURSOR_KEY "stream_seq"

struct qmsg {
    struct qmsg *next;
    natsMsg *msg;
    uint64_t sseq;
};

struct nsource {
    const struct kanal_host *host;
    struct kanal_source *src;
    struct kanal_nats_opts o;
    const char *durable;
    int64_t max_pending, batch, max_message, ack_wait_ms;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub; /* the thread's */
    pthread_t thread;
    int thread_started;
    int efd;
    struct kanal_watch *watch;
    struct kanal_timer *retry;
    pthread_mutex_t lock; /* guards everything below up to the loop's part */
    pthread_cond_t room;
    int stopping;
    struct qmsg *q_head, *q_tail;
    int64_t held;       /* fetched and not yet acknowledged (queue and batch) */
    uint64_t pending;   /* the last fetched message's count of messages after it */
    uint64_t next_sseq; /* the thread's: the stream seq it takes next */
    uint64_t last_cseq; /* the thread's: the consumer seq of the last one taken */
    char error[300];    /* the thread's last error, "" once it fetches again */
    int error_new, ok_new;
    /* The loop's part. */
    struct qmsg *batch_head; /* the batch being committed, in stream order */
    int busy;
    uint64_t cursor; /* last stream sequence committed */
    uint64_t unknown, skipped;
    int stopped;
    int split; /* the last batch was refused at commit: one by one */
};

static void wake(struct nsource *s)
{
    uint64_t one = 1;
    ssize_t w = write(s->efd, &one, sizeof one);
    (void)w; /* the counter only saturates: the loop wakes anyway */
}

static void thread_error(struct nsource *s, const char *fmt, const char *a, const char *b)
{
    pthread_mutex_lock(&s->lock);
    char e[sizeof s->error];
    snprintf(e, sizeof e, fmt, a, b);
    if (strcmp(e, s->error)) {
        snprintf(s->error, sizeof s->error, "%s", e);
        s->error_new = 1;
    }
    pthread_mutex_unlock(&s->lock);
    wake(s);
}

/* The consumer, made anew from stream seq from: explicit acks,
 * redelivery after ack_wait, bound to by name (closing the subscription
 * never deletes it).  This store's committed cursor, not the consumer's
 * acknowledgements, says where to go on: the server may hold messages it
 * delivered to a killed process until their ack_wait ends, and would
 * redeliver them after later ones; a consumer made from the cursor delivers
 * in stream order. */
static natsStatus subscribe(struct nsource *s, uint64_t from, jsErrCode *jerr)
{
    if (s->sub) {
        natsSubscription_Destroy(s->sub);
        s->sub = NULL;
    }
    natsStatus st = js_DeleteConsumer(s->js, s->o.stream, s->durable, NULL, jerr);
    if (st != NATS_OK && st != NATS_NOT_FOUND && *jerr != JSConsumerNotFoundErr)
        return st;
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = s->durable;
    cc.AckPolicy = js_AckExplicit;
    cc.DeliverPolicy = from > 1 ? js_DeliverByStartSequence : js_DeliverAll;
    cc.OptStartSeq = from > 1 ? from : 0;
    cc.AckWait = s->ack_wait_ms * 1000000;
    cc.MaxAckPending = s->max_pending;
    char filter[300];
    snprintf(filter, sizeof filter, "%s.>", s->o.subject_prefix);
    cc.FilterSubject = filter;
    *jerr = 0;
    jsConsumerInfo *ci = NULL;
    st = js_AddConsumer(&ci, s->js, s->o.stream, &cc, NULL, jerr);
    jsConsumerInfo_Destroy(ci);
    if (st != NATS_OK)
        return st;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = s->o.stream;
    so.Consumer = s->durable;
    st = js_PullSubscribe(&s->sub, s->js, filter, s->durable, NULL, &so, jerr);
    s->last_cseq = 0;
    return st;
}

/* Messages in stream order, each once, to the queue.  A delivery with the
 * next consumer sequence is the next message; one at or below what is
 * queued is a redelivery (ack_wait ended before its commit: the copy
 * queued is committed); a gap in the consumer sequence is a delivery lost
 * on the way (a NATS node died): the consumer is made again after what is
 * queued, so that nothing is skipped and the order holds. */
static void take(struct nsource *s, natsMsgList *list)
{
    int reset = 0;
    for (int i = 0; i < list->Count; i++) {
        natsMsg *m = list->Msgs[i];
        jsMsgMetaData *md = NULL;
        if (reset || natsMsg_GetMetaData(&md, m) != NATS_OK) {
            reset = 1;
            continue; /* destroyed with the list, never acknowledged */
        }
        uint64_t sseq = md->Sequence.Stream, cseq = md->Sequence.Consumer;
        uint64_t pending = md->NumPending;
        jsMsgMetaData_Destroy(md);
        if (sseq < s->next_sseq) {
            natsMsg_Ack(m, NULL); /* a copy of one queued: stop its redelivery */
            continue;
        }
        if (cseq != s->last_cseq + 1) {
            reset = 1;
            continue;
        }
        struct qmsg *q = calloc(1, sizeof *q);
        if (!q) {
            reset = 1;
            continue;
        }
        q->msg = m;
        list->Msgs[i] = NULL; /* the queue owns it now */
        q->sseq = sseq;
        s->last_cseq = cseq;
        s->next_sseq = sseq + 1;
        pthread_mutex_lock(&s->lock);
        s->pending = pending;
        if (s->q_tail)
            s->q_tail->next = q;
        else
            s->q_head = q;
        s->q_tail = q;
        s->held++;
        pthread_mutex_unlock(&s->lock);
    }
    if (reset) {
        char from[24];
        snprintf(from, sizeof from, "%llu", (unsigned long long)s->next_sseq);
        thread_error(s,
                     "a delivery of stream %s was lost (consumer %s): consuming again from "
                     "stream seq %s",
                     s->o.stream, from);
        natsSubscription_Destroy(s->sub);
        s->sub = NULL;
    }
}

static void *consume(void *arg)
{
    struct nsource *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->stopping && s->held >= s->max_pending)
            pthread_cond_wait(&s->room, &s->lock);
        int stop = s->stopping;
        int64_t want = s->max_pending - s->held;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            break;
        if (want > s->batch)
            want = s->batch;
        jsErrCode jerr = 0;
        natsStatus st = NATS_OK;
        if (!s->sub && (st = subscribe(s, s->next_sseq, &jerr)) != NATS_OK) {
            thread_error(s, "consumer %s of stream %s cannot be made: %s", s->durable,
                         natsStatus_GetText(st));
            nats_Sleep(RETRY_MS);
            continue;
        }
        /* What the stream has now, up to want, without waiting; when it
         * has nothing, wait for the next one.  (A plain Fetch of want
         * waits until want messages came: at a low rate a record would
         * wait for the ones after it.) */
        natsMsgList list = {0};
        jsFetchRequest fr;
        jsFetchRequest_Init(&fr);
        fr.Batch = (int)want;
        fr.NoWait = true;
        fr.Expires = (int64_t)FETCH_WAIT_MS * 1000000;
        st = natsSubscription_FetchRequest(&list, s->sub, &fr);
        if (st == NATS_TIMEOUT || st == NATS_NOT_FOUND || (st == NATS_OK && list.Count == 0)) {
            natsMsgList_Destroy(&list);
            st = natsSubscription_Fetch(&list, s->sub, 1, FETCH_WAIT_MS, &jerr);
        }
        if (st != NATS_OK && st != NATS_TIMEOUT) {
            thread_error(s, "fetching from stream %s: %s", s->o.stream, natsStatus_GetText(st));
            nats_Sleep(RETRY_MS / 4);
            continue;
        }
        if (st == NATS_OK)
            take(s, &list);
        natsMsgList_Destroy(&list);
        pthread_mutex_lock(&s->lock);
        if (st == NATS_TIMEOUT)
            s->pending = 0;          /* nothing more to read now */
        if (s->error[0] && s->sub) { /* the stream answers again */
            s->error[0] = '\0';
            s->ok_new = 1;
        }
        pthread_mutex_unlock(&s->lock);
        wake(s);
    }
    return NULL;
}

static void pump(struct nsource *s);

static void free_batch(struct nsource *s, int ack)
{
    int64_t n = 0;
    while (s->batch_head) {
        struct qmsg *q = s->batch_head;
        s->batch_head = q->next;
        if (ack)
            natsMsg_Ack(q->msg, NULL); /* lost: redelivered, and the cursor skips it */
        natsMsg_Destroy(q->msg);
        free(q);
        n++;
    }
    pthread_mutex_lock(&s->lock);
    s->held -= n;
    pthread_cond_signal(&s->room);
    pthread_mutex_unlock(&s->lock);
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
            refused
                ? KANAL_NATS_UNKNOWN
                : kanal_nats_classify(data ? data : "", n, (size_t)s->max_message, why, sizeof why);
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
            s->q_head = q->next;
            if (!s->q_head)
                s->q_tail = NULL;
            q->next = NULL;
            *tail = q;
            tail = &q->next;
        }
        pthread_mutex_unlock(&s->lock);
    }
    if (!s->batch_head)
        return;
    s->busy = 1;
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

static int64_t reconnect_delay(natsConnection *nc, int attempts, void *arg)
{
    (void)nc;
    (void)arg;
    int shift = attempts < 6 ? attempts : 6;
    int64_t ms = 100LL << shift;
    return ms > 5000 ? 5000 : ms;
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
        natsOptions_SetCustomReconnectDelay(opts, reconnect_delay, NULL);
        natsStatus st = natsConnection_Connect(&s->nc, opts);
        if (st != NATS_OK) {
            snprintf(why, sizeof why, "connecting to %s: %s", s->o.servers, natsStatus_GetText(st));
            r = -ECONNREFUSED;
        }
    }
    natsOptions_Destroy(opts);
    if (r == 0 && natsConnection_JetStream(&s->js, s->nc, NULL) != NATS_OK) {
        snprintf(why, sizeof why, "out of memory");
        r = -ENOMEM;
    }
    if (r == 0) {
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
    if (pthread_create(&s->thread, NULL, consume, s) != 0) {
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
    if (s->sub)
        natsSubscription_Destroy(s->sub); /* not Unsubscribe: the consumer stays */
    jsCtx_Destroy(s->js);
    if (s->nc)
        natsConnection_Close(s->nc);
    natsConnection_Destroy(s->nc);
    if (s->efd >= 0)
        close(s->efd);
    pthread_cond_destroy(&s->room);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
