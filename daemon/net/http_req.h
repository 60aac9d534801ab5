/* One request's storage, for the HTTP server (http.c): its head's strings
 * as they arrive in pieces, its headers, its body's buffer. */
#ifndef KANAL_HTTP_REQ_H
#define KANAL_HTTP_REQ_H

#include <stddef.h>

#include "http.h"

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
/* Append n bytes to a NUL-terminated buffer, growing it. */
void http_buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n);

#endif
