/* SPDX-License-Identifier: Apache-2.0 */
/* Erasure (erase.c): DELETE /v1/contacts/{id}.  ctx is the struct
 * contacts_api (contacts_api.h). */
#ifndef KANAL_ERASE_H
#define KANAL_ERASE_H

struct http_req;
struct route_params;

void contacts_route_erase(void *ctx, struct http_req *req, const struct route_params *p);

#endif
