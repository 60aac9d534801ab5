/* SPDX-License-Identifier: Apache-2.0 */
/* Erasure (erase.c): DELETE /v1/contacts/{id}.  ctx is the struct
 * contacts_api (contacts_api.h). */
#ifndef KANAL_ERASE_H
#define KANAL_ERASE_H

struct contacts_api;
struct http_req;
struct route_params;
struct statecmd_run;
struct write_item;

void contacts_route_erase(void *ctx, struct http_req *req, const struct route_params *p);
/* A cluster's state command "erase" (statecmd.c): the route's write item,
 * without a client; NULL with *why NULL for another command, or with why
 * for a target the route refuses. */
struct write_item *erase_cmd_item(struct contacts_api *ca, const char *command,
                                  const char *target, struct statecmd_run *run, const char **why);

#endif
