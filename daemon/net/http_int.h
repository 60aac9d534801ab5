/* SPDX-License-Identifier: Apache-2.0 */
/* What the HTTP server's three files share (http.c, http_parse.c,
 * http_answer.c): the state of the server and of one connection, and the
 * calls each file makes into the others.  Nothing outside daemon/net/http*.c
 * includes it: the server's interface is http.h. */
#ifndef KANAL_HTTP_INT_H
#define KANAL_HTTP_INT_H

#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>
#include <uv.h>

#include "http.h"
#include "http_req.h"
#include "netaddr.h"

#define READ_BUF 65536

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

/* ---- http.c: the connection's life and limits ---- */

/* Close c now: its requests lose their connection, its memory goes with
 * the handle's close callback. */
void conn_close(struct http_conn *c);
/* Read from c again if it has room and nothing holds it back. */
void resume_reading(struct http_conn *c);
/* Connections open from client address a, other than self. */
unsigned count_client(const struct http_server *s, const struct http_conn *self,
                      const struct net_addr *a);
/* Log a refusal over max_connections_per_ip (at most one warning a second). */
void log_refusal(struct http_server *s, const char *client, unsigned n, const char *via);
/* c may take no more requests (max_pipeline, max_unread). */
int conn_full(const struct http_conn *c);
/* c has room again after being full. */
int conn_has_room(const struct http_conn *c);

/* ---- http_parse.c: requests out of the bytes read ---- */

/* The parser's callbacks, for the server's settings. */
void http_parse_settings(http_parser_settings *settings);
/* Parse len bytes read from c (kept in c->rest when the parser pauses). */
void conn_parse(struct http_conn *c, const char *data, size_t len);
/* Queue an error answer and stop reading: the connection closes after it. */
void conn_fail(struct http_conn *c, int status, const char *code, const char *message);

#endif
