/* SPDX-License-Identifier: Apache-2.0 */
/* What the nats source's two halves share: the loop's (nats_source.c)
 * and its consumer thread's (nats_consume.c). */
#ifndef KANAL_NATS_SOURCE_INT_H
#define KANAL_NATS_SOURCE_INT_H

#include <pthread.h>
#include <stdint.h>

#include <kanal/plugin.h>
#include <nats/nats.h>

#include "nats_common.h"

#define FETCH_WAIT_MS 1000 /* a fetch returns at the latest then: stop is seen */
#define RETRY_MS 1000      /* after a failed commit or subscription */
#define IDLE_CHECK 5       /* fetches timed out in a row before the consumer is looked at */
#define CURSOR_KEY "stream_seq"

struct qmsg {
    struct qmsg *next;
    natsMsg *msg;
    uint64_t sseq;
    unsigned gen;                             /* of the subscription it came from */
    int64_t t_stored, t_fetched, t_submitted; /* us, realtime: log_batch */
};

/* A subscription replaced after a lost delivery: its messages still held
 * point to it (natsMsg_Ack reads it), so it is destroyed only once none of
 * them is left. */
struct oldsub {
    struct oldsub *next;
    natsSubscription *sub;
    unsigned gen;
    int64_t at; /* given up (kanal_nats_now_ms): kept KANAL_NATS_SUB_GRACE_MS */
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
    int split;           /* the last batch was refused at commit: one by one */
    unsigned gen;        /* the current subscription's (under lock) */
    struct oldsub *olds; /* replaced subscriptions (under lock) */
};

/* The consumer thread's connection, made again while there is none or
 * libnats closed it (nats_source.c).  0, or -1 when stopping. */
int nats_source_connect(struct nsource *s);
/* The consumer thread: fetches in stream order into the queue, wakes the
 * loop; ends when stopping is set. */
void *nats_source_consume(void *arg);
/* Destroy the replaced subscriptions that no held message comes from (all:
 * every one, at destroy).  Loop thread. */
void nats_source_reap_subs(struct nsource *s, int all);

#endif
