/* HTTP routes for contacts, erasure and tracking links. */
#ifndef KANAL_CONTACTS_API_H
#define KANAL_CONTACTS_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <lmdb.h>

struct daemon;
struct http_req;
struct route_params;
struct store;

/* The /v1/contacts routes' handlers (routes.c holds their paths). */
void contacts_route_find(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_import(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_put_crm(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_get(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_erase(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_interactions(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_export(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_split(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_merge(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_route_consent(void *ctx, struct http_req *req, const struct route_params *p);
/* Every seq of a contact's records (with what it absorbed), sorted. */
int contacts_timeline(struct daemon *d, MDB_txn *txn, json_t *contact, uint64_t **out,
                      size_t *n);
/* 1 when the contact of handle (normalized) withdrew consent on channel, 0
 * when it did not or no contact has the handle, a negative error when the
 * store cannot be read: consent is then unknown, not given. */
int contacts_opted_out(struct daemon *d, const char *handle, const char *channel);

/* candidates_api.c: GET /v1/contacts/candidates, DELETE .../candidates/{id}
 * (and POST .../{id}/reject), POST /v1/contacts/{id}/merge. */
void candidates_route_list(void *ctx, struct http_req *req, const struct route_params *p);
void candidates_route_reject(void *ctx, struct http_req *req, const struct route_params *p);
void contacts_merge_route(struct daemon *d, struct http_req *req, const char *id);

/* erase.c: DELETE /v1/contacts/<id>. */
void erase_contact(struct daemon *d, struct http_req *req, const char *id);

#endif
