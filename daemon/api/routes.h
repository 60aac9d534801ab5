/* SPDX-License-Identifier: Apache-2.0 */
/* The route table: every path kanald answers, with its methods, the scope
 * its token needs, its metrics label, its query parameters and its handler.
 * routes.c holds the table; router.c matches requests against it and gives
 * the answers every route shares (401, 403, 404, 405, 400). */
#ifndef KANAL_ROUTES_H
#define KANAL_ROUTES_H

#include <stddef.h>
#include <stdio.h>

#include "auth.h"
#include "route_params.h"

struct http_req;

/* The module a route belongs to: its handler is given that module's
 * context (struct router's module[]), nothing wider. */
enum route_module {
    ROUTE_SOURCES,  /* hooks, /healthz, /v1/sinks: the running sources and stages */
    ROUTE_METRICS,  /* /metrics, /v1/sources */
    ROUTE_FEED,     /* /v1/interactions */
    ROUTE_OUTBOX,   /* /v1/messages */
    ROUTE_CONTACTS, /* /v1/contacts... */
    ROUTE_LINKS,    /* /v1/links, /t/, /u/ */
    ROUTE_SCORES,   /* /v1/audiences..., /v1/contacts/{id}/scores, /v1/scores/refresh */
    ROUTE_OPENAPI,  /* /v1/openapi.json: needs no context */
    ROUTE_MODULES
};

typedef void (*route_fn)(void *ctx, struct http_req *req, const struct route_params *p);

struct route {
    /* Space-separated, e.g. "GET HEAD"; "*" for any method (a plugin's
     * webhooks answer methods themselves). */
    const char *methods;
    /* Literal segments, "{name}" for one non-empty segment, and a final
     * "/..." for anything below (or nothing).  The first pattern in table
     * order that matches a path is its route, so literal paths come before
     * the patterns with a parameter in their place; rows of one pattern
     * differ by method. */
    const char *pattern;
    enum scope scope;
    const char *label; /* kanal_http_requests_total{route=...} */
    /* The query parameters the route reads, space-separated: any other is
     * refused with 400.  "*": the query is not checked (hooks hand it to
     * the plugin; link clicks carry scanners' utm_* parameters). */
    const char *query;
    enum route_module module;
    route_fn fn;
};

/* routes.c */
extern const struct route route_table[];
extern const size_t route_count;

/* router.c: the table as JSON, for kanald --routes. */
int routes_print(FILE *f);

#endif
