/* SPDX-License-Identifier: Apache-2.0 */
/* /metrics and /v1/sources (metrics.c). */
#ifndef KANAL_METRICS_H
#define KANAL_METRICS_H

struct http_req;
struct http_server;
struct link_state;
struct metrics;
struct outbox;
struct source_set;
struct store;
struct transfer_engine;
struct write_item;
struct writer;

/* What /metrics and /v1/sources show besides the metrics' own counters.
 * main.c fills it; members it replaces or closes later are pointers to its
 * own, read at each request. */
struct scores;
struct metrics_env {
    struct source_set *sources;
    struct store *store;
    struct writer *writer;
    struct outbox *const *outbox;
    struct transfer_engine *const *transfers;
    struct http_server *const *http;
    /* The link limiter's counters (links_state), with links_arg. */
    struct link_state *(*links)(void *links_arg);
    void *links_arg;
    const struct scores *scores; /* the scoring runs' state (NULL: none) */
};

struct metrics *metrics_new(const struct metrics_env *env);
void metrics_free(struct metrics *m);
/* The HTTP server's observer: one call per response written. */
void metrics_observe_http(void *arg, const struct http_req *req);
/* A committed emit's new records, by source, kind and direction (the records
 * it emitted are source_name's; relayed ones name their own). */
void metrics_count_records(struct metrics *m, const char *source_name,
                           const struct write_item *item);
void metrics_handle(struct metrics *m, struct http_req *req);
void sources_handle(struct metrics *m, struct http_req *req);

#endif
