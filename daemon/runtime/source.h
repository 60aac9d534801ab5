/* SPDX-License-Identifier: Apache-2.0 */
/* The running sources (source.c): each [source NAME], [processor NAME] and
 * [sink NAME] section is a struct kanal_source served by its plugin; the
 * set of them is what the sources' routes, the stages and the host API are
 * handed, not the daemon. */
#ifndef KANAL_SOURCE_H
#define KANAL_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"

struct kanal_host;
struct metrics;
struct outbox;
struct store;
struct transfer_engine;
struct write_item;
struct writer;

/* What the plugin host API (host.c) and the stages (stages.c) reach beyond
 * the sources.  It is declared here, below both, because host.c runs the
 * stages and the stages use the store and the writer: the layer check
 * allows no two modules that need each other.  main.c fills it; the
 * members it changes while kanald stops (the writer stopped, the outbox
 * and transfers closed) are pointers to main's own, so every call sees
 * the current value. */
struct host_env {
    uv_loop_t *loop;
    struct store *store;
    struct writer *writer;
    const int *writer_running;
    struct outbox *const *outbox;
    struct transfer_engine *const *transfers;
    /* Told of every committed emit (main.c sets metrics_count_records):
     * the runtime pushes, the api counts. */
    struct metrics *metrics;
    void (*count_records)(struct metrics *m, const char *source_name,
                          const struct write_item *item);
    /* How a relayed state command of the cluster is applied (main.c sets
     * api/statecmd.h's; runtime may not call api itself), and its context;
     * NULL: none is. */
    const struct host_state_cmds *state_cmds;
    void *state_ctx;
};

/* A state command of a cluster's core nodes, relayed by a source. */
struct statecmd_run;
struct host_state_cmds {
    /* The command (a JSON object) checked, or NULL and why. */
    struct statecmd_run *(*parse)(void *ctx, const struct json_t *cmd, char *why,
                                  size_t why_len);
    /* In the writer's transaction; 0 or an MDB error. */
    int (*apply)(struct statecmd_run *r, struct store *st, struct MDB_txn *txn,
                 uint64_t *last_seq, int *scrub_after);
    /* After the commit or its failure (status): frees r. */
    void (*finish)(struct statecmd_run *r, int status);
};

/* A running source: one [source NAME] section served by its plugin. */
struct kanal_source {
    struct source_set *set;
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
    int64_t lag; /* host->set_lag (ABI 1.2): records behind upstream, or -1 unknown */
};

/* Everything running: the sources, those retired but not yet destroyed,
 * and the pipeline stages.  main.c owns it and sets stopping. */
struct source_set {
    struct kanal_source **sources;
    size_t nsources;
    struct kanal_source *retired;
    /* Pipeline stages (stages.c): processors in config order, and sinks. */
    struct kanal_source **procs, **sinks;
    size_t nprocs, nsinks;
    struct config *const *cfg; /* main's current config: a reload replaces it */
    int stopping;              /* kanald is stopping: webhooks are refused */
    const struct host_env *host;
    /* What a source's life needs of the host API above (main.c wires
     * host_api, host_close_handles and stages_free). */
    const struct kanal_host *api;
    void (*close_handles)(struct kanal_source *src);
    void (*free_stage)(struct kanal_source *src);
};

struct kanal_source *source_create(struct source_set *set, struct source_config *sc);
int source_start(struct kanal_source *src);
/* Stop a source and retire it; it is destroyed once nothing is pending. */
void source_retire(struct kanal_source *src);
void source_unref(struct kanal_source *src);
void source_ref(struct kanal_source *src);
/* The running source of that name, or NULL. */
struct kanal_source *source_find(struct source_set *set, const char *name);
/* Start the sources of the current config (at start-up). */
void source_start_all(struct source_set *set);
/* Apply a new, already checked config: replace changed sections. */
void source_apply(struct source_set *set, struct config *next);
void source_note_event(struct kanal_source *src);
void source_check_silence(struct kanal_source *src, int64_t now);

#endif
