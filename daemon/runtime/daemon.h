/* The one daemon struct and the pieces that hang off it. */
#ifndef KANAL_DAEMON_H
#define KANAL_DAEMON_H

#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "loader.h"
#include "store.h"
#include "writer.h"

struct http_server;
struct http_req;
struct api_tokens;

/* A running source: one [source NAME] section served by its plugin. */
struct kanal_source {
    struct daemon *d;
    struct source_config sc; /* owned: moved out of the config it came from */
    const struct kanal_plugin *plugin;
    void *state;
    int initialized, started, stopped;
    unsigned pending; /* emits and requests in flight: destroy waits for 0 */
    struct kanal_source *next_retired;
    struct host_handle *handles; /* timers and watches still open */
    /* Health, for /v1/sources and the log. */
    int healthy;
    char *health_reason;
    int silent_reported;
    int64_t started_ms, last_event_ms;
    uint64_t records, duplicates, emit_errors, requests;
    char *last_error;
    void *stage; /* a processor's or sink's state (stages.c), else NULL */
};

struct daemon {
    uv_loop_t *loop;
    const char *config_path;
    struct config *cfg;
    struct loader loader;
    struct store store;
    struct writer writer;
    int writer_running;
    struct http_server *http;
    struct kanal_source **sources;
    size_t nsources;
    struct kanal_source *retired;
    struct api_tokens *tokens;
    struct transfer_engine *transfers;
    struct outbox *outbox;
    struct metrics *metrics;
    uv_timer_t drain_timer;
    int http_closed;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t reader_check, map_release, watchdog, shutdown_timer, health_timer;
    uint64_t watchdog_usec;
    int stopping;
    int map_release_failed;
    unsigned map_release_ms;     /* the wait before the next release */
    int exit_code;
    int64_t started_ms;
    struct links *links; /* main.c's links context: /metrics shows its counters (links.h) */
    /* Pipeline stages (stages.c): processors in config order, and sinks. */
    struct kanal_source **procs, **sinks;
    size_t nprocs, nsinks;
    /* Told of every committed emit, with the metrics (main.c sets it to
     * metrics_count_records): the runtime pushes, the api counts. */
    void (*count_records)(struct metrics *m, const struct write_item *item);
};

/* source.c */
struct kanal_source *source_create(struct daemon *d, struct source_config *sc);
int source_start(struct kanal_source *src);
/* Stop a source and retire it; it is destroyed once nothing is pending. */
void source_retire(struct kanal_source *src);
void source_unref(struct kanal_source *src);
void source_ref(struct kanal_source *src);
struct kanal_source *daemon_find_source(struct daemon *d, const char *name);
/* Start the sources of d->cfg (at start-up). */
void daemon_start_sources(struct daemon *d);
/* Apply a new, already checked config: replace changed sections. */
void daemon_apply_sources(struct daemon *d, struct config *next);
void source_note_event(struct kanal_source *src);
void source_check_silence(struct kanal_source *src, int64_t now);

/* host.c: the table handed to plugins. */
extern const struct kanal_host host_api;
void host_close_handles(struct kanal_source *src);

#endif
