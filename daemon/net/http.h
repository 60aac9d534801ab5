/* The HTTP/1.1 server: keep-alive, pipelining in order, limits, timeouts. */
#ifndef KANAL_HTTP_H
#define KANAL_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>
#include <uv.h>

#include <kanal/plugin.h>

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

/* A typical webhook's head fits inline, and the whole request stays within
 * the size glibc's per-thread malloc cache serves (1032 bytes). */
#define HTTP_REQ_TEXT_INLINE 480
#define HTTP_REQ_HEADERS_INLINE 8

/* One request.  The public part is what plugins see. */
struct http_req {
    struct kanal_http_request pub;
    struct http_server *server;
    struct http_conn *conn; /* NULL once the client is gone */
    struct http_req *next;  /* the connection's pipeline, in arrival order */
    /* Set when the request is complete; they point into text. */
    const char *path, *query, *method;
    struct kanal_http_header *headers;
    size_t nheaders;
    /* The head's strings and where each starts (http_req.c). */
    char *text;
    size_t text_len, text_cap;
    struct http_span {
        uint32_t name, value; /* offsets into text; value NO_SPAN until given */
    } *spans;
    size_t spans_cap;
    uint32_t url;   /* offset of the URL, NO_SPAN until given */
    char *body;
    size_t body_len, body_cap;
    int keep_alive;
    int head_only;
    int dispatched;
    int responded;
    char *out; /* the serialized response */
    size_t out_len;
    char *extra_headers; /* "Name: value\r\n"... */
    size_t extra_len;
    const char *route; /* label for metrics */
    int status;
    uint64_t started_ms;
    void *owner; /* the source the request was routed to, or NULL */
    char peer[64]; /* the client's address: outlives the connection */
    /* Storage for the common case: no allocation per header. */
    char text_inline[HTTP_REQ_TEXT_INLINE];
    struct http_span spans_inline[HTTP_REQ_HEADERS_INLINE];
    struct kanal_http_header headers_inline[HTTP_REQ_HEADERS_INLINE];
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

const char *http_req_header(const struct http_req *req, const char *name);
int http_req_add_header(struct http_req *req, const char *name, const char *value);
/* Answer req (exactly once); the request is freed once its response is
 * written or right away when the client is gone. */
int http_respond(struct http_req *req, int status, const char *content_type, const void *body,
                 size_t len);
/* A JSON error body {"error":{"code","message"}}. */
int http_respond_error(struct http_req *req, int status, const char *code, const char *message);
const char *http_status_text(int status);

#endif
