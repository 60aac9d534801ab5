/* SPDX-License-Identifier: Apache-2.0 */
/* Applying the cluster's state commands (statecmd.h): each route module
 * builds the write item its route would submit (without a client), and it
 * runs inside the writer transaction of the nats source's commit, stamped
 * with the command's time, so that every core writes the same records and
 * contacts.  A command the route refuses when applied (an unknown contact,
 * a split of two never merged) is logged and skipped alike on every core. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "candidates_api.h"
#include "contacts.h"
#include "contacts_api.h"
#include "erase.h"
#include "linkcmd.h"
#include "log.h"
#include "statecmd.h"
#include "util.h"
#include "writer.h"

struct statecmd_run *statecmd_parse(struct contacts_api *ca, const json_t *cmd, char *why,
                                    size_t why_len)
{
    json_t *o = (json_t *)cmd;
    const char *command = json_string_value(json_object_get(o, "command"));
    const char *id = json_string_value(json_object_get(o, "id"));
    json_t *target = json_object_get(o, "target"), *args = json_object_get(o, "args");
    json_t *at = json_object_get(o, "at_ms");
    const char *bad = NULL;
    if (!json_is_object(o) || json_integer_value(json_object_get(o, "v")) != 1)
        bad = "not a state command (v is not 1)";
    else if (!command || !*command || strlen(command) >= 16)
        bad = "no command";
    else if (!id || !*id || strlen(id) >= 128)
        bad = "no id, or one of 128 bytes or more";
    else if (!json_is_integer(at) || json_integer_value(at) <= 0)
        bad = "no at_ms (the time the command was made at)";
    else if (target && (!json_is_string(target) || !json_string_length(target) ||
                        json_string_length(target) >= 256))
        bad = "target is not a string of 1 to 255 bytes";
    if (bad) {
        snprintf(why, why_len, "%s", bad);
        return NULL;
    }
    struct statecmd_run *r = xcalloc(1, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->command, sizeof r->command, "%s", command);
    snprintf(r->target, sizeof r->target, "%s", target ? json_string_value(target) : "");
    r->at_ms = json_integer_value(at);
    const char *t = target ? r->target : NULL, *refused = NULL;
    r->inner = contacts_cmd_item(ca, command, t, args, r, &refused);
    if (!r->inner && !refused)
        r->inner = candidates_cmd_item(ca, command, t, args, r, &refused);
    if (!r->inner && !refused)
        r->inner = erase_cmd_item(ca, command, t, r, &refused);
    if (!r->inner && !refused)
        r->inner = links_cmd_item(command, args, r, &refused);
    if (!r->inner) {
        snprintf(why, why_len, "state command %s (%s): %s", r->id, r->command,
                 refused ? refused : "unknown command");
        free(r);
        return NULL;
    }
    return r;
}

int statecmd_apply(struct statecmd_run *r, struct store *st, MDB_txn *txn, uint64_t *last_seq,
                   int *scrub_after)
{
    struct write_item *it = r->inner;
    it->last_seq = *last_seq;
    contacts_set_clock(r->at_ms);
    int rc = it->apply(it, st, txn);
    contacts_set_clock(0);
    if (it->last_seq > *last_seq)
        *last_seq = it->last_seq;
    *scrub_after = it->scrub_after;
    return rc;
}

void statecmd_finish(struct statecmd_run *r, int status)
{
    struct write_item *it = r->inner;
    it->status = status;
    it->done(it); /* calls statecmd_answered and frees it */
    free(r);
}

static struct statecmd_run *parse_ctx(void *ctx, const json_t *cmd, char *why, size_t why_len)
{
    return statecmd_parse(ctx, cmd, why, why_len);
}

const struct host_state_cmds statecmd_host_ops = {
    .parse = parse_ctx,
    .apply = statecmd_apply,
    .finish = statecmd_finish,
};
