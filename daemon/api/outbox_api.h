/* The outbox's HTTP routes, and its ties to the daemon (outbox_api.c). */
#ifndef KANAL_OUTBOX_API_H
#define KANAL_OUTBOX_API_H

struct daemon;
struct http_req;
struct outbox;
struct outbox_env;

/* POST /v1/messages and GET /v1/messages/<id>. */
void outbox_handle_post(struct outbox *ob, struct http_req *req);
void outbox_handle_get(struct outbox *ob, struct http_req *req, const char *id);

/* The outbox's view of d: its loop, store and writer, and hooks into d's
 * sources, contacts and links (for outbox_new). */
void outbox_env_of(struct daemon *d, struct outbox_env *env);

#endif
