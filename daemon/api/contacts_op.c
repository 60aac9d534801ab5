/* SPDX-License-Identifier: Apache-2.0 */
/* A change of the /v1/contacts routes through the writer (contacts_op.h). */
#include "contacts_op.h"

#include <stdlib.h>

#include "http.h"
#include "respond.h"
#include "statecmd_pub.h"
#include "util.h"

void contacts_op_reply(struct http_req *req, struct statecmd_run *run, int write_status,
                       int status, json_t *answer)
{
    if (run)
        statecmd_answered(run, write_status, status, answer);
    else if (write_status)
        http_respond_error(req, 503, "store_unavailable", "the store cannot commit now");
    else if (answer)
        api_respond_json(req, status, json_incref(answer));
    else
        http_respond_error(req, 500, "internal", "no answer");
}

static void op_done(struct write_item *it)
{
    struct contacts_op *op = it->arg;
    contacts_op_reply(op->req, op->run, it->status, op->status, op->answer);
    json_decref(op->answer);
    json_decref(op->body);
    free(op->id);
    free(op);
    write_item_free(it);
}

struct write_item *contacts_op_item(struct http_req *req, json_t *body, const char *id,
                                    write_apply_fn apply)
{
    struct contacts_op *op = xcalloc(1, sizeof *op);
    op->req = req;
    op->body = body;
    op->id = id ? xstrdup(id) : NULL;
    struct write_item *it = xcalloc(1, sizeof *it);
    it->apply = apply;
    it->done = op_done;
    it->arg = op;
    return it;
}

struct write_item *contacts_op_cmd_item(json_t *body, const char *id, write_apply_fn apply,
                                        struct statecmd_run *run)
{
    struct write_item *it = contacts_op_item(NULL, body, id, apply);
    ((struct contacts_op *)it->arg)->run = run;
    return it;
}

void contacts_op_submit(struct contacts_api *ca, struct http_req *req, json_t *body,
                        const char *id, write_apply_fn apply, const char *command)
{
    if (statecmd_route(ca->state, ca->store, req, command, id, body))
        return;
    writer_submit(ca->writer, contacts_op_item(req, body, id, apply));
}

void contacts_op_answer(struct contacts_op *op, int status, json_t *answer)
{
    json_decref(op->answer);
    op->status = status;
    op->answer = answer;
}

void contacts_op_error(struct contacts_op *op, int status, const char *code, const char *message)
{
    contacts_op_answer(op, status,
                       json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message));
}
