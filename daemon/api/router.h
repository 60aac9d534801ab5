/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP routes' dispatcher (router.c). */
#ifndef KANAL_ROUTER_H
#define KANAL_ROUTER_H

#include "routes.h"

struct api_tokens;
struct http_req;

/* What the router needs: the API tokens (replaced on a reload) and each
 * module's context, handed to that module's routes. */
struct router {
    struct api_tokens *tokens;
    void *module[ROUTE_MODULES];
};

/* The HTTP server's handler; arg is the struct router. */
void router_handle(void *arg, struct http_req *req);

#endif
