/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP server's requests: http-parser's callbacks build each request of
 * a connection as its bytes arrive, enforce max_header and max_body, take
 * the client a trusted proxy forwarded for, queue complete requests in
 * arrival order and hand them to the handler; a connection at a limit
 * pauses the parser.  http.c is the connections' life, http_answer.c the
 * answers. */
#include "http_int.h"

#include <string.h>

#include "log.h"
#include "netaddr.h"
#include "util.h"

#define BODY_AHEAD 65536 /* body bytes allocated before they arrive */

/* ---- parsing ---- */

static struct http_req *conn_req(struct http_conn *c)
{
    if (!c->cur) {
        c->cur = http_req_new(c->server, c);
        memcpy(c->cur->peer, c->peer, sizeof c->peer);
    }
    return c->cur;
}

/* Queue an error answer and stop reading: the connection closes after it. */
void conn_fail(struct http_conn *c, int status, const char *code, const char *message)
{
    if (c->closing)
        return;
    struct http_req *r = conn_req(c);
    c->cur = NULL;
    r->route = "error";
    r->next = NULL;
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->queued++;
    c->close_after_flush = 1;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    c->phase = PHASE_WAITING;
    if (status == 503)
        http_req_add_header(r, "Retry-After", "1");
    http_respond_error(r, status, code, message);
}

static int count_head(struct http_conn *c, size_t n)
{
    c->head_bytes += n;
    if ((int64_t)c->head_bytes > c->server->limits.max_header) {
        conn_fail(c, 431, "header_too_large", "request head is larger than max_header");
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct http_conn *c = p->data;
    /* No new request on a connection that is closing or about to. */
    if (c->closing || c->close_after_flush)
        return -1;
    conn_req(c);
    c->head_bytes = 0;
    c->last_was_value = 0;
    uint64_t now = util_monotonic_ms();
    /* A new connection's first head is due header_timeout after accept. */
    if (c->phase != PHASE_NEW)
        c->head_deadline = now + (uint64_t)c->server->limits.header_timeout_ms;
    c->phase = PHASE_HEAD;
    c->request_deadline = now + (uint64_t)c->server->limits.request_timeout_ms;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    if (c->closing)
        return -1;
    if (count_head(c, n))
        return -1;
    http_req_add_url(conn_req(c), at, n);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    if (c->closing)
        return -1;
    if (count_head(c, n))
        return -1;
    /* After a name, more name: it continues from the previous read. */
    http_req_add_name(conn_req(c), at, n, !c->last_was_value);
    c->last_was_value = 0;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    if (c->closing)
        return -1;
    if (count_head(c, n))
        return -1;
    if (http_req_add_value(conn_req(c), at, n))
        return -1;
    c->last_was_value = 1;
    return 0;
}

/* The client a trusted proxy forwarded r for (see net_forwarded_walk):
 * X-Forwarded-For headers are read from the last one, the one the peer
 * added to.  0 when r names no client. */
static int forwarded_client(const struct http_server *s, const struct http_req *r,
                            struct net_addr *out)
{
    int found = 0;
    const char *name, *value;
    for (size_t i = r->nheaders; i-- > 0;)
        if ((name = http_req_head_field(r, i, &value)) && !strcasecmp(name, "X-Forwarded-For") &&
            net_forwarded_walk(value, s->trusted, s->limits.ntrusted, out, &found))
            break;
    return found;
}

/* A trusted proxy's request: the client it names becomes the request's
 * peer and is what the connection counts against max_connections_per_ip.
 * The proxy's own requests (no X-Forwarded-For) count for nobody. */
static int forwarded(struct http_conn *c, struct http_req *r)
{
    struct http_server *s = c->server;
    struct net_addr client;
    if (!forwarded_client(s, r, &client)) {
        memset(&c->client, 0, sizeof c->client);
        return 0;
    }
    net_addr_format(&client, r->peer, sizeof r->peer);
    c->client = client;
    unsigned n = count_client(s, c, &client);
    if ((int64_t)n >= s->limits.max_per_ip) {
        log_refusal(s, r->peer, n, c->peer);
        conn_fail(c, 503, "too_many_connections",
                  "too many connections from your address; retry later");
        return -1;
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    if (c->closing)
        return -1;
    struct http_req *r = conn_req(c);
    if (c->trusted_peer && forwarded(c, r))
        return -1;
    r->method = http_method_str(p->method);
    r->head_only = p->method == HTTP_HEAD;
    r->keep_alive = http_should_keep_alive(p);
    c->phase = PHASE_BODY;
    /* Unsigned: a Content-Length of 2^63 or more is not a small number. */
    if ((p->flags & F_CONTENTLENGTH) &&
        p->content_length > (uint64_t)c->server->limits.max_body) {
        conn_fail(c, 413, "body_too_large", "request body is larger than max_body");
        return -1;
    }
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > 0) {
        /* A webhook's body in one allocation; a large one grows as it
         * arrives, so a head alone cannot make kanald reserve max_body. */
        uint64_t ahead = p->content_length < BODY_AHEAD ? p->content_length : BODY_AHEAD;
        r->body_cap = (size_t)ahead + 1;
        r->body = xmalloc(r->body_cap);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    if (c->closing)
        return -1;
    struct http_req *r = conn_req(c);
    if ((int64_t)(r->body_len + n) > c->server->limits.max_body) {
        conn_fail(c, 413, "body_too_large", "request body is larger than max_body");
        return -1;
    }
    http_buf_append(&r->body, &r->body_len, &r->body_cap, at, n);
    return 0;
}

static void dispatch(struct http_conn *c);

static int on_message_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    if (c->closing)
        return -1;
    struct http_req *r = conn_req(c);
    c->cur = NULL;
    http_req_head_done(r);
    if (!r->body) {
        r->body = xmalloc(1);
        r->body[0] = '\0';
    }
    r->pub = (struct kanal_http_request){
        .method = r->method,
        .path = r->path,
        .query = r->query,
        .remote_addr = r->peer,
        .headers = r->headers,
        .nheaders = r->nheaders,
        .body = r->body,
        .body_len = r->body_len,
    };
    r->next = NULL;
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->queued++;
    c->phase = PHASE_WAITING;
    /* A request that says Connection: close (or HTTP/1.0 without
     * keep-alive) is the last this connection carries (RFC 9112 9.6): no
     * request after it is parsed or answered, also when the handler keeps
     * it to answer later.  Reading goes on and what comes is dropped
     * (conn_parse), so that unread bytes do not turn the close into a reset
     * that could cost the client its answer. */
    if (!r->keep_alive)
        c->close_after_flush = 1;
    dispatch(c);
    /* An answer's write found the client gone: not one more request. */
    if (c->closing)
        return -1;
    if (!c->close_after_flush && conn_full(c)) {
        /* Not another request until the client catches up; the bytes after
         * this one wait in c->rest (conn_parse). */
        http_parser_pause(p, 1);
        if ((int64_t)c->queued >= c->server->limits.max_pipeline)
            log_debug("pausing requests from %s: %u unanswered (max_pipeline)", c->peer, c->queued);
        else
            log_debug("pausing requests from %s: %zu answer bytes unread (max_unread_answers)",
                      c->peer, uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp));
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = 0;
        }
    }
    return 0;
}

/* Hand new requests to the handler; answers come back through http_respond. */
static void dispatch(struct http_conn *c)
{
    for (struct http_req *r = c->head, *next; r; r = next) {
        /* An answer given at once leaves the queue (r->next changes); the
         * requests after it are not answered yet and stay queued. */
        next = r->next;
        if (r->dispatched)
            continue;
        r->dispatched = 1;
        c->server->handler(c->server->arg, r);
        /* The handler may have answered and flushed; c stays valid because
         * closing is deferred to uv_close's callback. */
        if (c->closing)
            return;
    }
}

/* Parse what a client sent; when the parser pauses at a limit, keep what
 * follows for later (a copy: data is the shared read buffer). */
void conn_parse(struct http_conn *c, const char *data, size_t len)
{
    c->parsing = 1;
    size_t done = http_parser_execute(&c->parser, &c->server->settings, data, len);
    c->parsing = 0;
    if (c->closing || c->close_after_flush)
        return;
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_PAUSED) {
        if (done < len) {
            c->rest = xmalloc(len - done);
            memcpy(c->rest, data + done, len - done);
            c->rest_len = len - done;
        }
        return;
    }
    if (e != HPE_OK || done != len) {
        if (e == HPE_HEADER_OVERFLOW)
            conn_fail(c, 431, "header_too_large", "request head is too large");
        else
            conn_fail(c, 400, "bad_request", http_errno_description(e));
    }
}
void http_parse_settings(http_parser_settings *settings)
{
    *settings = (http_parser_settings){
        .on_message_begin = on_message_begin,
        .on_url = on_url,
        .on_header_field = on_header_field,
        .on_header_value = on_header_value,
        .on_headers_complete = on_headers_complete,
        .on_body = on_body,
        .on_message_complete = on_message_complete,
    };
}
