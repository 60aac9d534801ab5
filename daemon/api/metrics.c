/* SPDX-License-Identifier: Apache-2.0 */
/* GET /metrics in Prometheus text format, and GET /v1/sources: what an
 * operator needs to see inside kanald.  Counters are kept on the loop
 * thread; the writer's statistics are copied under its lock. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http.h"
#include "links.h"
#include "outbox.h"
#include "respond.h"
#include "scores.h"
#include "source.h"
#include "stages.h"
#include "stages_api.h"
#include "store.h"
#include "transfer.h"
#include "util.h"
#include "writer.h"

struct http_count {
    const char *route; /* static strings from the router */
    int status;
    uint64_t n;
};

struct record_count {
    char *source, *kind, *direction;
    uint64_t n;
};

struct metrics {
    struct metrics_env env;
    struct http_count *http;
    size_t nhttp;
    struct record_count *recs;
    size_t nrecs;
};

struct metrics *metrics_new(const struct metrics_env *env)
{
    struct metrics *m = xcalloc(1, sizeof *m);
    m->env = *env;
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nrecs; i++) {
        free(m->recs[i].source);
        free(m->recs[i].kind);
        free(m->recs[i].direction);
    }
    free(m->recs);
    free(m->http);
    free(m);
}

void metrics_observe_http(void *arg, const struct http_req *req)
{
    struct metrics *m = arg;
    const char *route = req->route ? req->route : "other";
    for (size_t i = 0; i < m->nhttp; i++)
        if (m->http[i].status == req->status && strcmp(m->http[i].route, route) == 0) {
            m->http[i].n++;
            return;
        }
    m->http = xrealloc(m->http, (m->nhttp + 1) * sizeof *m->http);
    m->http[m->nhttp++] = (struct http_count){.route = route, .status = req->status, .n = 1};
}

void metrics_count_records(struct metrics *m, const char *source_name, const struct write_item *item)
{
    for (size_t r = 0; r < item->nrecs; r++) {
        const struct write_record *wr = &item->recs[r];
        json_t *rec = wr->rec;
        if (!wr->is_new || (!rec && !wr->kind))
            continue;
        /* An emitted record (kind set) is source_name's, its kind and
         * direction kept (rec may be absent: stored from its text); a
         * relayed one tells them in rec. */
        const char *source =
            wr->kind ? source_name : json_string_value(json_object_get(rec, "source"));
        const char *kind = wr->kind ? wr->kind : json_string_value(json_object_get(rec, "kind"));
        const char *dir =
            wr->direction ? wr->direction : json_string_value(json_object_get(rec, "direction"));
        if (!source || !kind || !dir)
            continue;
        size_t i = 0;
        while (i < m->nrecs &&
               (strcmp(m->recs[i].kind, kind) != 0 || strcmp(m->recs[i].source, source) != 0 ||
                strcmp(m->recs[i].direction, dir) != 0))
            i++;
        if (i == m->nrecs) {
            m->recs = xrealloc(m->recs, (m->nrecs + 1) * sizeof *m->recs);
            m->recs[m->nrecs++] = (struct record_count){
                .source = xstrdup(source), .kind = xstrdup(kind), .direction = xstrdup(dir)};
        }
        m->recs[i].n++;
    }
}

/* ---- text exposition ---- */

struct out {
    char *p;
    size_t len, cap;
};

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void outf(struct out *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        o->cap = o->cap ? o->cap * 2 : 8192;
        o->p = xrealloc(o->p, o->cap);
    }
}

/* Label values: escape backslash, quote and newline. */
static const char *label(const char *s, char *buf, size_t len)
{
    size_t n = 0;
    for (; s && *s && n + 3 < len; s++) {
        if (*s == '\\' || *s == '"') {
            buf[n++] = '\\';
            buf[n++] = *s;
        } else if (*s == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else {
            buf[n++] = *s;
        }
    }
    buf[n] = '\0';
    return buf;
}

static void histogram(struct out *o, const char *name, const char *help, const uint64_t *bounds,
                      size_t nb, const uint64_t *hist, double sum, double scale)
{
    outf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < nb; i++)
        outf(o, "%s_bucket{le=\"%g\"} %llu\n", name, (double)bounds[i] * scale,
             (unsigned long long)hist[i]);
    outf(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %g\n%s_count %llu\n", name,
         (unsigned long long)hist[nb], name, sum, name, (unsigned long long)hist[nb]);
}

/* ---- operator gauges: silence, store use, anonymous memory ----
 * What conf/monitoring/'s alerts and dashboard need beyond the counters. */

/* kanald's own (anonymous) resident memory: RssAnon, not VmRSS, which also
 * counts the store's mapped file pages (page cache the kernel reclaims). */
static uint64_t rss_anon_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

static void operator_gauges(struct out *o, struct store *st, struct kanal_source *const *sources,
                            size_t nsources)
{
    char a[160];
    int64_t now = util_now_ms();
    outf(o, "# HELP kanal_source_silent 1 while the source heard nothing within its "
            "expect_traffic_within.\n# TYPE kanal_source_silent gauge\n");
    for (size_t i = 0; i < nsources; i++) {
        source_check_silence(sources[i], now);
        outf(o, "kanal_source_silent{source=\"%s\"} %d\n", label(sources[i]->sc.name, a, sizeof a),
             sources[i]->silent_reported);
    }
    outf(o, "# HELP kanal_source_silent_seconds Seconds since the source's last record (or its "
            "start).\n# TYPE kanal_source_silent_seconds gauge\n");
    for (size_t i = 0; i < nsources; i++) {
        const struct kanal_source *s = sources[i];
        int64_t since = s->last_event_ms ? s->last_event_ms : s->started_ms;
        outf(o, "kanal_source_silent_seconds{source=\"%s\"} %.3f\n", label(s->sc.name, a, sizeof a),
             (double)(now - since) / 1000.0);
    }
    struct store_usage u;
    store_usage(st, &u);
    outf(o,
         "# HELP kanal_store_map_bytes Size of the store's LMDB map (it doubles when full).\n"
         "# TYPE kanal_store_map_bytes gauge\nkanal_store_map_bytes %llu\n"
         "# HELP kanal_store_used_bytes Bytes of the store's pages in use.\n"
         "# TYPE kanal_store_used_bytes gauge\nkanal_store_used_bytes %llu\n"
         "# HELP kanal_store_disk_free_bytes Bytes free on the store's filesystem.\n"
         "# TYPE kanal_store_disk_free_bytes gauge\nkanal_store_disk_free_bytes %llu\n"
         "# HELP kanal_process_rss_anon_bytes kanald's anonymous resident memory (RssAnon).\n"
         "# TYPE kanal_process_rss_anon_bytes gauge\nkanal_process_rss_anon_bytes %llu\n",
         (unsigned long long)u.map_bytes, (unsigned long long)u.used_bytes,
         (unsigned long long)u.disk_free_bytes, (unsigned long long)rss_anon_bytes());
}

/* The scoring runs (runtime/scores.h): when the last one ended, how long it
 * took and what it read up to, so that a stalled or slow run shows. */
static void score_gauges(struct out *o, const struct scores *sc)
{
    const struct scores_stats *s = &sc->stats;
    outf(o,
         "# HELP kanal_score_runs_total Scoring runs ended (their scores kept or not).\n"
         "# TYPE kanal_score_runs_total counter\nkanal_score_runs_total %llu\n"
         "# HELP kanal_score_run_failures_total Scoring runs that kept nothing (store error, "
         "shutdown).\n"
         "# TYPE kanal_score_run_failures_total counter\nkanal_score_run_failures_total %llu\n"
         "# HELP kanal_score_running 1 while a scoring run is in progress.\n"
         "# TYPE kanal_score_running gauge\nkanal_score_running %d\n"
         "# HELP kanal_score_last_run_seconds How long the last scoring run that kept scores "
         "took.\n"
         "# TYPE kanal_score_last_run_seconds gauge\nkanal_score_last_run_seconds %.3f\n"
         "# HELP kanal_score_last_run_timestamp_seconds When it ended (Unix time; 0: never).\n"
         "# TYPE kanal_score_last_run_timestamp_seconds gauge\n"
         "kanal_score_last_run_timestamp_seconds %.3f\n"
         "# HELP kanal_score_last_seq The seq the kept scores were computed up to.\n"
         "# TYPE kanal_score_last_seq gauge\nkanal_score_last_seq %llu\n",
         (unsigned long long)s->runs, (unsigned long long)s->failures, scores_busy(sc),
         (double)s->last_duration_ms / 1000.0, (double)s->last_at_ms / 1000.0,
         (unsigned long long)s->last_seq);
}

void metrics_handle(struct metrics *m, struct http_req *req)
{
    const struct metrics_env *env = &m->env;
    struct source_set *set = env->sources;
    struct out o = {0};
    char a[160], b[160], c[160];
    outf(&o, "# HELP kanal_http_requests_total HTTP requests answered, by route and status.\n"
             "# TYPE kanal_http_requests_total counter\n");
    for (size_t i = 0; i < m->nhttp; i++)
        outf(&o, "kanal_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", m->http[i].route,
             m->http[i].status, (unsigned long long)m->http[i].n);
    outf(&o, "# HELP kanal_records_committed_total Records committed (duplicates excluded).\n"
             "# TYPE kanal_records_committed_total counter\n");
    for (size_t i = 0; i < m->nrecs; i++)
        outf(&o, "kanal_records_committed_total{source=\"%s\",kind=\"%s\",direction=\"%s\"} %llu\n",
             label(m->recs[i].source, a, sizeof a), label(m->recs[i].kind, b, sizeof b),
             label(m->recs[i].direction, c, sizeof c), (unsigned long long)m->recs[i].n);
    struct writer_stats ws;
    writer_get_stats(env->writer, &ws);
    static const uint64_t batch[] = WRITER_BATCH_BOUNDS;
    static const uint64_t lat[] = WRITER_LATENCY_BOUNDS_US;
    histogram(&o, "kanal_commit_batch_records", "Records per store commit.", batch,
              ARRAY_SIZE(batch), ws.batch_hist, (double)ws.batch_sum, 1);
    histogram(&o, "kanal_commit_duration_seconds", "Time of one store commit including sync.", lat,
              ARRAY_SIZE(lat), ws.latency_hist, (double)ws.latency_us_sum / 1e6, 1e-6);
    outf(&o,
         "# HELP kanal_commit_failures_total Store commits that failed (answered 503).\n"
         "# TYPE kanal_commit_failures_total counter\nkanal_commit_failures_total %llu\n"
         "# HELP kanal_duplicates_total Records recognised as redeliveries.\n"
         "# TYPE kanal_duplicates_total counter\nkanal_duplicates_total %llu\n"
         "# HELP kanal_store_last_seq The last committed seq.\n"
         "# TYPE kanal_store_last_seq gauge\nkanal_store_last_seq %llu\n"
         "# HELP kanal_outbox_depth Outbound messages waiting to be sent.\n"
         "# TYPE kanal_outbox_depth gauge\nkanal_outbox_depth %llu\n"
         "# HELP kanal_http_connections Open HTTP connections.\n"
         "# TYPE kanal_http_connections gauge\nkanal_http_connections %u\n"
         "# HELP kanal_transfers_running Outgoing transfers in flight.\n"
         "# TYPE kanal_transfers_running gauge\nkanal_transfers_running %u\n",
         (unsigned long long)ws.failures, (unsigned long long)ws.duplicates,
         (unsigned long long)store_last_seq(env->store),
         (unsigned long long)outbox_depth(*env->outbox), http_server_connections(*env->http),
         transfer_running(*env->transfers));
    size_t ns;
    const struct outbox_source_stats *ss = outbox_stats(*env->outbox, &ns);
    outf(&o, "# HELP kanal_send_attempts_total Outbound send attempts by source and outcome.\n"
             "# TYPE kanal_send_attempts_total counter\n");
    for (size_t i = 0; i < ns; i++) {
        label(ss[i].source, a, sizeof a);
        outf(&o,
             "kanal_send_attempts_total{source=\"%s\",outcome=\"sent\"} %llu\n"
             "kanal_send_attempts_total{source=\"%s\",outcome=\"retry\"} %llu\n"
             "kanal_send_attempts_total{source=\"%s\",outcome=\"failed\"} %llu\n",
             a, (unsigned long long)ss[i].sent, a, (unsigned long long)ss[i].retried, a,
             (unsigned long long)ss[i].failed);
    }
    outf(&o, "# HELP kanal_plugin_errors_total Records a source's plugin emitted that were "
             "refused or failed to commit.\n# TYPE kanal_plugin_errors_total counter\n");
    for (size_t i = 0; i < set->nsources; i++)
        outf(&o, "kanal_plugin_errors_total{source=\"%s\"} %llu\n",
             label(set->sources[i]->sc.name, a, sizeof a),
             (unsigned long long)set->sources[i]->emit_errors);
    outf(&o, "# HELP kanal_source_healthy 1 when the source is healthy.\n"
             "# TYPE kanal_source_healthy gauge\n");
    for (size_t i = 0; i < set->nsources; i++)
        outf(&o, "kanal_source_healthy{source=\"%s\"} %d\n",
             label(set->sources[i]->sc.name, a, sizeof a),
             set->sources[i]->healthy && !set->sources[i]->silent_reported);
    int lag_help = 0;
    for (size_t i = 0; i < set->nsources; i++) {
        if (set->sources[i]->lag < 0)
            continue;
        if (!lag_help++)
            outf(&o, "# HELP kanal_source_lag_records Records a relaying source has still to "
                     "read from upstream (a nats source: the stream's messages not yet "
                     "consumed).\n# TYPE kanal_source_lag_records gauge\n");
        outf(&o, "kanal_source_lag_records{source=\"%s\"} %lld\n",
             label(set->sources[i]->sc.name, a, sizeof a), (long long)set->sources[i]->lag);
    }
    struct link_state *ls = env->links(env->links_arg);
    outf(&o,
         "# HELP kanal_link_hits_limited_total Hits on /t/ and /u/ links over link_rate or "
         "link_rate_client: answered, not recorded.\n"
         "# TYPE kanal_link_hits_limited_total counter\nkanal_link_hits_limited_total %llu\n"
         "# HELP kanal_link_suspected_bots_total Clicks recorded with meta.suspected_bot.\n"
         "# TYPE kanal_link_suspected_bots_total counter\nkanal_link_suspected_bots_total %llu\n"
         "# HELP kanal_link_optouts_total Opt-outs posted on unsubscribe links.\n"
         "# TYPE kanal_link_optouts_total counter\nkanal_link_optouts_total %llu\n"
         "# HELP kanal_link_rate_entries Tokens and addresses the link rate limiter tracks.\n"
         "# TYPE kanal_link_rate_entries gauge\nkanal_link_rate_entries %llu\n",
         (unsigned long long)ls->stats.limited, (unsigned long long)ls->stats.suspected_bots,
         (unsigned long long)ls->stats.optouts, (unsigned long long)ls->live);
    operator_gauges(&o, env->store, set->sources, set->nsources);
    if (env->scores)
        score_gauges(&o, env->scores);
    size_t sl;
    char *st = stages_metrics(set, &sl);
    outf(&o, "%.*s", (int)sl, st ? st : "");
    free(st);
    http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", o.p, o.len);
    free(o.p);
}

/* ---- GET /v1/sources ---- */

static json_t *time_or_null(int64_t ms)
{
    if (!ms)
        return json_null();
    char buf[32];
    util_format_time(ms, buf, sizeof buf);
    return json_string(buf);
}

void sources_handle(struct metrics *m, struct http_req *req)
{
    struct source_set *set = m->env.sources;
    int64_t now = util_now_ms();
    json_t *list = json_array();
    size_t ns;
    const struct outbox_source_stats *ss = outbox_stats(*m->env.outbox, &ns);
    for (size_t i = 0; i < set->nsources; i++) {
        struct kanal_source *s = set->sources[i];
        source_check_silence(s, now);
        int64_t since = s->last_event_ms ? s->last_event_ms : s->started_ms;
        int healthy = s->healthy && !s->silent_reported;
        const char *reason = !s->healthy          ? s->health_reason
                             : s->silent_reported ? "no traffic within expect_traffic_within"
                                                  : NULL;
        json_t *o =
            json_pack("{s:s,s:s,s:s,s:b,s:o,s:o,s:o,s:I,s:I,s:I,s:I,s:I}", "name", s->sc.name,
                      "plugin", s->plugin->name, "state", "running", "healthy", healthy, "reason",
                      reason ? json_string(reason) : json_null(), "started_at",
                      time_or_null(s->started_ms), "last_event_at", time_or_null(s->last_event_ms),
                      "silent_for", (json_int_t)((now - since) / 1000), "records",
                      (json_int_t)s->records, "duplicates", (json_int_t)s->duplicates, "errors",
                      (json_int_t)s->emit_errors, "requests", (json_int_t)s->requests);
        json_object_set_new(o, "last_error",
                            s->last_error ? json_string(s->last_error) : json_null());
        if (s->lag >= 0)
            json_object_set_new(o, "lag_records", json_integer((json_int_t)s->lag));
        json_object_set_new(o, "expect_traffic_within",
                            s->sc.expect_traffic_within_ms
                                ? json_integer(s->sc.expect_traffic_within_ms / 1000)
                                : json_null());
        for (size_t j = 0; j < ns; j++)
            if (strcmp(ss[j].source, s->sc.name) == 0)
                json_object_set_new(
                    o, "sends",
                    json_pack("{s:I,s:I,s:I,s:I}", "attempts", (json_int_t)ss[j].attempts, "sent",
                              (json_int_t)ss[j].sent, "retried", (json_int_t)ss[j].retried,
                              "failed", (json_int_t)ss[j].failed));
        json_array_append_new(list, o);
    }
    json_t *body = json_pack("{s:o}", "sources", list);
    api_respond_json(req, 200, body);
}
