/* SPDX-License-Identifier: Apache-2.0 */
/* kanald's configuration: the INI file, checked before anything uses it. */
#ifndef KANAL_CONFIG_H
#define KANAL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <kanal/plugin.h>

#include "store.h" /* enum sync_mode */
#include "value.h" /* struct score_params */

struct loader;
struct net_cidr;
struct plugin_module;

/* Problems found while loading, each "file:line: message": errors (the
 * file is refused) and warnings ("file:line: warning: message"). */
struct config_errors {
    char **lines;
    size_t n;
    char **warnings;
    size_t nwarnings;
    /* [api] tokens' path, known even when the file has errors, so that
     * --check-config checks the tokens file as well. */
    char *api_tokens;
};

/* One option's value in a source section, after defaults and secrets. */
struct option_value {
    const struct kanal_option *spec;
    char *text;    /* resolved text (secret contents for SECRET), or NULL */
    int64_t num;   /* INT, BOOL, DURATION (ms), SIZE (bytes) */
    int set;       /* 1 when text is not NULL */
    int line;      /* where it was set, 0 for defaults */
};

struct source_config {
    char *name;
    int line;
    const struct plugin_module *module;
    struct option_value *values; /* common options, then the plugin's */
    size_t nvalues;
    /* Common options, also found in values. */
    const char *public_url;
    const char *default_country;
    int keep_raw;
    int64_t expect_traffic_within_ms;
    int64_t send_concurrency, send_rate, send_max_attempts, send_max_age_ms;
    int trust; /* enum record_trust */
    /* Pipeline stages ([processor NAME], [sink NAME]); also found in values. */
    int role; /* STAGE_SOURCE, STAGE_PROCESSOR or STAGE_SINK */
    const char *match;
    int64_t budget_ms;
    int64_t batch_max, max_inflight, max_lag_ms;
    /* ack = cluster.  A source: the [sink NAME] whose acknowledgement its
     * answers wait for (NULL: answer on the local commit; an owned copy),
     * and how long; resolved from both sections by config_load.  A sink:
     * ack = cluster. */
    char *ack_sink;
    int64_t ack_timeout_ms;
    int ack_cluster;
};

/* An [audience NAME] section: an audience of records for scores
 * (daemon/score/audience.h). */
struct config_audience {
    char *name;
    int line;
    char *match; /* checked by audience_match_check() */
};

/* How kanald authenticates to NATS servers of its own connections (one of
 * creds, nkey + nkey_public, user + password) and the CA that verifies
 * their TLS: the <prefix>_creds ... <prefix>_tls_ca keys of [kanald], the
 * secrets resolved, NULL when not set. */
struct config_nats_auth {
    char *creds, *nkey, *nkey_public, *user, *password, *tls_ca;
};

struct config {
    char *path;
    char *listen_host;
    int listen_port;
    char *store;
    char *plugin_dir;
    enum sync_mode sync;
    int64_t max_body;
    int64_t max_header;
    int64_t max_connections;
    int64_t header_timeout_ms;
    int64_t request_timeout_ms;
    int64_t idle_timeout_ms;
    int64_t shutdown_timeout_ms;
    int log_level;
    int identity;     /* resolve contacts at ingest */
    char *public_url; /* base for tracking links, without a trailing '/' */
    char *api_tokens; /* path, or NULL when [api] tokens is unset */
    struct source_config *sources;
    size_t nsources;
    /* /t/ and /u/ links: what an unauthenticated client can make kanald keep. */
    int64_t link_rate;          /* recorded hits per token per minute */
    int64_t link_rate_client;   /* recorded hits per client address per minute */
    int64_t link_rate_table;    /* entries of the rate limiter's table */
    int64_t link_field_max;     /* bytes of User-Agent / Referer stored */
    int64_t link_bot_window_ms; /* a click sooner after the send is suspected_bot */
    int64_t max_unread_answers;     /* per connection, then kanald stops reading it */
    int64_t max_pipeline;           /* unanswered requests per connection */
    int64_t max_connections_per_ip; /* per client address */
    struct net_cidr *trusted_proxies; /* fronts whose X-Forwarded-For counts */
    size_t ntrusted_proxies;
    int64_t max_merge_candidates; /* open merge candidates kept at most */
    int64_t unknown_raw_max;    /* bytes of an unknown record's raw the host bounds */
    /* Pipeline stages, in the order of their sections. */
    struct source_config *processors;
    size_t nprocessors;
    struct source_config *sinks;
    size_t nsinks;
    /* [audience NAME] sections, in the order of the file. */
    struct config_audience *audiences;
    size_t naudiences;
    /* Scores (daemon/score/, runtime/scores.h). */
    int64_t score_interval_ms;   /* 0: only on POST /v1/scores/refresh */
    int64_t score_max_audiences; /* audiences a run computes at most */
    int64_t score_half_life_ms;  /* 0: no decay */
    int64_t score_event_window_ms; /* an event's audience: its participants' records this near */
    /* The scores' thresholds, the score_* keys. */
    struct score_params score;
    /* The outbox in a cluster (outbox.h, docs/cluster.md): off|core|edge. */
    char *outbox_cluster, *outbox_servers, *outbox_stream, *outbox_subject, *outbox_durable;
    int64_t outbox_ack_wait_ms;
    /* How kanald authenticates to the outbox stream's servers: the
     * outbox_creds ... outbox_tls_ca keys. */
    struct config_nats_auth outbox_auth;
    /* A core's state changes through the records stream (statecmd.h,
     * docs/cluster.md): off|core. */
    char *state_cluster, *state_servers, *state_stream, *state_subject;
    struct config_nats_auth state_auth; /* the state_creds ... state_tls_ca keys */
    /* A core's clicks and opt-outs waiting for the stream, at most (links.c). */
    int64_t link_cluster_queue;
    /* The scoring thread's nice value, added to kanald's own (scores.c):
     * ingest goes first on a busy machine. */
    int64_t score_nice;
    /* Percent of the time a scoring run works while ingest goes on
     * (scores.c: pauses after each step of the work and each put). */
    int64_t score_share;
};

/* The options every source has, whatever its plugin. */
extern const struct kanal_option config_common_options[];

/* The options every processor / sink has, whatever its plugin. */
extern const struct kanal_option config_processor_options[];
extern const struct kanal_option config_sink_options[];
/* The keys of an [audience NAME] section. */
extern const struct kanal_option config_audience_options[];

/* Check a processor's match expression; NULL when fine, else why not. */
const char *config_match_check(const char *text);

/* Read and check path; plugins are loaded from the file's plugin_dir through
 * loader so that their option tables can be checked.  Returns 0 with *out
 * set, or KANAL_ECONFIG with errs filled (and *out NULL). */
int config_load(const char *path, struct loader *loader, struct config **out,
                struct config_errors *errs);
/* What a store reader (kanalctl) takes from kanald's file: [kanald] and
 * the [audience NAME] sections, checked as kanald checks them, without
 * loading plugins, reading the sources' sections or resolving secrets (a
 * reader's user need not read them).  Not thread-safe. */
int config_load_for_reader(const char *path, struct config **out, struct config_errors *errs);
void config_free(struct config *cfg);
void config_errors_free(struct config_errors *errs);
/* Add an error / a warning at path:line. */
void config_error_add(struct config_errors *errs, const char *path, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void config_warning_add(struct config_errors *errs, const char *path, int line, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

struct secret_user;
/* --check-config --user NAME: also check that u can read secret files and
 * the tokens file (NULL: do not). */
void config_set_service_user(const struct secret_user *u);
/* Check a secret file (what names it, e.g. "secret 'app_secret'") set at
 * path:line: a warning when others may read it; an error when the service
 * user cannot (kind SECRET_FILE, or 0 for a file that is no secret
 * reference; SECRET_CRED files are read by systemd, as root). */
void config_check_secret_file(struct config_errors *errs, const char *path, int line,
                              const char *what, const char *file, int kind);

const struct option_value *source_config_value(const struct source_config *sc, const char *name);
/* 1 when both sections would configure a source identically. */
int source_config_equal(const struct source_config *a, const struct source_config *b);
const struct source_config *config_find_source(const struct config *cfg, const char *name);
/* The [processor NAME] or [sink NAME] section of that name, or NULL. */
const struct source_config *config_find_stage(const struct config *cfg, int role, const char *name);

#endif
