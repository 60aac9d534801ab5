/* SPDX-License-Identifier: Apache-2.0 */
/* The nats source's consumer thread: libnats blocks in its fetch, so it
 * runs here, off kanald's loop, and hands messages over through the queue
 * and the eventfd (nats_source.c reads them on the loop). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nats_source_int.h"

static void wake(struct nsource *s)
{
    uint64_t one = 1;
    ssize_t w = write(s->efd, &one, sizeof one);
    (void)w; /* the counter only saturates: the loop wakes anyway */
}

static void thread_error(struct nsource *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void thread_error(struct nsource *s, const char *fmt, ...)
{
    char e[sizeof s->error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e, sizeof e, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&s->lock);
    if (strcmp(e, s->error)) {
        snprintf(s->error, sizeof s->error, "%s", e);
        s->error_new = 1;
    }
    pthread_mutex_unlock(&s->lock);
    wake(s);
}

/* What libnats said of its last failure on this thread, else st's text. */
static const char *why(natsStatus st)
{
    const char *e = nats_GetLastError(NULL);
    return e && *e ? e : natsStatus_GetText(st);
}

/* The consumer, made anew from stream seq from: an ack covers every
 * message up to it (one per committed batch), redelivery after ack_wait,
 * bound to by name (closing the subscription never deletes it).  This
 * store's committed cursor, not the consumer's acknowledgements, says where
 * to go on: the server may hold messages it delivered to a killed process
 * until their ack_wait ends, and would redeliver them after later ones; a
 * consumer made from the cursor delivers in stream order.  So the
 * consumer's own state is never needed again: it keeps one replica, in
 * memory.  Replicated, every delivery and every ack was a Raft proposal to
 * three nodes, about a quarter of what the NATS nodes spent per record
 * (bench/cluster_lag); a consumer whose node is gone is made again on
 * another (nats_source_consume). */
static natsStatus subscribe(struct nsource *s, uint64_t from, jsErrCode *jerr)
{
    natsStatus st = js_DeleteConsumer(s->js, s->o.stream, s->durable, NULL, jerr);
    if (st != NATS_OK && st != NATS_NOT_FOUND && *jerr != JSConsumerNotFoundErr)
        return st;
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = s->durable;
    cc.AckPolicy = js_AckAll;
    cc.DeliverPolicy = from > 1 ? js_DeliverByStartSequence : js_DeliverAll;
    cc.OptStartSeq = from > 1 ? from : 0;
    cc.AckWait = s->ack_wait_ms * 1000000;
    cc.MaxAckPending = s->max_pending;
    cc.Replicas = 1;
    cc.MemoryStorage = true;
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
    so.Config.Replicas = cc.Replicas; /* libnats checks them against the consumer's */
    so.Config.MemoryStorage = cc.MemoryStorage;
    st = js_PullSubscribe(&s->sub, s->js, filter, s->durable, NULL, &so, jerr);
    s->last_cseq = 0;
    return st;
}

/* The subscription is given up: the next turn makes the consumer again
 * after what is queued.  Messages held from it still point to it, so it
 * is destroyed once none is left (nats_source_reap_subs). */
static void drop_sub(struct nsource *s)
{
    struct oldsub *o = calloc(1, sizeof *o);
    pthread_mutex_lock(&s->lock);
    if (o) {
        *o = (struct oldsub){
            .next = s->olds, .sub = s->sub, .gen = s->gen, .at = kanal_nats_now_ms()};
        s->olds = o;
    } /* else (out of memory) left to the end of the process, never a gap */
    s->gen++;
    s->sub = NULL;
    pthread_mutex_unlock(&s->lock);
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
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t fetched = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    for (int i = 0; i < list->Count; i++) {
        natsMsg *m = list->Msgs[i];
        jsMsgMetaData *md = NULL;
        if (reset || natsMsg_GetMetaData(&md, m) != NATS_OK) {
            reset = 1;
            continue; /* destroyed with the list, never acknowledged */
        }
        uint64_t sseq = md->Sequence.Stream, cseq = md->Sequence.Consumer;
        uint64_t pending = md->NumPending;
        int64_t t_stored = md->Timestamp / 1000;
        jsMsgMetaData_Destroy(md);
        if (sseq < s->next_sseq)
            continue; /* a copy of one queued: its batch's ack covers it */
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
        q->t_stored = t_stored;
        q->t_fetched = fetched;
        s->last_cseq = cseq;
        s->next_sseq = sseq + 1;
        pthread_mutex_lock(&s->lock);
        q->gen = s->gen;
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
        thread_error(s,
                     "a delivery of stream %s was lost (consumer %s): consuming again from "
                     "stream seq %llu",
                     s->o.stream, s->durable, (unsigned long long)s->next_sseq);
        drop_sub(s);
    }
}

/* Destroy the replaced subscriptions no held message comes from (the
 * messages are held in stream order, so those older than the first one)
 * and given up KANAL_NATS_SUB_GRACE_MS ago; all: every one, the
 * connection closed. */
void nats_source_reap_subs(struct nsource *s, int all)
{
    struct oldsub *dead = NULL, **pp;
    int64_t now = all ? 0 : kanal_nats_now_ms();
    pthread_mutex_lock(&s->lock);
    unsigned oldest = s->batch_head ? s->batch_head->gen : s->q_head ? s->q_head->gen : s->gen;
    for (pp = &s->olds; *pp;) {
        struct oldsub *o = *pp;
        if (all || (o->gen < oldest && now - o->at >= KANAL_NATS_SUB_GRACE_MS)) {
            *pp = o->next;
            o->next = dead;
            dead = o;
        } else {
            pp = &o->next;
        }
    }
    pthread_mutex_unlock(&s->lock);
    while (dead) {
        struct oldsub *n = dead->next;
        natsSubscription_Destroy(dead->sub);
        free(dead);
        dead = n;
    }
}

void *nats_source_consume(void *arg)
{
    struct nsource *s = arg;
    int idle = 0; /* fetches in a row that timed out */
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
        if (nats_source_connect(s) < 0)
            break;
        jsErrCode jerr = 0;
        natsStatus st = NATS_OK;
        if (!s->sub && (st = subscribe(s, s->next_sseq, &jerr)) != NATS_OK) {
            thread_error(s, "consumer %s of stream %s cannot be made: %s", s->durable, s->o.stream,
                         why(st));
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
        if (st != NATS_OK && natsConnection_Status(s->nc) != NATS_CONN_STATUS_CONNECTED) {
            /* libnats reconnects with backoff; the fetch waits meanwhile. */
            natsMsgList_Destroy(&list);
            thread_error(s, "not connected to NATS (%s); reconnecting with backoff", s->o.servers);
            nats_Sleep(RETRY_MS / 4);
            continue;
        }
        if (st != NATS_OK && st != NATS_TIMEOUT) {
            /* No responders: the consumer's one replica was on a node that
             * is gone (or someone deleted it): made again, on a node that
             * answers. */
            natsMsgList_Destroy(&list);
            thread_error(s, "fetching from stream %s (consumer %s): %s; making the consumer again",
                         s->o.stream, s->durable, why(st));
            drop_sub(s);
            nats_Sleep(RETRY_MS / 4);
            continue;
        }
        idle = st == NATS_TIMEOUT ? idle + 1 : 0;
        if (idle >= IDLE_CHECK) {
            /* A whole while without a message: the stream may be quiet, or
             * the consumer's node gone without a word (requests to it
             * time out).  One look at the consumer tells them apart. */
            idle = 0;
            jsConsumerInfo *ci = NULL;
            st = js_GetConsumerInfo(&ci, s->js, s->o.stream, s->durable, NULL, &jerr);
            jsConsumerInfo_Destroy(ci);
            if (st != NATS_OK && natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED) {
                thread_error(s, "consumer %s of stream %s does not answer (%s): making it again",
                             s->durable, s->o.stream, why(st));
                natsMsgList_Destroy(&list);
                drop_sub(s);
                continue;
            }
            st = NATS_TIMEOUT;
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
