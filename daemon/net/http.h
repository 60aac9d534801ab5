/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP/1.1 server: keep-alive, pipelining in order, limits, timeouts. */
#ifndef KANAL_HTTP_H
#define KANAL_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>
#include <uv.h>

#include <kanal/plugin.h>

#include "http_req.h" /* struct http_req */

struct http_server;
struct http_conn;
struct net_cidr;

struct http_limits {
    int64_t max_body, max_header, max_connections;
    int64_t header_timeout_ms, request_timeout_ms, idle_timeout_ms;
    int64_t max_unread;   /* answer bytes queued for a client that does not read */
    int64_t max_pipeline; /* requests parsed but not yet answered, per connection */
    int64_t max_per_ip;   /* connections per client address */
    /* Peers whose X-Forwarded-For names the client; the server keeps a copy. */
    const struct net_cidr *trusted;
    size_t ntrusted;
};

typedef void (*http_handler_fn)(void *arg, struct http_req *req);
/* Called once per response written (for metrics). */
typedef void (*http_observer_fn)(void *arg, const struct http_req *req);

struct http_server *http_server_new(uv_loop_t *loop, const struct http_limits *limits,
                                    http_handler_fn handler, void *arg);
int http_server_listen(struct http_server *s, const char *host, int port);
void http_server_set_observer(struct http_server *s, http_observer_fn fn, void *arg);
/* Called after each read from any connection has been parsed and its new
 * requests dispatched: a place to deliver answers that became ready while the
 * loop was busy reading. */
void http_server_set_after_read(struct http_server *s, void (*fn)(void *arg), void *arg);
void http_server_set_limits(struct http_server *s, const struct http_limits *limits);
/* Stop accepting and reading; finish requests in flight; close_cb when all
 * connections are closed. */
void http_server_shutdown(struct http_server *s, void (*close_cb)(void *arg), void *arg);
/* Close what is still open after the shutdown timeout. */
void http_server_abort(struct http_server *s);
/* Free after the loop closed every handle. */
void http_server_free(struct http_server *s);
unsigned http_server_connections(const struct http_server *s);
/* The port actually bound (for listen ports chosen by the kernel). */
int http_server_port(const struct http_server *s);

/* Answer req (exactly once); the request is freed once its response is
 * written or right away when the client is gone. */
int http_respond(struct http_req *req, int status, const char *content_type, const void *body,
                 size_t len);
/* A JSON error body {"error":{"code","message"}}. */
int http_respond_error(struct http_req *req, int status, const char *code, const char *message);
const char *http_status_text(int status);

#endif
