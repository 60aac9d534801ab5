/* SPDX-License-Identifier: Apache-2.0 */
/* GET /v1/interactions...: the record feed, long polls included (feed.c). */
#ifndef KANAL_FEED_H
#define KANAL_FEED_H

#include <uv.h>

struct http_req;
struct store;
struct feed_waiter;

/* What the feed needs: the loop its long polls wait on, the store it
 * reads, and main's stopping flag (a long poll is not started once kanald
 * is stopping).  main.c fills it; the waiters are the feed's own. */
struct feed {
    uv_loop_t *loop;
    struct store *store;
    const int *stopping;
    struct feed_waiter *waiters; /* the long polls waiting for a commit */
};

/* rest is what follows /v1/interactions: "" for a page, "/<seq>" for one. */
void feed_handle(struct feed *f, struct http_req *req, const char *rest);
/* The writer's after_completions: wake the long polls; arg is the feed. */
void feed_notify(void *arg);
/* At shutdown: answer every long poll now, with what there is. */
void feed_cancel_all(struct feed *f);

#endif
