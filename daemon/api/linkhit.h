/* SPDX-License-Identifier: Apache-2.0 */
/* A hit on a link (linkhit.c): GET, HEAD or POST on /t/TOKEN and /u/TOKEN,
 * clicks recorded under the rate limits, unsubscribe links handed to
 * unsub.c. */
#ifndef KANAL_LINKHIT_H
#define KANAL_LINKHIT_H

#include <jansson.h>

struct http_req;
struct links;

/* Dispatch GET/HEAD/POST on /t/TOKEN (unsub = 0) and /u/TOKEN (1). */
void links_route(struct links *l, struct http_req *req, const char *token, int unsub);
/* 1 when this hit of token may be recorded (under both rate limits). */
int links_rate_ok(struct links *l, struct http_req *req, const char *token);
/* The limiter's name of a client: its IPv4 address, or its IPv6 /64 (out
 * holds 46 bytes). */
const char *links_client_key(const char *peer, char out[46]);
/* The `click` record of a hit on token (meta taken; contact and campaign
 * may be NULL), stamped with identity's clock: on a single node at the
 * hit, on a core of a cluster with the time of the command "click". */
json_t *links_click_record(const char *token, const char *ext, const char *contact, json_t *meta,
                           json_t *campaign);

#endif
