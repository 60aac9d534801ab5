/* GET /v1/feed...: the record feed, long polls included (feed.c). */
#ifndef KANAL_FEED_H
#define KANAL_FEED_H

struct daemon;
struct http_req;

void feed_handle(struct daemon *d, struct http_req *req, const char *rest);
/* The writer's after_completions: wake the long polls; arg is the daemon. */
void feed_notify(void *arg);
void feed_cancel_all(struct daemon *d);

#endif
