/* SPDX-License-Identifier: Apache-2.0 */
/* Applying the state commands of a cluster's core nodes (statecmd.c): the
 * nats source relays a command message (statecmd_pub.h says what one is),
 * and kanald applies it in the writer through the same functions its route
 * uses, stamped with the time it was made at, so that the cores change
 * alike at the same point of the record order.  The runtime reaches these
 * through struct host_state_cmds (source.h), which main.c sets to
 * statecmd_host_ops. */
#ifndef KANAL_STATECMD_H
#define KANAL_STATECMD_H

#include <stdint.h>

#include <jansson.h>
#include <lmdb.h>

#include "source.h"
#include "statecmd_pub.h"

struct contacts_api;

/* A command message checked and made ready to apply (its route's write
 * item built), or NULL with why: not a command, an unknown one, arguments
 * the route would refuse. */
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

/* The three above for host.c (ctx: the struct contacts_api). */
extern const struct host_state_cmds statecmd_host_ops;

#endif
