/* SPDX-License-Identifier: Apache-2.0 */
/* kanald: start-up, reload and shutdown.  The daemon's state lives in the
 * one struct daemon below; main.c fills each module's narrow context from it
 * (the source set, the host environment, the metrics, the signals) and wires
 * the modules' hooks together. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "contacts_api.h"
#include "statecmd.h"
#include "config.h"
#include "error.h"
#include "feed.h"
#include "loader.h"
#include "host.h"
#include "http.h"
#include "jarena.h"
#include "links.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "outbox.h"
#include "outbox_api.h"
#include "router.h"
#include "signals.h"
#include "routes.h"
#include "scores.h"
#include "pluginhelp.h"
#include "secret.h"
#include "source.h"
#include "store.h"
#include "transfer.h"
#include "util.h"
#include "writer.h"
#include "stages.h"

/* kanald's state: the composition root's.  Each module is handed the
 * narrow context it needs (filled below), never this. */
struct http_server;
struct http_req;
struct api_tokens;

struct daemon {
    uv_loop_t *loop;
    const char *config_path;
    struct config *cfg;
    struct loader loader;
    struct store store;
    struct writer writer;
    int writer_running;
    struct http_server *http;
    struct api_tokens *tokens;
    struct transfer_engine *transfers;
    struct outbox *outbox;
    struct metrics *metrics;
    uv_timer_t drain_timer;
    int http_closed;
    uv_timer_t reader_check, watchdog, shutdown_timer, health_timer;
    uint64_t watchdog_usec;
    int stopping;
    int exit_code;
    int64_t started_ms;
    struct links *links; /* main.c's links context: /metrics shows its counters (links.h) */
    /* The running sources and stages (ROUTE_SOURCES's context), what the
     * host API reaches, and the signals' handles. */
    struct source_set srcs;
    struct host_env host;
    struct signals signals;
};

#ifndef KANAL_VERSION
#define KANAL_VERSION "0.1.0"
#endif
#ifndef KANAL_SYSCONFDIR
#define KANAL_SYSCONFDIR "/etc/kanal"
#endif

#define READER_CHECK_MS 60000
#define HEALTH_CHECK_MS 1000

/* A [kanald] <prefix>_creds ... <prefix>_tls_ca set as kanald's NATS
 * connections take it. */
static struct natsconn_auth nats_auth(const struct config_nats_auth *a)
{
    return (struct natsconn_auth){a->creds, a->nkey, a->nkey_public, a->user, a->password,
                                  a->tls_ca};
}

static struct daemon the_daemon;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: kanald [OPTIONS]\n"
            "Social-CRM channel integration daemon: receives webhooks and polls channels\n"
            "through plugins, and commits every interaction to an LMDB store.\n\n"
            "  -c, --config FILE   configuration file (default %s/kanal.conf)\n"
            "      --check-config  check the configuration (plugins' options, secrets and\n"
            "                      the API tokens file included) and exit: 0 when fine, 1\n"
            "                      with every problem as file:line: message\n"
            "      --credentials-dir DIR  with --check-config: cred:NAME reads DIR/NAME\n"
            "                      (what systemd's LoadCredential= would hand kanald)\n"
            "      --user NAME     with --check-config (as root): also check that user NAME\n"
            "                      (kanald's User=) can read the secret and tokens files\n"
            "      --routes        print the HTTP route table as JSON (path, methods, scope,\n"
            "                      metrics label, query parameters), then exit\n"
            "      --version       print the version and the plugin ABI, then exit\n"
            "      --plugin-help NAME  print plugin NAME's options (from the plugin_dir of\n"
            "                      the configuration, or of --plugin-dir DIR) and exit\n"
            "      --plugin-dir DIR  where --plugin-help looks for NAME.so\n"
            "  -h, --help          this text\n\n"
            "Signals: SIGTERM/SIGINT stop after finishing work in flight; SIGHUP reloads\n"
            "the configuration (a bad one is refused and the running one stays).\n",
            KANAL_SYSCONFDIR);
}

static void print_errors(const struct config_errors *errs, int to_log)
{
    for (size_t i = 0; i < errs->n; i++) {
        if (to_log)
            log_err("%s", errs->lines[i]);
        else
            fprintf(stderr, "%s\n", errs->lines[i]);
    }
    for (size_t i = 0; i < errs->nwarnings; i++) {
        if (to_log)
            log_warn("%s", errs->warnings[i]);
        else
            fprintf(stderr, "%s\n", errs->warnings[i]);
    }
}

static struct http_limits limits_of(const struct config *cfg)
{
    return (struct http_limits){
        .max_body = cfg->max_body,
        .max_header = cfg->max_header,
        .max_connections = cfg->max_connections,
        .header_timeout_ms = cfg->header_timeout_ms,
        .request_timeout_ms = cfg->request_timeout_ms,
        .idle_timeout_ms = cfg->idle_timeout_ms,
        .max_unread = cfg->max_unread_answers,
        .max_pipeline = cfg->max_pipeline,
        .max_per_ip = cfg->max_connections_per_ip,
        .trusted = cfg->trusted_proxies,
        .ntrusted = cfg->ntrusted_proxies,
    };
}

/* The HTTP routes' dispatcher and the module contexts it hands them. */
static struct router router;
static struct feed the_feed;
static struct contacts_api the_contacts;
static struct scores the_scores;

/* The tokens file's problems join the configuration's in errs. */
static int load_tokens(const struct config *cfg, struct api_tokens **out,
                       struct config_errors *errs)
{
    *out = NULL;
    if (!cfg->api_tokens)
        return 0;
    return auth_load(cfg->api_tokens, out, errs);
}

static int daemon_reload(void *arg)
{
    struct daemon *d = arg;
    if (d->stopping)
        return 0;
    notify_reloading();
    struct config *next;
    struct config_errors errs = {0};
    int r = config_load(d->config_path, &d->loader, &next, &errs);
    struct api_tokens *tokens = NULL;
    if (r == 0 && load_tokens(next, &tokens, &errs) < 0) {
        config_free(next);
        r = KANAL_ECONFIG;
    }
    print_errors(&errs, 1);
    config_errors_free(&errs);
    if (r < 0) {
        log_err("reload refused: %s has errors; the running configuration stays",
                d->config_path);
        notify_ready();
        return r;
    }
    struct config *old = d->cfg;
    static const char *const fixed[] = {"listen", "store", "sync"};
    int changed[] = {
        strcmp(old->listen_host, next->listen_host) || old->listen_port != next->listen_port,
        strcmp(old->store, next->store), old->sync != next->sync};
    for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
        if (changed[i])
            log_warn("reload: '%s' changed; it takes effect when kanald restarts", fixed[i]);
    log_setup(next->log_level, getenv("JOURNAL_STREAM") != NULL);
    struct http_limits lim = limits_of(next);
    http_server_set_limits(d->http, &lim);
    auth_free(d->tokens);
    d->tokens = tokens;
    router.tokens = tokens;
    source_apply(&d->srcs, next);
    stages_apply(&d->srcs, next);
    d->cfg = next;
    config_free(old);
    scores_apply(&the_scores);
    outbox_kick(d->outbox);
    log_notice("configuration reloaded: %zu source(s) running", d->srcs.nsources);
    notify_ready();
    return 0;
}

static void close_timer(uv_timer_t *t)
{
    if (!uv_is_closing((uv_handle_t *)t))
        uv_close((uv_handle_t *)t, NULL);
}

/* The last step of stopping: nothing is in flight any more.  Commit what
 * is queued, stop the writer and close the loop's remaining handles. */
static void finish_shutdown(struct daemon *d)
{
    close_timer(&d->drain_timer);
    if (d->writer_running) {
        writer_stop(&d->writer);
        d->writer_running = 0;
    }
    if (d->srcs.retired)
        log_warn("%s still has work pending after the writer stopped", d->srcs.retired->sc.name);
    outbox_close(d->outbox);
    d->outbox = NULL;
    statecmd_pub_close(the_contacts.state);
    the_contacts.state = NULL;
    transfer_engine_close(d->transfers);
    d->transfers = NULL;
    close_timer(&d->shutdown_timer);
    close_timer(&d->reader_check);
    close_timer(&d->health_timer);
    close_timer(&d->watchdog);
    signals_close(&d->signals);
}

/* Sends and polls still running hold records that must be committed before
 * the writer stops; wait for them (shutdown_timeout aborts them). */
static void on_drain(uv_timer_t *t)
{
    struct daemon *d = t->data;
    /* A scoring run stops between two chunks of the log; its commit, when
     * it got that far, goes through the writer before it stops. */
    if (transfer_running(d->transfers) == 0 && !scores_busy(&the_scores))
        finish_shutdown(d);
}

/* Everything the HTTP side had in flight is answered: stop the sources, then
 * wait for their transfers. */
static void on_http_closed(void *arg)
{
    struct daemon *d = arg;
    d->http_closed = 1;
    while (d->srcs.nsources)
        source_retire(d->srcs.sources[d->srcs.nsources - 1]);
    stages_stop_all(&d->srcs);
    uv_timer_start(&d->drain_timer, on_drain, 0, 20);
}

static void on_shutdown_timeout(uv_timer_t *t)
{
    struct daemon *d = t->data;
    if (!d->http_closed) {
        log_warn("requests still in flight after shutdown_timeout; closing their connections");
        http_server_abort(d->http);
    }
    if (transfer_running(d->transfers)) {
        log_warn("%u transfer(s) still running after shutdown_timeout; aborting them",
                 transfer_running(d->transfers));
        transfer_abort_all(d->transfers);
    }
}

static void daemon_shutdown(void *arg)
{
    struct daemon *d = arg;
    d->stopping = d->srcs.stopping = 1;
    notify_stopping();
    feed_cancel_all(&the_feed);
    scores_stop(&the_scores);
    uv_timer_start(&d->shutdown_timer, on_shutdown_timeout, (uint64_t)d->cfg->shutdown_timeout_ms,
                   0);
    http_server_shutdown(d->http, on_http_closed, d);
}

static void on_reader_check(uv_timer_t *t)
{
    struct daemon *d = t->data;
    int dead = store_reader_check(&d->store);
    if (dead)
        log_notice("store: cleared %d stale reader slot(s)", dead);
}

static void on_health(uv_timer_t *t)
{
    struct daemon *d = t->data;
    int64_t now = util_now_ms();
    for (size_t i = 0; i < d->srcs.nsources; i++)
        source_check_silence(d->srcs.sources[i], now);
}

/* Answers whose commit finished while the loop was reading go out between
 * reads, not after every socket that was readable in this turn. */
static void deliver_answers(void *arg)
{
    struct daemon *d = arg;
    if (d->writer_running)
        writer_poll(&d->writer);
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}


/* The links' context (ROUTE_LINKS) and the outbox's ties (outbox_api.h):
 * what each takes of the running sources, the contacts and the links. */
static struct links links;
static struct outbox_ties outbox_ties;

static struct kanal_source *find_source(void *arg, const char *name)
{
    return source_find(arg, name);
}

static int is_stopping(void *arg)
{
    return ((struct source_set *)arg)->stopping;
}

static void describe_source(struct kanal_source *src, struct outbox_source *out)
{
    *out = (struct outbox_source){.src = src,
                                  .channel = src->plugin->name,
                                  .can_send = src->plugin->send != NULL,
                                  .default_country = src->sc.default_country,
                                  .keep_raw = src->sc.keep_raw,
                                  .send_concurrency = src->sc.send_concurrency,
                                  .send_rate = src->sc.send_rate,
                                  .send_max_attempts = src->sc.send_max_attempts,
                                  .send_max_age_ms = src->sc.send_max_age_ms};
    if (strcmp(src->plugin->name, "facebook") == 0)
        out->page_id = host_api.config_string(src, "page_id");
}

static int send_message(struct kanal_source *src, const struct kanal_send_request *msg)
{
    return src->plugin->send(src->state, msg);
}

/* The outbox asks the contacts whether a recipient opted out. */
static int opted_out(void *arg, const char *handle, const char *channel)
{
    return contacts_opted_out(arg, handle, channel);
}

static void links_and_outbox_setup(struct daemon *d)
{
    links = (struct links){.store = &d->store,
                           .writer = &d->writer,
                           .cfg = &d->cfg,
                           .sources = &d->srcs,
                           .find_source = find_source,
                           .normalize_handle = host_api.normalize_handle,
                           .cluster = &the_contacts.state};
    d->links = &links;
    outbox_ties = (struct outbox_ties){.loop = d->loop,
                                       .store = &d->store,
                                       .writer = &d->writer,
                                       .sources = &d->srcs,
                                       .find_source = find_source,
                                       .stopping = is_stopping,
                                       .describe = describe_source,
                                       .source_ref = source_ref,
                                       .source_unref = source_unref,
                                       .send = send_message,
                                       .normalize_handle = host_api.normalize_handle,
                                       .contacts = &the_contacts,
                                       .opted_out = opted_out,
                                       .links = &links};
    struct outbox_env oenv;
    outbox_env_of(&outbox_ties, &oenv);
    d->outbox = outbox_new(&oenv);
}

/* /metrics shows the link limiter's counters. */
static struct link_state *metrics_links(void *arg)
{
    return links_state(arg);
}

/* After each drain of commits: wake the feed's long-polls, then the sinks. */
static void after_commits(void *arg)
{
    struct daemon *d = arg;
    feed_notify(&the_feed);
    stages_wake_sinks(&d->srcs);
}

/* --check-config: the configuration's and the tokens file's problems, all
 * of them, in one list; the tokens file is checked even when the
 * configuration has errors. */
static int check_config(const char *config_path, struct loader *loader)
{
    struct config_errors errs = {0};
    struct config *cfg = NULL;
    int r = config_load(config_path, loader, &cfg, &errs);
    if (errs.api_tokens) {
        struct api_tokens *t = NULL;
        if (auth_load(errs.api_tokens, &t, &errs) < 0)
            r = KANAL_ECONFIG;
        auth_free(t);
    }
    print_errors(&errs, 0);
    if (r == 0) {
        printf("%s: configuration is valid (%zu source(s))", config_path, cfg->nsources);
        if (errs.nwarnings)
            printf(" with %zu warning(s)", errs.nwarnings);
        printf("\n");
    }
    config_errors_free(&errs);
    config_free(cfg);
    loader_free(loader);
    return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    jarena_setup(); /* before any jansson value */
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 'C'},
        {"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
        {"routes", no_argument, NULL, 'R'},
        {"plugin-help", required_argument, NULL, 'P'},
        {"plugin-dir", required_argument, NULL, 'D'},
        {"credentials-dir", required_argument, NULL, 'K'},
        {"user", required_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = KANAL_SYSCONFDIR "/kanal.conf";
    const char *help_plugin = NULL, *plugin_dir = NULL, *cred_dir = NULL, *user = NULL;
    int check_only = 0, opt;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'C':
            check_only = 1;
            break;
        case 'V':
            printf("kanald %s (plugin ABI %d.%d, store format %d)\n", KANAL_VERSION,
                   KANAL_ABI_MAJOR, KANAL_ABI_MINOR, STORE_FORMAT_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        case 'R':
            return routes_print(stdout) == 0 ? 0 : 1;
        case 'P':
            help_plugin = optarg;
            break;
        case 'D':
            plugin_dir = optarg;
            break;
        case 'K':
            cred_dir = optarg;
            break;
        case 'U':
            user = optarg;
            break;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kanald: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    if (help_plugin) {
        log_setup(KANAL_LOG_WARNING, 0); /* the help on stdout; refusals still logged */
        return plugin_help(help_plugin, config_path, plugin_dir);
    }
    if (plugin_dir) {
        fprintf(stderr, "kanald: --plugin-dir goes with --plugin-help\n");
        return 2;
    }

    if ((cred_dir || user) && !check_only) {
        fprintf(stderr, "kanald: --credentials-dir and --user go with --check-config\n");
        return 2;
    }
    if (check_only) {
        struct secret_user su = {0};
        char why[256];
        if (user && secret_user_lookup(user, &su, why, sizeof why) < 0) {
            fprintf(stderr, "kanald: --user %s: %s\n", user, why);
            return 2;
        }
        if (user && geteuid() != 0 && su.uid != geteuid()) {
            fprintf(stderr,
                    "kanald: --user %s needs root: the check opens each file as that user\n", user);
            secret_user_free(&su);
            return 2;
        }
        if (cred_dir)
            secret_set_credentials_dir(cred_dir);
        if (user)
            config_set_service_user(&su);
        log_setup(KANAL_LOG_WARNING, 0); /* the problems alone, not the plugins loaded */
        int r = check_config(config_path, &the_daemon.loader);
        secret_user_free(&su);
        return r;
    }

    struct daemon *d = &the_daemon;
    d->config_path = config_path;
    d->started_ms = util_now_ms();
    log_setup(KANAL_LOG_INFO, getenv("JOURNAL_STREAM") != NULL);

    struct config_errors errs = {0};
    int cr = config_load(config_path, &d->loader, &d->cfg, &errs);
    /* The tokens file is read before anything starts, so that its problems
     * are told with the configuration's. */
    if (cr == 0 && load_tokens(d->cfg, &d->tokens, &errs) < 0) {
        config_free(d->cfg);
        d->cfg = NULL;
        cr = KANAL_ECONFIG;
    }
    print_errors(&errs, 1);
    config_errors_free(&errs);
    if (cr < 0) {
        log_err("not starting: %s has errors (check with kanald --check-config -c %s)", config_path,
                config_path);
        loader_free(&d->loader);
        return 1;
    }
    log_setup(d->cfg->log_level, getenv("JOURNAL_STREAM") != NULL);

    int exit_code = 1;
    d->loop = uv_default_loop();
    char err[512];
    if (store_open(&d->store, d->cfg->store, d->cfg->sync, 0, err, sizeof err) < 0) {
        log_err("%s", err);
        goto out_config;
    }
    d->store.identity = d->cfg->identity;
    d->store.max_candidates = d->cfg->max_merge_candidates;
    log_info("store %s open: last seq %llu", d->cfg->store,
             (unsigned long long)store_last_seq(&d->store));
    int rc = writer_start(&d->writer, d->loop, &d->store);
    if (rc) {
        log_err("cannot start the writer thread: %s", kanal_strerror(rc));
        goto out_store;
    }
    d->writer_running = 1;
    d->writer.after_completions = after_commits;
    d->writer.after_arg = d;
    /* The feed and the contacts routes read the store; the contacts' changes
     * go through the writer, and erasure cancels messages in the outbox. */
    the_feed = (struct feed){.loop = d->loop, .store = &d->store, .stopping = &d->stopping};
    the_contacts =
        (struct contacts_api){.store = &d->store, .writer = &d->writer, .outbox = &d->outbox};
    /* Scores: computed on a work thread, kept through the writer. */
    the_scores =
        (struct scores){.loop = d->loop, .store = &d->store, .writer = &d->writer, .cfg = &d->cfg};
    d->transfers = transfer_engine_new(d->loop, source_ref, source_unref);
    links_and_outbox_setup(d);
    struct metrics_env menv = {.sources = &d->srcs,
                               .store = &d->store,
                               .writer = &d->writer,
                               .outbox = &d->outbox,
                               .transfers = &d->transfers,
                               .http = &d->http,
                               .links = metrics_links,
                               .links_arg = &links,
                               .scores = &the_scores};
    d->metrics = metrics_new(&menv);
    /* The sources and stages, and what the host API reaches. */
    d->host = (struct host_env){.loop = d->loop,
                                .store = &d->store,
                                .writer = &d->writer,
                                .writer_running = &d->writer_running,
                                .outbox = &d->outbox,
                                .transfers = &d->transfers,
                                .metrics = d->metrics,
                                .count_records = metrics_count_records,
                                .state_cmds = &statecmd_host_ops,
                                .state_ctx = &the_contacts};
    d->srcs = (struct source_set){.cfg = &d->cfg,
                                  .host = &d->host,
                                  .api = &host_api,
                                  .close_handles = host_close_handles,
                                  .free_stage = stages_free};

    struct http_limits lim = limits_of(d->cfg);
    router.tokens = d->tokens;
    for (int m = 0; m < ROUTE_MODULES; m++)
        router.module[m] = d;
    router.module[ROUTE_LINKS] = &links;
    router.module[ROUTE_OUTBOX] = d->outbox;
    router.module[ROUTE_FEED] = &the_feed;
    router.module[ROUTE_CONTACTS] = &the_contacts;
    router.module[ROUTE_SOURCES] = &d->srcs;
    router.module[ROUTE_METRICS] = d->metrics;
    router.module[ROUTE_SCORES] = &the_scores;
    router.module[ROUTE_OPENAPI] = NULL; /* /v1/openapi.json: a constant document */
    d->http = http_server_new(d->loop, &lim, router_handle, &router);
    http_server_set_observer(d->http, metrics_observe_http, d->metrics);
    http_server_set_after_read(d->http, deliver_answers, d);
    rc = http_server_listen(d->http, d->cfg->listen_host, d->cfg->listen_port);
    if (rc) {
        log_err("cannot listen on %s:%d: %s", d->cfg->listen_host, d->cfg->listen_port,
                uv_strerror(rc));
        writer_stop(&d->writer);
        d->writer_running = 0;
        outbox_close(d->outbox);
        transfer_engine_close(d->transfers);
        http_server_shutdown(d->http, NULL, NULL);
        uv_run(d->loop, UV_RUN_DEFAULT);
        http_server_free(d->http);
        goto out_store;
    }
    d->signals = (struct signals){.config_path = d->config_path,
                                  .stopping = &d->stopping,
                                  .reload = daemon_reload,
                                  .shutdown = daemon_shutdown,
                                  .arg = d};
    if ((rc = signals_setup(&d->signals, d->loop))) {
        log_err("cannot handle signals: %s", uv_strerror(rc));
        goto out_store;
    }
    uv_timer_init(d->loop, &d->shutdown_timer);
    d->shutdown_timer.data = d;
    uv_timer_init(d->loop, &d->drain_timer);
    d->drain_timer.data = d;
    uv_timer_init(d->loop, &d->reader_check);
    d->reader_check.data = d;
    uv_timer_start(&d->reader_check, on_reader_check, READER_CHECK_MS, READER_CHECK_MS);
    uv_timer_init(d->loop, &d->health_timer);
    d->health_timer.data = d;
    uv_timer_start(&d->health_timer, on_health, HEALTH_CHECK_MS, HEALTH_CHECK_MS);
    notify_watchdog_setup(d->loop, &d->watchdog, &d->watchdog_usec);

    source_start_all(&d->srcs);
    stages_start(&d->srcs);
    scores_start(&the_scores);
    if (strcmp(d->cfg->outbox_cluster, "off") != 0) {
        const struct config *c = d->cfg;
        struct outbox_cluster oc = {.mode = c->outbox_cluster, .servers = c->outbox_servers,
                                    .stream = c->outbox_stream, .subject = c->outbox_subject,
                                    .durable = c->outbox_durable,
                                    .ack_wait_ms = c->outbox_ack_wait_ms,
                                    .auth = nats_auth(&c->outbox_auth)};
        if ((rc = outbox_cluster_start(d->outbox, &oc)) < 0)
            log_err("outbox: cannot join the cluster's outbox stream: %s", kanal_strerror(rc));
    }
    if (strcmp(d->cfg->state_cluster, "off") != 0) {
        const struct config *c = d->cfg;
        struct statecmd_conf sc = {
            .servers = c->state_servers,
            .stream = c->state_stream,
            .subject = c->state_subject,
            .auth = nats_auth(&c->state_auth)};
        /* Never NULL: one that cannot publish refuses changes (503) rather
         * than let this core apply them alone. */
        the_contacts.state = statecmd_pub_start(d->loop, &sc);
    }
    if ((rc = outbox_load(d->outbox)) < 0)
        log_err("outbox: cannot load pending messages: %s", kanal_strerror(rc));
    log_notice("kanald %s listening on %s:%d with %zu source(s)", KANAL_VERSION,
               d->cfg->listen_host, http_server_port(d->http), d->srcs.nsources);
    notify_ready();

    uv_run(d->loop, UV_RUN_DEFAULT);
    if (d->outbox)
        outbox_close(d->outbox);
    statecmd_pub_close(the_contacts.state);
    the_contacts.state = NULL;
    if (d->transfers)
        transfer_engine_close(d->transfers);
    uv_run(d->loop, UV_RUN_DEFAULT);
    /* Close anything a plugin or timer left, then let those closes run. */
    uv_walk(d->loop, on_walk_close, NULL);
    uv_run(d->loop, UV_RUN_DEFAULT);
    http_server_free(d->http);
    exit_code = 0;
    log_notice("stopped");
out_store:
    metrics_free(d->metrics);
    links_free(&links);
    store_close(&d->store);
out_config:
    auth_free(d->tokens);
    config_free(d->cfg);
    loader_free(&d->loader);
    uv_loop_close(uv_default_loop());
    return exit_code;
}
