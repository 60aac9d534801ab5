/* SPDX-License-Identifier: Apache-2.0 */
/* A matched route's path parameters ({name} segments of its pattern): what
 * the router fills and every handler reads.  Its own module, so that
 * handlers need not include the route table that names them. */
#ifndef KANAL_ROUTE_PARAMS_H
#define KANAL_ROUTE_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#define ROUTE_MAX_PARAMS 4
#define ROUTE_PARAM_BUF 512

/* The path parameters a route's pattern names, as sent (not
 * percent-decoded), each NUL-terminated in buf. */
struct route_params {
    size_t n;
    const char *name[ROUTE_MAX_PARAMS];
    const char *value[ROUTE_MAX_PARAMS];
    char buf[ROUTE_PARAM_BUF];
};

/* The value of the parameter name, or "" when the pattern has none. */
const char *route_param(const struct route_params *p, const char *name);

/* Every paged list (the feed, a contact's timeline and export, the merge
 * candidates) takes ?limit= the same way: absent is QUERY_LIMIT_DEFAULT; a
 * whole number from 1 to QUERY_LIMIT_MAX, nothing else, is taken. */
#define QUERY_LIMIT_DEFAULT 100
#define QUERY_LIMIT_MAX 1000
#define QUERY_LIMIT_WHY "limit must be a whole number from 1 to 1000 (the maximum)"

/* The limit of the query string qs in *out: 0, or -EINVAL with *why (the
 * 400's message, which says the maximum). */
int query_limit(const char *qs, unsigned *out, const char **why);

/* ?after= of the lists paged by seq (the feed, a contact's timeline and
 * export): absent is 0; digits only, up to UINT64_MAX; else -EINVAL with
 * *why. */
#define QUERY_AFTER_SEQ_WHY "after must be a non-negative integer (a seq)"
int query_after_seq(const char *qs, uint64_t *out, const char **why);

/* ?after= of the lists paged by key (the merge candidates): absent is
 * NULL in *out; 1 to max bytes, a copy in *out for the caller to free;
 * else -EINVAL with *why. */
int query_after_key(const char *qs, size_t max, char **out, const char **why);

#endif
