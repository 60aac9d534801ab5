/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration loading.  inih reads the file; everything else here is
 * checking: unknown keys and sections are errors (a typo must never fall back
 * to a default), each plugin's option table is applied to its sections, and
 * secrets are resolved so that a missing file or variable is found by
 * --check-config, not at the first webhook.
 *
 * This file is the option tables of every section (tools/mankeys.py and
 * the docs' tests read them here), the checks of [kanald], [api] and
 * [audience NAME], and the load as a whole.  config_ini.c reads the file
 * (sections, keys, values, the error list); config_sections.c builds the
 * [source], [processor] and [sink] sections; config_secrets.c checks
 * secrets' files and kanald's own NATS connections.  config_int.h is what
 * they share. */
#include "config_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "audience.h"
#include "loader.h"
#include "log.h"
#include "netaddr.h"
#include "secret.h"
#include "util.h"

#ifndef KANAL_PLUGIN_DIR
#define KANAL_PLUGIN_DIR "/usr/lib/kanal/plugins"
#endif

const struct kanal_option config_common_options[] = {
    {"plugin", KANAL_OPT_STRING, NULL, 1, "name of the channel plugin serving this source", NULL},
    {"public_url", KANAL_OPT_URL, NULL, 0,
     "URL under which providers reach this source's webhook (behind the TLS front)", NULL},
    {"keep_raw", KANAL_OPT_BOOL, "no", 0, "store each provider payload in the record's raw field",
     NULL},
    {"default_country", KANAL_OPT_STRING, NULL, 0,
     "ISO 3166 country for national phone numbers, e.g. TR", NULL},
    {"expect_traffic_within", KANAL_OPT_DURATION, "0", 0,
     "report the source unhealthy after this long without traffic (0: never)", NULL},
    {"send_concurrency", KANAL_OPT_INT, "4", 0,
     "outbound messages of this source in flight at once", NULL},
    {"send_rate", KANAL_OPT_INT, "0", 0, "outbound messages per second at most (0: no limit)",
     NULL},
    {"send_max_attempts", KANAL_OPT_INT, "10", 0, "tries before an outbound message fails", NULL},
    {"send_max_age", KANAL_OPT_DURATION, "24h", 0,
     "how long an outbound message may wait before it fails", NULL},
    {"insecure_inline_secrets", KANAL_OPT_BOOL, "no", 0,
     "allow secrets written inline in this file (development only)", NULL},
    {"trust", KANAL_OPT_ENUM, "auto", 0,
     "what this source's customer parties prove: auto (the plugin's marks), asserted, verified",
     "auto|asserted|verified"},
    {"ack", KANAL_OPT_ENUM, NULL, 0,
     "local: answer once committed here; cluster: also wait for ack_sink's acknowledgement "
     "(unset: cluster when a [sink] has ack = cluster)",
     "local|cluster"},
    {"ack_sink", KANAL_OPT_STRING, NULL, 0,
     "the [sink NAME] that ack = cluster waits for (unset: the sink with ack = cluster, or the "
     "only sink)",
     NULL},
    {"ack_timeout", KANAL_OPT_DURATION, NULL, 0,
     "how long an answer waits for the sink; then 503 + Retry-After (unset: the sink's)", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

/* ---- [kanald] and [api] ---- */

static const struct kanal_option kanald_options[] = {
    {"listen", KANAL_OPT_STRING, "127.0.0.1:8470", 0, "address:port for webhooks, API, metrics",
     NULL},
    {"store", KANAL_OPT_STRING, "/var/lib/kanal", 0, "directory of the LMDB store", NULL},
    {"plugin_dir", KANAL_OPT_STRING, KANAL_PLUGIN_DIR, 0, "where the plugins' .so files are", NULL},
    {"sync", KANAL_OPT_ENUM, "full", 0, "how commits reach the disk", "full|meta|none"},
    {"max_body", KANAL_OPT_SIZE, "1M", 0, "largest request body (413 above)", NULL},
    {"max_header", KANAL_OPT_SIZE, "16K", 0, "largest request head (431 above)", NULL},
    {"max_connections", KANAL_OPT_INT, "1024", 0, "open HTTP connections (503 above)", NULL},
    {"header_timeout", KANAL_OPT_DURATION, "10s", 0, "time to send a request's head", NULL},
    {"request_timeout", KANAL_OPT_DURATION, "30s", 0, "time to send a whole request", NULL},
    {"idle_timeout", KANAL_OPT_DURATION, "60s", 0, "keep-alive time between requests", NULL},
    {"shutdown_timeout", KANAL_OPT_DURATION, "10s", 0, "how long stopping waits for work in flight",
     NULL},
    {"log_level", KANAL_OPT_ENUM, "info", 0, "least important level logged",
     "error|warning|notice|info|debug"},
    {"identity", KANAL_OPT_BOOL, "yes", 0, "resolve the people behind records to contacts", NULL},
    {"public_url", KANAL_OPT_URL, NULL, 0,
     "base URL under which kanald is reachable (tracking links)", NULL},
    {"link_rate", KANAL_OPT_INT, "10", 0, "hits of one link token recorded per minute", NULL},
    {"link_rate_client", KANAL_OPT_INT, "60", 0,
     "hits of /t/ and /u/ links recorded per client address per minute", NULL},
    {"link_rate_table", KANAL_OPT_INT, "10000", 0,
     "tokens and addresses the link rate limiter tracks at once", NULL},
    {"link_field_max", KANAL_OPT_SIZE, "256", 0,
     "bytes of a click's User-Agent and Referer that are stored", NULL},
    {"link_bot_window", KANAL_OPT_DURATION, "10s", 0,
     "a click this soon after its link was sent or made is flagged suspected_bot", NULL},
    {"max_unread_answers", KANAL_OPT_SIZE, "1M", 0,
     "answer bytes a client has not read before kanald stops reading its requests", NULL},
    {"max_pipeline", KANAL_OPT_INT, "32", 0, "requests a connection may have unanswered", NULL},
    {"max_connections_per_ip", KANAL_OPT_INT, "128", 0,
     "open HTTP connections from one client address (503 above)", NULL},
    {"trusted_proxies", KANAL_OPT_STRING, NULL, 0,
     "addresses/CIDRs of fronts whose X-Forwarded-For names the client", NULL},
    {"max_merge_candidates", KANAL_OPT_INT, "10000", 0,
     "open merge candidates kept (asserted evidence naming two contacts)", NULL},
    {"unknown_raw_max", KANAL_OPT_SIZE, "1M", 0,
     "bytes of a plugin's raw payload kanald keeps in an unknown record it must bound", NULL},
    {"score_interval", KANAL_OPT_DURATION, "15m", 0,
     "how often the scores of every audience are computed again (0: only on demand)", NULL},
    {"score_max_audiences", KANAL_OPT_INT, "200", 0,
     "audiences one scoring run computes at most (all and [audience NAME] first)", NULL},
    {"score_half_life", KANAL_OPT_DURATION, "30d", 0,
     "age at which an interaction weighs half as much in the scores (0: no decay)", NULL},
    {"score_event_window", KANAL_OPT_DURATION, "7d", 0,
     "an event's audience takes what its participants did this long before and after it", NULL},
    /* The scores' thresholds (docs/scores.md); score_params_default()
     * has the same defaults. */
    {"score_unanswered_after", KANAL_OPT_DURATION, "24h", 0,
     "a negative or complaint record unanswered this long puts its contact at risk", NULL},
    {"score_risk_window", KANAL_OPT_DURATION, "30d", 0,
     "how recent a negative or complaint record must be to count for risk", NULL},
    {"score_risk_min", KANAL_OPT_INT, "1", 0, "unanswered records that make a contact at_risk",
     NULL},
    {"score_advocate_min", KANAL_OPT_INT, "3", 0,
     "positive mentions plus helpful replies that make an advocate", NULL},
    {"score_advocate_max_negative", KANAL_OPT_INT, "20", 0,
     "percent of its rated records an advocate may have negative or complaining", NULL},
    {"score_key_influence", KANAL_OPT_INT, "200", 0,
     "influence, in percent of the audience's average, that makes a contact key", NULL},
    {"score_critic_min", KANAL_OPT_INT, "2", 0,
     "negative or complaint records that, with score_critic_share, make a critic", NULL},
    {"score_critic_share", KANAL_OPT_INT, "50", 0,
     "percent of its rated records negative or complaining that makes a critic", NULL},
    {"score_polarized_cross", KANAL_OPT_INT, "10", 0,
     "percent of the two camps' weight between them at most for a polarized audience", NULL},
    {"score_polarized_sentiment", KANAL_OPT_INT, "20", 0,
     "mean sentiment, in percent, a community needs at least (either way) to be a camp", NULL},
    {"score_cohesive_star", KANAL_OPT_INT, "60", 0,
     "percent of the connected customers next to one of them that makes an audience cohesive",
     NULL},
    {"score_cohesive_brand", KANAL_OPT_INT, "80", 0,
     "percent of the edge weight to or from the brand that makes an audience cohesive", NULL},
    {"score_polarized_camps", KANAL_OPT_INT, "50", 0,
     "percent of the customers in communities that the two camps must hold to be polarized",
     NULL},
    {"score_critic_echoes", KANAL_OPT_INT, "2", 0,
     "records of others taking up a contact's complaints that make it a critic", NULL},
    {"outbox_cluster", KANAL_OPT_ENUM, "off", 0,
     "in a cluster: core hands sends to the outbox stream, edge takes them from it",
     "off|core|edge"},
    {"outbox_servers", KANAL_OPT_STRING, "nats://127.0.0.1:4222", 0,
     "NATS servers of the outbox stream, comma-separated", NULL},
    {"outbox_stream", KANAL_OPT_STRING, "KANAL_OUTBOX", 0,
     "the JetStream work-queue stream of messages to send", NULL},
    {"outbox_subject", KANAL_OPT_STRING, "kanal.outbox", 0,
     "messages go to <outbox_subject>.<source>", NULL},
    {"outbox_durable", KANAL_OPT_STRING, "kanal-edges", 0,
     "the durable consumer all edge nodes share", NULL},
    {"outbox_ack_wait", KANAL_OPT_DURATION, "60s", 0,
     "time an edge has to send a message before the stream gives it to another", NULL},
    {"outbox_creds", KANAL_OPT_STRING, NULL, 0,
     "path of a NATS .creds file (user JWT and seed) for the outbox stream", NULL},
    {"outbox_nkey", KANAL_OPT_SECRET, NULL, 0, "NKey seed (SU...) for the outbox stream", NULL},
    {"outbox_nkey_public", KANAL_OPT_STRING, NULL, 0, "the public key (U...) of outbox_nkey",
     NULL},
    {"outbox_user", KANAL_OPT_STRING, NULL, 0, "user name for the outbox stream's servers", NULL},
    {"outbox_password", KANAL_OPT_SECRET, NULL, 0, "password of outbox_user", NULL},
    {"outbox_tls_ca", KANAL_OPT_STRING, NULL, 0,
     "CA bundle that verifies the outbox stream's servers (tls:// URLs)", NULL},
    {"state_cluster", KANAL_OPT_ENUM, "off", 0,
     "core: the API's state changes go through the records stream, every core applies them",
     "off|core"},
    {"state_servers", KANAL_OPT_STRING, "nats://127.0.0.1:4222", 0,
     "NATS servers of the records stream, for state changes, comma-separated", NULL},
    {"state_stream", KANAL_OPT_STRING, "KANAL", 0, "the records stream state changes go to",
     NULL},
    {"state_subject", KANAL_OPT_STRING, "kanal.records.kanal.state", 0,
     "their subject: <subject_prefix>.kanal.state of the cores' nats source", NULL},
    {"state_creds", KANAL_OPT_STRING, NULL, 0,
     "path of a NATS .creds file (user JWT and seed) for state_servers", NULL},
    {"state_nkey", KANAL_OPT_SECRET, NULL, 0, "NKey seed (SU...) for state_servers", NULL},
    {"state_nkey_public", KANAL_OPT_STRING, NULL, 0, "the public key (U...) of state_nkey", NULL},
    {"state_user", KANAL_OPT_STRING, NULL, 0, "user name for state_servers", NULL},
    {"state_password", KANAL_OPT_SECRET, NULL, 0, "password of state_user", NULL},
    {"state_tls_ca", KANAL_OPT_STRING, NULL, 0,
     "CA bundle that verifies state_servers (tls:// URLs)", NULL},
    {"link_cluster_queue", KANAL_OPT_INT, "256", 0,
     "state_cluster = core: clicks and opt-outs held waiting for the stream at most", NULL},
    {"score_nice", KANAL_OPT_INT, "19", 0,
     "nice value the scoring thread adds to kanald's own (0-19): ingest goes first", NULL},
    {"score_share", KANAL_OPT_INT, "25", 0,
     "percent of the time a scoring run works while ingest goes on (100: no pauses)", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_option api_options[] = {
    {"tokens", KANAL_OPT_STRING, NULL, 0, "file of 'name scope secret' lines", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

/* Check a fixed section against its table; values[i] follows the table. */
static void check_fixed(const struct raw_section *s, const struct kanal_option *table,
                        const char *path, struct config_errors *errs, const char *values[],
                        int64_t nums[])
{
    check_duplicates(s, path, errs);
    for (size_t i = 0; i < s->nkv; i++) {
        const struct kanal_option *o = table;
        while (o->name && strcmp(o->name, s->kv[i].key) != 0)
            o++;
        if (!o->name)
            add_error(errs, path, s->kv[i].line, "unknown key '%s' in [%s]", s->kv[i].key, s->name);
    }
    for (size_t i = 0; table[i].name; i++) {
        const struct raw_kv *kv = raw_get(s, table[i].name);
        values[i] = kv ? kv->value : table[i].default_value;
        if (!values[i])
            continue;
        const char *why = "";
        if (parse_value(&table[i], values[i], &nums[i], &why) < 0)
            add_error(errs, path, kv ? kv->line : s->line, "'%s' = '%s': %s", table[i].name,
                      values[i], why);
    }
}

static int parse_listen(const char *text, char **host, int *port)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text)
        return -EINVAL;
    int64_t p;
    if (util_parse_int(colon + 1, &p) < 0 || p < 0 || p > 65535)
        return -EINVAL;
    size_t hl = (size_t)(colon - text);
    if (text[0] == '[' && colon[-1] == ']') {
        text++;
        hl -= 2;
    }
    *host = xmalloc(hl + 1);
    memcpy(*host, text, hl);
    (*host)[hl] = '\0';
    *port = (int)p;
    return 0;
}

/* The score_* keys into cfg->score, each within its bounds. */
static void apply_score_keys(struct config *cfg, const struct raw_section *s, const char *path,
                             struct config_errors *errs, const int64_t *n)
{
    static const struct {
        const char *name;
        int64_t min, max;
        size_t at; /* offset in struct score_params */
    } keys[] = {
        {"score_unanswered_after", 1, INT64_MAX, offsetof(struct score_params, unanswered_ms)},
        {"score_risk_window", 1, INT64_MAX, offsetof(struct score_params, risk_window_ms)},
        {"score_risk_min", 1, 1000000, offsetof(struct score_params, risk_min)},
        {"score_advocate_min", 1, 1000000, offsetof(struct score_params, advocate_min)},
        {"score_advocate_max_negative", 0, 100,
         offsetof(struct score_params, advocate_max_negative)},
        {"score_key_influence", 1, 1000000, offsetof(struct score_params, key_influence)},
        {"score_critic_min", 1, 1000000, offsetof(struct score_params, critic_min)},
        {"score_critic_share", 0, 100, offsetof(struct score_params, critic_share)},
        {"score_polarized_cross", 0, 100, offsetof(struct score_params, polarized_cross)},
        {"score_polarized_sentiment", 1, 100,
         offsetof(struct score_params, polarized_sentiment)},
        {"score_cohesive_star", 1, 100, offsetof(struct score_params, cohesive_star)},
        {"score_cohesive_brand", 1, 100, offsetof(struct score_params, cohesive_brand)},
        {"score_polarized_camps", 0, 100, offsetof(struct score_params, polarized_camps)},
        {"score_critic_echoes", 1, 1000000, offsetof(struct score_params, critic_echoes)},
    };
    score_params_default(&cfg->score);
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        int64_t v = n[kanald_index(keys[i].name)];
        if (v < keys[i].min || v > keys[i].max) {
            const struct raw_kv *kv = raw_get(s, keys[i].name);
            if (keys[i].max == INT64_MAX)
                add_error(errs, path, kv ? kv->line : s->line, "'%s' must be longer than 0",
                          keys[i].name);
            else
                add_error(errs, path, kv ? kv->line : s->line, "'%s' must be %lld to %lld",
                          keys[i].name, (long long)keys[i].min, (long long)keys[i].max);
            continue;
        }
        memcpy((char *)&cfg->score + keys[i].at, &v, sizeof v);
    }
}

/* Where a key sits in the [kanald] table: apply_kanald() reads values by
 * name, so that keys can be added anywhere in the table. */
size_t kanald_index(const char *name)
{
    size_t i = 0;
    while (kanald_options[i].name && strcmp(kanald_options[i].name, name) != 0)
        i++;
    return i; /* a name missing from the table is a bug: it reads the NULL entry */
}

/* config_load_for_reader: a store reader (kanalctl) wants the [kanald]
 * values and the audiences, not the secrets kanald's user may read. Set for
 * one config_load on the calling thread only. */
_Thread_local int for_reader;

static void apply_kanald(struct config *cfg, const struct raw_section *s, const char *path,
                         struct config_errors *errs)
{
    static const struct raw_section empty = {.name = "kanald"};
    if (!s)
        s = &empty;
    const char *v[ARRAY_SIZE(kanald_options)] = {0};
    int64_t n[ARRAY_SIZE(kanald_options)] = {0};
    check_fixed(s, kanald_options, path, errs, v, n);
    if (parse_listen(v[K("listen")], &cfg->listen_host, &cfg->listen_port) < 0) {
        const struct raw_kv *kv = raw_get(s, "listen");
        add_error(errs, path, kv ? kv->line : s->line,
                  "'listen' = '%s': expected address:port, e.g. 127.0.0.1:8470", v[K("listen")]);
    }
    cfg->store = resolve_path(path, v[K("store")]);
    cfg->plugin_dir = resolve_path(path, v[K("plugin_dir")]);
    cfg->sync = strcmp(v[K("sync")], "meta") == 0   ? SYNC_META
                : strcmp(v[K("sync")], "none") == 0 ? SYNC_NONE
                                                    : SYNC_FULL;
    cfg->max_body = n[K("max_body")];
    cfg->max_header = n[K("max_header")];
    cfg->max_connections = n[K("max_connections")];
    cfg->header_timeout_ms = n[K("header_timeout")];
    cfg->request_timeout_ms = n[K("request_timeout")];
    cfg->idle_timeout_ms = n[K("idle_timeout")];
    cfg->shutdown_timeout_ms = n[K("shutdown_timeout")];
    int level = log_level_parse(v[K("log_level")]);
    cfg->log_level = level < 0 ? KANAL_LOG_INFO : level;
    cfg->identity = (int)n[K("identity")];
    if (v[K("public_url")]) {
        cfg->public_url = xstrdup(v[K("public_url")]);
        size_t ul = strlen(cfg->public_url);
        while (ul > 0 && cfg->public_url[ul - 1] == '/')
            cfg->public_url[--ul] = '\0';
    }
    cfg->max_merge_candidates = n[K("max_merge_candidates")];
    if (cfg->max_merge_candidates < 0) {
        const struct raw_kv *kv = raw_get(s, "max_merge_candidates");
        add_error(errs, path, kv ? kv->line : s->line, "'max_merge_candidates' must be at least 0");
    }
    if (cfg->max_connections < 1) {
        const struct raw_kv *kv = raw_get(s, "max_connections");
        add_error(errs, path, kv ? kv->line : s->line, "'max_connections' must be at least 1");
    }
    cfg->link_rate = n[K("link_rate")];
    cfg->link_rate_client = n[K("link_rate_client")];
    cfg->link_rate_table = n[K("link_rate_table")];
    cfg->link_field_max = n[K("link_field_max")];
    cfg->link_bot_window_ms = n[K("link_bot_window")];
    cfg->unknown_raw_max = n[K("unknown_raw_max")];
    if (cfg->unknown_raw_max < 64) {
        const struct raw_kv *kv = raw_get(s, "unknown_raw_max");
        add_error(errs, path, kv ? kv->line : s->line, "'unknown_raw_max' must be at least 64");
    }
    /* The limiter's table is allocated whole: keep it to a few hundred MB. */
    static const struct {
        const char *name;
        int64_t min, max;
    } link_bounds[] = {{"link_rate", 1, 1000000},
                       {"link_rate_client", 1, 1000000},
                       {"link_rate_table", 16, 10000000},
                       {"link_field_max", 16, 8192}};
    const int64_t link_vals[] = {cfg->link_rate, cfg->link_rate_client, cfg->link_rate_table,
                                 cfg->link_field_max};
    for (size_t i = 0; i < ARRAY_SIZE(link_bounds); i++)
        if (link_vals[i] < link_bounds[i].min || link_vals[i] > link_bounds[i].max) {
            const struct raw_kv *kv = raw_get(s, link_bounds[i].name);
            add_error(errs, path, kv ? kv->line : s->line, "'%s' must be %lld to %lld",
                      link_bounds[i].name, (long long)link_bounds[i].min,
                      (long long)link_bounds[i].max);
        }
    cfg->link_cluster_queue = n[K("link_cluster_queue")];
    if (cfg->link_cluster_queue < 1 || cfg->link_cluster_queue > 1000000) {
        const struct raw_kv *kv = raw_get(s, "link_cluster_queue");
        add_error(errs, path, kv ? kv->line : s->line, "'link_cluster_queue' must be 1 to 1000000");
    }
    cfg->score_nice = n[K("score_nice")];
    if (cfg->score_nice < 0 || cfg->score_nice > 19) {
        const struct raw_kv *kv = raw_get(s, "score_nice");
        add_error(errs, path, kv ? kv->line : s->line,
                  "'score_nice' must be 0 to 19 (added to kanald's own nice value)");
    }
    cfg->score_share = n[K("score_share")];
    if (cfg->score_share < 1 || cfg->score_share > 100) {
        const struct raw_kv *kv = raw_get(s, "score_share");
        add_error(errs, path, kv ? kv->line : s->line,
                  "'score_share' must be 1 to 100 (percent of the time a run works while "
                  "ingest goes on)");
    }
    cfg->max_unread_answers = n[K("max_unread_answers")];
    cfg->max_pipeline = n[K("max_pipeline")];
    cfg->max_connections_per_ip = n[K("max_connections_per_ip")];
    static const char *const at_least_one[] = {"max_unread_answers", "max_pipeline",
                                               "max_connections_per_ip"};
    for (size_t i = 0; i < ARRAY_SIZE(at_least_one); i++) {
        if (n[K(at_least_one[i])] >= 1)
            continue;
        const struct raw_kv *kv = raw_get(s, at_least_one[i]);
        add_error(errs, path, kv ? kv->line : s->line, "'%s' must be at least 1", at_least_one[i]);
    }
    cfg->score_interval_ms = n[K("score_interval")];
    cfg->score_max_audiences = n[K("score_max_audiences")];
    cfg->score_half_life_ms = n[K("score_half_life")];
    cfg->score_event_window_ms = n[K("score_event_window")];
    if (cfg->score_max_audiences < 1 || cfg->score_max_audiences > 100000) {
        const struct raw_kv *kv = raw_get(s, "score_max_audiences");
        add_error(errs, path, kv ? kv->line : s->line, "'score_max_audiences' must be 1 to 100000");
    }
    if (v[K("trusted_proxies")]) {
        char bad[80];
        int np =
            net_cidr_list_parse(v[K("trusted_proxies")], &cfg->trusted_proxies, bad, sizeof bad);
        if (np < 0) {
            const struct raw_kv *kv = raw_get(s, "trusted_proxies");
            add_error(errs, path, kv ? kv->line : s->line,
                      "'trusted_proxies': '%s' is not an IPv4 or IPv6 address or CIDR block "
                      "(e.g. 127.0.0.1, 10.0.0.0/8, ::1)",
                      bad);
        } else {
            cfg->ntrusted_proxies = (size_t)np;
        }
    }
    apply_score_keys(cfg, s, path, errs, n);
    cfg->outbox_cluster = xstrdup(v[K("outbox_cluster")]);
    cfg->outbox_servers = xstrdup(v[K("outbox_servers")]);
    cfg->outbox_stream = xstrdup(v[K("outbox_stream")]);
    cfg->outbox_subject = xstrdup(v[K("outbox_subject")]);
    cfg->outbox_durable = xstrdup(v[K("outbox_durable")]);
    cfg->outbox_ack_wait_ms = n[K("outbox_ack_wait")];
    static const char *const names[] = {"outbox_stream", "outbox_subject", "outbox_durable"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        const char *val = v[K(names[i])];
        /* A name token (the stream, the durable) or subject tokens. */
        if (!*val || strpbrk(val, i == 1 ? " *>\t" : ". *>\t")) {
            const struct raw_kv *kv = raw_get(s, names[i]);
            add_error(errs, path, kv ? kv->line : s->line,
                      "'%s' = '%s': no blanks or wildcards%s", names[i], val,
                      i == 1 ? "" : ", and no '.'");
        }
    }
    /* Checked here, so that a core never starts without its way to the
     * edges (it would neither send nor hand on). */
    char *urls = xstrdup(cfg->outbox_servers);
    int nurls = 0;
    for (char *save = NULL, *t = strtok_r(urls, ", \t", &save); t;
         t = strtok_r(NULL, ", \t", &save), nurls++)
        if ((strncmp(t, "nats://", 7) && strncmp(t, "tls://", 6)) || !strchr(t, ':')[3]) {
            const struct raw_kv *kv = raw_get(s, "outbox_servers");
            add_error(errs, path, kv ? kv->line : s->line,
                      "'outbox_servers': '%s' is not a nats:// or tls:// URL", t);
            break;
        }
    free(urls);
    if (!nurls || nurls > 32) {
        const struct raw_kv *kv = raw_get(s, "outbox_servers");
        add_error(errs, path, kv ? kv->line : s->line, "'outbox_servers' wants 1 to 32 URLs");
    }
    if (cfg->outbox_ack_wait_ms < 1000) {
        const struct raw_kv *kv = raw_get(s, "outbox_ack_wait");
        add_error(errs, path, kv ? kv->line : s->line, "'outbox_ack_wait' must be at least 1s");
    }
    apply_nats_auth(s, path, errs, v, "outbox", &cfg->outbox_auth);
    apply_nats_auth(s, path, errs, v, "state", &cfg->state_auth);
    apply_state_keys(cfg, s, path, errs, v);
}

static void build_audience(struct config *cfg, const struct raw_section *s, const char *path,
                           struct config_errors *errs);

int config_load(const char *path, struct loader *loader, struct config **out,
                struct config_errors *errs)
{
    *out = NULL;
    struct raw_ini ri = {.path = path, .errs = errs};
    ri.f = fopen(path, "r");
    if (!ri.f) {
        add_error(errs, path, 0, "cannot open: %s", strerror(errno));
        return KANAL_ECONFIG;
    }
    ini_allow_multiline = true; /* indented lines continue a value */
    ini_stop_on_first_error = 0;
    int r = ini_parse_stream(counting_reader, &ri, on_ini_pair, &ri);
    fclose(ri.f);
    if (r > 0)
        add_error(errs, path, r, "syntax error: expected [section] or key = value");

    struct config *cfg = xcalloc(1, sizeof *cfg);
    cfg->path = xstrdup(path);
    const struct raw_section *kanald = NULL, *api = NULL;
    for (size_t i = 0; i < ri.nsec; i++) {
        const struct raw_section *s = &ri.sec[i];
        if (strcmp(s->name, "kanald") == 0 || strcmp(s->name, "api") == 0) {
            const struct raw_section **slot = s->name[0] == 'k' ? &kanald : &api;
            if (*slot)
                add_error(errs, path, s->line, "[%s] appears twice (first on line %d)", s->name,
                          (*slot)->line);
            else
                *slot = s;
        } else if (strcmp(s->name, "") == 0) {
            add_error(errs, path, s->kv ? s->kv[0].line : s->line, "key '%s' outside any section",
                      s->kv ? s->kv[0].key : "");
        } else if (strncmp(s->name, "audience ", 9) == 0) {
            build_audience(cfg, s, path, errs);
        } else if (strncmp(s->name, "source ", 7) != 0 && !stage_role(s->name)) {
            add_error(errs, path, s->line,
                      "unknown section [%s]; expected [kanald], [api], [source NAME], "
                      "[processor NAME], [sink NAME] or [audience NAME]",
                      s->name);
        }
    }
    apply_kanald(cfg, kanald, path, errs);
    if (api && !for_reader) {
        const char *v[ARRAY_SIZE(api_options)] = {0};
        int64_t n[ARRAY_SIZE(api_options)] = {0};
        check_fixed(api, api_options, path, errs, v, n);
        if (v[0]) {
            cfg->api_tokens = resolve_path(path, v[0]);
            errs->api_tokens = xstrdup(cfg->api_tokens);
        }
    }

    int have_sources = 0;
    for (size_t i = 0; i < ri.nsec; i++)
        if (strncmp(ri.sec[i].name, "source ", 7) == 0 || stage_role(ri.sec[i].name))
            have_sources = 1;
    if (have_sources && !for_reader) {
        int nmods = loader_scan(loader, cfg->plugin_dir);
        if (nmods < 0)
            add_error(errs, path, kanald ? kanald->line : 1, "cannot read plugin_dir %s: %s",
                      cfg->plugin_dir, strerror(-nmods));
        else
            for (size_t i = 0; i < ri.nsec; i++)
                if (strncmp(ri.sec[i].name, "source ", 7) == 0) {
                    const char *name = ri.sec[i].name + 7;
                    while (*name == ' ')
                        name++;
                    build_source(cfg, &ri.sec[i], name, loader, path, errs);
                } else if (stage_role(ri.sec[i].name)) {
                    build_stage(cfg, &ri.sec[i], loader, path, errs);
                }
        resolve_acks(cfg, path, errs);
    }
    raw_free(&ri);
    if (errs->n) {
        config_free(cfg);
        return KANAL_ECONFIG;
    }
    *out = cfg;
    return 0;
}

int config_load_for_reader(const char *path, struct config **out, struct config_errors *errs)
{
    for_reader = 1;
    int rc = config_load(path, NULL, out, errs);
    for_reader = 0;
    return rc;
}

static void source_config_clear(struct source_config *sc)
{
    for (size_t i = 0; i < sc->nvalues; i++) {
        if (sc->values[i].text && sc->values[i].spec->type == KANAL_OPT_SECRET)
            secret_wipe(sc->values[i].text);
        free(sc->values[i].text);
    }
    free(sc->values);
    free(sc->name);
    free(sc->ack_sink);
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nsources; i++)
        source_config_clear(&cfg->sources[i]);
    free(cfg->sources);
    for (size_t i = 0; i < cfg->nprocessors; i++)
        source_config_clear(&cfg->processors[i]);
    free(cfg->processors);
    for (size_t i = 0; i < cfg->nsinks; i++)
        source_config_clear(&cfg->sinks[i]);
    free(cfg->sinks);
    free(cfg->trusted_proxies);
    free(cfg->path);
    free(cfg->listen_host);
    free(cfg->store);
    free(cfg->plugin_dir);
    free(cfg->api_tokens);
    free(cfg->public_url);
    free(cfg->outbox_cluster);
    free(cfg->state_cluster);
    free(cfg->state_servers);
    free(cfg->state_stream);
    free(cfg->state_subject);
    free(cfg->outbox_servers);
    free(cfg->outbox_stream);
    free(cfg->outbox_subject);
    free(cfg->outbox_durable);
    free_nats_auth(&cfg->outbox_auth);
    free_nats_auth(&cfg->state_auth);
    for (size_t i = 0; i < cfg->naudiences; i++) {
        free(cfg->audiences[i].name);
        free(cfg->audiences[i].match);
    }
    free(cfg->audiences);
    free(cfg);
}

/* ---- pipeline stages: [processor NAME] and [sink NAME] ---- */

const struct kanal_option config_processor_options[] = {
    {"plugin", KANAL_OPT_STRING, NULL, 1, "name of the plugin serving this processor", NULL},
    {"match", KANAL_OPT_STRING, NULL, 0,
     "which records it sees, e.g. 'source:wa-main channel:email kind:message,comment' "
     "(unset: all)",
     NULL},
    {"budget", KANAL_OPT_DURATION, "5ms", 0,
     "time one record may take; an overrun keeps the record without the annotation", NULL},
    {"insecure_inline_secrets", KANAL_OPT_BOOL, "no", 0,
     "allow secrets written inline in this file (development only)", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

const struct kanal_option config_sink_options[] = {
    {"plugin", KANAL_OPT_STRING, NULL, 1, "name of the plugin serving this sink", NULL},
    {"batch_max", KANAL_OPT_INT, "100", 0, "records per delivery at most", NULL},
    {"max_inflight", KANAL_OPT_INT, "1000", 0,
     "records delivered but not yet acknowledged, at most", NULL},
    {"max_lag", KANAL_OPT_DURATION, "1h", 0,
     "/healthz is degraded while the oldest unacknowledged record is older", NULL},
    {"insecure_inline_secrets", KANAL_OPT_BOOL, "no", 0,
     "allow secrets written inline in this file (development only)", NULL},
    {"ack", KANAL_OPT_ENUM, "local", 0,
     "cluster: every source's answer waits until this sink has acknowledged its records (a "
     "source may say ack = local)",
     "local|cluster"},
    {"ack_timeout", KANAL_OPT_DURATION, "5s", 0,
     "how long an answer waits for this sink's acknowledgement; then 503 + Retry-After (the "
     "records stay committed and are delivered later)",
     NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

/* ---- [audience NAME]: the operator's audiences for scores ---- */

const struct kanal_option config_audience_options[] = {
    {"match", KANAL_OPT_STRING, NULL, 1,
     "which records belong: FIELD:VALUE[,VALUE...] words, all met, FIELD one of source, "
     "channel, kind, campaign, event, thread, within (a duration), e.g. "
     "'source:fb kind:comment within:90d'",
     NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static void build_audience(struct config *cfg, const struct raw_section *s, const char *path,
                           struct config_errors *errs)
{
    const char *name = s->name + 9;
    while (*name == ' ')
        name++;
    const char *v[ARRAY_SIZE(config_audience_options)] = {0};
    int64_t n[ARRAY_SIZE(config_audience_options)] = {0};
    check_fixed(s, config_audience_options, path, errs, v, n);
    if (!audience_name_ok(name)) {
        add_error(errs, path, s->line,
                  "[audience %s]: a name is 1-64 of A-Z a-z 0-9 _ . - and not 'all' (the "
                  "built-in audiences are all, source:, channel:, campaign:, event:, thread:)",
                  name);
        return;
    }
    for (size_t i = 0; i < cfg->naudiences; i++)
        if (strcmp(cfg->audiences[i].name, name) == 0) {
            add_error(errs, path, s->line, "[audience %s] appears twice (first on line %d)", name,
                      cfg->audiences[i].line);
            return;
        }
    const struct raw_kv *kv = raw_get(s, "match");
    if (!kv) {
        add_error(errs, path, s->line, "[audience %s]: 'match' is required", name);
        return;
    }
    const char *why = audience_match_check(kv->value);
    if (why) {
        add_error(errs, path, kv->line, "[audience %s]: 'match' = '%s': %s", name, kv->value, why);
        return;
    }
    cfg->audiences = xrealloc(cfg->audiences, (cfg->naudiences + 1) * sizeof *cfg->audiences);
    cfg->audiences[cfg->naudiences++] = (struct config_audience){
        .name = xstrdup(name), .line = s->line, .match = xstrdup(kv->value)};
}
