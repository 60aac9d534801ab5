/* SPDX-License-Identifier: Apache-2.0 */
/* Merge candidates over HTTP (candidates_api.c): GET /v1/contacts/candidates,
 * DELETE .../candidates/{id} (and POST .../{id}/reject), POST
 * /v1/contacts/{id}/merge.  ctx is the struct contacts_api (contacts_api.h). */
#ifndef KANAL_CANDIDATES_API_H
#define KANAL_CANDIDATES_API_H

struct http_req;
struct route_params;

void candidates_route_list(void *ctx, struct http_req *req, const struct route_params *p);
void candidates_route_reject(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_merge(void *ctx, struct http_req *req, const struct route_params *p);

#endif
