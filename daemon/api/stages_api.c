/* SPDX-License-Identifier: Apache-2.0 */
/* What operators see of the stages: GET /v1/sinks, /metrics, /healthz. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "respond.h"
#include "source.h"
#include "stages.h"
#include "stages_api.h"
#include "stages_int.h"
#include "store.h"
#include "util.h"

int64_t stages_sink_lag_ms(struct kanal_source *src, int64_t now)
{
    struct stage *st = src->stage;
    struct store *store = src->set->host->store;
    if (st->cursor >= store_last_seq(store))
        return 0;
    MDB_txn *txn;
    if (store_read_begin(store, &txn))
        return 0;
    int64_t lag = 0;
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, store->log, &cur) == 0) {
        uint64_t start = st->cursor + 1;
        MDB_val k = {sizeof start, &start}, v;
        if (mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) == 0) {
            /* Only received_at is needed: find it rather than parse it all. */
            static const char key[] = "\"received_at\":\"";
            const char *p = memmem(v.mv_data, v.mv_size, key, sizeof key - 1);
            char ts[32];
            int64_t at;
            size_t off = p ? (size_t)(p - (const char *)v.mv_data) + sizeof key - 1 : 0;
            if (p && off + 24 <= v.mv_size) {
                memcpy(ts, (const char *)v.mv_data + off, 24);
                ts[24] = '\0';
                if (util_parse_time(ts, &at) == 0 && now > at)
                    lag = now - at;
            }
        }
        mdb_cursor_close(cur);
    }
    store_read_end(store, txn);
    return lag;
}

static int sink_healthy(struct kanal_source *src, int64_t lag_ms)
{
    struct stage *st = src->stage;
    return src->healthy && lag_ms <= src->sc.max_lag_ms && !(st->retry_pending && st->last_error);
}

void stages_sinks_handle(struct source_set *set, struct http_req *req)
{
    if (strcmp(req->pub.method, "GET") && strcmp(req->pub.method, "HEAD")) {
        http_respond_error(req, 405, "method_not_allowed", "use GET");
        return;
    }
    int64_t now = util_now_ms();
    uint64_t last = store_last_seq(set->host->store);
    json_t *list = json_array();
    for (size_t i = 0; i < set->nsinks; i++) {
        struct kanal_source *src = set->sinks[i];
        struct stage *st = src->stage;
        int64_t lag_ms = stages_sink_lag_ms(src, now);
        int ok = sink_healthy(src, lag_ms);
        json_t *o = json_pack(
            "{s:s,s:s,s:I,s:I,s:I,s:f,s:I,s:I,s:s}", "name", src->sc.name, "plugin",
            src->plugin->name, "cursor", (json_int_t)st->cursor, "last_seq", (json_int_t)last,
            "lag_records", (json_int_t)(last > st->cursor ? last - st->cursor : 0), "lag_seconds",
            (double)lag_ms / 1000.0, "inflight", (json_int_t)(st->delivered - st->cursor), "errors",
            (json_int_t)st->errors, "health", ok ? "ok" : "unhealthy");
        json_object_set_new(o, "last_error",
                            st->last_error ? json_string(st->last_error) : json_null());
        /* ack = cluster: answers waiting for this sink, and those it let time out */
        json_object_set_new(o, "ack_waiting", json_integer((json_int_t)st->nwaiting));
        json_object_set_new(o, "ack_timeouts", json_integer((json_int_t)st->ack_timeouts));
        json_array_append_new(list, o);
    }
    json_t *root = json_pack("{s:o}", "sinks", list);
    api_respond_json(req, 200, root);
}

int stages_health(struct source_set *set, json_t *sinks)
{
    int healthy = 1;
    int64_t now = util_now_ms();
    for (size_t i = 0; i < set->nsinks; i++) {
        struct kanal_source *src = set->sinks[i];
        struct stage *st = src->stage;
        int64_t lag_ms = stages_sink_lag_ms(src, now);
        int ok = sink_healthy(src, lag_ms);
        healthy &= ok;
        json_t *o = json_pack("{s:s}", "status", ok ? "ok" : "unhealthy");
        if (!src->healthy && src->health_reason)
            json_object_set_new(o, "reason", json_string(src->health_reason));
        else if (lag_ms > src->sc.max_lag_ms)
            json_object_set_new(o, "reason", json_string("lags past max_lag"));
        else if (!ok)
            json_object_set_new(o, "reason", json_string(st->last_error));
        json_object_set_new(sinks, src->sc.name, o);
    }
    return healthy;
}

struct mbuf {
    char *p;
    size_t len, cap;
};

static void mprintf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mprintf(struct mbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (b->p && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap + (size_t)n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
}

char *stages_metrics(struct source_set *set, size_t *len)
{
    struct mbuf b = {0};
    /* Section names are letters, digits, '-', '_' and '.': safe as labels. */
    mprintf(&b, "# HELP kanal_processor_records_total Records a processor looked at.\n"
                "# TYPE kanal_processor_records_total counter\n");
    for (size_t i = 0; i < set->nprocs; i++)
        mprintf(&b, "kanal_processor_records_total{processor=\"%s\"} %llu\n",
                set->procs[i]->sc.name,
                (unsigned long long)((struct stage *)set->procs[i]->stage)->seen);
    mprintf(&b, "# HELP kanal_processor_dropped_total Records a processor dropped (not stored).\n"
                "# TYPE kanal_processor_dropped_total counter\n");
    for (size_t i = 0; i < set->nprocs; i++)
        mprintf(&b, "kanal_processor_dropped_total{processor=\"%s\"} %llu\n",
                set->procs[i]->sc.name,
                (unsigned long long)((struct stage *)set->procs[i]->stage)->dropped);
    mprintf(&b, "# HELP kanal_processor_failures_total Records kept without a processor's "
                "annotation: it returned an error, invalid JSON, or overran its budget.\n"
                "# TYPE kanal_processor_failures_total counter\n");
    for (size_t i = 0; i < set->nprocs; i++)
        for (int r = 0; r < FAIL_N; r++)
            mprintf(&b, "kanal_processor_failures_total{processor=\"%s\",reason=\"%s\"} %llu\n",
                    set->procs[i]->sc.name, stages_fail_names[r],
                    (unsigned long long)((struct stage *)set->procs[i]->stage)->failures[r]);
    int64_t now = util_now_ms();
    uint64_t last = store_last_seq(set->host->store);
    mprintf(&b, "# HELP kanal_sink_cursor The last seq a sink acknowledged.\n"
                "# TYPE kanal_sink_cursor gauge\n");
    for (size_t i = 0; i < set->nsinks; i++)
        mprintf(&b, "kanal_sink_cursor{sink=\"%s\"} %llu\n", set->sinks[i]->sc.name,
                (unsigned long long)((struct stage *)set->sinks[i]->stage)->cursor);
    mprintf(&b, "# HELP kanal_sink_lag_records Committed records a sink has not acknowledged.\n"
                "# TYPE kanal_sink_lag_records gauge\n");
    for (size_t i = 0; i < set->nsinks; i++) {
        uint64_t c = ((struct stage *)set->sinks[i]->stage)->cursor;
        mprintf(&b, "kanal_sink_lag_records{sink=\"%s\"} %llu\n", set->sinks[i]->sc.name,
                (unsigned long long)(last > c ? last - c : 0));
    }
    mprintf(&b, "# HELP kanal_sink_lag_seconds Age of the oldest record a sink has not "
                "acknowledged.\n# TYPE kanal_sink_lag_seconds gauge\n");
    for (size_t i = 0; i < set->nsinks; i++)
        mprintf(&b, "kanal_sink_lag_seconds{sink=\"%s\"} %.3f\n", set->sinks[i]->sc.name,
                (double)stages_sink_lag_ms(set->sinks[i], now) / 1000.0);
    mprintf(&b, "# HELP kanal_sink_errors_total Failed deliveries of a sink.\n"
                "# TYPE kanal_sink_errors_total counter\n");
    for (size_t i = 0; i < set->nsinks; i++)
        mprintf(&b, "kanal_sink_errors_total{sink=\"%s\"} %llu\n", set->sinks[i]->sc.name,
                (unsigned long long)((struct stage *)set->sinks[i]->stage)->errors);
    mprintf(&b, "# HELP kanal_sink_ack_timeouts_total Answers of sources with ack = cluster "
                "that got 503 because this sink had not acknowledged their records in time.\n"
                "# TYPE kanal_sink_ack_timeouts_total counter\n");
    for (size_t i = 0; i < set->nsinks; i++)
        mprintf(&b, "kanal_sink_ack_timeouts_total{sink=\"%s\"} %llu\n", set->sinks[i]->sc.name,
                (unsigned long long)((struct stage *)set->sinks[i]->stage)->ack_timeouts);
    *len = b.len;
    return b.p;
}
