/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/1.1 on libuv and http-parser.
 *
 * Requests on one connection are parsed as they arrive and queued; the
 * handler may answer them in any order (an answer often waits for a store
 * commit), but responses are written in request order, as HTTP/1.1
 * pipelining requires.  Limits answer with JSON errors: 413 for a body over
 * max_body, 431 for a head over max_header, 408 when a client is too slow to
 * send its request (slow-loris), 503 over max_connections or over
 * max_connections_per_ip from one client address.  A sweep enforces the
 * deadlines of every connection.
 *
 * What one client may make kanald hold is bounded: a connection whose
 * requests wait unanswered (max_pipeline) or whose answers it does not read
 * (max_unread) is not read from any further, down to the request: the parser
 * pauses after the request that reached the limit and keeps the bytes after
 * it until the client has caught up; a client that never reads its answers
 * is cut off after idle_timeout.
 *
 * A connection may close at any moment, even inside a handler called from
 * the parser (an answer's write finds the client gone).  From then on the
 * parser takes nothing more from it: every callback refuses a closing
 * connection, so no request is made or dispatched on it, and the requests a
 * handler still holds lose their connection (req->conn = NULL) before the
 * connection is freed. */
#include "http.h"
#include "http_req.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "netaddr.h"
#include "util.h"

#define READ_BUF 65536
#define BODY_AHEAD 65536 /* body bytes allocated before they arrive */

/* NEW: accepted, nothing received yet (header_timeout); IDLE: between
 * requests of a keep-alive connection (idle_timeout). */
enum conn_phase { PHASE_NEW, PHASE_IDLE, PHASE_HEAD, PHASE_BODY, PHASE_WAITING };

struct http_conn {
    uv_tcp_t tcp;
    struct http_server *server;
    struct http_conn *prev, *next;
    http_parser parser;
    struct http_req *cur; /* being parsed */
    struct http_req *head, *tail;
    unsigned queued;
    size_t head_bytes;
    int last_was_value;
    enum conn_phase phase;
    uint64_t head_deadline, request_deadline, idle_deadline;
    uint64_t write_since; /* when the oldest unread answer was queued */
    int reading;
    int closing;
    int close_after_flush;
    int writes_pending;
    int parsing; /* inside http_parser_execute */
    /* Bytes read but not parsed: the parser paused at a limit. */
    char *rest;
    size_t rest_len;
    struct http_conn *resume_next; /* on the server's resume list */
    int resume_queued;
    int trusted_peer; /* the peer is a trusted proxy */
    /* The address counted against max_connections_per_ip: the peer's, or for
     * a trusted proxy the client its last request was forwarded for (family
     * 0: none, e.g. the proxy's own requests). */
    struct net_addr client;
    char peer[64];
};

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int listening;
    uv_timer_t sweep;
    struct http_limits limits;
    http_handler_fn handler;
    void *arg;
    http_observer_fn observer;
    void *observer_arg;
    struct http_conn *conns;
    unsigned nconns;
    int shutting_down;
    void (*close_cb)(void *);
    void *close_arg;
    int pending_handles;
    http_parser_settings settings;
    /* One read buffer for all connections: the loop reads one connection at
     * a time and the parser copies what it keeps. */
    char read_buf[READ_BUF];
    int read_buf_busy;
    /* Requests answered and written at once, freed after this turn of the
     * loop: the code that answered may still look at them. */
    struct http_req *answered;
    uv_check_t reaper;
    void (*after_read)(void *arg);
    void *after_read_arg;
    struct net_cidr *trusted; /* copy of limits.trusted */
    /* Paused connections that may take requests again: parsed from the idle
     * handle, never from inside another request's answer. */
    struct http_conn *resume;
    uv_idle_t resumer;
    uint64_t refusal_logged_ms; /* per-client refusals: one warning a second */
    unsigned refusals_unlogged;
};

static void conn_close(struct http_conn *c);
static void conn_flush(struct http_conn *c);
static void resume_reading(struct http_conn *c);
static void on_resume(uv_idle_t *h);
static void conn_maybe_done(struct http_conn *c);

const char *http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    }
    return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error"
                                                                      : "Server Error";
}

int http_respond(struct http_req *req, int status, const char *content_type, const void *body,
                 size_t len)
{
    if (req->responded)
        return -EALREADY;
    req->responded = 1;
    if (status < 100 || status > 599)
        status = 500; /* a plugin's mistake; the client gets a valid answer */
    req->status = status;
    struct http_conn *c = req->conn;
    if (req->server->observer)
        req->server->observer(req->server->observer_arg, req);
    if (!c) {
        http_req_free(req);
        return 0;
    }
    /* Answers may come out of order: an earlier request answered after the
     * last one (Connection: close, an error, a half-closed client) still
     * says keep-alive, only the last one written says close. */
    int keep =
        req->keep_alive && !req->server->shutting_down && !(c->close_after_flush && req == c->tail);
    if (content_type && (strlen(content_type) > 200 || strpbrk(content_type, "\r\n")))
        content_type = "application/octet-stream"; /* never let a plugin inject headers */
    /* The head, put together by hand: it is written for every request. */
    char head[512], *h = head;
    const char *text = http_status_text(status);
    char num[24], *digits = util_u64_dec(num + sizeof num, len);
#define HEAD(s, l) (memcpy(h, (s), (l)), h += (l))
#define HEADS(lit) HEAD(lit, sizeof lit - 1)
    HEADS("HTTP/1.1 ");
    *h++ = (char)('0' + status / 100 % 10);
    *h++ = (char)('0' + status / 10 % 10);
    *h++ = (char)('0' + status % 10);
    *h++ = ' ';
    HEAD(text, strlen(text));
    HEADS("\r\nContent-Length: ");
    HEAD(digits, (size_t)(num + sizeof num - digits));
    if (keep)
        HEADS("\r\nConnection: keep-alive\r\n");
    else
        HEADS("\r\nConnection: close\r\n");
    if (content_type) {
        HEADS("Content-Type: ");
        HEAD(content_type, strlen(content_type)); /* at most 200, checked above */
        HEADS("\r\n");
    }
#undef HEADS
#undef HEAD
    size_t n = (size_t)(h - head);
    size_t total = n + req->extra_len + 2 + (req->head_only ? 0 : len);
    req->out = xmalloc(total);
    memcpy(req->out, head, n);
    if (req->extra_len)
        memcpy(req->out + n, req->extra_headers, req->extra_len);
    memcpy(req->out + n + req->extra_len, "\r\n", 2);
    if (!req->head_only && len)
        memcpy(req->out + n + req->extra_len + 2, body, len);
    req->out_len = total;
    if (!keep)
        c->close_after_flush = 1;
    conn_flush(c);
    return 0;
}

int http_respond_error(struct http_req *req, int status, const char *code, const char *message)
{
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    char *text = json_dumps(o, JSON_COMPACT);
    int r = http_respond(req, status, "application/json", text, strlen(text));
    free(text);
    json_decref(o);
    return r;
}

/* ---- writing ---- */

struct write_req {
    uv_write_t w;
    struct http_conn *conn;
    struct http_req *req;
};

static void on_written(uv_write_t *w, int status)
{
    struct write_req *wr = (struct write_req *)w;
    struct http_conn *c = wr->conn;
    http_req_free(wr->req);
    free(wr);
    c->writes_pending--;
    c->write_since = util_monotonic_ms(); /* the client is reading */
    if (status < 0) {
        conn_close(c);
        return;
    }
    resume_reading(c);
    conn_maybe_done(c);
}

/* Write every answered request at the head of the pipeline. */
static void conn_flush(struct http_conn *c)
{
    while (c->head && c->head->responded && !c->closing) {
        struct http_req *r = c->head;
        c->head = r->next;
        if (!c->head)
            c->tail = NULL;
        c->queued--;
        r->conn = NULL;
        uv_buf_t b = uv_buf_init(r->out, (unsigned)r->out_len);
        if (c->writes_pending == 0 && !c->server->shutting_down) {
            /* Nothing queued before it: write now.  An answer that fits in
             * the socket buffer (nearly all) needs no write request, no
             * callback and no change to what the loop polls for. */
            int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
            if (n == (int)b.len || (n < 0 && n != UV_EAGAIN)) {
                r->next = c->server->answered;
                c->server->answered = r;
                if (n < 0) {
                    conn_close(c); /* the client is gone */
                    return;
                }
                continue;
            }
            if (n > 0) {
                b.base += n;
                b.len -= (unsigned)n;
            }
            c->write_since = util_monotonic_ms();
        }
        struct write_req *wr = xcalloc(1, sizeof *wr);
        wr->conn = c;
        wr->req = r;
        c->writes_pending++;
        if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
            c->writes_pending--;
            http_req_free(r);
            free(wr);
            conn_close(c);
            return;
        }
    }
    resume_reading(c);
    conn_maybe_done(c);
}

/* After the last write: close if asked, else wait idle for the next request. */
static void conn_maybe_done(struct http_conn *c)
{
    if (c->closing || c->head || c->writes_pending)
        return;
    if (c->close_after_flush || (c->server->shutting_down && !c->cur)) {
        conn_close(c);
        return;
    }
    if (!c->cur && c->phase == PHASE_WAITING) {
        c->phase = PHASE_IDLE;
        c->idle_deadline = util_monotonic_ms() + (uint64_t)c->server->limits.idle_timeout_ms;
    }
}

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
static void conn_fail(struct http_conn *c, int status, const char *code, const char *message)
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

/* Connections open from client address a, other than self. */
static unsigned count_client(const struct http_server *s, const struct http_conn *self,
                             const struct net_addr *a)
{
    unsigned n = 0;
    for (const struct http_conn *c = s->conns; c; c = c->next)
        if (c != self && net_addr_equal(&c->client, a))
            n++;
    return n;
}

/* A refusal over max_connections_per_ip: at most one warning a second, so
 * that a flood of them cannot flood the log. */
static void log_refusal(struct http_server *s, const char *client, unsigned n, const char *via)
{
    uint64_t now = util_monotonic_ms();
    if (s->refusal_logged_ms && now - s->refusal_logged_ms < 1000) {
        s->refusals_unlogged++;
        return;
    }
    log_warn("refused a connection from %s%s%s: it has %u open, max_connections_per_ip is %lld "
             "(%u more refused since the last warning)",
             client, via ? " via proxy " : "", via ? via : "", n, (long long)s->limits.max_per_ip,
             s->refusals_unlogged);
    s->refusal_logged_ms = now;
    s->refusals_unlogged = 0;
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

/* c may take no more requests: too many unanswered, or too many answer
 * bytes its client has not read. */
static int conn_full(const struct http_conn *c)
{
    const struct http_limits *l = &c->server->limits;
    return (int64_t)c->queued >= l->max_pipeline ||
           (int64_t)uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) > l->max_unread;
}

/* Room again after being full: half the limits, so that a client at a limit
 * is not paused and resumed at every answer. */
static int conn_has_room(const struct http_conn *c)
{
    const struct http_limits *l = &c->server->limits;
    return 2 * (int64_t)c->queued <= l->max_pipeline &&
           2 * (int64_t)uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) <=
               l->max_unread;
}

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
    dispatch(c);
    /* An answer's write found the client gone: not one more request. */
    if (c->closing)
        return -1;
    if (conn_full(c)) {
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

/* ---- connections ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct http_conn *c = h->data;
    struct http_server *s = c->server;
    if (!s->read_buf_busy) {
        s->read_buf_busy = 1;
        buf->base = s->read_buf;
    } else {
        buf->base = xmalloc(READ_BUF);
    }
    buf->len = READ_BUF;
}

static void release_buf(struct http_conn *c, const uv_buf_t *buf)
{
    if (buf->base == c->server->read_buf)
        c->server->read_buf_busy = 0;
    else
        free(buf->base);
}

/* Parse what a client sent; when the parser pauses at a limit, keep what
 * follows for later (a copy: data is the shared read buffer). */
static void conn_parse(struct http_conn *c, const char *data, size_t len)
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

static void conn_read(struct http_conn *c, ssize_t nread, const uv_buf_t *buf)
{
    uv_stream_t *stream = (uv_stream_t *)&c->tcp;
    if (nread < 0) {
        release_buf(c, buf);
        if (nread == UV_EOF && (c->head || c->writes_pending)) {
            /* Half-closed by the client: still answer what it asked. */
            uv_read_stop(stream);
            c->reading = 0;
            c->close_after_flush = 1;
            return;
        }
        conn_close(c);
        return;
    }
    if (nread == 0) {
        release_buf(c, buf);
        return;
    }
    conn_parse(c, buf->base, (size_t)nread);
    release_buf(c, buf);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct http_conn *c = stream->data;
    struct http_server *s = c->server;
    conn_read(c, nread, buf);
    if (s->after_read)
        s->after_read(s->after_read_arg);
}

/* Take requests from c again once it has room.  A parser paused at a limit
 * goes on from the idle handle: resume_reading is called from inside
 * answers, and a plugin answering one request must not be handed the next
 * before it has returned. */
static void resume_reading(struct http_conn *c)
{
    struct http_server *s = c->server;
    if (c->reading || c->closing || c->close_after_flush || s->shutting_down || c->parsing ||
        c->resume_queued)
        return;
    if (!conn_has_room(c))
        return; /* a client that does not read its answers gets no more */
    if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED) {
        c->resume_queued = 1;
        c->resume_next = s->resume;
        s->resume = c;
        uv_idle_start(&s->resumer, on_resume);
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = 1;
}

static void on_resume(uv_idle_t *h)
{
    struct http_server *s = h->data;
    while (s->resume) {
        struct http_conn *c = s->resume;
        s->resume = c->resume_next;
        c->resume_next = NULL;
        c->resume_queued = 0;
        http_parser_pause(&c->parser, 0);
        if (c->rest) {
            char *rest = c->rest;
            size_t n = c->rest_len;
            c->rest = NULL;
            c->rest_len = 0;
            conn_parse(c, rest, n);
            free(rest);
            if (s->after_read)
                s->after_read(s->after_read_arg);
        }
        resume_reading(c); /* reads on unless it paused again */
    }
    uv_idle_stop(h);
}

static void on_conn_closed(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    struct http_server *s = c->server;
    free(c->rest);
    free(c);
    s->pending_handles--;
    if (s->shutting_down && s->nconns == 0 && s->pending_handles == 0 && s->close_cb) {
        void (*cb)(void *) = s->close_cb;
        s->close_cb = NULL;
        cb(s->close_arg);
    }
}

static void conn_close(struct http_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    /* Requests still with a handler stay valid: their answer is dropped. */
    for (struct http_req *r = c->head, *next; r; r = next) {
        next = r->next;
        r->conn = NULL;
        r->next = NULL;
        if (r->responded || !r->dispatched)
            http_req_free(r);
    }
    c->head = c->tail = NULL;
    if (c->cur)
        http_req_free(c->cur);
    c->cur = NULL;
    struct http_server *s = c->server;
    if (c->resume_queued) {
        struct http_conn **pp = &s->resume;
        while (*pp != c)
            pp = &(*pp)->resume_next;
        *pp = c->resume_next;
        c->resume_queued = 0;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void reject_busy(struct http_conn *c, const char *message)
{
    char body[200];
    int bn =
        snprintf(body, sizeof body,
                 "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"%s\"}}", message);
    char resp[512];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                     "Connection: close\r\nRetry-After: 1\r\nContent-Length: %d\r\n\r\n%s",
                     bn, body);
    uv_buf_t b = uv_buf_init(resp, (unsigned)n);
    uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    conn_close(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct http_server *s = listener->data;
    if (status < 0)
        return;
    struct http_conn *c = xcalloc(1, sizeof *c);
    c->server = s;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    s->pending_handles++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        return;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0 &&
        net_addr_from_sockaddr((struct sockaddr *)&ss, &c->client) == 0) {
        net_addr_format(&c->client, c->peer, sizeof c->peer);
        /* A trusted proxy is counted per client it forwards for, once a
         * request names one (forwarded()), never as itself. */
        if ((c->trusted_peer = net_cidr_match(s->trusted, s->limits.ntrusted, &c->client)))
            memset(&c->client, 0, sizeof c->client);
    }
    if ((int64_t)s->nconns > s->limits.max_connections || s->shutting_down) {
        reject_busy(c, "connection limit reached; retry later");
        return;
    }
    if (c->client.family) {
        unsigned n = count_client(s, c, &c->client);
        if ((int64_t)n >= s->limits.max_per_ip) {
            log_refusal(s, c->peer, n, NULL);
            reject_busy(c, "too many connections from your address; retry later");
            return;
        }
    }
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    /* Silent since accept: header_timeout, not idle_timeout, applies. */
    c->phase = PHASE_NEW;
    c->head_deadline = util_monotonic_ms() + (uint64_t)s->limits.header_timeout_ms;
    resume_reading(c);
}

static void on_sweep(uv_timer_t *t)
{
    struct http_server *s = t->data;
    uint64_t now = util_monotonic_ms();
    for (struct http_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing)
            continue;
        /* A client that stops reading its answers is cut off like an idle one. */
        if (c->writes_pending &&
            now - c->write_since > (uint64_t)s->limits.idle_timeout_ms) {
            log_info("closed the connection from %s: it read no answer for idle_timeout "
                     "(%zu bytes unread)",
                     c->peer, uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp));
            conn_close(c);
            continue;
        }
        if (c->close_after_flush)
            continue;
        switch (c->phase) {
        case PHASE_NEW:
            if (now >= c->head_deadline) {
                log_debug("closed the connection from %s: nothing received within header_timeout",
                          c->peer);
                conn_close(c);
            }
            break;
        case PHASE_IDLE:
            if (now >= c->idle_deadline && !c->head && !c->writes_pending)
                conn_close(c);
            break;
        case PHASE_HEAD:
            if (now >= c->head_deadline)
                conn_fail(c, 408, "timeout", "request head not received within header_timeout");
            break;
        case PHASE_BODY:
            if (now >= c->request_deadline)
                conn_fail(c, 408, "timeout", "request not received within request_timeout");
            break;
        case PHASE_WAITING:
            break;
        }
    }
}

static void reap(struct http_server *s)
{
    while (s->answered) {
        struct http_req *r = s->answered;
        s->answered = r->next;
        http_req_free(r);
    }
}

static void on_reap(uv_check_t *h)
{
    reap(h->data);
}

struct http_server *http_server_new(uv_loop_t *loop, const struct http_limits *limits,
                                    http_handler_fn handler, void *arg)
{
    struct http_server *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->limits = *limits;
    s->handler = handler;
    s->arg = arg;
    s->settings = (http_parser_settings){
        .on_message_begin = on_message_begin,
        .on_url = on_url,
        .on_header_field = on_header_field,
        .on_header_value = on_header_value,
        .on_headers_complete = on_headers_complete,
        .on_body = on_body,
        .on_message_complete = on_message_complete,
    };
    uv_timer_init(loop, &s->sweep);
    s->sweep.data = s;
    s->pending_handles++;
    uv_timer_start(&s->sweep, on_sweep, 250, 250);
    uv_check_init(loop, &s->reaper);
    s->reaper.data = s;
    s->pending_handles++;
    uv_check_start(&s->reaper, on_reap);
    uv_unref((uv_handle_t *)&s->reaper); /* it alone keeps no loop running */
    uv_idle_init(loop, &s->resumer);
    s->resumer.data = s;
    s->pending_handles++;
    http_server_set_limits(s, limits);
    return s;
}

void http_server_set_observer(struct http_server *s, http_observer_fn fn, void *arg)
{
    s->observer = fn;
    s->observer_arg = arg;
}

void http_server_set_after_read(struct http_server *s, void (*fn)(void *arg), void *arg)
{
    s->after_read = fn;
    s->after_read_arg = arg;
}

void http_server_set_limits(struct http_server *s, const struct http_limits *limits)
{
    s->limits = *limits;
    free(s->trusted);
    s->trusted = NULL;
    if (limits->ntrusted) {
        s->trusted = xmalloc(limits->ntrusted * sizeof *s->trusted);
        memcpy(s->trusted, limits->trusted, limits->ntrusted * sizeof *s->trusted);
    }
    s->limits.trusted = s->trusted;
}

int http_server_listen(struct http_server *s, const char *host, int port)
{
    struct sockaddr_storage addr;
    int rc = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr)
                               : uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rc)
        return rc;
    uv_tcp_init(s->loop, &s->listener);
    s->listener.data = s;
    s->pending_handles++;
    s->listening = 1;
    if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0)) ||
        (rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection)))
        return rc;
    return 0;
}

int http_server_port(const struct http_server *s)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (!s->listening || uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len))
        return -1;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

unsigned http_server_connections(const struct http_server *s)
{
    return s->nconns;
}

static void on_server_handle_closed(uv_handle_t *h)
{
    struct http_server *s = h->data;
    s->pending_handles--;
    if (s->shutting_down && s->nconns == 0 && s->pending_handles == 0 && s->close_cb) {
        void (*cb)(void *) = s->close_cb;
        s->close_cb = NULL;
        cb(s->close_arg);
    }
}

void http_server_shutdown(struct http_server *s, void (*close_cb)(void *arg), void *arg)
{
    s->shutting_down = 1;
    s->close_cb = close_cb;
    s->close_arg = arg;
    if (s->listening) {
        s->listening = 0;
        uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    }
    uv_timer_stop(&s->sweep);
    uv_close((uv_handle_t *)&s->sweep, on_server_handle_closed);
    /* From here on answers go out through write requests (see conn_flush). */
    uv_check_stop(&s->reaper);
    reap(s);
    uv_close((uv_handle_t *)&s->reaper, on_server_handle_closed);
    uv_idle_stop(&s->resumer);
    uv_close((uv_handle_t *)&s->resumer, on_server_handle_closed);
    for (struct http_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = 0;
        }
        if (!c->head && !c->writes_pending)
            conn_close(c);
        else
            c->close_after_flush = 1;
    }
}

/* Close the connections still open (after the shutdown timeout). */
void http_server_abort(struct http_server *s)
{
    for (struct http_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_close(c);
    }
}

/* Free the server once the loop has closed all its handles. */
void http_server_free(struct http_server *s)
{
    reap(s);
    free(s->trusted);
    free(s);
}
