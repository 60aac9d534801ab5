/* SPDX-License-Identifier: Apache-2.0 */
/* The stages as the HTTP API shows them (stages_api.c): GET /v1/sinks, the
 * stages' part of /metrics and of /healthz. */
#ifndef KANAL_STAGES_API_H
#define KANAL_STAGES_API_H

#include <stddef.h>

#include <jansson.h>

struct http_req;
struct source_set;

/* GET /v1/sinks: each sink's cursor, lag, last error and health. */
void stages_sinks_handle(struct source_set *set, struct http_req *req);
/* The stages' /metrics text (malloc'd, *len bytes), or NULL. */
char *stages_metrics(struct source_set *set, size_t *len);
/* /healthz: each sink's state into sinks; 0 when one lags past max_lag. */
int stages_health(struct source_set *set, json_t *sinks);

#endif
