/* SPDX-License-Identifier: Apache-2.0 */
/* Unsubscribe links (unsub.c): the confirmation page (GET/HEAD) and the
 * opt-out (POST). */
#ifndef KANAL_UNSUB_H
#define KANAL_UNSUB_H

#include <jansson.h>

struct http_req;
struct links;

/* GET/HEAD/POST on the unsubscribe link of token, stored as link (the
 * reference is taken over). */
void links_unsubscribe(struct links *l, struct http_req *req, const char *token, json_t *link);
/* 404 for a token that names no link: an HTML page for /u/, JSON for /t/. */
void links_not_found(struct http_req *req, int html);
/* The `optout` record of a POST on the unsubscribe link token (meta taken;
 * channel and campaign may be NULL), stamped with identity's clock: on a
 * single node at the POST, on a core of a cluster with the time of the
 * command "optout". */
json_t *links_optout_record(const char *token, const char *ext, const char *contact, json_t *meta,
                            json_t *channel, json_t *campaign);

#endif
