/* SPDX-License-Identifier: Apache-2.0 */
/* One request's storage.  The head's strings (the URL, then each header's
 * name and value) go one after the other, NUL-terminated, into one buffer
 * inside the request, spilling to the heap for a large head; http-parser
 * may hand any of them over in pieces across reads, and each piece extends
 * the last string.  While the head grows the buffer may move, so headers
 * are kept as offsets (spans) and become pointers once the head is done. */
#include "http_req.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define NO_SPAN UINT32_MAX

struct http_req *http_req_new(struct http_server *server, struct http_conn *conn)
{
    /* The inline buffers at the end need no zeroing. */
    struct http_req *r = xmalloc(sizeof *r);
    memset(r, 0, offsetof(struct http_req, text_inline));
    r->server = server;
    r->conn = conn;
    r->started_ms = util_monotonic_ms();
    r->text = r->text_inline;
    r->text_cap = sizeof r->text_inline;
    r->spans = r->spans_inline;
    r->spans_cap = HTTP_REQ_HEADERS_INLINE;
    r->url = NO_SPAN;
    return r;
}

void http_req_free(struct http_req *r)
{
    if (r->text != r->text_inline)
        free(r->text);
    if (r->spans != r->spans_inline)
        free(r->spans);
    if (r->headers != r->headers_inline)
        free(r->headers);
    free(r->body);
    free(r->out);
    free(r->extra_headers);
    free(r);
}

/* p (size bytes from now on) grown from its inline storage or the heap. */
static void *grow(void *p, const void *inline_buf, size_t used, size_t size)
{
    if (p != inline_buf)
        return xrealloc(p, size);
    void *q = xmalloc(size);
    memcpy(q, inline_buf, used);
    return q;
}

/* Add a string to the head text and return its offset; with more = 1,
 * continue the last string instead.  The head is at most max_header bytes,
 * so offsets fit in 32 bits. */
static uint32_t text_add(struct http_req *r, const char *s, size_t n, int more)
{
    if (more && r->text_len)
        r->text_len--; /* drop the NUL, append after it */
    size_t at = r->text_len;
    if (r->text_len + n + 1 > r->text_cap) {
        size_t cap = r->text_cap * 2;
        while (cap < r->text_len + n + 1)
            cap *= 2;
        r->text = grow(r->text, r->text_inline, r->text_len, cap);
        r->text_cap = cap;
    }
    memcpy(r->text + r->text_len, s, n);
    r->text_len += n;
    r->text[r->text_len++] = '\0';
    return (uint32_t)at;
}

void http_req_add_url(struct http_req *r, const char *s, size_t n)
{
    uint32_t off = text_add(r, s, n, r->url != NO_SPAN);
    if (r->url == NO_SPAN)
        r->url = off;
}

void http_req_add_name(struct http_req *r, const char *s, size_t n, int more)
{
    if (more && r->nheaders > 0) {
        text_add(r, s, n, 1);
        return;
    }
    if (r->nheaders == r->spans_cap) {
        r->spans = grow(r->spans, r->spans_inline, r->nheaders * sizeof *r->spans,
                        2 * r->spans_cap * sizeof *r->spans);
        r->spans_cap *= 2;
    }
    r->spans[r->nheaders++] = (struct http_span){.name = text_add(r, s, n, 0), .value = NO_SPAN};
}

int http_req_add_value(struct http_req *r, const char *s, size_t n)
{
    if (!r->nheaders)
        return -1;
    struct http_span *h = &r->spans[r->nheaders - 1];
    uint32_t off = text_add(r, s, n, h->value != NO_SPAN);
    if (h->value == NO_SPAN)
        h->value = off;
    return 0;
}

const char *http_req_head_field(const struct http_req *r, size_t i, const char **value)
{
    if (i >= r->nheaders)
        return NULL;
    *value = r->spans[i].value == NO_SPAN ? "" : r->text + r->spans[i].value;
    return r->text + r->spans[i].name;
}

void http_req_head_done(struct http_req *r)
{
    if (r->nheaders > HTTP_REQ_HEADERS_INLINE)
        r->headers = xmalloc(r->nheaders * sizeof *r->headers);
    else
        r->headers = r->headers_inline;
    for (size_t i = 0; i < r->nheaders; i++)
        r->headers[i] = (struct kanal_http_header){
            .name = r->text + r->spans[i].name,
            .value = r->spans[i].value == NO_SPAN ? "" : r->text + r->spans[i].value,
        };
    char *url = r->url == NO_SPAN ? NULL : r->text + r->url;
    char *q = url ? strchr(url, '?') : NULL;
    r->path = url ? url : "/";
    r->query = "";
    if (q) {
        *q = '\0';
        r->query = q + 1;
        /* Fragments never reach a server; drop one if a client sent it. */
        char *hash = strchr(q + 1, '#');
        if (hash)
            *hash = '\0';
    }
}

void http_buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap : 256;
        while (nc < *len + n + 1)
            nc *= 2;
        *buf = xrealloc(*buf, nc);
        *cap = nc;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

const char *http_req_header(const struct http_req *req, const char *name)
{
    if (!req->headers)
        return NULL; /* the head never completed (an error answer) */
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

int http_req_add_header(struct http_req *req, const char *name, const char *value)
{
    if (req->responded || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return -EINVAL;
    char line[2048];
    int n = snprintf(line, sizeof line, "%s: %s\r\n", name, value);
    if (n < 0 || (size_t)n >= sizeof line)
        return -E2BIG;
    /* http_buf_append grows the buffer from its current size. */
    size_t cap = req->extra_headers ? req->extra_len + 1 : 0;
    http_buf_append(&req->extra_headers, &req->extra_len, &cap, line, (size_t)n);
    return 0;
}
