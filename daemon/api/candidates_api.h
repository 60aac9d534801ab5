/* SPDX-License-Identifier: Apache-2.0 */
/* Merge candidates over HTTP (candidates_api.c): GET /v1/contacts/candidates,
 * DELETE .../candidates/{id} (and POST .../{id}/reject), POST
 * /v1/contacts/{id}/merge.  ctx is the struct contacts_api (contacts_api.h). */
#ifndef KANAL_CANDIDATES_API_H
#define KANAL_CANDIDATES_API_H

#include <jansson.h>

struct contacts_api;
struct http_req;
struct route_params;
struct statecmd_run;
struct write_item;

void candidates_route_list(void *ctx, struct http_req *req, const struct route_params *p);
void candidates_route_reject(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_merge(void *ctx, struct http_req *req, const struct route_params *p);
/* A cluster's state command "merge" or "reject" (statecmd.c): the route's
 * write item, without a client, taking a reference to args; NULL with *why
 * NULL for another command, or with why for arguments the route refuses. */
struct write_item *candidates_cmd_item(struct contacts_api *ca, const char *command,
                                       const char *target, json_t *args, struct statecmd_run *run,
                                       const char **why);

#endif
