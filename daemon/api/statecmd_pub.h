/* SPDX-License-Identifier: Apache-2.0 */
/* Publishing the state changes of a cluster's core node ([kanald]
 * state_cluster = core, docs/cluster.md), and what the routes' modules
 * call for them: an admin request that changes a core's state (CRM import
 * and links, merge, split, candidate rejection, consent, erasure; and a
 * tracking link, a click or an opt-out on one, links.c) is checked as on
 * a single node, then published to the records stream as one command
 * message instead of being applied (statecmd_pub.c).  Every core applies
 * it when its nats source consumes it (statecmd.h).
 *
 * A command message:
 *   {"v":1, "command":"split", "id":"<command id>", "target":"c3",
 *    "args":{...the request's body...}, "at_ms":1764930000000}
 * "target" is the path's id (a contact, a CRM id, a candidate) and is
 * absent for an import, whose args are the rows, and for "link", "click"
 * and "optout", whose args carry the token (never a target: targets are
 * logged, and a token is a credential). */
#ifndef KANAL_STATECMD_PUB_H
#define KANAL_STATECMD_PUB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "natsconn.h"

struct http_req;
struct statecmd_pub;
struct store;
struct write_item;

/* A command being applied (statecmd.c makes it). */
struct statecmd_run {
    char id[128];
    char command[16];
    char target[256];
    int64_t at_ms;
    struct write_item *inner; /* the route's item */
};

struct statecmd_conf {
    const char *servers, *stream, *subject;
    struct natsconn_auth auth; /* state_creds, state_nkey, ... */
};

/* Connect (in the background) and start the publishing thread.  When the
 * options are unusable or the thread cannot start (logged), the routes
 * refuse every change with 503 rather than apply it to this core alone. */
struct statecmd_pub *statecmd_pub_start(uv_loop_t *loop, const struct statecmd_conf *c);
/* Stop: requests still waiting are answered 503. */
void statecmd_pub_close(struct statecmd_pub *p);
/* The routes' hook: 0 when p is NULL (no cluster: the caller applies the
 * change itself as always); else 1, and the request is answered here: 202
 * with the command id once the stream stored it, 404 for a target contact
 * st does not know, 503 when the stream does not take it.  Takes args (may
 * be NULL) when 1. */
int statecmd_route(struct statecmd_pub *p, struct store *st, struct http_req *req,
                   const char *command, const char *target, json_t *args);
/* What statecmd_publish's caller is told: the stream stored the command
 * (err NULL) or not (err says why, already logged).  On the loop. */
typedef void (*statecmd_published_fn)(void *arg, struct http_req *req, const char *command_id,
                                      const char *err);
/* For the routes that answer themselves (POST /v1/links and the hits on
 * /t/ and /u/): 0 when p is NULL (no cluster: the caller applies the
 * change itself); else 1, args (may be NULL) taken, and done called once,
 * when the stream stored the command or did not (at once when this core
 * cannot publish, or when max_held, if not 0, commands already wait for
 * the stream).  The command's id is random and it has no target. */
int statecmd_publish(struct statecmd_pub *p, struct http_req *req, const char *command,
                     json_t *args, size_t max_held, statecmd_published_fn done, void *arg);
/* What a route's completion calls instead of answering when it ran for a
 * command: http_status and answer are what a single node would have
 * answered (answer may be NULL); logs the outcome. */
void statecmd_answered(struct statecmd_run *r, int write_status, int http_status,
                       const json_t *answer);

#endif
