/* struct daemon: main.c's state, the composition root's.  The sources, the
 * stages, the host API, the signals and the metrics take their own narrow
 * contexts (source.h, signals.h, metrics.h) and never include this; only
 * main.c and the api modules not yet given a context of their own (feed,
 * contacts, links, outbox) still do.  When they have theirs, struct daemon
 * moves into main.c and this header goes. */
#ifndef KANAL_DAEMON_H
#define KANAL_DAEMON_H

#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "host.h"
#include "loader.h"
#include "signals.h"
#include "source.h"
#include "store.h"
#include "writer.h"

struct http_server;
struct http_req;
struct api_tokens;
struct feed_waiter;

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
    struct feed_waiter *waiters;
    uv_timer_t reader_check, map_release, watchdog, shutdown_timer, health_timer;
    uint64_t watchdog_usec;
    int stopping;
    int map_release_failed;
    unsigned map_release_ms; /* the wait before the next release */
    int exit_code;
    int64_t started_ms;
    struct link_state *links; /* rate limits and counters of /t/ and /u/ (links.h) */
    /* The running sources and stages (ROUTE_SOURCES's context), what the
     * host API reaches, and the signals' handles. */
    struct source_set srcs;
    struct host_env host;
    struct signals signals;
};

/* The modules above that still take the daemon look sources up here. */
static inline struct kanal_source *daemon_find_source(struct daemon *d, const char *name)
{
    return source_find(&d->srcs, name);
}

#endif
