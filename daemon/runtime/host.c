/* SPDX-License-Identifier: Apache-2.0 */
/* The host API table: the only way plugins reach kanald.  Every function
 * here runs on the loop thread. */
#include "host.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <kanal/schema.h>

#include "contacts.h"
#include "crypto.h"
#include "error.h"
#include "form.h"
#include "handle.h"
#include "http.h"
#include "jarena.h"
#include "jsonin.h"
#include "jsonout.h"
#include "loader.h"
#include "log.h"
#include "outbox.h"
#include "rawbound.h"
#include "record.h"
#include "source.h"
#include "stages.h"
#include "store.h"
#include "transfer.h"
#include "util.h"
#include "writer.h"

/* Timers and fd watches, kept in a list per source so that whatever a
 * plugin forgets to stop is closed when the source is destroyed. */
struct host_handle {
    union {
        uv_handle_t h;
        uv_timer_t timer;
        uv_poll_t poll;
    } u;
    struct kanal_source *src;
    struct host_handle *prev, *next;
    kanal_timer_cb timer_cb;
    kanal_watch_cb watch_cb;
    void *arg;
    int fd;
    int closing;
};

struct kanal_timer {
    struct host_handle hh;
};
struct kanal_watch {
    struct host_handle hh;
};

static void host_log(struct kanal_source *src, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, src ? src->sc.name : NULL, fmt, ap);
    va_end(ap);
}

static const char *host_source_name(struct kanal_source *src)
{
    return src->sc.name;
}

static const char *host_config_string(struct kanal_source *src, const char *name)
{
    const struct option_value *v = source_config_value(&src->sc, name);
    return v && v->set ? v->text : NULL;
}

static int host_config_int(struct kanal_source *src, const char *name, int64_t *out)
{
    const struct option_value *v = source_config_value(&src->sc, name);
    if (!v || !v->set)
        return -ENOENT;
    switch (v->spec->type) {
    case KANAL_OPT_INT:
    case KANAL_OPT_BOOL:
    case KANAL_OPT_DURATION:
    case KANAL_OPT_SIZE:
        *out = v->num;
        return 0;
    default:
        return -EINVAL;
    }
}

/* ---- emit ---- */

struct emit_ctx {
    struct kanal_source *src;
    kanal_emit_cb cb;
    void *arg;
    size_t *kept, nemitted; /* processors dropped records (stages.c) */
    struct statecmd_run *cmd; /* relay of a cluster's state command, or NULL */
};

/* An emit committed; with ack = cluster, waiting for the sink. */
struct ack_pending {
    struct kanal_source *src;
    kanal_emit_cb cb;
    void *arg;
    uint64_t *seqs;
    size_t n;
};

static void ack_waited(void *arg, int status)
{
    struct ack_pending *p = arg;
    if (p->cb)
        p->cb(p->arg, status, status ? NULL : p->seqs, status ? 0 : p->n);
    source_unref(p->src);
    free(p->seqs);
    free(p);
}

/* ack = cluster: the source's answer waits until the sink it names has
 * acknowledged the highest seq of these records (a duplicate's existing
 * seq included).  0: the caller answers now; 1: ack_waited will. */
static int wait_for_cluster(struct kanal_source *src, kanal_emit_cb cb, void *arg,
                            const uint64_t *seqs, size_t n, int *status)
{
    uint64_t top = 0;
    for (size_t i = 0; i < n; i++)
        if (seqs[i] > top)
            top = seqs[i];
    if (!src->sc.ack_sink || !top)
        return 0;
    struct ack_pending *p = xcalloc(1, sizeof *p);
    *p = (struct ack_pending){.src = src, .cb = cb, .arg = arg, .n = n};
    p->seqs = xmalloc((n ? n : 1) * sizeof *p->seqs);
    memcpy(p->seqs, seqs, n * sizeof *seqs);
    int r = stages_ack_wait(src->set, src->sc.ack_sink, top, src->sc.ack_timeout_ms, ack_waited, p);
    if (r == 0)
        return 1; /* the source's reference goes with p */
    free(p->seqs);
    free(p);
    if (r < 0) {
        log_msg(KANAL_LOG_WARNING, src->sc.name,
                "ack = cluster: sink %s is not running; answering 503 (seq %llu is committed "
                "here)",
                src->sc.ack_sink, (unsigned long long)top);
        *status = r;
    }
    return 0;
}

static void emit_done(struct write_item *item)
{
    struct emit_ctx *ctx = item->arg;
    struct kanal_source *src = ctx->src;
    if (ctx->cmd)
        src->set->host->state_cmds->finish(ctx->cmd, item->status);
    if (item->status) {
        if (item->status == KANAL_ERECORD)
            log_msg(KANAL_LOG_ERR, src->sc.name,
                    "the store refused %zu record(s) of this source at commit; the other "
                    "requests of that commit were stored",
                    item->nrecs);
        src->emit_errors++;
        free(src->last_error);
        src->last_error = xstrdup(kanal_strerror(item->status));
    } else {
        src->records += item->nnew;
        src->duplicates += item->nrecs - item->nnew;
        const struct host_env *env = src->set->host;
        if (env->count_records)
            env->count_records(env->metrics, src->sc.name, item);
        if (item->nrecs)
            source_note_event(src);
    }
    uint64_t *all = ctx->kept && !item->status
                        ? stages_expand_seqs(item->seqs, ctx->kept, item->nrecs, ctx->nemitted)
                        : NULL;
    int status = item->status;
    const uint64_t *seqs = status ? NULL : all ? all : item->seqs;
    size_t n = status ? 0 : all ? ctx->nemitted : item->nrecs;
    int waiting = !status && wait_for_cluster(src, ctx->cb, ctx->arg, seqs, n, &status);
    if (!waiting && ctx->cb)
        ctx->cb(ctx->arg, status, status ? NULL : seqs, status ? 0 : n);
    free(all);
    write_item_free(item);
    free(ctx->kept);
    free(ctx);
    if (!waiting)
    source_unref(src);
}

/* LMDB's largest value (MAXDATASIZE in its default build). */
#define MAX_RECORD_TEXT ((size_t)0xffffffffu)

/* Refuse an emit on the loop thread: one log line, the source's last error,
 * KANAL_ERECORD to the plugin (the webhook keeps the body as "unknown"). */
static int emit_refused(struct kanal_source *src, struct write_item *item, size_t i, size_t n,
                        const char *why)
{
    log_msg(KANAL_LOG_ERR, src->sc.name, "emit refused: record %zu of %zu: %s", i + 1, n, why);
    write_item_free(item);
    src->emit_errors++;
    free(src->last_error);
    src->last_error = xstrdup(why);
    return KANAL_ERECORD;
}

/* Everything the writer would do with a record that can fail for the
 * record's sake, done first here, so that the commit it shares with other
 * requests has nothing left to refuse: its text (nesting, NUL in strings;
 * jsonout refuses exactly that), the text's size, and its idempotency key.
 * Handles are keys too: record checks keep them within STORE_MAX_KEY. */
static int check_storable(struct kanal_source *src, struct write_item *item, size_t i, size_t n)
{
    struct write_record *wr = &item->recs[i];
    char why[160];
    if (!wr->text) {
        if (errno == ENOMEM)
            snprintf(why, sizeof why, "out of memory serializing it");
        else
            snprintf(why, sizeof why,
                     "it cannot be written as JSON (nesting deeper than %d levels, or a NUL in "
                     "a string)",
                     KANAL_MAX_DEPTH);
        return emit_refused(src, item, i, n, why);
    }
    if (wr->text_len > MAX_RECORD_TEXT) {
        snprintf(why, sizeof why, "its stored form of %zu bytes is larger than the store takes",
                 wr->text_len);
        return emit_refused(src, item, i, n, why);
    }
    if (wr->idem_len == 0 || wr->idem_len > STORE_MAX_KEY)
        return emit_refused(src, item, i, n, "its idempotency key is longer than the store allows");
    return 0;
}

/* Record i of n, in, as the plugin emitted it in text: an unknown record
 * whose raw the store cannot keep gets raw's bounded form (rawbound.c),
 * logged; any other record whose raw could not be read is refused
 * (KANAL_ERECORD, why in err): the plugin falls back to an unknown record.
 * parse_err is why the whole text could not be read. */
static int bound_unknown_raw(struct kanal_source *src, json_t *in, const char *text,
                             const struct raw_span *spans, size_t nspans, size_t i, size_t n,
                             const char *parse_err, char *err, size_t err_len)
{
    char why[200];
    size_t size;
    int r = rawbound_record(in, i, text, spans, nspans, parse_err,
                            (size_t)(*src->set->cfg)->unknown_raw_max, err, err_len, why,
                            sizeof why, &size);
    if (r == 0 && why[0])
        log_msg(KANAL_LOG_NOTICE, src->sc.name,
                "record %zu of %zu: kept an unknown record's raw of %zu bytes in bounded form: %s",
                i + 1, n, size, why);
    return r;
}

static int submit(struct kanal_source *src, struct write_item *item,
                  const struct kanal_state_entry *states, size_t nstates, kanal_emit_cb cb,
                  void *arg, size_t *kept, size_t nemitted, struct statecmd_run *cmd);

/* Whether identity needs no more of the record in than its parties: it
 * names no contact (null is none) and is no consent record. */
static int parties_only(json_t *in)
{
    json_t *named = json_object_get(in, "contact");
    const char *kind = json_string_value(json_object_get(in, "kind"));
    return (!named || json_is_null(named)) && kind && strcmp(kind, "optin") != 0 &&
           strcmp(kind, "optout") != 0;
}

static int host_emit(struct kanal_source *src, const char *json, size_t len,
                     const struct kanal_state_entry *states, size_t nstates, kanal_emit_cb cb,
                     void *arg)
{
    const struct host_env *env = src->set->host;
    if (!*env->writer_running || env->writer->joined)
        return KANAL_ESTOPPED;
    if (src->sc.role != STAGE_SOURCE) /* a processor or sink is no channel */
        return -EPERM;
    json_t *root = NULL;
    struct raw_span *spans = NULL;
    size_t nspans = 0;
    char e[160] = "";
    /* The records' values, parsed and normalized, live in an arena until
     * the item is freed. */
    struct jarena *arena = jarena_begin();
    if (len > 0) {
        root = rawbound_parse(json, len, &spans, &nspans, e, sizeof e);
        if (!root) {
            jarena_release(arena);
            log_msg(KANAL_LOG_ERR, src->sc.name, "emit refused: not JSON kanald can store (%s)", e);
            return KANAL_ERECORD;
        }
    } else if (nstates == 0) {
        jarena_release(arena);
        return -EINVAL;
    }
    size_t n = !root ? 0 : json_is_array(root) ? json_array_size(root) : 1;
    struct write_item *item = xcalloc(1, sizeof *item);
    item->arena = arena;
    item->recs = xcalloc(n ? n : 1, sizeof *item->recs);
    char received[32];
    int64_t now = util_now_ms();
    util_format_time(now, received, sizeof received);
    struct record_ctx rc = {
        .source = src->sc.name,
        .channel = src->plugin->name,
        .default_country = src->sc.default_country,
        .keep_raw = src->sc.keep_raw,
        .received_at = received,
        .received_ms = now,
        .trust = src->sc.trust,
    };
    /* Nothing reads a record as values before its commit when identity is
     * off and no processor runs: its stored text is written straight from
     * the input, without the object jsonout_dump would write it from. */
    int as_text = !env->store->identity && src->set->nprocs == 0;
    /* With identity on, the writer reads only a record's parties, unless
     * the record names its contact or is one of consent (it reads more of
     * those, and may change the contact): the text is written from the
     * input all the same, beside the parties. */
    int parties_ok = env->store->identity && src->set->nprocs == 0;
    for (size_t i = 0; i < n; i++) {
        json_t *in = json_is_array(root) ? json_array_get(root, i) : root;
        char err[256];
        json_t *rec = NULL;
        char *text = NULL;
        size_t text_len = 0;
        struct record_info info;
        struct record_parties *parties =
            parties_ok && parties_only(in) ? xcalloc(1, sizeof *parties) : NULL;
        errno = 0;
        if (bound_unknown_raw(src, in, json, spans, nspans, i, n, e, err, sizeof err) < 0 ||
            (as_text   ? record_normalize_text(in, &rc, &info, &text, &text_len, err, sizeof err)
             : parties ? record_normalize_parties(in, &rc, &info, &text, &text_len, parties, err,
                                                  sizeof err)
                       : record_normalize_info(in, &rc, &rec, &info, err, sizeof err)) < 0) {
            free(parties);
            json_decref(root);
            free(spans);
            return emit_refused(src, item, i, n, err);
        }
        struct write_record *wr = &item->recs[item->nrecs++];
        wr->rec = rec;
        wr->parties = parties;
        wr->text = text;
        wr->text_len = text_len;
        wr->text_errno = (as_text || parties) && !text ? errno : 0;
        wr->given_contact = info.given_contact;
        wr->kind = record_kind_name(info.kind);
        wr->direction = record_direction_name(info.direction);
        size_t cap = strlen(src->sc.name) + strlen(info.kind) + strlen(info.external_id) + 3;
        wr->idem = xmalloc(cap);
        wr->idem_len = store_idem_key(wr->idem, cap, src->sc.name, info.kind, info.external_id);
    }
    json_decref(root);
    free(spans);
    jarena_end(arena);
    size_t nemitted = item->nrecs, *kept = NULL;
    stages_process(src->set, item, &kept);
    /* The writer changes nothing in a record but its seq and the contact it
     * resolves (unless the record named one, which it may follow to a
     * merged contact): serialize here, off the writer thread, whose time
     * every commit waits for (processors have done it already when one
     * saw the record).  Serializing also proves the record can be written;
     * a record the writer serializes again is only checked. */
    for (size_t i = 0; i < item->nrecs; i++) {
        struct write_record *wr = &item->recs[i];
        errno = 0;
        if (!wr->rec) /* written as text above */
            errno = wr->text_errno;
        else if (!wr->text) /* else the processors' text, with their annotations */
            wr->text = jsonout_dump(wr->rec, &wr->text_len);
        int r = check_storable(src, item, i, item->nrecs);
        if (!r && env->store->identity && wr->given_contact) {
            /* The writer serializes rec (the contact may change). */
            if (write_record_take_annotations(wr) < 0)
                r = emit_refused(src, item, i, item->nrecs, "out of memory reading annotations");
            else {
                free(wr->text);
                wr->text = NULL;
            }
        }
        if (r) {
            free(kept);
            return r;
        }
    }
    return submit(src, item, states, nstates, cb, arg, kept, nemitted, NULL);
}

/* Queue an item whose records are checked and serialized, with the
 * plugin's state entries copied in: the end of both emit and relay. */
static int submit(struct kanal_source *src, struct write_item *item,
                  const struct kanal_state_entry *states, size_t nstates, kanal_emit_cb cb,
                  void *arg, size_t *kept, size_t nemitted, struct statecmd_run *cmd)
{
    const struct host_env *env = src->set->host;
    for (size_t i = 0; i < nstates; i++)
        if (!states[i].key || strlen(src->sc.name) + strlen(states[i].key) + 1 > STORE_MAX_KEY) {
            log_msg(KANAL_LOG_ERR, src->sc.name,
                    "emit refused: state key '%.40s...' is longer "
                    "than the store allows",
                    states[i].key ? states[i].key : "(null)");
            write_item_free(item);
            free(kept);
            if (cmd)
                env->state_cmds->finish(cmd, -ENAMETOOLONG); /* frees it */
            return -ENAMETOOLONG;
        }
    if (nstates) {
        item->states = xcalloc(nstates, sizeof *item->states);
        for (size_t i = 0; i < nstates; i++) {
            struct write_state *ws = &item->states[item->nstates++];
            size_t cap = strlen(src->sc.name) + strlen(states[i].key) + 2;
            ws->key = xmalloc(cap);
            ws->key_len = store_state_key(ws->key, cap, src->sc.name, states[i].key);
            if (states[i].value) {
                ws->value = xmalloc(states[i].len);
                memcpy(ws->value, states[i].value, states[i].len);
                ws->len = states[i].len;
            }
        }
    }
    struct emit_ctx *ctx = xcalloc(1, sizeof *ctx);
    *ctx = (struct emit_ctx){
        .src = src, .cb = cb, .arg = arg, .kept = kept, .nemitted = nemitted, .cmd = cmd};
    item->done = emit_done;
    item->arg = ctx;
    source_ref(src);
    writer_submit(env->writer, item);
    return 0;
}

/* ---- relay (ABI 1.2) ---- */

static int host_role(struct kanal_source *src)
{
    return src->sc.role == STAGE_SINK        ? KANAL_ROLE_SINK
           : src->sc.role == STAGE_PROCESSOR ? KANAL_ROLE_PROCESSOR
                                             : KANAL_ROLE_SOURCE;
}

static int relay_cmd_apply(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct emit_ctx *ctx = it->arg;
    return ctx->src->set->host->state_cmds->apply(ctx->cmd, st, txn, &it->last_seq,
                                                  &it->scrub_after);
}

/* A state command of the cluster's core nodes (statecmd.h), relayed alone:
 * applied in the writer as its route applies it, committed with the
 * source's state entries, so that it takes its place in the stream's
 * order.  One kanald refuses (not a command, an unknown one, arguments the
 * route refuses) is KANAL_ERECORD: the source keeps the message as
 * unknown, on every core alike. */
static int relay_command(struct kanal_source *src, const char *json, size_t len,
                         const struct kanal_state_entry *states, size_t nstates, kanal_emit_cb cb,
                         void *arg)
{
    const struct host_env *env = src->set->host;
    json_error_t e;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
    json_t *cmd = json_is_array(root) ? json_array_get(root, 0) : root;
    char why[300] = "not JSON";
    struct statecmd_run *run = NULL;
    if (!env->state_cmds)
        snprintf(why, sizeof why, "this kanald applies no state commands");
    else if (cmd)
        run = env->state_cmds->parse(env->state_ctx, cmd, why, sizeof why);
    json_decref(root);
    if (!run) {
        log_msg(KANAL_LOG_ERR, src->sc.name, "relay refused: %s", why);
        return KANAL_ERECORD;
    }
    struct write_item *item = xcalloc(1, sizeof *item);
    item->apply = relay_cmd_apply;
    return submit(src, item, states, nstates, cb, arg, NULL, 0, run);
}

/* Records another kanald stored, stored here as they are but for seq and
 * contact (record_relay): only a source whose plugin declares it relays
 * may, since a relayed record names any source it likes. */
static int host_relay(struct kanal_source *src, const char *json, size_t len,
                      const struct kanal_state_entry *states, size_t nstates, kanal_emit_cb cb,
                      void *arg)
{
    const struct host_env *env = src->set->host;
    if (!*env->writer_running || env->writer->joined)
        return KANAL_ESTOPPED;
    const struct kanal_plugin *p = src->plugin;
    if (src->sc.role != STAGE_SOURCE ||
        p->size < offsetof(struct kanal_plugin, flags) + sizeof p->flags ||
        !(p->flags & KANAL_PLUGIN_RELAY)) {
        log_msg(KANAL_LOG_ERR, src->sc.name,
                "relay refused: plugin %s does not declare KANAL_PLUGIN_RELAY, or this is no "
                "[source] section",
                p->name);
        return -EPERM;
    }
    if (len == 0)
        return -EINVAL;
    char e[160];
    struct jarena *arena = jarena_begin();
    json_t *root = jsonin_parse(json, len, e, sizeof e);
    if (!root || !(json_is_object(root) || json_is_array(root))) {
        json_decref(root);
        jarena_release(arena);
        log_msg(KANAL_LOG_ERR, src->sc.name, "relay refused: not a JSON record or array (%s)",
                root ? "another JSON value" : e);
        return KANAL_ERECORD;
    }
    size_t n = json_is_array(root) ? json_array_size(root) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *in = json_is_array(root) ? json_array_get(root, i) : root;
        if (!json_object_get(in, "command"))
            continue;
        json_decref(root);
        jarena_release(arena);
        if (n == 1) /* parsed again out of the arena: the command outlives it */
            return relay_command(src, json, len, states, nstates, cb, arg);
        log_msg(KANAL_LOG_ERR, src->sc.name,
                "relay refused: a state command comes alone, not with records");
        return KANAL_ERECORD;
    }
    struct write_item *item = xcalloc(1, sizeof *item);
    item->arena = arena;
    item->recs = xcalloc(n ? n : 1, sizeof *item->recs);
    for (size_t i = 0; i < n; i++) {
        json_t *in = json_is_array(root) ? json_array_get(root, i) : root;
        char err[256];
        json_t *rec = NULL;
        if (!json_is_object(in)) {
            json_decref(root);
            return emit_refused(src, item, i, n, "not a JSON object");
        }
        const char *rsrc = json_string_value(json_object_get(in, "source"));
        if (rsrc && !strcmp(rsrc, KANAL_SYSTEM_SOURCE)) {
            json_decref(root);
            return emit_refused(src, item, i, n,
                                "a record of kanald's own source 'kanal' is not relayed: "
                                "each node makes its own");
        }
        if (record_relay(in, &rec, err, sizeof err) < 0) {
            json_decref(root);
            return emit_refused(src, item, i, n, err);
        }
        struct write_record *wr = &item->recs[item->nrecs++];
        wr->rec = rec;
        const char *kind = json_string_value(json_object_get(rec, "kind"));
        const char *ext = json_string_value(json_object_get(rec, "external_id"));
        const char *rs = json_string_value(json_object_get(rec, "source"));
        size_t cap = strlen(rs) + strlen(kind) + strlen(ext) + 3;
        wr->idem = xmalloc(cap);
        wr->idem_len = store_idem_key(wr->idem, cap, rs, kind, ext);
    }
    json_decref(root);
    jarena_end(arena);
    for (size_t i = 0; i < item->nrecs; i++) {
        struct write_record *wr = &item->recs[i];
        errno = 0;
        wr->text = jsonout_dump(wr->rec, &wr->text_len);
        int r = check_storable(src, item, i, item->nrecs);
        if (r)
            return r;
    }
    return submit(src, item, states, nstates, cb, arg, NULL, item->nrecs, NULL);
}

static void host_set_lag(struct kanal_source *src, int64_t records)
{
    src->lag = records < 0 ? -1 : records;
}

static int host_state_get(struct kanal_source *src, const char *key, void *buf, size_t *len)
{
    return store_state_get(src->set->host->store, src->sc.name, key, buf, len);
}

/* ---- timers and fd watches ---- */

static void handle_link(struct kanal_source *src, struct host_handle *hh)
{
    hh->src = src;
    hh->next = src->handles;
    if (src->handles)
        src->handles->prev = hh;
    src->handles = hh;
}

static void handle_closed(uv_handle_t *h)
{
    free(h->data);
}

static void handle_close(struct host_handle *hh)
{
    if (hh->closing)
        return;
    hh->closing = 1;
    struct kanal_source *src = hh->src;
    if (hh->prev)
        hh->prev->next = hh->next;
    else if (src->handles == hh)
        src->handles = hh->next;
    if (hh->next)
        hh->next->prev = hh->prev;
    uv_close(&hh->u.h, handle_closed);
}

void host_close_handles(struct kanal_source *src)
{
    int n = 0;
    while (src->handles) {
        handle_close(src->handles);
        n++;
    }
    if (n)
        log_msg(KANAL_LOG_DEBUG, src->sc.name, "closed %d timer(s)/watch(es) left open", n);
}

static void on_timer(uv_timer_t *t)
{
    struct host_handle *hh = t->data;
    /* One-shot timers stay allocated until timer_stop() or the source's end. */
    hh->timer_cb(hh->arg);
}

static int host_timer_start(struct kanal_source *src, uint64_t timeout_ms, uint64_t repeat_ms,
                            kanal_timer_cb cb, void *arg, struct kanal_timer **out)
{
    struct kanal_timer *t = xcalloc(1, sizeof *t);
    uv_timer_init(src->set->host->loop, &t->hh.u.timer);
    t->hh.u.h.data = t;
    t->hh.timer_cb = cb;
    t->hh.arg = arg;
    handle_link(src, &t->hh);
    uv_timer_start(&t->hh.u.timer, on_timer, timeout_ms, repeat_ms);
    *out = t;
    return 0;
}

static void host_timer_stop(struct kanal_timer *t)
{
    if (!t)
        return;
    uv_timer_stop(&t->hh.u.timer);
    handle_close(&t->hh);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct host_handle *hh = p->data;
    int ev = 0;
    if (status < 0 || (events & UV_READABLE))
        ev |= KANAL_WATCH_READ;
    if (events & UV_WRITABLE)
        ev |= KANAL_WATCH_WRITE;
    hh->watch_cb(hh->arg, hh->fd, ev);
}

static int host_watch_fd(struct kanal_source *src, int fd, int events, kanal_watch_cb cb, void *arg,
                         struct kanal_watch **out)
{
    struct kanal_watch *w = xcalloc(1, sizeof *w);
    int rc = uv_poll_init(src->set->host->loop, &w->hh.u.poll, fd);
    if (rc) {
        free(w);
        return rc;
    }
    w->hh.u.h.data = w;
    w->hh.watch_cb = cb;
    w->hh.arg = arg;
    w->hh.fd = fd;
    handle_link(src, &w->hh);
    int uvev = ((events & KANAL_WATCH_READ) ? UV_READABLE : 0) |
               ((events & KANAL_WATCH_WRITE) ? UV_WRITABLE : 0);
    rc = uv_poll_start(&w->hh.u.poll, uvev, on_poll);
    if (rc) {
        handle_close(&w->hh);
        return rc;
    }
    *out = w;
    return 0;
}

static void host_unwatch_fd(struct kanal_watch *w)
{
    if (!w)
        return;
    uv_poll_stop(&w->hh.u.poll);
    handle_close(&w->hh);
}

static int host_transfer(struct kanal_source *src, void *easy, kanal_transfer_cb cb, void *arg)
{
    return transfer_start(*src->set->host->transfers, src, src->sc.name, easy, cb, arg);
}

/* ---- HTTP ---- */

static const char *host_http_header(const struct kanal_http_request *req, const char *name)
{
    return http_req_header((const struct http_req *)req, name);
}

static int host_http_add_header(struct kanal_http_request *req, const char *name, const char *value)
{
    return http_req_add_header((struct http_req *)req, name, value);
}

static int host_http_respond(struct kanal_http_request *req, int status, const char *content_type,
                             const void *body, size_t len)
{
    struct http_req *r = (struct http_req *)req;
    if (r->responded)
        return -EALREADY;
    struct kanal_source *owner = r->owner;
    int rc = http_respond(r, status, content_type, body, len);
    if (owner)
        source_unref(owner);
    return rc;
}

static int host_send_done(struct kanal_source *src, const struct kanal_send_request *msg,
                          const struct kanal_send_result *result)
{
    return outbox_send_done(*src->set->host->outbox, src, msg, result);
}

static void host_set_health(struct kanal_source *src, int ok, const char *reason)
{
    if (src->healthy != !!ok)
        log_msg(ok ? KANAL_LOG_NOTICE : KANAL_LOG_WARNING, src->sc.name, "source is %s%s%s",
                ok ? "healthy again" : "unhealthy", reason ? ": " : "", reason ? reason : "");
    src->healthy = !!ok;
    free(src->health_reason);
    src->health_reason = reason ? xstrdup(reason) : NULL;
}

static int host_normalize_handle(struct kanal_source *src, const char *in, char *out,
                                 size_t out_len)
{
    const char *why;
    return handle_normalize(in, src ? src->sc.default_country : NULL, out, out_len, &why);
}

const struct kanal_host host_api = {
    .abi_major = KANAL_ABI_MAJOR,
    .abi_minor = KANAL_ABI_MINOR,
    .size = sizeof(struct kanal_host),
    .log = host_log,
    .strerror = kanal_strerror,
    .source_name = host_source_name,
    .config_string = host_config_string,
    .config_int = host_config_int,
    .emit = host_emit,
    .state_get = host_state_get,
    .timer_start = host_timer_start,
    .timer_stop = host_timer_stop,
    .watch_fd = host_watch_fd,
    .unwatch_fd = host_unwatch_fd,
    .transfer = host_transfer,
    .http_header = host_http_header,
    .http_add_header = host_http_add_header,
    .http_respond = host_http_respond,
    .send_done = host_send_done,
    .set_health = host_set_health,
    .hmac_sha256 = crypto_hmac_sha256,
    .hmac_sha1 = crypto_hmac_sha1,
    .equal_ct = crypto_equal_ct,
    .hex_encode = crypto_hex_encode,
    .base64_encode = crypto_base64_encode,
    .base64_decode = crypto_base64_decode,
    .form_decode = form_decode,
    .normalize_handle = host_normalize_handle,
    .format_time = util_format_time,
    .now_ms = util_now_ms,
    .sink_ack = stages_sink_ack,
    .sink_fail = stages_sink_fail,
    .role = host_role,
    .relay = host_relay,
    .set_lag = host_set_lag,
};
