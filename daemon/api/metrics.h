/* /metrics and /v1/sources (metrics.c). */
#ifndef KANAL_METRICS_H
#define KANAL_METRICS_H

struct daemon;
struct http_req;
struct metrics;
struct write_item;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* The HTTP server's observer: one call per response written. */
void metrics_observe_http(void *arg, const struct http_req *req);
/* A committed emit's new records, by source, kind and direction. */
void metrics_count_records(struct metrics *m, const struct write_item *item);
void metrics_handle(struct daemon *d, struct http_req *req);
void sources_handle(struct daemon *d, struct http_req *req);

#endif
