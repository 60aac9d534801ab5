/* SPDX-License-Identifier: Apache-2.0 */
/* Publishing the state commands of a core node (statecmd.h, [kanald]
 * state_cluster = core): a state-changing admin request, checked as the
 * route checks it, becomes one message on state_subject of the records
 * stream, with Nats-Msg-Id = the command's id, so that a request retried
 * with the same Idempotency-Key is stored once within the stream's
 * duplicate window.  It is answered 202 with the command id once the
 * stream stored it: from then on every core, this one included, applies
 * it when its nats source consumes it.  The request does not wait for that
 * (a core that lags would hold the CRM's request for as long as it lags;
 * GET /v1/contacts/<id> shows the change once applied).
 *
 * libnats blocks: one thread publishes, one request at a time; what it did
 * reaches the loop through a uv_async (as the outbox's cluster path). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nats/nats.h>

#include "contacts.h"
#include "crypto.h"
#include "http.h"
#include "jsonout.h"
#include "log.h"
#include "natsconn.h"
#include "respond.h"
#include "secret.h"
#include "statecmd_pub.h"
#include "store.h"
#include "store_layout.h"
#include "util.h"

#define PUBLISH_WAIT 5000         /* the stream has this long to store a command */
#define MAX_COMMAND (1024 * 1024) /* NATS's default max_payload, the source's max_message */

struct job {
    struct job *next;
    struct http_req *req;
    char id[80];
    char *body;
    char err[256]; /* after publishing: "" when the stream stored it */
    /* statecmd_publish's caller answers (NULL: the 202 of statecmd_route). */
    statecmd_published_fn done;
    void *arg;
    int held; /* counted in statecmd_pub.held */
};

struct statecmd_pub {
    char *servers, *stream, *subject;
    char *nkey;        /* state_nkey's seed, for libnats to sign with */
    natsOptions *opts; /* what the thread connects with */
    natsConnection *nc;
    jsCtx *js;
    pthread_t thread;
    int started;
    pthread_mutex_t lock; /* guards the queues and stop */
    pthread_cond_t cond;
    int stop;
    struct job *todo, *todo_tail, *done;
    uv_async_t wake;
    size_t held; /* jobs queued, publishing or not yet answered; loop only */
};

/* While the thread connects: stop?  Changes asked for meanwhile are
 * refused (503) at once rather than held until the stream answers. */
static int connecting_stop(void *arg)
{
    struct statecmd_pub *p = arg;
    pthread_mutex_lock(&p->lock);
    int stop = p->stop;
    struct job *j = stop ? NULL : p->todo;
    if (j) {
        p->todo = p->todo_tail = NULL;
        while (j) {
            struct job *n = j->next;
            snprintf(j->err, sizeof j->err, "not connected to state_servers yet");
            j->next = p->done;
            p->done = j;
            j = n;
        }
    }
    /* Read under the lock: the loop takes the list in on_wake. */
    int answers = p->done != NULL;
    pthread_mutex_unlock(&p->lock);
    if (answers)
        uv_async_send(&p->wake);
    return stop;
}

static void *publisher(void *arg)
{
    struct statecmd_pub *p = arg;
    natsConnection *nc;
    jsCtx *js;
    /* Connected here, off the loop: servers that are down or refuse the
     * credentials never hold kanald. */
    if (natsconn_connect(p->opts, "state", "state_servers", p->servers, 2000, connecting_stop, p,
                         &nc, &js) < 0)
        return NULL;
    pthread_mutex_lock(&p->lock);
    p->nc = nc;
    p->js = js;
    pthread_mutex_unlock(&p->lock);
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (!p->stop && !p->todo)
            pthread_cond_wait(&p->cond, &p->lock);
        struct job *j = p->todo;
        if (p->stop || !j) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        p->todo = j->next;
        if (!p->todo)
            p->todo_tail = NULL;
        if (natsconn_closed(nc, "state", "state_servers", p->servers)) {
            /* Given up by libnats: a new connection, as at start; j and
             * what comes meanwhile are answered 503 (connecting_stop). */
            j->next = p->todo;
            p->todo = j;
            if (!p->todo_tail)
                p->todo_tail = j;
            p->nc = NULL;
            p->js = NULL;
            pthread_mutex_unlock(&p->lock);
            jsCtx_Destroy(js);
            natsConnection_Destroy(nc);
            if (natsconn_connect(p->opts, "state", "state_servers", p->servers, 2000,
                                 connecting_stop, p, &nc, &js) < 0)
                return NULL;
            pthread_mutex_lock(&p->lock);
            p->nc = nc;
            p->js = js;
            pthread_mutex_unlock(&p->lock);
            continue;
        }
        pthread_mutex_unlock(&p->lock);
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = j->id;
        po.MaxWait = PUBLISH_WAIT;
        po.ExpectStream = p->stream; /* never into another stream's subjects */
        jsPubAck *pa = NULL;
        jsErrCode jerr = 0;
        natsStatus st =
            js_Publish(&pa, js, p->subject, j->body, (int)strlen(j->body), &po, &jerr);
        if (st != NATS_OK)
            snprintf(j->err, sizeof j->err, "%s (JetStream error %d)", natsStatus_GetText(st),
                     (int)jerr);
        jsPubAck_Destroy(pa);
        pthread_mutex_lock(&p->lock);
        j->next = p->done;
        p->done = j;
        pthread_mutex_unlock(&p->lock);
        uv_async_send(&p->wake);
    }
}

static void answer(struct statecmd_pub *p, struct job *j)
{
    if (j->held)
        p->held--;
    if (j->err[0])
        log_warn("state command %s not published to stream %s (%s): %s", j->id, p->stream,
                 p->servers, j->err);
    if (j->done) {
        j->done(j->arg, j->req, j->id, j->err[0] ? j->err : NULL);
    } else if (j->err[0]) {
        http_respond_error(j->req, 503, "cluster_unavailable",
                           "the cluster's stream did not store the change; retry later");
    } else {
        api_respond_json(j->req, 202,
                         json_pack("{s:s,s:s}", "command", j->id, "status", "accepted"));
    }
    free(j->body);
    free(j);
}

static void on_wake(uv_async_t *a)
{
    struct statecmd_pub *p = a->data;
    pthread_mutex_lock(&p->lock);
    struct job *j = p->done;
    p->done = NULL;
    pthread_mutex_unlock(&p->lock);
    /* Newest first in the list: answer in the order they were published. */
    struct job *rev = NULL;
    while (j) {
        struct job *n = j->next;
        j->next = rev;
        rev = j;
        j = n;
    }
    while (rev) {
        struct job *n = rev->next;
        answer(p, rev);
        rev = n;
    }
}

struct statecmd_pub *statecmd_pub_start(uv_loop_t *loop, const struct statecmd_conf *c)
{
    struct statecmd_pub *p = xcalloc(1, sizeof *p);
    p->servers = xstrdup(c->servers);
    p->stream = xstrdup(c->stream);
    p->subject = xstrdup(c->subject);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    uv_async_init(loop, &p->wake, on_wake);
    p->wake.data = p;
    if (c->auth.nkey)
        p->nkey = xstrdup(c->auth.nkey);
    struct natsconn_auth auth = c->auth;
    auth.nkey = p->nkey;
    char why[300] = "cannot start the publishing thread";
    if (natsconn_options(c->servers, &auth, "state", &p->opts, why, sizeof why) == 0 &&
        pthread_create(&p->thread, NULL, publisher, p) == 0)
        p->started = 1;
    if (!p->started) {
        /* Kept, refusing every change with 503: applied here alone, they
         * would make this core differ from the others for good. */
        log_err("state_servers = %s: %s; state changes are refused (503) until kanald "
                "restarts",
                c->servers, why);
        return p;
    }
    log_notice("state changes of the API go through stream %s on %s (subject %s)", p->stream,
               p->servers, p->subject);
    return p;
}

static void closed(uv_handle_t *h)
{
    struct statecmd_pub *p = h->data;
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p->servers);
    free(p->stream);
    free(p->subject);
    if (p->nkey)
        secret_wipe(p->nkey);
    free(p->nkey);
    free(p);
}

void statecmd_pub_close(struct statecmd_pub *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (p->started)
        pthread_join(p->thread, NULL);
    on_wake(&p->wake); /* published: answered as such */
    for (struct job *j = p->todo, *n; j; j = n) {
        n = j->next;
        snprintf(j->err, sizeof j->err, "kanald is stopping");
        answer(p, j);
    }
    p->todo = p->todo_tail = NULL;
    jsCtx_Destroy(p->js);
    if (p->nc)
        natsConnection_Close(p->nc);
    natsConnection_Destroy(p->nc);
    natsOptions_Destroy(p->opts);
    p->opts = NULL;
    uv_close((uv_handle_t *)&p->wake, closed);
}

/* A contact id this core does not know: 0 when it never will (an id of
 * kanald's that this store already passed: erased, or never made), 1 when
 * it is one this store has not reached yet (c<N> with N at or past its
 * next contact number), that a core which consumed more of the stream
 * may have handed the CRM already. */
static int contact_ahead(MDB_txn *txn, struct store *st, const char *id)
{
    if (id[0] != 'c' || !id[1] || strlen(id) > 20 || strspn(id + 1, "0123456789") != strlen(id + 1))
        return 0;
    uint64_t n = strtoull(id + 1, NULL, 10), next;
    return contacts_next_number(st, txn, &next) != 0 || n >= next;
}

/* The commands whose target is a contact: one this core does not know is
 * refused now, as the route would (404), rather than skipped later; but
 * not one it has not reached yet.  Such an id comes from a core ahead of
 * this one, so the record that made the contact is in the stream before
 * the command: every core applies it (and skips it, logged, should the id
 * be made up).  A 404 there would lose the CRM's change on fail-over to a
 * core that lags. */
static int contact_known(struct store *st, const char *id, int *known)
{
    MDB_txn *txn;
    int rc = store_read_begin(st, &txn);
    if (rc < 0)
        return rc;
    char live[32];
    rc = contacts_follow(st, txn, id, live, sizeof live);
    *known = rc == 0 || (rc == MDB_NOTFOUND && contact_ahead(txn, st, id));
    store_read_end(st, txn);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

/* The command's id: from the client's Idempotency-Key (the same request
 * sent again is the same command, stored once), else random. */
static void command_id(struct http_req *req, const char *command, const char *target, char out[80])
{
    const char *key = req ? http_req_header(req, "Idempotency-Key") : NULL;
    unsigned char raw[32];
    char hex[65];
    if (key && *key) {
        size_t cl = strlen(command), tl = target ? strlen(target) : 0, kl = strlen(key);
        char *in = xmalloc(cl + tl + kl + 2);
        memcpy(in, command, cl + 1);
        if (tl)
            memcpy(in + cl + 1, target, tl);
        in[cl + 1 + tl] = '\0';
        memcpy(in + cl + tl + 2, key, kl);
        crypto_sha256(in, cl + tl + kl + 2, raw);
        free(in);
    } else {
        crypto_random(raw, 16);
    }
    crypto_hex_encode(raw, 16, hex);
    snprintf(out, 80, "%s-%s", key && *key ? "k" : "r", hex);
}

/* The command message of a request (its id from id_req's Idempotency-Key,
 * or random when id_req is NULL), made now; takes args. */
static struct job *make_job(struct http_req *id_req, struct http_req *req, const char *command,
                            const char *target, json_t *args)
{
    struct job *j = xcalloc(1, sizeof *j);
    j->req = req;
    command_id(id_req, command, target, j->id);
    json_t *o = json_pack("{s:i,s:s,s:s,s:I}", "v", 1, "command", command, "id", j->id, "at_ms",
                          (json_int_t)util_now_ms());
    if (target)
        json_object_set_new(o, "target", json_string(target));
    if (args)
        json_object_set_new(o, "args", args);
    j->body = jsonout_text(o);
    json_decref(o);
    return j;
}

static void enqueue(struct statecmd_pub *p, struct job *j);

int statecmd_route(struct statecmd_pub *p, struct store *st, struct http_req *req,
                   const char *command, const char *target, json_t *args)
{
    if (!p)
        return 0;
    if (!p->started) {
        json_decref(args);
        http_respond_error(req, 503, "cluster_unavailable",
                           "this core cannot publish state changes to the cluster's stream (the "
                           "log says why)");
        return 1;
    }
    static const char *const on_contact[] = {"split", "consent", "merge", "erase"};
    for (size_t i = 0; target && i < ARRAY_SIZE(on_contact); i++) {
        if (strcmp(command, on_contact[i]))
            continue;
        int known = 0;
        if (contact_known(st, target, &known) < 0) {
            json_decref(args);
            http_respond_error(req, 503, "store_unavailable", "the store cannot be read now");
            return 1;
        }
        if (!known) {
            json_decref(args);
            http_respond_error(req, 404, "not_found", "no such contact");
            return 1;
        }
    }
    struct job *j = make_job(req, req, command, target, args);
    if (strlen(j->body) > MAX_COMMAND) {
        free(j->body);
        free(j);
        http_respond_error(req, 413, "too_large",
                           "a state change goes through the cluster's stream as one message of "
                           "at most 1 MiB: send the import in smaller parts");
        return 1;
    }
    enqueue(p, j);
    return 1;
}

int statecmd_publish(struct statecmd_pub *p, struct http_req *req, const char *command,
                     json_t *args, size_t max_held, statecmd_published_fn done, void *arg)
{
    if (!p)
        return 0;
    /* Never from an Idempotency-Key: each is a new link or hit, and its
     * token or record is chosen here, not by the client. */
    struct job *j = make_job(NULL, req, command, NULL, args);
    j->done = done;
    j->arg = arg;
    if (!p->started)
        snprintf(j->err, sizeof j->err, "this core cannot publish to state_servers (see above)");
    else if (strlen(j->body) > MAX_COMMAND)
        snprintf(j->err, sizeof j->err, "command of %zu bytes, over 1 MiB", strlen(j->body));
    else if (max_held && p->held >= max_held)
        /* Each holds its client's request: a stream that is slow to answer
         * must not let the public pile them up. */
        snprintf(j->err, sizeof j->err,
                 "%zu commands already wait for the stream (link_cluster_queue)", p->held);
    if (j->err[0]) {
        answer(p, j);
        return 1;
    }
    enqueue(p, j);
    return 1;
}

static void enqueue(struct statecmd_pub *p, struct job *j)
{
    j->held = 1;
    p->held++;
    pthread_mutex_lock(&p->lock);
    if (p->todo_tail)
        p->todo_tail->next = j;
    else
        p->todo = j;
    p->todo_tail = j;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

void statecmd_answered(struct statecmd_run *r, int write_status, int http_status,
                       const json_t *answer)
{
    if (write_status)
        return; /* not committed: the source commits the command again */
    const char *sep = r->target[0] ? " " : "";
    if (http_status >= 200 && http_status < 300) {
        log_info("state command %s applied: %s%s%s", r->id, r->command, sep, r->target);
        return;
    }
    const char *msg =
        json_string_value(json_object_get(json_object_get((json_t *)answer, "error"), "message"));
    log_warn("state command %s not applied (%s%s%s): %d %s; skipped, as on every core", r->id,
             r->command, sep, r->target, http_status, msg ? msg : "");
}
