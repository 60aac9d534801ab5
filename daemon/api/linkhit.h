/* SPDX-License-Identifier: Apache-2.0 */
/* A hit on a link (linkhit.c): GET, HEAD or POST on /t/TOKEN and /u/TOKEN,
 * clicks recorded under the rate limits, unsubscribe links handed to
 * unsub.c. */
#ifndef KANAL_LINKHIT_H
#define KANAL_LINKHIT_H

struct http_req;
struct links;

/* Dispatch GET/HEAD/POST on /t/TOKEN (unsub = 0) and /u/TOKEN (1). */
void links_route(struct links *l, struct http_req *req, const char *token, int unsub);
/* 1 when this hit of token may be recorded (under both rate limits). */
int links_rate_ok(struct links *l, struct http_req *req, const char *token);
/* The limiter's name of a client: its IPv4 address, or its IPv6 /64 (out
 * holds 46 bytes). */
const char *links_client_key(const char *peer, char out[46]);

#endif
