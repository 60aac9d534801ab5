/* SPDX-License-Identifier: Apache-2.0 */
/* The outbox: outbound messages queued durably, sent through plugins. */
#ifndef KANAL_OUTBOX_H
#define KANAL_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include <kanal/plugin.h>

#include "natsconn.h"

struct outbox;
struct store;
struct writer;

struct outbox_source_stats {
    char *source;
    uint64_t attempts, sent, retried, failed;
};

/* A running source as the outbox sees it.  src is the daemon's source,
 * opaque here: the outbox hands it back to the hooks below and holds it
 * (source_ref) while a send is in flight.  The strings live as long as src. */
struct outbox_source {
    struct kanal_source *src;
    const char *channel; /* its plugin's name */
    int can_send;        /* its plugin has send() */
    const char *default_country;
    int keep_raw;
    int64_t send_concurrency, send_rate, send_max_attempts, send_max_age_ms;
    const char *page_id; /* a facebook source's page, for bare PSIDs; else NULL */
};

/* What the outbox needs from the daemon around it, given once at
 * outbox_new: the loop, the store it reads, the writer it commits through,
 * and hooks into the sources, the contacts and the links (api/outbox_api.c
 * fills them).  arg is the first argument of the hooks that take one. */
struct outbox_env {
    uv_loop_t *loop;
    struct store *store;
    struct writer *writer;
    void *arg;
    /* The running source of that name: 1 with *out filled, or 0. */
    int (*find_source)(void *arg, const char *name, struct outbox_source *out);
    /* What a source the outbox holds is (its name may be running no more). */
    void (*describe)(struct kanal_source *src, struct outbox_source *out);
    void (*source_ref)(struct kanal_source *src);
    void (*source_unref)(struct kanal_source *src);
    /* Hand msg to the source's plugin (its send()). */
    int (*send)(struct kanal_source *src, const struct kanal_send_request *msg);
    /* `to` as the source's plugin files it (kanal_host.normalize_handle). */
    int (*normalize_handle)(struct kanal_source *src, const char *to, char *out, size_t len);
    /* 1 when the contact of handle withdrew consent on channel, 0 when not,
     * a negative error when the store cannot be read (contacts_opted_out). */
    int (*opted_out)(void *arg, const char *handle, const char *channel);
    /* A campaign message's unsubscribe link (allocated), or NULL when kanald
     * makes none (no [kanald] public_url) or cannot. */
    char *(*unsubscribe_url)(void *arg, struct kanal_source *src, const char *to,
                             const char *campaign, const char *message_id);
    /* 1 once kanald is shutting down: nothing more is handed to plugins. */
    int (*stopping)(void *arg);
};

struct outbox *outbox_new(const struct outbox_env *env);
/* Load pending messages from the store (after a crash they are sent again). */
int outbox_load(struct outbox *ob);
void outbox_close(struct outbox *ob);
/* Sources changed (reload): messages waiting for a source may go now. */
void outbox_kick(struct outbox *ob);

/* host->send_done */
int outbox_send_done(struct outbox *ob, struct kanal_source *src,
                     const struct kanal_send_request *msg, const struct kanal_send_result *res);

/* Drop a message from the schedule (erased); its stored state was updated. */
void outbox_forget(struct outbox *ob, const char *id);
/* Checks consent before each send (contacts). */
uint64_t outbox_depth(const struct outbox *ob);

/* The outbox in a cluster ([kanald] outbox_cluster, docs/cluster.md): mode
 * "core" hands each message whose consent it granted to the work-queue
 * stream instead of a plugin; "edge" takes messages from the stream's
 * shared durable consumer and sends them.  Called once after outbox_new. */
struct outbox_cluster {
    const char *mode, *servers, *stream, *subject, *durable;
    int64_t ack_wait_ms;
    struct natsconn_auth auth; /* the outbox_creds ... outbox_tls_ca keys */
};
int outbox_cluster_start(struct outbox *ob, const struct outbox_cluster *c);
const struct outbox_source_stats *outbox_stats(const struct outbox *ob, size_t *n);

#endif
