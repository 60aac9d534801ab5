/* SPDX-License-Identifier: Apache-2.0 */
/* The nats sink's worker (nats_sink.h): what libnats does synchronously —
 * connecting, one server after the other, and the stream check — on the
 * sink's own thread, a connection a server refused made again after the
 * backoff; and libnats' callbacks.  Both only queue events for the loop
 * (kanal_nats_sink_push), which does the rest (nats_sink.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nats_sink.h"

void kanal_nats_sink_push(struct sink *s, int kind, int status, const char *text)
{
    size_t tl = text ? strnlen(text, 511) : 0;
    struct event *e = calloc(1, sizeof *e + tl + 1);
    if (!e)
        return; /* a lost log line or state change; the worker checks again */
    e->kind = kind;
    e->status = status;
    if (tl)
        memcpy(e->text, text, tl);
    pthread_mutex_lock(&s->lock);
    int first = !s->ev_head;
    if (s->ev_tail)
        s->ev_tail->next = e;
    else
        s->ev_head = e;
    s->ev_tail = e;
    pthread_mutex_unlock(&s->lock);
    if (!first)
        return; /* the loop has not taken the queue yet: it is woken already */
    uint64_t one = 1;
    ssize_t w = write(s->efd, &one, sizeof one);
    (void)w; /* the counter only saturates: the loop wakes anyway */
}

static void push_event(struct sink *s, int kind, const char *text)
{
    kanal_nats_sink_push(s, kind, 0, text);
}

static void on_disconnected(natsConnection *nc, void *arg)
{
    (void)nc;
    push_event(arg, EV_DOWN, NULL);
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
    pthread_cond_signal(&s->work_cond); /* not by us: the worker connects again */
    pthread_mutex_unlock(&s->lock);
}

static void on_connected(natsConnection *nc, void *arg)
{
    struct sink *s = arg;
    char url[200] = "";
    natsConnection_GetConnectedUrl(nc, url, sizeof url);
    push_event(s, EV_UP, url);
    pthread_mutex_lock(&s->lock);
    pthread_cond_signal(&s->work_cond); /* check the stream now */
    pthread_mutex_unlock(&s->lock);
}

/* Close nc and wait for its last callback (on_closed), which libnats
 * makes on a thread of its own, possibly after Close returned. */
int kanal_nats_sink_close_wait(struct sink *s, natsConnection *nc)
{
    natsConnection_Close(nc);
    struct timespec until = kanal_nats_deadline(10000);
    pthread_mutex_lock(&s->lock);
    while (!s->closed && pthread_cond_timedwait(&s->closed_cond, &s->lock, &until) == 0)
        ;
    int closed = s->closed;
    pthread_mutex_unlock(&s->lock);
    return closed;
}

/* Wait on work_cond until quit or ms passed (lock held).  @return quit */
static int worker_wait(struct sink *s, int64_t ms)
{
    struct timespec until = kanal_nats_deadline(ms);
    if (!s->quit)
        pthread_cond_timedwait(&s->work_cond, &s->lock, &until);
    return s->quit;
}

/* Why the connection nc (NULL: none was made) or the connect call failed
 * with st: libnats' status and the server's words ("Authorization
 * Violation"), never a secret. */
static void refusal(struct sink *s, natsConnection *nc, natsStatus st, char *why, size_t len)
{
    const char *detail = NULL;
    if (nc)
        st = natsConnection_GetLastError(nc, &detail);
    else
        detail = nats_GetLastError(NULL);
    kanal_nats_conn_why(st, detail, why, len);
}

void kanal_nats_sink_drop_subs(struct sink *s)
{
    natsSubscription_Destroy(s->sub);
    s->sub = NULL;
    for (int i = 0; i < s->nretired; i++)
        natsSubscription_Destroy(s->retired[i]);
    s->nretired = 0;
}

/* One connection, made: handed to the loop (EV_READY), its stream
 * checked whenever connected and not yet verified, every RECHECK_MS, until
 * it passes.  @return 1 when libnats closed it (the loop let go of it; nc
 * and js are the caller's to destroy, the subscriptions are destroyed
 * here: the loop may have replaced sub), 0 on quit (destroy's). */
static int worker_use(struct sink *s, natsConnection *nc, jsCtx *js, natsSubscription *sub)
{
    char why[512], url[200] = "";
    pthread_mutex_lock(&s->lock);
    s->nc = nc;
    s->js = js;
    s->sub = sub;
    pthread_mutex_unlock(&s->lock);
    push_event(s, EV_READY, NULL);
    natsConnection_GetConnectedUrl(nc, url, sizeof url);
    push_event(s, EV_UP, url);
    int verified = 0;
    pthread_mutex_lock(&s->lock);
    while (!s->quit && !s->closed) {
        if (!verified && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED) {
            pthread_mutex_unlock(&s->lock);
            int r = kanal_nats_check_stream(js, &s->o, why, sizeof why);
            kanal_nats_sink_push(s, EV_CHECKED, r, why);
            verified = r == 0;
            pthread_mutex_lock(&s->lock);
            if (s->quit || s->closed)
                break;
        }
        if (verified)
            pthread_cond_wait(&s->work_cond, &s->lock);
        else
            worker_wait(s, RECHECK_MS);
    }
    if (s->quit) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    /* Closed by libnats, which gave up (a refusal): the loop lets go of
     * it first, then it goes and a new one is made. */
    pthread_mutex_unlock(&s->lock);
    const char *detail = NULL;
    natsStatus st = natsConnection_GetLastError(nc, &detail);
    kanal_nats_conn_why(st, detail, why, sizeof why);
    kanal_nats_sink_push(s, EV_REFUSED, st, why);
    pthread_mutex_lock(&s->lock);
    while (!s->quit && !s->released)
        pthread_cond_wait(&s->work_cond, &s->lock);
    int quit = s->quit;
    if (!quit) {
        s->nc = NULL;
        s->js = NULL;
        s->closed = s->released = 0;
    }
    pthread_mutex_unlock(&s->lock);
    if (!quit)
        kanal_nats_sink_drop_subs(s); /* closed: the read loop is done with them */
    return !quit;
}

/* The worker: connections, one after the other, for as long as the sink
 * runs.  A first connection that fails, whatever the reason, and one
 * libnats closed, are made again after the backoff of a lost one; destroy
 * closes the last.  (libnats' RetryOnFailedConnect would retry the first
 * one itself, but gives up on a refusal and then says only "no server".) */
void *kanal_nats_sink_worker(void *arg)
{
    struct sink *s = arg;
    char why[512];
    for (int attempts = 0;; attempts++) {
        natsConnection *nc = NULL;
        jsCtx *js = NULL;
        natsSubscription *sub = NULL;
        natsStatus st = natsConnection_Connect(&nc, s->opts);
        if (st == NATS_OK) {
            /* The acks' subscription of this connection, of the current
             * generation: the loop changes gen only while ready. */
            st = kanal_nats_sink_subscribe(s, nc, &sub);
            if (st == NATS_OK)
                st = natsConnection_JetStream(&js, nc, NULL);
            if (st == NATS_OK) {
                if (!worker_use(s, nc, js, sub))
                    return NULL; /* destroy closes it */
                sub = NULL;      /* worker_use destroyed it, or its successor */
                attempts = 0;    /* it was made: the backoff starts anew */
            } else {
                refusal(s, NULL, st, why, sizeof why);
                kanal_nats_sink_push(s, EV_REFUSED, st, why);
                kanal_nats_sink_close_wait(s, nc);
            }
            natsSubscription_Destroy(sub);
            jsCtx_Destroy(js);
            natsConnection_Destroy(nc);
        } else {
            refusal(s, NULL, st, why, sizeof why);
            kanal_nats_sink_push(s, EV_REFUSED, st, why);
        }
        pthread_mutex_lock(&s->lock);
        s->closed = 0; /* of the connection that went */
        int quit = worker_wait(s, kanal_nats_backoff_ms(attempts));
        pthread_mutex_unlock(&s->lock);
        if (quit)
            return NULL;
    }
}

void kanal_nats_sink_quit(struct sink *s)
{
    pthread_mutex_lock(&s->lock);
    s->quit = 1;
    pthread_cond_signal(&s->work_cond);
    pthread_mutex_unlock(&s->lock);
}

void kanal_nats_sink_callbacks(struct sink *s)
{
    natsOptions_SetClosedCB(s->opts, on_closed, s);
    natsOptions_SetDisconnectedCB(s->opts, on_disconnected, s);
    natsOptions_SetReconnectedCB(s->opts, on_connected, s);
}
