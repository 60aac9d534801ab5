/* Tracking and unsubscribe links: what links.c, linkhit.c and unsub.c
 * share, and what the router and the outbox call. */
#ifndef KANAL_LINKS_H
#define KANAL_LINKS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct daemon;
struct http_req;

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

/* d->links, made on first use. */
struct link_state {
    struct rate_slot *slots;
    size_t size, live, cap; /* size: a power of two >= 2 * cap */
    unsigned char seed[16];
    struct link_stats stats;
};
struct link_state *links_state(struct daemon *d);

/* links.c */
/* The stored link of token, parsed, in *out (NULL when there is none);
 * 0, or a negative errno when the store cannot be read. */
int links_lookup(struct daemon *d, const char *token, json_t **out);
/* Make an unsubscribe link for a message about to be sent to handle (its
 * contact, or when it has none yet the message's recipient) on channel,
 * for campaign.  Writes "<public_url>/u/TOKEN" to url; the link is committed
 * through the writer before anything that is submitted after it (so before
 * the message's outbound record).  0, or -EINVAL without public_url. */
int links_make_unsubscribe(struct daemon *d, const char *handle, const char *channel,
                           const char *campaign, const char *message_id, char *url, size_t url_len);

/* linkhit.c: GET/HEAD on a click link, the limiter, the stored fields. */
void links_hit_click(struct daemon *d, struct http_req *req, const char *token, json_t *link);
/* 1 when this hit of token may be recorded (under both rate limits). */
int links_rate_ok(struct daemon *d, struct http_req *req, const char *token);
/* The limiter's name of a client: its IPv4 address, or its IPv6 /64 (out
 * holds 46 bytes). */
const char *links_client_key(const char *peer, char out[46]);
/* Copy at most max bytes of s into a new JSON string, cut on a UTF-8
 * boundary, invalid sequences and control characters replaced by U+FFFD. */
json_t *links_clean_text(const char *s, size_t max);
void links_free(struct daemon *d);

/* unsub.c: an unsubscribe link's page (GET/HEAD) and opt-out (POST). */
void links_unsubscribe(struct daemon *d, struct http_req *req, const char *token, json_t *link);
/* 404 for a token that names no link: an HTML page for /u/, JSON for /t/. */
void links_not_found(struct http_req *req, int html);

/* links.c: POST /v1/links and GET /t/<token>. */
void links_create(struct daemon *d, struct http_req *req);
void links_click(struct daemon *d, struct http_req *req, const char *token);

/* Dispatch GET/HEAD/POST on /t/TOKEN (unsub = 0) and /u/TOKEN (1). */
void links_route(struct daemon *d, struct http_req *req, const char *token, int unsub);

#endif
