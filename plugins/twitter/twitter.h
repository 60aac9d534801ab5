/* SPDX-License-Identifier: Apache-2.0 */
/* The X/Twitter plugin's shared state and the interfaces between its files:
 * twitter.c (options, lifecycle, webhooks), tw_normalize.c (payloads to
 * records), tw_poll.c (mentions and search polling), tw_send.c (posts,
 * replies and DMs). */
#ifndef KANAL_TWITTER_H
#define KANAL_TWITTER_H

#include <stdint.h>

#include <jansson.h>
#include <kanal/plugin.h>

/* Conversations of recently seen tweets, so that a reply whose payload has
 * no conversation id (X's v1.1 webhook objects) gets its parent's. */
#define TW_CONV_CACHE 2048
#define TW_ID_MAX 32

struct tw_conv {
    char id[TW_ID_MAX];
    char conv[TW_ID_MAX];
};

struct tw_poll;

struct twitter {
    const struct kanal_host *host;
    struct kanal_source *src;
    const char *user_id;         /* the brand account's numeric id */
    const char *consumer_secret; /* webhooks: CRC and signatures */
    const char *bearer_token;    /* polling (app context) */
    const char *user_token;      /* posting (user context) */
    const char *poll_query;      /* recent search, or NULL */
    char *api_url;               /* without a trailing '/' */
    int webhooks;                /* mode webhook or both */
    int polling;                 /* mode poll or both */
    int64_t poll_interval_ms;
    int64_t poll_max_pages;
    int64_t timeout_ms;
    int stopping;
    struct tw_poll *poll;
    /* Health has two causes that heal separately. */
    char poll_problem[256];
    char send_problem[256];
    int healthy;
    struct tw_conv conv[TW_CONV_CACHE];
    unsigned conv_next;
};

/* ---- twitter.c ---- */

/* Report a polling or sending problem (NULL: solved) and update the
 * source's health from both. */
void tw_set_problem(struct twitter *tw, int sending, const char *problem);
/* Remember and look up a tweet's conversation id. */
void tw_conv_remember(struct twitter *tw, const char *id, const char *conv);
const char *tw_conv_lookup(const struct twitter *tw, const char *id);
/* "x:<id>" into buf. */
const char *tw_handle(const char *id, char *buf, size_t len);
/* A record for an authentic payload nobody understands, keyed by digest. */
json_t *tw_unknown_record(struct twitter *tw, json_t *raw, const char *what, const char *reason);

/* ---- tw_normalize.c ---- */

/* The records of one Account Activity payload (an array, possibly empty). */
json_t *tw_activity_records(struct twitter *tw, json_t *payload);
/* The record of one API v2 tweet, with the response's includes; NULL when
 * the tweet lacks an id or author. */
json_t *tw_v2_tweet_record(struct twitter *tw, json_t *tweet, json_t *includes);
/* X's one-to-one DM conversation id: the two user ids, smaller first. */
void tw_dm_conversation(const char *a, const char *b, char *out, size_t len);

/* ---- tw_poll.c ---- */

int tw_poll_start(struct twitter *tw);
void tw_poll_stop(struct twitter *tw);
void tw_poll_free(struct twitter *tw);

/* ---- tw_send.c ---- */

int tw_send(void *state, const struct kanal_send_request *msg);

/* 1 when s is a numeric X id (user, tweet) of a sane length. */
int tw_numeric_id(const char *s);

#endif
