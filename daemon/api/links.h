/* SPDX-License-Identifier: Apache-2.0 */
/* Tracking and unsubscribe links (links.c): the links' context, which the
 * router hands ROUTE_LINKS and the outbox's ties hand the outbox, what
 * linkhit.c and unsub.c share, and POST /v1/links. */
#ifndef KANAL_LINKS_H
#define KANAL_LINKS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <lmdb.h>

struct config;
struct http_req;
struct kanal_source;
struct statecmd_pub;
struct statecmd_run;
struct store;
struct write_item;
struct writer;

/* The counters /metrics shows; kept on the loop thread. */
struct link_stats {
    uint64_t limited;        /* hits over a rate limit: answered, not recorded */
    uint64_t suspected_bots; /* clicks recorded with meta.suspected_bot */
    uint64_t optouts;        /* opt-outs taken by POST on an unsubscribe link */
};

/* One token bucket of the limiter: a keyed hash of "t:TOKEN" or
 * "c:ADDRESS", the hits it may still record, refilled at the limit per
 * minute.  A bucket untouched for a minute is full: the same as none. */
struct rate_slot {
    uint64_t key; /* 0: empty */
    int64_t last_ms;
    double left;
};

/* The limiter's table (made on first use, links_state) and the counters. */
struct link_state {
    struct rate_slot *slots;
    size_t size, live, cap; /* size: a power of two >= 2 * cap */
    unsigned char seed[16];
    struct link_stats stats;
};

/* What the links use; main.c fills it, links_free empties it at shutdown. */
struct links {
    struct store *store;
    struct writer *writer;
    /* main's current config, replaced on a reload: public_url and the
     * link_* limits are read from it at each use. */
    struct config *const *cfg;
    /* The running sources: an unsubscribe link without a contact finds its
     * recipient's as the outbox normalized the `to` (with the source's
     * default_country while the source runs).  find_source gives NULL for
     * a source that is not running. */
    void *sources;
    struct kanal_source *(*find_source)(void *sources, const char *name);
    int (*normalize_handle)(struct kanal_source *src, const char *to, char *out, size_t len);
    struct link_state state; /* zeroed before first use */
    /* A core of a cluster ([kanald] state_cluster = core): links, clicks
     * and opt-outs go to the stream as state commands (main's pointer to
     * the publisher); NULL or *cluster NULL: made here, as on a single
     * node. */
    struct statecmd_pub *const *cluster;
};

/* POST /v1/links: make a tracking or unsubscribe link.  On a core of a
 * cluster it is published as the state command "link" (the token chosen
 * here, in the command) and answered 202 with the 201's fields. */
void links_create(struct links *l, struct http_req *req);
/* The stream's publisher when this node is a core of a cluster, else NULL. */
struct statecmd_pub *links_cluster(const struct links *l);
/* Append rec (taken) after *last_seq in the writer's transaction. */
int links_append(struct store *st, MDB_txn *txn, json_t *rec, uint64_t *last_seq);
/* The stored link of token, parsed, in *out (NULL when there is none);
 * 0, or a negative errno when the store cannot be read. */
int links_lookup(struct links *l, const char *token, json_t **out);
/* Make an unsubscribe link for a message about to be sent to handle (its
 * contact, or when it has none yet the message's recipient) on channel,
 * for campaign.  Writes "<public_url>/u/TOKEN" to url; the link is committed
 * through the writer before anything that is submitted after it (so before
 * the message's outbound record).  0, or -EINVAL without public_url. */
int links_make_unsubscribe(struct links *l, const char *handle, const char *channel,
                           const char *campaign, const char *message_id, char *url, size_t url_len);
/* [kanald] public_url, or NULL: no links can be made without it. */
const char *links_public_url(const struct links *l);
/* The limiter and counters, the table (re)made when it has none yet or a
 * reload changed link_rate_table. */
struct link_state *links_state(struct links *l);
/* Copy at most max bytes of s into a new JSON string, cut on a UTF-8
 * boundary, invalid sequences and control characters replaced by U+FFFD. */
json_t *links_clean_text(const char *s, size_t max);
void links_free(struct links *l);

#endif
