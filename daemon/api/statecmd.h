/* SPDX-License-Identifier: Apache-2.0 */
/* State changes of a cluster's core nodes ([kanald] state_cluster = core,
 * docs/cluster.md): an admin request that changes a core's state (CRM
 * import and links, merge, split, candidate rejection, consent, erasure)
 * is checked as on a single node, then published to the records stream
 * as one command message instead of being applied (statecmd_pub.c).
 * Every core applies it when its nats source consumes it, in stream
 * order, through the same functions the route uses (statecmd.c), stamped
 * with the time it was made at: the cores change alike at the same point
 * of the record order.
 *
 * A command message:
 *   {"v":1, "command":"split", "id":"<command id>", "target":"c3",
 *    "args":{...the request's body...}, "at_ms":1764930000000}
 * "target" is the path's id (a contact, a CRM id, a candidate) and is
 * absent for an import, whose args are the rows. */
#ifndef KANAL_STATECMD_H
#define KANAL_STATECMD_H

#include <stdint.h>

#include <jansson.h>
#include <lmdb.h>
#include <uv.h>

struct contacts_api;
struct http_req;
struct statecmd_pub;
struct statecmd_run;
struct store;
struct write_item;

/* ---- applying (every core; statecmd.c) ---- */

/* A command message checked and made ready to apply (its route's write
 * item built), or NULL with why: not a command, an unknown one, arguments
 * the route would refuse.  text is the message (len bytes). */
struct statecmd_run *statecmd_parse(struct contacts_api *ca, const json_t *cmd, char *why,
                                    size_t why_len);
/* Inside the writer's transaction: the route's change, stamped with the
 * command's time.  0 or an MDB error (the transaction fails; the source
 * commits the command again). */
int statecmd_apply(struct statecmd_run *r, struct store *st, MDB_txn *txn, uint64_t *last_seq,
                   int *scrub_after);
/* After the commit (status 0) or its failure: the route's completion runs
 * (without a client), the outcome is logged, r is freed. */
void statecmd_finish(struct statecmd_run *r, int status);
/* What a route's completion calls instead of answering when it ran for a
 * command: http_status and answer are what a single node would have
 * answered (answer may be NULL). */
void statecmd_answered(struct statecmd_run *r, int write_status, int http_status,
                       const json_t *answer);

/* ---- publishing (the core that took the request; statecmd_pub.c) ---- */

struct statecmd_conf {
    const char *servers, *stream, *subject;
};

/* Connect (in the background) and start the publishing thread; NULL when
 * the options are unusable (logged). */
struct statecmd_pub *statecmd_pub_start(uv_loop_t *loop, const struct statecmd_conf *c);
/* Stop: requests still waiting are answered 503. */
void statecmd_pub_close(struct statecmd_pub *p);
/* The routes' hook: 0 when p is NULL (no cluster: the caller applies the
 * change itself as always); else 1, and the request is answered here: 202
 * with the command id once the stream stored it, 404 for a target contact
 * this core does not know, 503 when the stream does not take it.  Takes
 * args (may be NULL) in both cases when 1. */
int statecmd_route(struct statecmd_pub *p, struct contacts_api *ca, struct http_req *req,
                   const char *command, const char *target, json_t *args);

#endif
