/* SPDX-License-Identifier: Apache-2.0 */
/* One request: the struct every route sees, and its storage for the HTTP
 * server (http.c): its head's strings as they arrive in pieces, its headers,
 * its body's buffer. */
#ifndef KANAL_HTTP_REQ_H
#define KANAL_HTTP_REQ_H

#include <stddef.h>
#include <stdint.h>

#include <kanal/plugin.h>

struct http_server;
struct http_conn;

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


struct http_req *http_req_new(struct http_server *server, struct http_conn *conn);
void http_req_free(struct http_req *r);
/* The URL, or the next piece of it. */
void http_req_add_url(struct http_req *r, const char *s, size_t n);
/* A header's name; more = 1: the next piece of the last one, if any. */
void http_req_add_name(struct http_req *r, const char *s, size_t n, int more);
/* The last header's value, or the next piece of it; -1 before any name. */
int http_req_add_value(struct http_req *r, const char *s, size_t n);
/* Header i's name and value while the head is still being read (before
 * http_req_head_done); NULL past the last. */
const char *http_req_head_field(const struct http_req *r, size_t i, const char **value);
/* The head is complete: set path, query and headers. */
void http_req_head_done(struct http_req *r);
const char *http_req_header(const struct http_req *req, const char *name);
int http_req_add_header(struct http_req *req, const char *name, const char *value);
/* Append n bytes to a NUL-terminated buffer, growing it. */
void http_buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n);

#endif
