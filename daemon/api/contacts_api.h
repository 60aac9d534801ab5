/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP routes for contacts: reading them and their timelines
 * (contacts_api.c), CRM ids, imports, splits and consent (contacts_change.c,
 * which has no header of its own: both files are declared here, the
 * interface of /v1/contacts).  Merge candidates and
 * erasure are modules of their own (candidates_api.h, erase.h) that take
 * the same context. */
#ifndef KANAL_CONTACTS_API_H
#define KANAL_CONTACTS_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <lmdb.h>

#include "contacts_op.h"

struct http_req;
struct outbox;
struct route_params;
struct statecmd_pub;
struct statecmd_run;
struct write_item;
struct store;
struct writer;

/* The /v1/contacts routes' handlers (routes.c holds their paths); ctx is
 * the struct contacts_api. */
void contacts_route_find(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_import(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_put_crm(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_get(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_interactions(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_export(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_split(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_consent(void *ctx, struct http_req *req, const struct route_params *p);
/* A cluster's state command "import", "crm", "split" or "consent"
 * (statecmd.c): the route's write item, without a client, taking a
 * reference to args; NULL with *why NULL for another command, or with why
 * for arguments the route would refuse. */
struct write_item *contacts_cmd_item(struct contacts_api *ca, const char *command,
                                     const char *target, json_t *args, struct statecmd_run *run,
                                     const char **why);
/* The {id} of the path in id; 0, or answers 404 for one no contact can
 * have and returns -1. */
int contacts_path_id(struct http_req *req, const struct route_params *p, char id[64]);
/* Every seq of a contact's records (with what it absorbed), sorted; read
 * in txn of st (the loop's read transaction or the writer's). */
int contacts_timeline(struct store *st, MDB_txn *txn, json_t *contact, uint64_t **out, size_t *n);
/* 1 when the contact of handle (normalized) withdrew consent on channel, 0
 * when it did not or no contact has the handle, a negative error when the
 * store cannot be read: consent is then unknown, not given. */
int contacts_opted_out(struct contacts_api *ca, const char *handle, const char *channel);

#endif
