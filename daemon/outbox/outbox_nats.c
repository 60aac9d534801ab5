/* SPDX-License-Identifier: Apache-2.0 */
/* The outbox in a cluster ([kanald] outbox_cluster, docs/cluster.md).
 *
 * core: a message whose consent the core's store granted is not handed to a
 * plugin but published to the JetStream work-queue stream outbox_stream on
 * <outbox_subject>.<source>, with Nats-Msg-Id = its cluster id
 * (<message id>-<created_ms>), so that publishing it again after a crash is
 * stored once.  Once the stream acknowledged it, the message is "relayed"
 * and leaves the core's outbox.
 *
 * edge: one shared durable pull consumer (outbox_durable) over
 * <outbox_subject>.>, so that each message goes to one edge.  A message
 * taken is committed to the edge's own outbox under its cluster id and
 * sent by the edge's source of that name with the core's idempotency key;
 * the work-queue message is acknowledged once the sent or failed state is
 * committed (with the outbound record, which the edge's sinks carry to
 * the cores).  An edge that dies first never acknowledges: after
 * outbox_ack_wait the stream gives the message to another edge, which
 * sends it with the same key.
 *
 * libnats blocks and calls back on threads: one thread per node publishes
 * (core) or fetches (edge); what it did reaches the loop via a uv_async. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <nats/nats.h>

#include "error.h"
#include "jsonout.h"
#include "log.h"
#include "natsconn.h"
#include "outbox_int.h"
#include "secret.h"
#include "store.h"
#include "store_layout.h"
#include "util.h"
#include "writer.h"

#define MAX_TAKEN 16      /* messages an edge holds unacknowledged at most */
#define RETRY_MS 2000     /* a publication that failed is tried again after */
#define PUBLISH_WAIT 5000 /* the stream has this long to acknowledge */

struct job { /* core: a message to publish */
    struct job *next;
    char *id, *subject, *msgid, *body;
};

struct event {
    struct event *next;
    int kind; /* EV_PUBLISHED (core) or EV_TAKEN (edge) */
    char *id;
    natsMsg *msg;
    char err[256];
};
enum { EV_PUBLISHED = 1, EV_TAKEN };

struct outbox_nats {
    struct outbox *ob;
    int core;
    char *servers, *stream, *subject, *durable;
    char *nkey; /* outbox_nkey's seed, for libnats to sign with */
    natsOptions *opts; /* what the outbox's thread connects with */
    int64_t ack_wait_ms;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    pthread_t thread;
    int started;
    pthread_mutex_t lock; /* guards all below */
    pthread_cond_t cond;
    int stop;
    int taken; /* edge: messages fetched and not yet acknowledged */
    struct job *jobs, *jobs_tail;
    struct event *evs, *evs_tail;
    uv_async_t wake;
    uv_timer_t lease; /* edge: keeps the messages it is sending its own */
    int closing;      /* handles still to close */
};

static void push_event(struct outbox_nats *n, int kind, const char *id, natsMsg *msg,
                       const char *err)
{
    struct event *e = xcalloc(1, sizeof *e);
    e->kind = kind;
    e->id = id ? xstrdup(id) : NULL;
    e->msg = msg;
    if (err)
        snprintf(e->err, sizeof e->err, "%s", err);
    pthread_mutex_lock(&n->lock);
    if (n->evs_tail)
        n->evs_tail->next = e;
    else
        n->evs = e;
    n->evs_tail = e;
    pthread_mutex_unlock(&n->lock);
    uv_async_send(&n->wake);
}

static void job_free(struct job *j)
{
    free(j->id);
    free(j->subject);
    free(j->msgid);
    free(j->body);
    free(j);
}

/* ---- core: publishing ---- */

static int stopping_arg(void *arg)
{
    struct outbox_nats *n = arg;
    pthread_mutex_lock(&n->lock);
    int stop = n->stop;
    pthread_mutex_unlock(&n->lock);
    return stop;
}

/* Connected here, on the outbox's thread: servers that are down, or that
 * refuse the credentials, never hold kanald's loop. */
static int connect_servers(struct outbox_nats *n)
{
    natsConnection *nc;
    jsCtx *js;
    if (natsconn_connect(n->opts, "outbox", "outbox_servers", n->servers, RETRY_MS, stopping_arg,
                         n, &nc, &js) < 0)
        return -1;
    pthread_mutex_lock(&n->lock);
    n->nc = nc;
    n->js = js;
    pthread_mutex_unlock(&n->lock);
    return 0;
}

static void *publisher(void *arg)
{
    struct outbox_nats *n = arg;
    if (connect_servers(n) < 0)
        return NULL;
    for (;;) {
        pthread_mutex_lock(&n->lock);
        while (!n->stop && !n->jobs)
            pthread_cond_wait(&n->cond, &n->lock);
        struct job *j = n->jobs;
        if (n->stop || !j) {
            pthread_mutex_unlock(&n->lock);
            return NULL;
        }
        n->jobs = j->next;
        if (!n->jobs)
            n->jobs_tail = NULL;
        natsConnection *nc = n->nc;
        if (natsconn_closed(nc, "outbox", "outbox_servers", n->servers)) {
            /* Given up by libnats: a new connection, as at start; j waits. */
            j->next = n->jobs;
            n->jobs = j;
            if (!n->jobs_tail)
                n->jobs_tail = j;
            jsCtx *js = n->js;
            n->nc = NULL;
            n->js = NULL;
            pthread_mutex_unlock(&n->lock);
            jsCtx_Destroy(js);
            natsConnection_Destroy(nc);
            if (connect_servers(n) < 0)
                return NULL;
            continue;
        }
        pthread_mutex_unlock(&n->lock);
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = j->msgid;
        po.MaxWait = PUBLISH_WAIT;
        po.ExpectStream = n->stream; /* never into another stream's subjects */
        jsPubAck *pa = NULL;
        jsErrCode jerr = 0;
        natsStatus st =
            js_Publish(&pa, n->js, j->subject, j->body, (int)strlen(j->body), &po, &jerr);
        char err[256] = "";
        if (st != NATS_OK)
            snprintf(err, sizeof err, "%s (JetStream error %d)", natsStatus_GetText(st), (int)jerr);
        jsPubAck_Destroy(pa);
        push_event(n, EV_PUBLISHED, j->id, NULL, st == NATS_OK ? NULL : err);
        job_free(j);
    }
}

int outbox_nats__core(const struct outbox *ob)
{
    return ob->nats && ob->nats->core;
}

static void put_token(char *out, size_t *at, const char *t)
{
    for (; *t; t++)
        out[(*at)++] = strchr(".*> \t\r\n", *t) ? '_' : *t;
}

void outbox_nats__publish(struct outbox *ob, struct outbox_msg *m)
{
    struct outbox_nats *n = ob->nats;
    /* The cluster id: unique across cores (each numbers its own messages)
     * and the same when this core publishes the message again. */
    char cid[96];
    snprintf(cid, sizeof cid, "%s-%lld", m->id, (long long)m->created_ms);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "id", cid, "message_id", m->id, "source",
                          m->source, "to", m->to, "idempotency_key", m->provider_key, "created_ms",
                          (json_int_t)m->created_ms);
    if (m->text)
        json_object_set_new(o, "text", json_string(m->text));
    if (m->reply_to)
        json_object_set_new(o, "reply_to", json_string(m->reply_to));
    if (m->campaign)
        json_object_set_new(o, "campaign", json_string(m->campaign));
    if (m->template_json)
        json_object_set_new(o, "template", json_loads(m->template_json, JSON_DECODE_ANY, NULL));
    struct job *j = xcalloc(1, sizeof *j);
    j->id = xstrdup(m->id);
    j->msgid = xstrdup(cid);
    j->body = jsonout_text(o);
    json_decref(o);
    size_t at = strlen(n->subject);
    j->subject = xmalloc(at + strlen(m->source) + 2);
    memcpy(j->subject, n->subject, at);
    j->subject[at++] = '.';
    put_token(j->subject, &at, m->source);
    j->subject[at] = '\0';
    m->inflight = 1;
    pthread_mutex_lock(&n->lock);
    if (n->jobs_tail)
        n->jobs_tail->next = j;
    else
        n->jobs = j;
    n->jobs_tail = j;
    pthread_cond_signal(&n->cond);
    pthread_mutex_unlock(&n->lock);
}

static void published(struct outbox_nats *n, struct event *e)
{
    for (struct outbox_msg *m = n->ob->pending; m; m = m->next)
        if (m->inflight && !strcmp(m->id, e->id)) {
            outbox__relayed(n->ob, m, e->err[0] ? e->err : NULL);
            return;
        }
}

/* ---- edge: taking messages ---- */

/* The edge's connection goes, once no message taken from it is held.
 * 0, or -1 when the outbox stops meanwhile. */
static int drop_connection(struct outbox_nats *n)
{
    for (;;) {
        pthread_mutex_lock(&n->lock);
        int stop = n->stop, taken = n->taken;
        pthread_mutex_unlock(&n->lock);
        if (stop)
            return -1;
        if (!taken)
            break;
        usleep(100 * 1000);
    }
    pthread_mutex_lock(&n->lock);
    natsSubscription *sub = n->sub;
    jsCtx *js = n->js;
    natsConnection *nc = n->nc;
    n->sub = NULL;
    n->js = NULL;
    n->nc = NULL;
    pthread_mutex_unlock(&n->lock);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}

static void *fetcher(void *arg)
{
    struct outbox_nats *n = arg;
    if (connect_servers(n) < 0)
        return NULL;
    char filter[300], last[300] = "";
    snprintf(filter, sizeof filter, "%s.>", n->subject);
    for (;;) {
        pthread_mutex_lock(&n->lock);
        int stop = n->stop, busy = n->taken >= MAX_TAKEN;
        pthread_mutex_unlock(&n->lock);
        if (stop)
            return NULL;
        if (busy) {
            usleep(100 * 1000);
            continue;
        }
        jsErrCode jerr = 0;
        if (!n->sub) {
            jsSubOptions so;
            jsSubOptions_Init(&so);
            so.Stream = n->stream;
            so.Config.AckPolicy = js_AckExplicit;
            so.Config.AckWait = n->ack_wait_ms * 1000000;
            so.Config.MaxAckPending = 1000;
            natsStatus st = js_PullSubscribe(&n->sub, n->js, filter, n->durable, NULL, &so, &jerr);
            if (st != NATS_OK) {
                char why[300];
                snprintf(why, sizeof why, "%s (JetStream error %d)", natsStatus_GetText(st),
                         (int)jerr);
                if (strcmp(why, last))
                    log_warn("outbox: cannot consume stream %s as %s: %s; trying again every 2 s",
                             n->stream, n->durable, why);
                snprintf(last, sizeof last, "%s", why);
                n->sub = NULL;
                usleep(RETRY_MS * 1000);
                continue;
            }
            log_notice("outbox: taking sends from stream %s as consumer %s", n->stream, n->durable);
            last[0] = '\0';
        }
        natsMsgList list = {0};
        natsStatus st = natsSubscription_Fetch(&list, n->sub, 1, 1000, &jerr);
        if (st == NATS_OK) {
            for (int i = 0; i < list.Count; i++) {
                pthread_mutex_lock(&n->lock);
                n->taken++;
                pthread_mutex_unlock(&n->lock);
                push_event(n, EV_TAKEN, NULL, list.Msgs[i], NULL);
                list.Msgs[i] = NULL;
            }
            natsMsgList_Destroy(&list);
        } else if (st != NATS_TIMEOUT &&
                   natsconn_closed(n->nc, "outbox", "outbox_servers", n->servers)) {
            /* Given up by libnats: a new connection, as at start, once the
             * messages held (which point to the subscription) are let go:
             * sent or not, each is acknowledged or left to ack_wait. */
            if (drop_connection(n) < 0 || connect_servers(n) < 0)
                return NULL;
        } else if (st != NATS_TIMEOUT) {
            usleep(500 * 1000); /* disconnected: libnats reconnects */
        }
    }
}

void outbox_nats__release(struct outbox *ob, struct outbox_msg *m, int ack)
{
    if (!m->jsmsg)
        return;
    struct outbox_nats *n = ob->nats;
    natsMsg *msg = m->jsmsg;
    m->jsmsg = NULL;
    if (ack && natsMsg_Ack(msg, NULL) != NATS_OK)
        log_msg(KANAL_LOG_WARNING, m->source,
                "message %s: cannot acknowledge it to stream %s: another edge may send it again "
                "with the same idempotency key",
                m->id, n->stream);
    natsMsg_Destroy(msg);
    pthread_mutex_lock(&n->lock);
    n->taken--;
    pthread_mutex_unlock(&n->lock);
}

struct take {
    struct outbox_nats *n;
    natsMsg *msg;
    json_t *in;     /* as published */
    json_t *stored; /* as committed here, or NULL when already final */
};

/* Commit a message taken from the stream to this edge's outbox, under its
 * cluster id.  Taken before (redelivered to this edge after a restart): the
 * same entry again; already sent or failed here: nothing to send. */
static int take_apply(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct take *t = it->arg;
    json_decref(t->stored);
    t->stored = NULL;
    const char *id = json_string_value(json_object_get(t->in, "id"));
    MDB_val k = {strlen(id), (void *)id}, v;
    uint64_t num = 0;
    int rc = mdb_get(txn, st->messages, &k, &v);
    if (rc == 0) {
        json_t *o = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        const char *s = json_string_value(json_object_get(o, "status"));
        int final = s && (!strcmp(s, "sent") || !strcmp(s, "failed"));
        num = (uint64_t)json_integer_value(json_object_get(o, "num"));
        json_decref(o);
        if (final)
            return 0;
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    if (!num) {
        static const char next_key[] = KANAL_META_NEXT_MESSAGE;
        MDB_val nk = {sizeof next_key - 1, (void *)next_key}, nv;
        num = 1;
        rc = mdb_get(txn, st->meta, &nk, &nv);
        if (rc == 0 && nv.mv_size == sizeof num)
            memcpy(&num, nv.mv_data, sizeof num);
        else if (rc && rc != MDB_NOTFOUND)
            return rc;
        uint64_t after = num + 1;
        MDB_val av = {sizeof after, &after};
        if ((rc = mdb_put(txn, st->meta, &nk, &av, 0)))
            return rc;
    }
    json_t *o = outbox_wire_entry(t->in, num, util_now_ms());
    if (!o)
        return -ENOMEM;
    char *text = jsonout_text(o);
    MDB_val nv = {strlen(text), text};
    rc = mdb_put(txn, st->messages, &k, &nv, 0);
    free(text);
    MDB_val ok = {sizeof num, &num}, ov = {strlen(id), (void *)id};
    if (!rc)
        rc = mdb_put(txn, st->outbox, &ok, &ov, 0);
    if (rc) {
        json_decref(o);
        return rc;
    }
    t->stored = o;
    return 0;
}

static void take_done(struct write_item *it)
{
    struct take *t = it->arg;
    struct outbox_nats *n = t->n;
    const char *id = json_string_value(json_object_get(t->in, "id"));
    struct outbox_msg tmp = {.jsmsg = t->msg,
                             .id = (char *)id,
                             .source = (char *)json_string_value(json_object_get(t->in, "source"))};
    if (it->status) {
        /* Not committed here: let the stream give it to an edge again. */
        log_err("outbox: cannot commit message %s taken from stream %s: %s", id, n->stream,
                kanal_strerror(it->status));
        natsMsg_Nak(t->msg, NULL);
        outbox_nats__release(n->ob, &tmp, 0);
    } else if (!t->stored || n->ob->closed) {
        outbox_nats__release(n->ob, &tmp, !n->ob->closed); /* sent or failed here before */
    } else {
        log_msg(KANAL_LOG_INFO, tmp.source, "message %s taken from stream %s", id, n->stream);
        outbox__adopt(n->ob, t->stored, t->msg);
    }
    json_decref(t->in);
    json_decref(t->stored);
    free(t);
    write_item_free(it);
}

/* A message of the stream, checked before it is committed: one that is
 * not kanal's is terminated (never redelivered), with a line saying why. */
static void taken(struct outbox_nats *n, natsMsg *msg)
{
    const char *bad, *which;
    json_t *in = outbox_wire_parse(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &bad,
                                   &which);
    if (bad || n->ob->closed) {
        if (bad)
            log_err("outbox: message on %s of stream %s dropped: %s %s", natsMsg_GetSubject(msg),
                    n->stream, bad, which);
        if (bad)
            natsMsg_Term(msg, NULL);
        natsMsg_Destroy(msg);
        pthread_mutex_lock(&n->lock);
        n->taken--;
        pthread_mutex_unlock(&n->lock);
        json_decref(in);
        return;
    }
    /* Given again to this edge while it still has it (a lease that ran
     * out): the message goes on as it is, with the stream's new copy to
     * acknowledge, and is not sent twice from here. */
    const char *id = json_string_value(json_object_get(in, "id"));
    for (struct outbox_msg *m = n->ob->pending; m; m = m->next)
        if (!strcmp(m->id, id)) {
            if (m->jsmsg) {
                natsMsg_Destroy(m->jsmsg);
                pthread_mutex_lock(&n->lock);
                n->taken--;
                pthread_mutex_unlock(&n->lock);
            }
            m->jsmsg = msg;
            json_decref(in);
            return;
        }
    struct take *t = xcalloc(1, sizeof *t);
    t->n = n;
    t->msg = msg;
    t->in = in;
    struct write_item *it = xcalloc(1, sizeof *it);
    it->apply = take_apply;
    it->done = take_done;
    it->arg = t;
    writer_submit(n->ob->env.writer, it);
}

/* ---- the loop's side ---- */

/* While an edge is sending a message (a send in flight, or retries after
 * a first attempt) it tells the stream so before outbox_ack_wait runs
 * out, so that a slow provider or a long backoff does not make another
 * edge send it too.  One it has not tried (its source missing here) is
 * left to run out and go to another edge. */
static void on_lease(uv_timer_t *t)
{
    struct outbox_nats *n = t->data;
    for (struct outbox_msg *m = n->ob->pending; m; m = m->next)
        if (m->jsmsg && (m->inflight || m->attempts > 0))
            natsMsg_InProgress(m->jsmsg, NULL);
}

static void on_wake(uv_async_t *a)
{
    struct outbox_nats *n = a->data;
    pthread_mutex_lock(&n->lock);
    struct event *e = n->evs;
    n->evs = n->evs_tail = NULL;
    pthread_mutex_unlock(&n->lock);
    while (e) {
        struct event *next = e->next;
        if (e->kind == EV_PUBLISHED && !n->ob->closed)
            published(n, e);
        else if (e->kind == EV_TAKEN)
            taken(n, e->msg);
        free(e->id);
        free(e);
        e = next;
    }
}

int outbox_cluster_start(struct outbox *ob, const struct outbox_cluster *c)
{
    struct outbox_nats *n = xcalloc(1, sizeof *n);
    n->ob = ob;
    n->core = !strcmp(c->mode, "core");
    n->servers = xstrdup(c->servers);
    n->stream = xstrdup(c->stream);
    n->subject = xstrdup(c->subject);
    n->durable = xstrdup(c->durable);
    n->ack_wait_ms = c->ack_wait_ms;
    pthread_mutex_init(&n->lock, NULL);
    pthread_cond_init(&n->cond, NULL);
    uv_async_init(ob->env.loop, &n->wake, on_wake);
    n->wake.data = n;
    uv_timer_init(ob->env.loop, &n->lease);
    n->lease.data = n;
    n->closing = 2;
    if (!n->core) {
        uint64_t every = (uint64_t)(c->ack_wait_ms / 3 > 300 ? c->ack_wait_ms / 3 : 300);
        uv_timer_start(&n->lease, on_lease, every, every);
    }
    ob->nats = n;
    if (c->auth.nkey)
        n->nkey = xstrdup(c->auth.nkey);
    struct natsconn_auth auth = c->auth;
    auth.nkey = n->nkey;
    natsOptions *opts = NULL;
    char why[300];
    if (natsconn_options(c->servers, &auth, "outbox", &opts, why, sizeof why) < 0) {
        log_err("outbox: %s", why);
        return -EINVAL;
    }
    /* Connected on the outbox's own thread: servers that are down, or that
     * refuse the credentials, never hold kanald's loop. */
    n->opts = opts;
    if (pthread_create(&n->thread, NULL, n->core ? publisher : fetcher, n))
        return -EAGAIN;
    n->started = 1;
    log_notice("outbox: %s node: %s stream %s on %s", n->core ? "core" : "edge",
               n->core ? "sends are handed to" : "sends are taken from", n->stream, c->servers);
    return 0;
}

static void async_closed(uv_handle_t *h)
{
    struct outbox_nats *n = h->data;
    if (--n->closing > 0)
        return;
    pthread_mutex_destroy(&n->lock);
    pthread_cond_destroy(&n->cond);
    free(n->servers);
    free(n->stream);
    free(n->subject);
    free(n->durable);
    if (n->nkey)
        secret_wipe(n->nkey);
    free(n->nkey);
    free(n);
}

void outbox_nats__close(struct outbox *ob)
{
    struct outbox_nats *n = ob->nats;
    if (!n)
        return;
    pthread_mutex_lock(&n->lock);
    n->stop = 1;
    pthread_cond_broadcast(&n->cond);
    pthread_mutex_unlock(&n->lock);
    if (n->started)
        pthread_join(n->thread, NULL);
    /* Unacknowledged work-queue messages go back to the stream (ack_wait). */
    for (struct outbox_msg *m = ob->pending; m; m = m->next)
        outbox_nats__release(ob, m, 0);
    for (struct event *e = n->evs, *next; e; e = next) {
        next = e->next;
        natsMsg_Destroy(e->msg);
        free(e->id);
        free(e);
    }
    for (struct job *j = n->jobs, *next; j; j = next) {
        next = j->next;
        job_free(j);
    }
    n->evs = n->evs_tail = NULL;
    n->jobs = n->jobs_tail = NULL;
    if (n->nc) /* first: its read loop ends (no message for a freed subscription) */
        natsConnection_Close(n->nc);
    natsSubscription_Destroy(n->sub);
    jsCtx_Destroy(n->js);
    natsConnection_Destroy(n->nc);
    natsOptions_Destroy(n->opts);
    n->opts = NULL;
    ob->nats = NULL;
    uv_timer_stop(&n->lease);
    uv_close((uv_handle_t *)&n->lease, async_closed);
    uv_close((uv_handle_t *)&n->wake, async_closed);
}
