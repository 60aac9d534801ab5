/* SPDX-License-Identifier: Apache-2.0 */
/* The scores' HTTP routes (scores_api.c): the audiences kept, one
 * audience's shape, its contacts in an order, its advocates, a contact's
 * scores in every audience, and starting a run.  The context is the
 * runtime's struct scores (runtime/scores.h). */
#ifndef KANAL_SCORES_API_H
#define KANAL_SCORES_API_H

struct http_req;
struct route_params;

/* /v1/audiences/{id}/contacts?order= takes influence, reach (the row's
 * field), value, advocacy or risk (that object's score): highest first, a
 * row without it last, ties by contact id. */
void scores_route_list(void *ctx, struct http_req *req, const struct route_params *p);
void scores_route_get(void *ctx, struct http_req *req, const struct route_params *p);
void scores_route_contacts(void *ctx, struct http_req *req, const struct route_params *p);
void scores_route_advocates(void *ctx, struct http_req *req, const struct route_params *p);
void scores_route_contact(void *ctx, struct http_req *req, const struct route_params *p);
void scores_route_refresh(void *ctx, struct http_req *req, const struct route_params *p);

#endif
