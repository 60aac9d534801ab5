/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP server's answers: the status line and head put together for each
 * response, and their writing in request order (pipelining), at once when
 * the socket takes them or through write requests.  http.c is the
 * connections' life, http_parse.c the requests. */
#include "http_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util.h"

static void conn_flush(struct http_conn *c);
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
