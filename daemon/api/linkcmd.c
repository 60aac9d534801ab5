/* SPDX-License-Identifier: Apache-2.0 */
/* The state commands of tracking links on a core of a cluster (linkcmd.h):
 * each built and applied with the same functions a single node uses when
 * the link is made or hit (links.c, linkhit.c, unsub.c), under the
 * command's clock, so that every core stores the same. */
#include "linkcmd.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contacts.h"
#include "jsonout.h"
#include "linkhit.h"
#include "links.h"
#include "statecmd_pub.h"
#include "store.h"
#include "unsub.h"
#include "util.h"
#include "writer.h"

struct link_cmd {
    struct statecmd_run *run;
    char command[8];
    char token[48];
    json_t *args;
    int exists; /* "link": the token was taken already */
    int gone;   /* "link": its contact was erased before the command */
};

static int apply_cmd(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct link_cmd *c = it->arg;
    json_t *a = c->args;
    if (!strcmp(c->command, "link")) {
        /* The contact as the stream left it by now, as a single node takes
         * it when the link is made: merged meanwhile, the survivor; erased
         * by a command before this one, no link (an erasure leaves none). */
        json_t *link = json_object_get(a, "link");
        const char *contact = json_string_value(json_object_get(link, "contact"));
        char live[32];
        int rc = contact ? contacts_follow(st, txn, contact, live, sizeof live) : 0;
        if (rc == MDB_NOTFOUND) {
            c->gone = 1;
            return 0;
        }
        if (rc)
            return rc;
        if (contact && strcmp(live, contact))
            json_object_set_new(link, "contact", json_string(live));
        char *text = jsonout_text(link);
        MDB_val k = {strlen(c->token), c->token}, v = {strlen(text), text};
        rc = mdb_put(txn, st->links, &k, &v, MDB_NOOVERWRITE);
        free(text);
        /* Tokens are random: a taken one is a forged command, not ours. */
        c->exists = rc == MDB_KEYEXIST;
        return c->exists ? 0 : rc;
    }
    /* Built here, under the command's clock: the same times on every core. */
    const char *ext = json_string_value(json_object_get(a, "external_id"));
    const char *contact = json_string_value(json_object_get(a, "contact"));
    json_t *meta = json_deep_copy(json_object_get(a, "meta"));
    json_t *campaign = json_object_get(a, "campaign");
    json_t *rec = !strcmp(c->command, "click")
                      ? links_click_record(c->token, ext, contact, meta, campaign)
                      : links_optout_record(c->token, ext, contact, meta,
                                            json_object_get(a, "channel"), campaign);
    return links_append(st, txn, rec, &it->last_seq);
}

static void cmd_done(struct write_item *it)
{
    struct link_cmd *c = it->arg;
    const char *why = c->exists ? "a link with this token exists already"
                      : c->gone ? "its contact was erased before it"
                                : NULL;
    json_t *err = why ? json_pack("{s:{s:s}}", "error", "message", why) : NULL;
    statecmd_answered(c->run, it->status, c->exists ? 409 : c->gone ? 404 : 201, err);
    json_decref(err);
    json_decref(c->args);
    free(c);
    write_item_free(it);
}

static int short_string(json_t *o, const char *name, size_t max, int required)
{
    json_t *v = json_object_get(o, name);
    if (!v)
        return !required;
    return json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= max;
}

static int token_ok(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    if (n < 8 || n > 40)
        return 0; /* links_lookup takes no other */
    for (; *t; t++)
        if (!isalnum((unsigned char)*t) && *t != '-' && *t != '_')
            return 0;
    return 1;
}

struct write_item *links_cmd_item(const char *command, json_t *args, struct statecmd_run *run,
                                  const char **why)
{
    *why = NULL;
    int link = !strcmp(command, "link"), click = !strcmp(command, "click"),
        optout = !strcmp(command, "optout");
    if (!link && !click && !optout)
        return NULL;
    json_t *l = json_object_get(args, "link");
    const char *token = json_string_value(json_object_get(args, "token"));
    if (!json_is_object(args) || !token_ok(token))
        *why = "args without a token of 8 to 40 URL-safe characters";
    else if (link && (!json_is_object(l) || !short_string(l, "target", 2048, 1) ||
                      !short_string(l, "campaign", 256, 1) || !short_string(l, "contact", 31, 0) ||
                      !short_string(l, "channel", 32, 0)))
        *why = "a link needs its target and campaign";
    else if (!link && (!short_string(args, "external_id", 95, 1) ||
                       !json_is_object(json_object_get(args, "meta")) ||
                       !short_string(args, "contact", 31, optout) ||
                       !short_string(args, "campaign", 256, 0) ||
                       !short_string(args, "channel", 32, optout)))
        *why = click ? "a click needs its external_id and meta"
                     : "an opt-out needs its external_id, meta, contact and channel";
    if (*why)
        return NULL;
    struct link_cmd *c = xcalloc(1, sizeof *c);
    c->run = run;
    snprintf(c->command, sizeof c->command, "%s", command);
    snprintf(c->token, sizeof c->token, "%s", token);
    c->args = json_incref(args);
    struct write_item *it = xcalloc(1, sizeof *it);
    it->apply = apply_cmd;
    it->done = cmd_done;
    it->arg = c;
    return it;
}
