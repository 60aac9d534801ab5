/* SPDX-License-Identifier: Apache-2.0 */
/* The nats sink's state, shared by the loop's side (nats_sink.c:
 * delivering, publishing, reading the acks) and the worker's
 * (nats_sink_worker.c: the connections and the stream check, on the
 * sink's own thread, and libnats' callbacks), which only queue events for
 * the loop. */
#ifndef KANAL_NATS_SINK_H
#define KANAL_NATS_SINK_H

#include <pthread.h>
#include <stdint.h>

#include <kanal/kit.h>
#include <kanal/plugin.h>
#include <nats/nats.h>

#include "nats_common.h"

#define RECHECK_MS 2000 /* how often an unchecked stream is checked again */

/* One record on its way: queued (msg made), published (sent) or
 * acknowledged.  The message is made when the record is delivered, from
 * the batch's text: its one copy. */
struct rec {
    struct rec *next;
    uint64_t seq;
    natsMsg *msg;    /* until published */
    int64_t sent_ms; /* monotonic, when published; 0: not yet */
    int acked;
};

/* What a libnats thread or the worker tells the loop. */
struct event {
    struct event *next;
    int kind;
    int status; /* EV_CHECKED: kanal_nats_check_stream's result */
    char text[];
};
enum {
    EV_DOWN = 1, /* disconnected */
    EV_UP,       /* (re)connected to text */
    EV_READY,    /* worker: nc and js exist, not necessarily connected */
    EV_REFUSED,  /* worker: a connection failed or was closed (text); retried */
    EV_CHECKED,  /* worker: a stream check ended (status, text) */
};

#define RETIRED_MAX 16 /* older subscriptions kept, at most */

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
    char refused[512];   /* why no connection could be made, as last logged */
    pthread_t worker;
    int worker_started;
    pthread_mutex_t lock; /* guards events, closed, quit */
    pthread_cond_t closed_cond;
    pthread_cond_t work_cond; /* wakes the worker: connected, quit */
    int closed;               /* libnats delivered the connection's last callback */
    int quit;                 /* the worker ends */
    int released;             /* the loop let go of a closed connection (EV_REFUSED) */
    struct event *ev_head, *ev_tail;
    natsInbox *inbox;         /* the acks come to <inbox>.<gen>.<seq> */
    natsSubscription *sub;    /* set by the worker; the loop's after EV_READY */
    /* Older generations' subscriptions, unsubscribed but not destroyed
     * until KANAL_NATS_SUB_GRACE_MS have passed or their connection is
     * closed (nats_common.h says why).  Loop's while ready, like sub. */
    natsSubscription *retired[RETIRED_MAX];
    int64_t retired_ms[RETIRED_MAX];
    int nretired;
    uint64_t gen;             /* a failure starts a new one: older acks are ignored */
    struct kanal_timer *poll; /* reads the acks while some are in flight */
    struct rec *head, *tail;  /* the delivered records, in seq order */
    struct rec *unsent;       /* the first not yet published (those after it neither) */
    int64_t inflight;
    int ready, verified, stopped;
};

/* Queue an event for the loop (and wake it). */
void kanal_nats_sink_push(struct sink *s, int kind, int status, const char *text);
/* The acks' subscription of the current generation on nc. */
natsStatus kanal_nats_sink_subscribe(struct sink *s, natsConnection *nc, natsSubscription **sub);
/* libnats' callbacks of s's connections, set on s->opts. */
void kanal_nats_sink_callbacks(struct sink *s);
/* The worker thread's body; kanal_nats_sink_quit ends it. */
void *kanal_nats_sink_worker(void *arg);
void kanal_nats_sink_quit(struct sink *s);
/* Destroy s->sub and the retired subscriptions: their connection is
 * closed, or the loop let go of it. */
void kanal_nats_sink_drop_subs(struct sink *s);
/* Close nc and wait (10 s at most) for its last callback: whether it came. */
int kanal_nats_sink_close_wait(struct sink *s, natsConnection *nc);

#endif
