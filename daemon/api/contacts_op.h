/* SPDX-License-Identifier: Apache-2.0 */
/* A change of the /v1/contacts routes made through the writer
 * (contacts_op.c): the request, its body and target, the answer the apply
 * function sets inside the transaction, and the answer given once the
 * transaction is committed (or 503 when it is not).  On a core of a
 * cluster the same change arrives as a state command (statecmd.h) and its
 * answer goes to the command's log line instead of a client. */
#ifndef KANAL_CONTACTS_OP_H
#define KANAL_CONTACTS_OP_H

#include <jansson.h>

#include "writer.h"

struct http_req;
struct outbox;
struct statecmd_pub;
struct statecmd_run;
struct store;
struct writer;

/* What the /v1/contacts routes need: the store they read, the writer their
 * changes commit through, and main's outbox pointer (erasure cancels the
 * person's pending messages; NULL once the outbox is closed at shutdown).
 * main.c fills it. */
struct contacts_api {
    struct store *store;
    struct writer *writer;
    struct outbox *const *outbox;
    /* A core of a cluster ([kanald] state_cluster = core): the changes go
     * to the stream as state commands (statecmd.h); NULL: applied here. */
    struct statecmd_pub *state;
};

struct contacts_op {
    struct http_req *req;     /* NULL for a state command */
    json_t *body;             /* the request's body (owned), or NULL */
    char *id;                 /* the route's target (a contact, a CRM id...) */
    int status;               /* HTTP status to answer */
    json_t *answer;           /* its body */
    struct statecmd_run *run; /* a cluster's state command: nobody to answer */
};

/* The writer's item for a change: apply runs in the transaction with the
 * struct contacts_op as it->arg; body is taken, id copied. */
struct write_item *contacts_op_item(struct http_req *req, json_t *body, const char *id,
                                    write_apply_fn apply);

/* The same item for a state command being applied (run answers it). */
struct write_item *contacts_op_cmd_item(json_t *body, const char *id, write_apply_fn apply,
                                        struct statecmd_run *run);

/* The change of a route: on a core of a cluster, a state command to the
 * stream (applied when consumed); else to the writer, here and now. */
void contacts_op_submit(struct contacts_api *ca, struct http_req *req, json_t *body,
                        const char *id, write_apply_fn apply, const char *command);

/* Set the answer (taking answer), or an error answer. */
void contacts_op_answer(struct contacts_op *op, int status, json_t *answer);
void contacts_op_error(struct contacts_op *op, int status, const char *code, const char *message);

/* Give a committed change's answer: to the state command's run, 503 when
 * the transaction failed (write_status), else answer with status.  The
 * answer is borrowed.  For routes with their own operation (erase). */
void contacts_op_reply(struct http_req *req, struct statecmd_run *run, int write_status,
                       int status, json_t *answer);

#endif
