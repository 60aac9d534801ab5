/* SPDX-License-Identifier: Apache-2.0 */
/* The outbox's HTTP routes (ROUTE_OUTBOX: their context is the struct
 * outbox), and the hooks it is given into the rest of kanald (outbox_api.c). */
#ifndef KANAL_OUTBOX_API_H
#define KANAL_OUTBOX_API_H

#include <stddef.h>

#include <uv.h>

struct http_req;
struct kanal_send_request;
struct kanal_source;
struct links;
struct outbox;
struct outbox_env;
struct outbox_source;
struct store;
struct writer;

/* POST /v1/messages and GET /v1/messages/<id>. */
void outbox_handle_post(struct outbox *ob, struct http_req *req);
void outbox_handle_get(struct outbox *ob, struct http_req *req, const char *id);

/* What the outbox's hooks are made of: each module's functions and the
 * argument they take.  main.c (the composition root) fills it; it must
 * outlive the outbox, whose env points at it. */
struct outbox_ties {
    uv_loop_t *loop;
    struct store *store;
    struct writer *writer;
    /* The running sources: the one of a name (NULL when none runs), what
     * a source is, whether kanald is stopping; and a source's plugin's
     * send(), the hold on a source, and `to` as its plugin files it. */
    void *sources;
    struct kanal_source *(*find_source)(void *sources, const char *name);
    int (*stopping)(void *sources);
    void (*describe)(struct kanal_source *src, struct outbox_source *out);
    void (*source_ref)(struct kanal_source *src);
    void (*source_unref)(struct kanal_source *src);
    int (*send)(struct kanal_source *src, const struct kanal_send_request *msg);
    int (*normalize_handle)(struct kanal_source *src, const char *to, char *out, size_t len);
    /* Consent: 1 when the contact of handle withdrew it on channel, 0 when
     * not, a negative error when the store cannot be read. */
    void *contacts;
    int (*opted_out)(void *contacts, const char *handle, const char *channel);
    /* A campaign message's unsubscribe link (links_make_unsubscribe). */
    struct links *links;
};

/* The outbox's env (for outbox_new) of ties. */
void outbox_env_of(struct outbox_ties *t, struct outbox_env *env);

#endif
