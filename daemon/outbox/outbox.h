/* The outbox: outbound messages queued durably, sent through plugins. */
#ifndef KANAL_OUTBOX_H
#define KANAL_OUTBOX_H

#include <stdint.h>

#include <kanal/plugin.h>

struct daemon;
struct http_req;
struct outbox;

struct outbox_source_stats {
    char *source;
    uint64_t attempts, sent, retried, failed;
};

struct outbox *outbox_new(struct daemon *d);
/* Load pending messages from the store (after a crash they are sent again). */
int outbox_load(struct outbox *ob);
void outbox_close(struct outbox *ob);
/* Sources changed (reload): messages waiting for a source may go now. */
void outbox_kick(struct outbox *ob);

/* POST /v1/messages and GET /v1/messages/<id>. */
void outbox_handle_post(struct outbox *ob, struct http_req *req);
void outbox_handle_get(struct outbox *ob, struct http_req *req, const char *id);

/* host->send_done */
int outbox_send_done(struct outbox *ob, struct kanal_source *src,
                     const struct kanal_send_request *msg, const struct kanal_send_result *res);

/* Drop a message from the schedule (erased); its stored state was updated. */
void outbox_forget(struct outbox *ob, const char *id);
/* Checks consent before each send (contacts). */
uint64_t outbox_depth(const struct outbox *ob);
const struct outbox_source_stats *outbox_stats(const struct outbox *ob, size_t *n);

#endif
