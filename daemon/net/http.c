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
 * connection is freed.
 *
 * This file is the connections' life and limits: accepting, reading, the
 * per-client limits, pausing and resuming, the deadlines' sweep, closing and
 * the server's own handles.  http_parse.c turns the bytes read into
 * requests, http_answer.c writes their answers; http_int.h is what the three
 * share. */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "netaddr.h"
#include "util.h"

static void on_resume(uv_idle_t *h);

/* Connections open from client address a, other than self. */
unsigned count_client(const struct http_server *s, const struct http_conn *self,
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
void log_refusal(struct http_server *s, const char *client, unsigned n, const char *via)
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

/* c may take no more requests: too many unanswered, or too many answer
 * bytes its client has not read. */
int conn_full(const struct http_conn *c)
{
    const struct http_limits *l = &c->server->limits;
    return (int64_t)c->queued >= l->max_pipeline ||
           (int64_t)uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) > l->max_unread;
}

/* Room again after being full: half the limits, so that a client at a limit
 * is not paused and resumed at every answer. */
int conn_has_room(const struct http_conn *c)
{
    const struct http_limits *l = &c->server->limits;
    return 2 * (int64_t)c->queued <= l->max_pipeline &&
           2 * (int64_t)uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) <=
               l->max_unread;
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
void resume_reading(struct http_conn *c)
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

void conn_close(struct http_conn *c)
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
    http_parse_settings(&s->settings);
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
